//! "Install Command-Line Tool…": `builderbar` on the user's PATH as a link
//! to the service's copy of the CLI (`<root>/bin/builderbar`), made through
//! the plan/manifest machinery so that it is shown, undone and never
//! clobbers a file of someone else's. The administrator prompt appears only
//! when the folder needs it (`/usr/local/bin` is root's on a fresh Mac).
//!
//! The link points at the service's copy rather than into the app bundle:
//! moving or renaming BuilderBar.app must not break it, and the CLI on the
//! PATH is then always the version the service runs.

use std::path::{Path, PathBuf};

use crate::nix::NixError;
use crate::nix::apply::{Job, Manifest, Outcome, run_job};
use crate::nix::elevate::Elevation;
use crate::nix::plan::{Operation, Plan};
use crate::paths::Paths;
use crate::service::ServiceError;

/// The link's file name.
pub const LINK_NAME: &str = "builderbar";

#[derive(Debug, thiserror::Error)]
pub enum CliToolError {
    #[error(transparent)]
    Nix(#[from] NixError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("{} cannot hold the command-line tool: {reason}", .dir.display())]
    BadFolder { dir: PathBuf, reason: &'static str },
    #[error("no folder was given for the command-line tool, and this system has no usual one")]
    NoDefaultFolder,
}

impl crate::hint::Hint for CliToolError {
    /// What to do about it.
    fn hint(&self) -> Option<String> {
        match self {
            CliToolError::Nix(err) => err.hint(),
            CliToolError::BadFolder { .. } | CliToolError::NoDefaultFolder => Some(
                "choose a folder on your PATH: builderbar cli-tool install --dir /path/to/bin"
                    .into(),
            ),
            CliToolError::Service(_) => None,
        }
    }
}

/// Where the link is, and whether it is in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliTool {
    /// `<dir>/builderbar`.
    pub link: PathBuf,
    /// What it points at: the service's copy of the CLI.
    pub target: PathBuf,
    /// The link exists and points at `target`.
    pub installed: bool,
    /// Making or removing it needs the administrator password.
    pub needs_admin: bool,
}

/// The usual folder: `/usr/local/bin` on macOS (the first line of Apple's
/// `/etc/paths`, so every shell has it), else `$XDG_BIN_HOME` or
/// `~/.local/bin` (on the PATH of a Debian login shell once it exists).
pub fn default_dir() -> Option<PathBuf> {
    if cfg!(target_os = "macos") {
        Some(PathBuf::from("/usr/local/bin"))
    } else {
        directories::BaseDirs::new().and_then(|b| b.executable_dir().map(Path::to_path_buf))
    }
}

/// The manifest's folder (kept apart from the Nix wiring's, so either can
/// be installed alone).
pub fn state_dir(paths: &Paths) -> PathBuf {
    paths.root().join("cli-tool")
}

/// The state: where the link is (the installed one, else where it would
/// go in `dir` or the usual folder).
pub fn status(paths: &Paths, dir: Option<&Path>) -> Result<CliTool, CliToolError> {
    let recorded = recorded_link(paths)?;
    let link = match (recorded, dir) {
        (Some(link), None) => link,
        (_, Some(dir)) => checked_dir(dir)?.join(LINK_NAME),
        (None, None) => default_dir()
            .ok_or(CliToolError::NoDefaultFolder)?
            .join(LINK_NAME),
    };
    let target = crate::service::installed_binary(paths);
    let installed = std::fs::read_link(&link).is_ok_and(|t| t == target);
    let needs_admin = !writable(link.parent().unwrap_or(Path::new("/")));
    Ok(CliTool {
        link,
        target,
        installed,
        needs_admin,
    })
}

/// Makes the link in `dir` (the usual folder when None): one admin prompt
/// when the folder is not the user's to write.
pub fn install(paths: &Paths, dir: Option<&Path>) -> Result<CliTool, CliToolError> {
    if let Some(old) = recorded_link(paths)?
        && dir.is_some_and(|d| old.parent() != Some(d))
    {
        // A new folder: the old link goes first, so only one is left.
        uninstall(paths)?;
    }
    let tool = status(paths, dir)?;
    let binary = crate::service::install_binary(paths)?;
    let job = Job::Apply(Plan {
        state_dir: state_dir(paths),
        sysroot: PathBuf::from("/"),
        operations: vec![Operation::Symlink {
            path: tool.link.clone(),
            target: binary.clone(),
        }],
        notes: Vec::new(),
    });
    if tool.needs_admin {
        Elevation::for_platform()?.run(&job, &binary, &paths.state_dir())?;
    } else {
        run_job(&job)?;
    }
    tracing::info!(link = %tool.link.display(), "installed the command-line tool");
    status(paths, None)
}

/// Removes the link (if it is still ours). `Ok(None)`: none was made.
pub fn uninstall(paths: &Paths) -> Result<Option<Outcome>, CliToolError> {
    let Some(link) = recorded_link(paths)? else {
        return Ok(None);
    };
    let job = Job::Uninstall {
        state_dir: state_dir(paths),
        daemon: None,
        also: Vec::new(),
    };
    let outcome = if writable(link.parent().unwrap_or(Path::new("/"))) {
        run_job(&job)?
    } else {
        // The administrator step runs the CLI's stable copy.
        let binary = crate::service::install_binary(paths)?;
        Elevation::for_platform()?.run(&job, &binary, &paths.state_dir())?
    };
    Ok(Some(outcome))
}

/// The link the manifest records, when one was made.
pub fn recorded_link(paths: &Paths) -> Result<Option<PathBuf>, CliToolError> {
    Ok(Manifest::load(&state_dir(paths))?.and_then(|m| {
        m.entries
            .into_iter()
            .find_map(|e| e.link_to.map(|_| e.path))
    }))
}

/// An absolute folder without characters that would make the plan's
/// words ambiguous; it need not exist yet.
fn checked_dir(dir: &Path) -> Result<PathBuf, CliToolError> {
    let bad = |reason| CliToolError::BadFolder {
        dir: dir.to_path_buf(),
        reason,
    };
    if !dir.is_absolute() {
        return Err(bad("it must be a full path, starting with /"));
    }
    if dir.to_str().is_none_or(|s| s.contains(['\n', '\r', '\0'])) {
        return Err(bad("its name holds characters BuilderBar does not accept"));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(bad("it is a file, not a folder"));
    }
    Ok(dir.to_path_buf())
}

/// Whether this process may create a file in `dir`, or in the nearest
/// folder above it that exists (the rest would be made).
fn writable(dir: &Path) -> bool {
    let mut dir = dir;
    loop {
        if dir.exists() {
            return rustix::fs::access(dir, rustix::fs::Access::WRITE_OK).is_ok();
        }
        match dir.parent() {
            Some(parent) => dir = parent,
            None => return false,
        }
    }
}
