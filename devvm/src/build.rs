//! Building the dev VM into the cache, once per set of inputs.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cache::CacheLock;
use crate::error::{Error, Result};
use crate::guest::{self, GUEST_FILES, GUEST_PROGRAMS};
use crate::kernel::{self, Kernel};
use crate::process::run;

/// Bumped whenever the way the guest is assembled changes in a way the
/// guest files and programs alone do not show.
const RECIPE_VERSION: &str = "1";

/// A built dev VM: everything its runner needs.
#[derive(Debug, Clone)]
pub struct DevVm {
    /// The build's own folder in the cache; runners are written here too.
    pub dir: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// The guest's SSH host key, as an OpenSSH public key line without a
    /// comment (`ssh-ed25519 AAAA…`), for pinning.
    pub host_key: String,
}

/// Returns the dev VM for the current inputs, building it first if needed.
pub fn ensure_built(cache: &Path) -> Result<DevVm> {
    let _lock = CacheLock::acquire(cache)?;
    let kernel = kernel::ensure_kernel(cache)?;
    let fingerprint = fingerprint(&kernel)?;
    let builds = cache.join("builds");
    let dir = builds.join(&fingerprint);
    if !dir.join("ok").exists() {
        build_into(&kernel, &builds, &dir)?;
        prune(&builds, &fingerprint);
    }
    load(&dir, &kernel)
}

fn load(dir: &Path, kernel: &Kernel) -> Result<DevVm> {
    let host_key_path = dir.join("host_key.pub");
    let host_key = std::fs::read_to_string(&host_key_path)
        .map_err(Error::io("read", &host_key_path))?
        .trim()
        .to_string();
    Ok(DevVm {
        dir: dir.to_path_buf(),
        kernel: kernel.vmlinux.clone(),
        initrd: dir.join("initrd.img"),
        host_key,
    })
}

/// A digest of everything that shapes the guest: the recipe, the guest's
/// files, the kernel package and the exact host programs copied in.
fn fingerprint(kernel: &Kernel) -> Result<String> {
    let mut hash = Sha256::new();
    hash.update(RECIPE_VERSION);
    for (path, mode, text) in GUEST_FILES {
        hash.update(format!("{path}\0{mode}\0{}\0", text.len()));
        hash.update(text);
    }
    hash.update(&kernel.package_file);
    for (name, _) in GUEST_PROGRAMS {
        let path = guest::host_program(name)?;
        let bytes = std::fs::read(&path).map_err(Error::io("read", &path))?;
        hash.update(name);
        hash.update(Sha256::digest(&bytes));
    }
    let digest = hash.finalize();
    Ok(digest
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

fn build_into(kernel: &Kernel, builds: &Path, dir: &Path) -> Result<()> {
    tracing::info!(dir = %dir.display(), "building the dev VM");
    std::fs::create_dir_all(builds).map_err(Error::io("create", builds))?;
    // Built in a scratch folder and renamed into place: a build is either
    // complete or absent.
    let scratch = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(builds)
        .map_err(Error::io("create a folder in", builds))?;

    let key_path = scratch.path().join("host_key");
    run(
        "dropbearkey",
        [
            "-t".as_ref(),
            "ed25519".as_ref(),
            "-f".as_ref(),
            key_path.as_os_str(),
        ],
    )?;
    let public = run(
        "dropbearkey",
        ["-y".as_ref(), "-f".as_ref(), key_path.as_os_str()],
    )?;
    let host_key = String::from_utf8_lossy(&public.stdout)
        .lines()
        .find(|line| line.starts_with("ssh-ed25519 "))
        .map(|line| {
            line.split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .ok_or_else(|| Error::Broken("dropbearkey printed no public key".into()))?;
    let private = std::fs::read(&key_path).map_err(Error::io("read", &key_path))?;
    std::fs::remove_file(&key_path).map_err(Error::io("remove", &key_path))?;

    let fs = guest::assemble(kernel, &private)?;
    let initrd = scratch.path().join("initrd.img");
    let file = std::fs::File::create(&initrd).map_err(Error::io("create", &initrd))?;
    let mut file = fs
        .write_to(std::io::BufWriter::new(file))
        .map_err(Error::io("write", &initrd))?;
    file.flush().map_err(Error::io("write", &initrd))?;

    write(&scratch.path().join("host_key.pub"), &(host_key + "\n"))?;
    write(&scratch.path().join("kernel"), &kernel.package_file)?;
    write(&scratch.path().join("ok"), "")?;
    let built = scratch.keep();
    std::fs::rename(&built, dir).map_err(Error::io("move into place", dir))
}

/// Older builds are dropped once a new one is in place; a failure to delete
/// one only costs disk space.
fn prune(builds: &Path, keep: &str) {
    let Ok(entries) = std::fs::read_dir(builds) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name() != keep {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(Error::io("write", path))
}
