//! The Nix flavour's additions to the guest: Debian's nix-bin (one program
//! that acts by the name it is started as) with the libraries it links, a
//! wrapper per name that points it at the shared store path, its nix.conf,
//! and the boot step that mounts the store.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::flavour::NIX_STORE_DIR;
use crate::guest::{self, linked_libraries};
use crate::initramfs::Initramfs;

const NIX_CONF: &str = include_str!("../guest/nix/nix.conf");
const SETUP: &str = include_str!("../guest/nix/setup");
const WRAPPER: &str = include_str!("../guest/nix/wrapper");

/// Where the real program and its per-name links go in the guest.
const REAL_DIR: &str = "/usr/lib/builderbar-nix";

/// The names nix-bin answers to; each gets a wrapper in /usr/bin, which is
/// on dropbear's PATH, so `nix-daemon --stdio` over SSH finds it.
const NAMES: &[&str] = &[
    "nix",
    "nix-build",
    "nix-channel",
    "nix-collect-garbage",
    "nix-copy-closure",
    "nix-daemon",
    "nix-env",
    "nix-hash",
    "nix-instantiate",
    "nix-prefetch-url",
    "nix-shell",
    "nix-store",
];

/// The guest's text files, for the build's fingerprint.
pub(crate) const FILES: &[&str] = &[NIX_CONF, SETUP, WRAPPER];

fn host_nix() -> Result<PathBuf> {
    guest::host_program("nix").map_err(|_| Error::ToolMissing {
        program: "nix (Debian's nix-bin)".into(),
    })
}

/// What decides the guest's Nix: the program's bytes and each library's
/// path, size and change time (hashing ~70 MB at every start is too slow).
pub(crate) fn fingerprint(hash: &mut Sha256) -> Result<()> {
    let nix = host_nix()?;
    let bytes = std::fs::read(&nix).map_err(Error::io("read", &nix))?;
    hash.update(Sha256::digest(&bytes));
    for library in linked_libraries(&nix)? {
        let meta = std::fs::metadata(&library).map_err(Error::io("read", &library))?;
        let changed = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        hash.update(format!(
            "{}\0{}\0{changed}\0",
            library.display(),
            meta.len()
        ));
    }
    Ok(())
}

/// Adds Nix to the guest.
pub(crate) fn add(fs: &mut Initramfs) -> Result<()> {
    let nix = host_nix()?;
    let real = format!("{REAL_DIR}/nix");
    fs.file(&real, 0o755, read(&nix)?);
    for library in linked_libraries(&nix)? {
        let guest_library = library.to_string_lossy().into_owned();
        if !fs.contains(&guest_library) {
            fs.file(&guest_library, 0o755, read(&library)?);
        }
    }
    for name in NAMES {
        if *name != "nix" {
            fs.symlink(&format!("{REAL_DIR}/{name}"), "nix");
        }
        let wrapper = WRAPPER
            .replace("@NAME@", name)
            .replace("@STORE@", NIX_STORE_DIR);
        fs.file(&format!("/usr/bin/{name}"), 0o755, wrapper);
    }
    fs.file("/etc/nix/nix.conf", 0o644, NIX_CONF);
    fs.file(
        "/etc/devvm/nix-setup",
        0o644,
        SETUP.replace("@STORE@", NIX_STORE_DIR),
    );
    fs.dir("/var/tmp", 0o1777);
    Ok(())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(Error::io("read", path))
}
