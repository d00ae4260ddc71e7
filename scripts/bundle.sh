#!/usr/bin/env bash
# Builds BuilderBar's bundles with the `builderbar` CLI inside (Tauri's
# externalBin: src-tauri/binaries/builderbar-<host triple>, which Tauri
# installs beside the app's binary as `builderbar`). The externalBin entry
# lives in src-tauri/tauri.bundle.conf.json, merged in here only: tauri-build
# demands the file exist at every `cargo build` of the app otherwise.
#
#   scripts/bundle.sh [--debug] BUNDLES     # deb on Linux; app,dmg on macOS
#
# The Tauri CLI is the npm package pinned in ui/package.json (a prebuilt
# binary), so nothing is compiled for it.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
tauri_flags=()
cargo_flags=(--release)
if [ "${1:-}" = "--debug" ]; then
  profile=debug
  tauri_flags=(--debug)
  cargo_flags=()
  shift
fi
bundles=${1:?usage: scripts/bundle.sh [--debug] BUNDLES (e.g. deb, or app,dmg)}

target_dir=${CARGO_TARGET_DIR:-$PWD/target}
triple=$(rustc -vV | sed -n 's/^host: //p')
tauri=$PWD/ui/node_modules/.bin/tauri
if [ ! -x "$tauri" ]; then
  echo "bundle: $tauri is missing; run 'npm --prefix ui ci' first" >&2
  exit 1
fi

cargo build --quiet -p builderbar ${cargo_flags[@]+"${cargo_flags[@]}"}
mkdir -p src-tauri/binaries
install -m 0755 "$target_dir/$profile/builderbar" "src-tauri/binaries/builderbar-$triple"
(cd src-tauri && "$tauri" build ${tauri_flags[@]+"${tauri_flags[@]}"} --config tauri.bundle.conf.json --bundles "$bundles")
