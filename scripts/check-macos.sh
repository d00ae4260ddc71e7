#!/usr/bin/env bash
# Type-checks the whole workspace for Apple Silicon macOS, so macOS-only code
# (behind cfg(target_os = "macos")) cannot rot on these Linux machines.
#
# There is no macOS SDK here, so C and Objective-C that build scripts would
# compile for the target cannot be compiled; a type-check does not need them:
#  - ring (through russh): its build script is overridden through its `links`
#    key, which Cargo honours instead of running the script;
#  - mac-notification-sys (through notify-rust): skips its Objective-C build
#    when DOCS_RS is set, as on docs.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-apple-darwin
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  echo "############################################################################" >&2
  echo "## NOT CHECKED: the $target target is not installed and could not be    ##" >&2
  echo "## added (rustup target add $target); macOS code was NOT type-checked.  ##" >&2
  echo "############################################################################" >&2
  exit 0
fi
export CC_aarch64_apple_darwin="${CC_aarch64_apple_darwin:-clang}"
export DOCS_RS=1
overrides=()
ring=$(awk '/^name = "ring"$/ {getline; gsub(/[^0-9.]/, ""); print; exit}' Cargo.lock)
if [ -n "$ring" ]; then
  overrides+=(--config "target.$target.ring_core_${ring//./_}_.rustc-link-lib=[]")
fi
for manifest in Cargo.toml src-tauri/Cargo.toml; do
  [ -f "$manifest" ] || continue
  echo "check-macos: cargo check --manifest-path $manifest --all-targets --target $target"
  cargo check --quiet --manifest-path "$manifest" --workspace --all-targets --target "$target" "${overrides[@]}"
done
