//! The dev VM as a generation (Linux development): a dev VM build in the
//! cache, named by its fingerprint (its folder's name), and its runner,
//! written once into the generation's folder when the generation is made.
//! A start with the same build starts that runner; a new build (another
//! flavour, changed guest files) becomes the next generation.
//!
//! A generation owns what it boots: the build's initramfs is linked (or
//! copied) into its folder and its runner boots that copy, so a later build
//! that prunes the cache never takes a kept generation's system away.
//!
//! The runner's disk size only matters for a disk that does not exist, and
//! the supervisor makes the disk before every boot: it is written as it
//! was when the generation was made.

use std::path::{Path, PathBuf};

use super::{Candidate, Generation, GenerationError, Store};

/// Makes the dev VM in `cache` (building it when needed) the current
/// generation and returns it.
pub fn adopt(
    store: &Store,
    cache: &Path,
    disk_size_mib: u64,
) -> Result<Generation, GenerationError> {
    let vm = devvm::ensure_built(cache).map_err(|err| GenerationError::Make(err.to_string()))?;
    let (identity, built_from) = words(&vm, "");
    store.adopt_new(Candidate {
        nixpkgs: None,
        identity,
        built_from,
        make: &mut |dir| make_runner(&vm, dir, disk_size_mib),
    })
}

/// Keeps the dev VM with `layer` added as a generation not tried yet (the
/// Linux stand-in for a successor built from new inputs); `inputs` says
/// what for people, `nixpkgs` the pin it stands for.
pub fn add_layered(
    store: &Store,
    cache: &Path,
    layer: &devvm::Layer,
    inputs: &str,
    nixpkgs: &str,
    disk_size_mib: u64,
) -> Result<Generation, GenerationError> {
    let flavour =
        devvm::Flavour::selected().map_err(|err| GenerationError::Make(err.to_string()))?;
    let vm = devvm::ensure_layered(cache, flavour, layer)
        .map_err(|err| GenerationError::Make(err.to_string()))?;
    let (identity, built_from) = words(&vm, &format!(", {inputs}"));
    store.add(Candidate {
        nixpkgs: Some(nixpkgs.to_owned()),
        identity,
        built_from,
        make: &mut |dir| make_runner(&vm, dir, disk_size_mib),
    })
}

/// The generation's identity (the build's fingerprint) and its words.
fn words(vm: &devvm::DevVm, more: &str) -> (String, String) {
    let build = vm
        .dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let flavour = vm.flavour.name();
    let short: String = build.chars().take(12).collect();
    (
        format!("devvm {flavour} {build}"),
        format!("the dev VM, {flavour} flavour, build {short}{more}"),
    )
}

/// The generation's own initramfs and the runner that boots it, in `dir`.
fn make_runner(
    vm: &devvm::DevVm,
    dir: &Path,
    disk_size_mib: u64,
) -> Result<PathBuf, GenerationError> {
    let initrd = dir.join("initrd.img");
    // A hard link costs nothing; another file system gets a copy (the
    // build's 0600 mode comes with either: it holds the guest's host key).
    if std::fs::hard_link(&vm.initrd, &initrd).is_err() {
        std::fs::copy(&vm.initrd, &initrd).map_err(GenerationError::io("copy", &initrd))?;
    }
    let owned = devvm::DevVm {
        dir: dir.to_path_buf(),
        initrd,
        ..vm.clone()
    };
    let options = devvm::RunnerOptions {
        disk_size_mib,
        ..Default::default()
    };
    let written = devvm::write_runner(&owned, options)
        .map_err(|err| GenerationError::Make(err.to_string()))?;
    let runner = dir.join("runner");
    // Copied by a child process: the supervisor starts it right after,
    // from a multi-threaded process.
    execfile::copy(&written, &runner, 0o755).map_err(GenerationError::io("write", &runner))?;
    Ok(runner)
}
