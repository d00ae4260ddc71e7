//! BuilderBar's dev VM: Linux-only development scaffolding.
//!
//! On macOS the builder is nixpkgs' `darwin.linux-builder`, started through
//! its `run-nixos-vm` script. Linux machines cannot run that, so this crate
//! builds a tiny guest from Debian packages (the Debian kernel, static
//! busybox, dropbear, e2fsprogs) and writes a runner script that honours the
//! same contract (`NIX_DISK_IMAGE`, `TMPDIR`/`USE_TMPDIR`, `KEYS`,
//! `QEMU_OPTS`, `QEMU_NET_OPTS`, the host port baked in, forwarded from
//! 127.0.0.1 only). The supervisor cannot tell the two apart.
//!
//! Two flavours (see [`Flavour`]): the small guest, and the same with
//! Debian's Nix so the host's Nix really builds on it over `ssh-ng://`. Both
//! share one SSH host key per cache, so the key pinned by the Nix wiring
//! holds whichever flavour boots.
//!
//! Builds are cached under a folder outside the repository, keyed by a
//! fingerprint of everything that goes into them, and rebuilt only when that
//! changes.

mod build;
mod cache;
mod error;
mod flavour;
mod guest;
mod initramfs;
mod kernel;
mod nix;
mod process;
mod runner;

pub use build::{DevVm, Layer, LayerFile, ensure_built, ensure_flavour, ensure_layered};
pub use cache::default_cache_dir;
pub use error::Error;
pub use flavour::{FLAVOUR_ENV, Flavour, NIX_STORE_DIR};
pub use runner::{RunnerOptions, ssh_forward, write_runner};
