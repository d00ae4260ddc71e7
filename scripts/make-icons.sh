#!/usr/bin/env bash
# Draws BuilderBar's icons with ImageMagick: the menu-bar template images
# (black on transparent, one per state, @1x and @2x) and the app icon. The
# PNGs are committed; run this only to change them.
set -euo pipefail
cd "$(dirname "$0")/../icons"
convert=/usr/bin/convert   # /usr/local/bin/convert may be a stand-in

# A pointy-top hexagon (the builder) centred in a square of side $1.
hexagon() {
  python3 - "$1" "$2" <<'PY'
import math, sys
size, inset = float(sys.argv[1]), float(sys.argv[2])
c, r = size / 2, size / 2 - inset
print(" ".join(f"{c + r * math.cos(math.radians(a - 90)):.2f},{c + r * math.sin(math.radians(a - 90)):.2f}"
               for a in range(0, 360, 60)))
PY
}

tray() { # state scale
  local state=$1 scale=$2 size=$((18 * $2)) stroke=$((2 * $2))
  local out="tray/$state.png"
  [ "$scale" -eq 2 ] && out="tray/$state@2x.png"
  local outer inner
  outer=$(hexagon "$size" "$scale")
  inner=$(hexagon "$size" $((5 * scale)))
  local args=(-size "${size}x${size}" xc:none -stroke black -strokewidth "$stroke")
  case "$state" in
    stopped)  args+=(-fill none -draw "polygon $outer") ;;
    # On-demand, asleep: the outline and a crescent moon.
    sleeping) args+=(-fill none -draw "polygon $outer" -stroke none -fill black
                     -draw "circle $((9 * scale)),$((9 * scale)) $((9 * scale)),$((5 * scale))"
                     -fill white
                     -draw "circle $((11 * scale)),$((7 * scale)) $((11 * scale)),$((4 * scale))"
                     -transparent white) ;;
    starting) args+=(-fill none -draw "polygon $outer" -stroke none -fill black -draw "polygon $inner"
                     -fill none -stroke none) ;;
    ready)    args+=(-fill black -draw "polygon $outer") ;;
    degraded) args+=(-fill black -draw "polygon $outer" -stroke none -fill white
                     -draw "rectangle $((8 * scale)),$((4 * scale)) $((10 * scale - 1)),$((10 * scale))"
                     -draw "rectangle $((8 * scale)),$((12 * scale)) $((10 * scale - 1)),$((14 * scale - 1))"
                     -transparent white) ;;
    failed)   args+=(-fill none -draw "polygon $outer"
                     -draw "line $((6 * scale)),$((6 * scale)) $((12 * scale)),$((12 * scale))"
                     -draw "line $((12 * scale)),$((6 * scale)) $((6 * scale)),$((12 * scale))") ;;
  esac
  "$convert" "${args[@]}" "PNG32:$out"
}

for state in stopped sleeping starting ready degraded failed; do
  tray "$state" 1
  tray "$state" 2
done

# The app icon: a white hexagon on a deep blue rounded square.
app() { # size file
  local s=$1
  "$convert" -size "${s}x${s}" xc:none -fill '#1f3a68' \
    -draw "roundrectangle 0,0 $((s - 1)),$((s - 1)) $((s / 5)),$((s / 5))" \
    -fill white -draw "polygon $(hexagon "$s" $((s / 5)))" \
    -fill '#1f3a68' -draw "polygon $(hexagon "$s" $((s * 2 / 5)))" "PNG32:$2"
}
app 32 32x32.png
app 128 128x128.png
app 256 128x128@2x.png
app 512 icon.png
