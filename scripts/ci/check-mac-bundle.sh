#!/usr/bin/env bash
# Checks BuilderBar.app as scripts/bundle.sh made it on a Mac: the CLI sits
# beside the app's binary (names that differ on a case-insensitive volume),
# the app finds it without BUILDERBAR_BIN, Info.plist is a menu-bar app's,
# and the disk image holds the same app.
#
#   scripts/ci/check-mac-bundle.sh BUNDLE_DIR    # e.g. target/release/bundle
set -euo pipefail
bundle_dir=${1:?usage: check-mac-bundle.sh BUNDLE_DIR}
app=$bundle_dir/macos/BuilderBar.app
fail() { echo "check-mac-bundle: FAIL: $*" >&2; exit 1; }

[ -x "$app/Contents/MacOS/builderbar-app" ] || fail "no Contents/MacOS/builderbar-app"
[ -x "$app/Contents/MacOS/builderbar" ] || fail "no Contents/MacOS/builderbar beside it"
found=$(env -u BUILDERBAR_BIN "$app/Contents/MacOS/builderbar-app" --print-cli) ||
  fail "the app did not find its CLI"
[ "$found" = "$app/Contents/MacOS/builderbar" ] || fail "the app found $found"
"$found" --version >/dev/null || fail "the bundled CLI does not run"

plist=$app/Contents/Info.plist
[ "$(/usr/libexec/PlistBuddy -c 'Print :LSUIElement' "$plist")" = "true" ] ||
  fail "LSUIElement is not true: the app would show in the Dock"
id=$(/usr/libexec/PlistBuddy -c 'Print :CFBundleIdentifier' "$plist")
[ "$id" = "dev.builderbar.BuilderBar" ] || fail "CFBundleIdentifier is $id"

shopt -s nullglob
dmgs=("$bundle_dir"/dmg/*.dmg)
[ "${#dmgs[@]}" -eq 1 ] || fail "expected one disk image, found ${#dmgs[@]}"
mount=$(mktemp -d)
hdiutil attach -nobrowse -readonly -mountpoint "$mount" "${dmgs[0]}" >/dev/null
trap 'hdiutil detach "$mount" >/dev/null || true' EXIT
[ -x "$mount/BuilderBar.app/Contents/MacOS/builderbar" ] || fail "the disk image's app has no CLI"
echo "check-mac-bundle: $app carries $found; the disk image too; Info.plist is a menu-bar app's"
