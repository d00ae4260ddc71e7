//! The dev VM as a generation (Linux development): a dev VM build in the
//! cache, named by its fingerprint (its folder's name), and its runner,
//! written once into the generation's folder when the generation is made.
//! A start with the same build starts that runner; a new build (another
//! flavour, changed guest files) becomes the next generation.
//!
//! The runner's disk size only matters for a disk that does not exist, and
//! the supervisor makes the disk before every boot: it is written as it
//! was when the generation was made.

use std::path::Path;

use super::{Candidate, Generation, GenerationError, Store};

/// Makes the dev VM in `cache` (building it when needed) the current
/// generation and returns it.
pub fn adopt(
    store: &Store,
    cache: &Path,
    disk_size_mib: u64,
) -> Result<Generation, GenerationError> {
    let vm = devvm::ensure_built(cache).map_err(|err| GenerationError::Make(err.to_string()))?;
    let build = vm
        .dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let flavour = vm.flavour.name();
    let short: String = build.chars().take(12).collect();
    store.adopt_new(Candidate {
        identity: format!("devvm {flavour} {build}"),
        built_from: format!("the dev VM, {flavour} flavour, build {short}"),
        make: &mut |dir| {
            let options = devvm::RunnerOptions {
                disk_size_mib,
                ..Default::default()
            };
            let written = devvm::write_runner(&vm, options)
                .map_err(|err| GenerationError::Make(err.to_string()))?;
            let runner = dir.join("runner");
            // Copied by a child process: the supervisor starts it right
            // after, from a multi-threaded process.
            execfile::copy(&written, &runner, 0o755)
                .map_err(GenerationError::io("write", &runner))?;
            Ok(runner)
        },
    })
}
