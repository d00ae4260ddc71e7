#!/usr/bin/env bash
# Installs what building, running and testing BuilderBar needs on a Debian 12
# machine. Idempotent: a second run checks, finds nothing missing and returns
# in well under a second, without touching the network.
set -euo pipefail

# Packages from the machine's own Debian suite.
debian_packages=(
  busybox-static   # the dev VM's userland (static, copied as is)
  dropbear-bin     # the dev VM's SSH server (no service is started on the host)
  e2fsprogs        # mke2fs/e2fsck/resize2fs for the guest and the host-side disk grow
  kmod             # modprobe/depmod to resolve the guest kernel's modules
  openssh-client   # the real ssh used by tests and by nix-daemon
  xz-utils
  curl             # the newest cached nixpkgs is asked of a channels server (Update Builder)
  ca-certificates
  dbus             # dbus-run-session: a private session bus for the Secret Service tests
  gnome-keyring    # a real Secret Service behind keyring (scripts/with-secret-service.sh)
  python3-dbus     # the tests' D-Bus notification server (tests/doubles/notification-server.py)
  python3-gi       # its GLib main loop
  nix-bin          # real Nix builds in a private store for the build watcher's tests
  clang            # the aarch64-apple-darwin type-check builds mac-notification-sys' C/ObjC
  # The menu-bar app (Tauri 2, WebKitGTK, a tray through libayatana) and its
  # end-to-end tests under Xvfb, driven through WebKitWebDriver.
  build-essential file pkg-config libwebkit2gtk-4.1-dev libxdo-dev libssl-dev
  libayatana-appindicator3-dev librsvg2-dev
  xvfb xauth webkit2gtk-driver x11-utils xdotool fonts-dejavu-core imagemagick
  clang            # the macOS type-check of crates that compile C or Objective-C
  shellcheck       # the scripts, and actionlint's check of the workflows' run: blocks
)

# qemu-system-x86 comes from bookworm-backports: the machine already has
# qemu-utils 10.x from there, and Debian 12's own qemu-system-x86 (7.2)
# conflicts with it.
backports_packages=(qemu-system-x86 qemu-utils)  # qemu-utils: qemu-img, and qemu-io for the trial disk tests

missing() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${db:Status-Status}\n' "$pkg" 2>/dev/null | grep -qx installed || echo "$pkg"
  done
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_opts=(-o DPkg::Lock::Timeout=120 -y -q --no-install-recommends)

mapfile -t need < <(missing "${debian_packages[@]}")
if [ "${#need[@]}" -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  if ! DEBIAN_FRONTEND=noninteractive as_root apt-get install "${apt_opts[@]}" "${need[@]}"; then
    as_root apt-get -o DPkg::Lock::Timeout=120 -q update
    DEBIAN_FRONTEND=noninteractive as_root apt-get install "${apt_opts[@]}" "${need[@]}"
  fi
fi

mapfile -t need < <(missing "${backports_packages[@]}")
if [ "${#need[@]}" -gt 0 ]; then
  echo "setup: installing ${need[*]} from bookworm-backports"
  # A private source list, so /etc/apt stays as the machine's owner left it.
  # The mirror is the one the machine already uses for its main suite.
  private=/var/tmp/builderbar-apt
  mirror=$(
    { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' || true
      grep -hs '^deb ' /etc/apt/sources.list | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' || true
    } | grep -v -- '-security' | head -n1 || true
  )
  if [ -z "$mirror" ]; then
    echo "setup: cannot find the machine's Debian mirror in /etc/apt; add bookworm-backports by hand and install ${need[*]}" >&2
    exit 1
  fi
  # The machine's own sources stay in effect (backports packages depend on
  # updated ones from the main suites); backports is added beside them.
  as_root rm -rf "$private/sources.list.d"
  as_root mkdir -p "$private/lists/partial" "$private/sources.list.d"
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [ -e "$f" ] && as_root cp "$f" "$private/sources.list.d/"
  done
  if [ -e /etc/apt/sources.list ]; then as_root cp /etc/apt/sources.list "$private/sources.list"
  else : | as_root tee "$private/sources.list" >/dev/null; fi
  printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s bookworm-backports main\n' "$mirror" |
    as_root tee "$private/sources.list.d/builderbar-backports.list" >/dev/null
  private_opts=(-o "Dir::Etc::SourceList=$private/sources.list" -o "Dir::Etc::SourceParts=$private/sources.list.d"
    -o "Dir::State::Lists=$private/lists" -o DPkg::Lock::Timeout=120)
  as_root apt-get "${private_opts[@]}" -q update
  DEBIAN_FRONTEND=noninteractive as_root apt-get "${private_opts[@]}" -t bookworm-backports \
    install -y -q --no-install-recommends "${need[@]}"
fi

# The Rust components `make test` runs.
if command -v rustup >/dev/null; then
  installed=$(rustup component list --installed 2>/dev/null || true)
  for comp in rustfmt clippy; do
    grep -q "^$comp" <<<"$installed" || rustup component add "$comp"
  done
  # For the macOS type-check; scripts/check-macos.sh says loudly when missing.
  rustup target list --installed | grep -qx aarch64-apple-darwin ||
    rustup target add aarch64-apple-darwin ||
    echo "setup: WARNING: could not add the aarch64-apple-darwin target; the macOS type-check will not run" >&2
fi

# The app's end-to-end tests drive it through tauri-driver (WebDriver).
if ! command -v tauri-driver >/dev/null && command -v cargo >/dev/null; then
  cargo install --locked tauri-driver --version '^2'
fi

# The dev VM's kernel is fetched by package name from the apt lists; make sure
# they know it.
if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
  as_root apt-get -o DPkg::Lock::Timeout=120 -q update
fi
