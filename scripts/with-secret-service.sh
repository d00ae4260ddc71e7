#!/usr/bin/env bash
# Runs a command with a real Secret Service: a private D-Bus session
# (dbus-run-session) in which gnome-keyring-daemon serves
# org.freedesktop.secrets with a fresh, unlocked login keyring in a temp HOME.
# keyring's Secret Service store talks to it as it would on a desktop.
#
#   scripts/with-secret-service.sh cargo test --workspace
#
# The command's exit status is this script's. The daemon is killed by its pid
# and the temp folders removed afterwards, whatever happens.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

if [ -z "${BUILDERBAR_SECRETS_INNER:-}" ]; then
  for tool in dbus-run-session dbus-send gnome-keyring-daemon; do
    command -v "$tool" >/dev/null || {
      echo "$0: $tool is missing; run scripts/setup.sh" >&2
      exit 1
    }
  done
  # The command (cargo, rustup) must keep finding its toolchain once HOME moves.
  export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
  export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
  # The dev VM's build cache stays where it is, not in the temp HOME.
  export BUILDERBAR_DEVVM_CACHE="${BUILDERBAR_DEVVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/builderbar/devvm}"
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/builderbar-secrets.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/home" "$tmp/run"
  chmod 700 "$tmp/run"
  rc=0
  HOME="$tmp/home" XDG_RUNTIME_DIR="$tmp/run" BUILDERBAR_SECRETS_INNER=1 \
    dbus-run-session -- "$0" "$@" || rc=$?
  exit "$rc"
fi

# Inside the private session bus.
log="$XDG_RUNTIME_DIR/gnome-keyring.log"
printf 'builderbar-test\n' |
  gnome-keyring-daemon --foreground --unlock --components=secrets >"$log" 2>&1 &
daemon=$!
trap 'kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true' EXIT

has_owner() {
  dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
    org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null |
    grep -q 'boolean true'
}

deadline=$((SECONDS + 30))
until has_owner; do
  if ! kill -0 "$daemon" 2>/dev/null; then
    echo "$0: gnome-keyring-daemon exited before serving the Secret Service:" >&2
    cat "$log" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "$0: no owner for org.freedesktop.secrets after 30 s:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.05 # polling interval while waiting for the condition above
done

rc=0
"$@" || rc=$?
exit "$rc"
