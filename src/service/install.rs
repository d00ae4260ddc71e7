//! The stable copy of the `builderbar` binary that the service runs: under
//! BuilderBar's root, never inside the app bundle (moving or updating the app
//! would break the job), refreshed whenever the running binary differs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::paths::Paths;
use crate::service::ServiceError;

/// Where the service's copy of the binary lives.
pub fn installed_binary(paths: &Paths) -> PathBuf {
    paths.root().join("bin").join("builderbar")
}

/// Copies the running binary into place if the copy is missing or differs.
/// The copy is written beside its final path and renamed, so a running
/// supervisor keeps its (old) file and a new start gets the new one.
pub(crate) fn refresh(paths: &Paths) -> Result<PathBuf, ServiceError> {
    let target = installed_binary(paths);
    let source = bundled_cli()?;
    if same_contents(&source, &target) {
        return Ok(target);
    }
    // Copied by a child process: the app is multi-threaded and starts this
    // copy right after, and a sibling fork holding a write descriptor would
    // make that start fail with "Text file busy" (ETXTBSY).
    execfile::copy(&source, &target, 0o755).map_err(ServiceError::io("install", &target))?;
    tracing::info!(binary = %target.display(), "installed the builderbar binary for the service");
    Ok(target)
}

/// The `builderbar` program the service installs its copy from: this
/// process when it is the CLI, else the one the app bundle carries beside
/// the app's executable (`Contents/MacOS/builderbar` in BuilderBar.app,
/// `/usr/bin/builderbar` from the Linux package; Tauri's `externalBin`).
/// `BUILDERBAR_BIN` overrides both (development builds).
pub fn bundled_cli() -> Result<PathBuf, ServiceError> {
    let path = match std::env::var_os("BUILDERBAR_BIN").filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => {
            let exe =
                std::env::current_exe().map_err(ServiceError::io("find", "the running program"))?;
            if exe.file_name().is_some_and(|name| name == "builderbar") {
                return Ok(exe);
            }
            exe.with_file_name("builderbar")
        }
    };
    let executable = std::fs::metadata(&path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0);
    if !executable {
        return Err(ServiceError::CliMissing(path));
    }
    Ok(path)
}

fn same_contents(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(ma), Ok(mb)) if ma.len() == mb.len() => {
            matches!((std::fs::read(a), std::fs::read(b)), (Ok(x), Ok(y)) if x == y)
        }
        _ => false,
    }
}
