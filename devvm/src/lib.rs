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
//! Builds are cached under a folder outside the repository, keyed by a
//! fingerprint of everything that goes into them, and rebuilt only when that
//! changes.

mod build;
mod cache;
mod error;
mod guest;
mod initramfs;
mod kernel;
mod process;
mod runner;

pub use build::{DevVm, ensure_built};
pub use cache::default_cache_dir;
pub use error::Error;
pub use runner::{RunnerOptions, write_runner};
