//! The user's own NixOS module for the builder ("Builder configuration
//! file…", `builderbar runner module set FILE | clear`).
//!
//! A file is taken only once Nix itself has parsed it (`nix-instantiate
//! --parse`) and its value is a module (a function or an attribute set, as
//! `builtins.typeOf` says without evaluating the body); what Nix said is
//! passed on with the line it names. The bytes read once are what is
//! checked and what is kept: they are copied into BuilderBar's folder
//! (`<root>/builder-module.nix`), so editing or deleting the original
//! changes nothing until it is set again. The runner expression imports
//! the copy after BuilderBar's own module (`expr.rs`), so the user's
//! options win where they set the same ones with a higher priority.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::paths::Paths;

/// Larger is not a configuration file.
const MAX_BYTES: u64 = 1 << 20;

/// A module kept in BuilderBar's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// The copy the expression imports.
    pub path: PathBuf,
    /// A digest of its bytes: part of the runner's identity.
    pub sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error("{} cannot be read: {source}. Check that the file exists and that you may read it", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is larger than 1 MiB, which no NixOS module needs", path.display())]
    TooLarge { path: PathBuf },
    #[error("{} is not text (UTF-8)", path.display())]
    NotText { path: PathBuf },
    #[error("{} does not parse as Nix{}: {message}. Fix it and set it again; the builder is unchanged", path.display(), line.map(|l| format!(" (line {l})")).unwrap_or_default())]
    Parse {
        path: PathBuf,
        line: Option<u32>,
        message: String,
    },
    #[error("{} is a {kind}, not a NixOS module: a module is a function like `{{ config, lib, pkgs, ... }}: {{ … }}` or an attribute set `{{ … }}`", path.display())]
    NotAModule { path: PathBuf, kind: String },
    #[error("Nix is needed to check the file, and `nix-instantiate` could not run: {0}")]
    NixMissing(String),
    #[error("could not keep the module in {}: {source}", path.display())]
    Keep {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The module kept now, if any.
pub fn current(paths: &Paths) -> Option<Module> {
    let path = paths.builder_module_file();
    let bytes = std::fs::read(&path).ok()?;
    Some(Module {
        sha256: digest(&bytes),
        path,
    })
}

/// Checks `file` and keeps a copy of it (replacing the one kept). Nothing
/// is kept when it is refused.
pub fn set(paths: &Paths, file: &Path) -> Result<Module, ModuleError> {
    let unreadable = |source| ModuleError::Unreadable {
        path: file.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(file).map_err(unreadable)?;
    if meta.len() > MAX_BYTES {
        return Err(ModuleError::TooLarge {
            path: file.to_path_buf(),
        });
    }
    let bytes = std::fs::read(file).map_err(unreadable)?;
    set_bytes(paths, file, &bytes)
}

/// Checks `bytes` (the window's file, read by the web view; `shown` names
/// it in errors) and keeps them, as [`set`] does.
pub fn set_bytes(paths: &Paths, shown: &Path, bytes: &[u8]) -> Result<Module, ModuleError> {
    if bytes.len() as u64 > MAX_BYTES {
        return Err(ModuleError::TooLarge {
            path: shown.to_path_buf(),
        });
    }
    if std::str::from_utf8(bytes).is_err() {
        return Err(ModuleError::NotText {
            path: shown.to_path_buf(),
        });
    }
    let kept = paths.builder_module_file();
    let folder = kept.parent().unwrap_or(paths.root());
    std::fs::create_dir_all(folder).map_err(|source| ModuleError::Keep {
        path: folder.to_path_buf(),
        source,
    })?;
    // Checked as the copy that will be kept, under a name of its own: the
    // original may change meanwhile, the copy does not.
    let staged = Staged(folder.join(format!(".builder-module-{}.nix", std::process::id())));
    std::fs::write(&staged.0, bytes).map_err(|source| ModuleError::Keep {
        path: staged.0.clone(),
        source,
    })?;
    check(&staged.0, shown)?;
    crate::fsutil::write_atomic(&kept, bytes, 0o644).map_err(|source| ModuleError::Keep {
        path: kept.clone(),
        source,
    })?;
    Ok(Module {
        path: kept,
        sha256: digest(bytes),
    })
}

/// The copy being checked, removed whatever the check says.
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Forgets the module kept; true if there was one.
pub fn clear(paths: &Paths) -> Result<bool, ModuleError> {
    let kept = paths.builder_module_file();
    match std::fs::remove_file(&kept) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(ModuleError::Keep { path: kept, source }),
    }
}

/// Nix's own checks of `staged`; errors name `shown` (the user's file).
fn check(staged: &Path, shown: &Path) -> Result<(), ModuleError> {
    let parse = nix_instantiate()?
        .arg("--parse")
        .arg(staged)
        .output()
        .map_err(|err| ModuleError::NixMissing(err.to_string()))?;
    if !parse.status.success() {
        let (line, message) = nix_error(&String::from_utf8_lossy(&parse.stderr), staged);
        return Err(ModuleError::Parse {
            path: shown.to_path_buf(),
            line,
            message,
        });
    }
    // `import` of the file, not its body: a function stays unapplied and a
    // set unevaluated, so nothing from nixpkgs is needed.
    let kind = nix_instantiate()?
        .args([
            "--eval",
            "-E",
            "{ f }: builtins.typeOf (import (/. + f))",
            "--argstr",
            "f",
        ])
        .arg(staged)
        .output()
        .map_err(|err| ModuleError::NixMissing(err.to_string()))?;
    if !kind.status.success() {
        let (line, message) = nix_error(&String::from_utf8_lossy(&kind.stderr), staged);
        return Err(ModuleError::Parse {
            path: shown.to_path_buf(),
            line,
            message,
        });
    }
    let kind = String::from_utf8_lossy(&kind.stdout)
        .trim()
        .trim_matches('"')
        .to_owned();
    match kind.as_str() {
        "lambda" | "set" => Ok(()),
        _ => Err(ModuleError::NotAModule {
            path: shown.to_path_buf(),
            kind,
        }),
    }
}

/// `nix-instantiate` over Nix's `dummy://` store (evaluation only): a
/// check opens no store, reaches no daemon and writes nothing; no search
/// path either, so `<nixpkgs>` means nothing here.
fn nix_instantiate() -> Result<Command, ModuleError> {
    let program = crate::nix::runner_build::find_nix()
        .map(|nix| nix.with_file_name("nix-instantiate"))
        .filter(|p| p.is_file())
        .ok_or_else(|| ModuleError::NixMissing("no `nix-instantiate` on PATH".into()))?;
    let mut command = Command::new(program);
    command.args(["--store", "dummy://"]).env("NIX_PATH", "");
    Ok(command)
}

/// Nix's error without colours or its warnings, and the line it names in
/// `file` ("at FILE:LINE:COL").
fn nix_error(stderr: &str, file: &Path) -> (Option<u32>, String) {
    let text = crate::nix::internal_json::printable_lines(stderr);
    let at = format!("{}:", file.display());
    let line = text.iter().find_map(|l| {
        let rest = &l[l.find(&at)? + at.len()..];
        rest.split(':').next()?.parse().ok()
    });
    let message = text
        .iter()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or("Nix refused it")
        .to_owned();
    (line, message)
}

fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
#[path = "module_tests.rs"]
mod tests;
