#!/usr/bin/env bash
# Checks the Linux package that scripts/bundle.sh made, wired as the Mac
# bundle is: the app finds the CLI the package carries beside it, with no
# BUILDERBAR_BIN, and that CLI runs `builderbar status`.
#
# The package is unpacked into a temporary root (dpkg-deb -x: the files and
# layout `dpkg -i` would install) rather than installed, so the machine's
# /usr is left alone; its dependencies are checked as `dpkg -i` would.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=${CARGO_TARGET_DIR:-$PWD/target}
profile=${1:-debug}
shopt -s nullglob
debs=("$target_dir/$profile"/bundle/deb/*.deb)
if [ "${#debs[@]}" -ne 1 ]; then
  echo "check-bundle: expected one .deb in $target_dir/$profile/bundle/deb, found ${#debs[@]}" >&2
  exit 1
fi
deb=${debs[0]}
fail() { echo "check-bundle: FAIL: $*" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/root"
unset BUILDERBAR_BIN

for dep in $(dpkg-deb -f "$deb" Depends | tr ',' '\n' | awk '{print $1}'); do
  dpkg-query -W -f='${db:Status-Status}\n' "$dep" 2>/dev/null | grep -qx installed ||
    fail "the package depends on $dep, which is not installed"
done

app=$work/root/usr/bin/builderbar-app
cli=$work/root/usr/bin/builderbar
[ -x "$app" ] || fail "the package has no usr/bin/builderbar-app"
[ -x "$cli" ] || fail "the package has no usr/bin/builderbar beside the app"

found=$("$app" --print-cli) || fail "the app did not find its CLI"
[ "$found" = "$cli" ] || fail "the app would install the service from $found, not $cli"

export BUILDERBAR_HOME=$work/home
status=$("$cli" status --json) || fail "builderbar status failed"
state=$(printf '%s' "$status" | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])') ||
  fail "builderbar status --json printed no state: $status"
echo "check-bundle: $(basename "$deb"): the app finds $found; builderbar status says $state"
