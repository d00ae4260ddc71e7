//! Building the dev VM into the cache, once per set of inputs.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::cache::CacheLock;
use crate::error::{Error, Result};
use crate::flavour::{Flavour, NIX_STORE_DIR};
use crate::guest::{self, GUEST_FILES, GUEST_PROGRAMS};
use crate::kernel::{self, Kernel};
use crate::process::run;

/// Bumped whenever the way the guest is assembled changes in a way the
/// guest files and programs alone do not show.
const RECIPE_VERSION: &str = "3";

/// A built dev VM: everything its runner needs.
#[derive(Debug, Clone)]
pub struct DevVm {
    pub flavour: Flavour,
    /// The build's own folder in the cache; runners are written here too.
    pub dir: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// The guest's SSH host key, as an OpenSSH public key line without a
    /// comment (`ssh-ed25519 AAAA…`), for pinning. The same for every
    /// flavour built in one cache.
    pub host_key: String,
}

/// Returns the dev VM of the selected flavour ([`Flavour::selected`]),
/// building it first if needed.
pub fn ensure_built(cache: &Path) -> Result<DevVm> {
    ensure_flavour(cache, Flavour::selected()?)
}

/// Returns the dev VM of this flavour, building it first if needed.
pub fn ensure_flavour(cache: &Path, flavour: Flavour) -> Result<DevVm> {
    ensure_layered(cache, flavour, &Layer::default())
}

/// Files added to the guest on top of the flavour's own: what a builder
/// generation built from other inputs carries on Linux, where the dev VM
/// stands in for the NixOS system nixpkgs' runner would boot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    pub files: Vec<LayerFile>,
}

/// One file of a [`Layer`]: its absolute path in the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFile {
    pub path: String,
    pub mode: u32,
    pub bytes: Vec<u8>,
}

/// Returns the dev VM of this flavour with `layer` added, building it
/// first if needed. Each layer is a build of its own in the cache.
pub fn ensure_layered(cache: &Path, flavour: Flavour, layer: &Layer) -> Result<DevVm> {
    if let Some(bad) = layer
        .files
        .iter()
        .find(|f| !f.path.starts_with('/') || f.path.split('/').any(|part| part == ".."))
    {
        return Err(Error::Broken(format!(
            "a layer file must have an absolute path without `..`: {:?}",
            bad.path
        )));
    }
    let _lock = CacheLock::acquire(cache)?;
    let kernel = kernel::ensure_kernel(cache)?;
    let host_key = ensure_host_key(cache)?;
    let fingerprint = format!(
        "{}-{}",
        flavour.name(),
        fingerprint(&kernel, flavour, &host_key, layer)?
    );
    let builds = cache.join("builds");
    let dir = builds.join(&fingerprint);
    if !dir.join("ok").exists() {
        build_into(&kernel, flavour, &host_key, layer, &builds, &dir)?;
        // A layered build leaves the plain one alone: the plain build is
        // what every start offers. Its own next plain build prunes it.
        if layer.files.is_empty() {
            prune(&builds, flavour, &fingerprint);
        }
    }
    Ok(DevVm {
        flavour,
        dir: dir.clone(),
        kernel: kernel.vmlinux.clone(),
        initrd: dir.join("initrd.img"),
        host_key: host_key.public,
    })
}

/// The guest's host key: made once per cache and shared by the flavours,
/// so switching flavour or rebuilding keeps the key the wiring pinned.
struct HostKey {
    /// dropbear's format, for the guest.
    private: PathBuf,
    public: String,
}

fn ensure_host_key(cache: &Path) -> Result<HostKey> {
    let private = cache.join("host_key");
    let public_path = cache.join("host_key.pub");
    if !public_path.is_file() || !private.is_file() {
        // Made under a scratch name and renamed: a key is whole or absent.
        let scratch = cache.join(".host_key.new");
        let _ = std::fs::remove_file(&scratch);
        run(
            "dropbearkey",
            [
                "-t".as_ref(),
                "ed25519".as_ref(),
                "-f".as_ref(),
                scratch.as_os_str(),
            ],
        )?;
        let public = public_line(&scratch)?;
        write(&public_path, &(public + "\n"))?;
        std::fs::rename(&scratch, &private).map_err(Error::io("move into place", &private))?;
    }
    let public = std::fs::read_to_string(&public_path)
        .map_err(Error::io("read", &public_path))?
        .trim()
        .to_string();
    Ok(HostKey { private, public })
}

/// `ssh-ed25519 AAAA…` for a dropbear key file.
fn public_line(key: &Path) -> Result<String> {
    let public = run(
        "dropbearkey",
        ["-y".as_ref(), "-f".as_ref(), key.as_os_str()],
    )?;
    String::from_utf8_lossy(&public.stdout)
        .lines()
        .find(|line| line.starts_with("ssh-ed25519 "))
        .map(|line| {
            line.split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .ok_or_else(|| Error::Broken("dropbearkey printed no public key".into()))
}

/// A digest of everything that shapes the guest: the recipe, the flavour,
/// the guest's files, the kernel package, the host key and the exact host
/// programs copied in, and the layer's files (when there are any, so a
/// build without one keeps its name).
fn fingerprint(
    kernel: &Kernel,
    flavour: Flavour,
    host_key: &HostKey,
    layer: &Layer,
) -> Result<String> {
    let mut hash = Sha256::new();
    hash.update(RECIPE_VERSION);
    hash.update(flavour.name());
    for (path, mode, text) in GUEST_FILES {
        hash.update(format!("{path}\0{mode}\0{}\0", text.len()));
        hash.update(text);
    }
    hash.update(&kernel.package_file);
    hash.update(&host_key.public);
    for (name, _) in GUEST_PROGRAMS {
        let path = guest::host_program(name)?;
        let bytes = std::fs::read(&path).map_err(Error::io("read", &path))?;
        hash.update(name);
        hash.update(Sha256::digest(&bytes));
    }
    if flavour == Flavour::Nix {
        hash.update(NIX_STORE_DIR);
        for text in crate::nix::FILES {
            hash.update(text);
        }
        crate::nix::fingerprint(&mut hash)?;
    }
    for file in &layer.files {
        hash.update(format!(
            "layer\0{}\0{}\0{}\0",
            file.path,
            file.mode,
            file.bytes.len()
        ));
        hash.update(&file.bytes);
    }
    let digest = hash.finalize();
    Ok(digest
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

fn build_into(
    kernel: &Kernel,
    flavour: Flavour,
    host_key: &HostKey,
    layer: &Layer,
    builds: &Path,
    dir: &Path,
) -> Result<()> {
    tracing::info!(dir = %dir.display(), flavour = flavour.name(), "building the dev VM");
    std::fs::create_dir_all(builds).map_err(Error::io("create", builds))?;
    // Built in a scratch folder and renamed into place: a build is either
    // complete or absent.
    let scratch = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(builds)
        .map_err(Error::io("create a folder in", builds))?;
    let private = std::fs::read(&host_key.private).map_err(Error::io("read", &host_key.private))?;
    let mut fs = guest::assemble(kernel, flavour, &private)?;
    for file in &layer.files {
        fs.file(&file.path, file.mode, file.bytes.clone());
    }
    let initrd = scratch.path().join("initrd.img");
    let file = std::fs::File::create(&initrd).map_err(Error::io("create", &initrd))?;
    // It holds the guest's private host key: readable by its owner only.
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(Error::io("restrict", &initrd))?;
    let mut file = fs
        .write_to(std::io::BufWriter::new(file))
        .map_err(Error::io("write", &initrd))?;
    file.flush().map_err(Error::io("write", &initrd))?;

    write(
        &scratch.path().join("host_key.pub"),
        &format!("{}\n", host_key.public),
    )?;
    write(&scratch.path().join("kernel"), &kernel.package_file)?;
    write(&scratch.path().join("ok"), "")?;
    let built = scratch.keep();
    std::fs::rename(&built, dir).map_err(Error::io("move into place", dir))
}

/// Older builds of the flavour (and builds from before flavours) are
/// dropped once a new one is in place; the other flavour's build stays, and
/// so does any build a runner was written into within the hour: another
/// checkout's processes (older code, other inputs) may be booting it. A
/// failure to delete one only costs disk space.
fn prune(builds: &Path, flavour: Flavour, keep: &str) {
    const IN_USE: std::time::Duration = std::time::Duration::from_secs(3600);
    let Ok(entries) = std::fs::read_dir(builds) else {
        return;
    };
    let other = |name: &str| {
        Flavour::ALL
            .iter()
            .any(|f| *f != flavour && name.starts_with(&format!("{}-", f.name())))
    };
    let recent = |path: &Path| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age < IN_USE)
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name != keep && !other(&name) && (name.starts_with(".build-") || !recent(&path)) {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(Error::io("write", path))
}
