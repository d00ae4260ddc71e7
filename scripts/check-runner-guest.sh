#!/usr/bin/env bash
# Proves against the real nixpkgs that BuilderBar's runner changes nothing
# Linux: its toplevel derivation is that of the unmodified
# darwin.linux-builder, and every derivation of its closure that the stock
# runner lacks is built for the Mac, not for Linux. So a Mac with no Linux
# builder can build it (the guest comes from the binary cache).
#
#   scripts/check-runner-guest.sh [NIXPKGS] [SYSTEM]
#
# NIXPKGS: a nixpkgs checkout or unpacked tarball (default: the pin of the
# settings, fetched by Nix — needs the network). SYSTEM: the Mac's system
# (default aarch64-darwin). Runs on macOS or Linux with any Nix ≥ 2.8; the
# macOS workflow runs it. Exit 0: proven; 1: a difference, printed.
set -euo pipefail

nixpkgs=${1:-}
system=${2:-aarch64-darwin}
builderbar=${BUILDERBAR:-builderbar}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$builderbar" nix expr > "$work/runner.nix"
args=(--argstr system "$system")
if [ -n "$nixpkgs" ]; then
  args+=(--arg nixpkgs "$(cd "$nixpkgs" && pwd)")
fi

# 1. The expression's own guard: evaluation fails if the toplevels differ.
if ! ours=$(nix-instantiate "$work/runner.nix" "${args[@]}" 2> "$work/err"); then
  cat "$work/err" >&2
  echo "FAIL: the runner expression did not evaluate (see above)" >&2
  exit 1
fi

# 2. The stock runner, from the same nixpkgs: the same expression with the
# unmodified builder's VM as its value.
sed 's/^  builder\.passthru\.nixosConfig\.system\.build\.vm$/  stock.passthru.nixosConfig.system.build.vm/' \
  "$work/runner.nix" > "$work/stock-runner.nix"
if cmp -s "$work/runner.nix" "$work/stock-runner.nix"; then
  echo "FAIL: the runner expression no longer has the shape this script edits" >&2
  exit 1
fi
stock=$(nix-instantiate "$work/stock-runner.nix" "${args[@]}" 2>/dev/null)

echo "our runner:   $ours"
echo "stock runner: $stock"

# 3. Every derivation only ours needs must be for the Mac.
nix-store --query --requisites "$ours" | grep '\.drv$' | sort > "$work/ours"
nix-store --query --requisites "$stock" | grep '\.drv$' | sort > "$work/stock"
status=0
while read -r drv; do
  drv_system=$(nix-store --query --binding system "$drv")
  case "$drv_system" in
    *-darwin) echo "  only ours, for the Mac:  $drv" ;;
    *) echo "FAIL: only ours, for $drv_system: $drv" >&2; status=1 ;;
  esac
done < <(comm -23 "$work/ours" "$work/stock")
if [ "$status" -eq 0 ]; then
  echo "PASS: the guest is nixpkgs' own; nothing Linux is built for this runner"
fi
exit "$status"
