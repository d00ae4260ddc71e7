#!/usr/bin/env bash
# Runs scripts/check-runner-guest.sh against the stand-in nixpkgs trees of
# tests/doubles, in a private Nix store: it must pass on the faithful one and
# fail on the one in which a runner setting reaches the guest. (The real
# nixpkgs cannot be fetched here; the macOS workflow checks against it.)
#
#   scripts/check-standin-guest.sh BUILDERBAR
set -euo pipefail
cd "$(dirname "$0")/.."
export BUILDERBAR=${1:?usage: check-standin-guest.sh BUILDERBAR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/conf"
printf 'sandbox = false\nbuild-users-group =\n' > "$work/conf/nix.conf"
export NIX_STORE_DIR=$work/store NIX_STATE_DIR=$work/state NIX_LOG_DIR=$work/log NIX_CONF_DIR=$work/conf
export BUILDERBAR_HOME=$work/home
# Settings that differ from nixpkgs' defaults, so a leak would show.
"$BUILDERBAR" settings set memory 8GiB >/dev/null

scripts/check-runner-guest.sh tests/doubles/nixpkgs > "$work/faithful.log" 2>&1 ||
  { cat "$work/faithful.log" >&2; echo "check-standin-guest: FAIL: the faithful stand-in did not pass" >&2; exit 1; }
if scripts/check-runner-guest.sh tests/doubles/nixpkgs-guest-changing > "$work/changing.log" 2>&1; then
  cat "$work/changing.log" >&2
  echo "check-standin-guest: FAIL: a runner that changes the guest passed" >&2
  exit 1
fi
grep -q "would change the builder's Linux system" "$work/changing.log" ||
  { cat "$work/changing.log" >&2; echo "check-standin-guest: FAIL: not refused for the guest's change" >&2; exit 1; }
echo "check-standin-guest: the faithful stand-in passes; the guest-changing one is refused"
