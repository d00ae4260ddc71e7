#!/usr/bin/env bash
# Type-checks the whole workspace for Apple Silicon macOS, so macOS-only code
# (behind cfg(target_os = "macos")) cannot rot on these Linux machines.
set -euo pipefail
target=aarch64-apple-darwin
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  echo "############################################################################" >&2
  echo "## NOT CHECKED: the $target target is not installed and could not be    ##" >&2
  echo "## added (rustup target add $target); macOS code was NOT type-checked.  ##" >&2
  echo "############################################################################" >&2
  exit 0
fi
# Crates that compile C for the target need a cross-capable compiler.
export CC_aarch64_apple_darwin="${CC_aarch64_apple_darwin:-clang}"
echo "check-macos: cargo check --workspace --all-targets --target $target"
cargo check --quiet --workspace --all-targets --target "$target"
