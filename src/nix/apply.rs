//! Applying a plan under a sysroot, and undoing it.
//!
//! Before the first change to a path, the manifest (`<state_dir>/manifest.json`,
//! 0600) records what was there: nothing, a whole file (backed up byte for
//! byte, with its mode and owner), or a file of someone else's that we only
//! add a marked block to. Uninstall walks the manifest backwards, so the tree
//! comes back byte-identical. Applying the same plan twice changes nothing.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::NixError;
use super::block::{BEGIN_MARK, with_block, without_block};
use super::plan::{DaemonKind, Operation, Owner, Plan};
use crate::fsutil;

pub use super::manifest::{Before, Entry, Manifest};

/// What the elevated step runs: a plan, or the undoing of what a plan did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "kebab-case")]
pub enum Job {
    Apply(Plan),
    Uninstall {
        state_dir: PathBuf,
        /// Which daemon to reload afterwards.
        daemon: Option<DaemonKind>,
        /// More state folders to undo in the same elevation (the
        /// command-line tool's link), each without a daemon reload.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        also: Vec<PathBuf>,
    },
}

/// What applying changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Paths whose bytes, mode or owner changed.
    pub changed: Vec<PathBuf>,
    /// The daemon reload, when one ran.
    pub reloaded: Option<DaemonKind>,
    /// Why a reload did not run.
    pub skipped: Vec<String>,
}

/// Runs a job (what `builderbar nix apply-plan` does as root).
pub fn run_job(job: &Job) -> Result<Outcome, NixError> {
    match job {
        Job::Apply(plan) => apply(plan),
        Job::Uninstall {
            state_dir,
            daemon,
            also,
        } => {
            let mut outcome = uninstall(state_dir, *daemon)?;
            for dir in also {
                let more = uninstall(dir, None)?;
                outcome.changed.extend(more.changed);
                outcome.skipped.extend(more.skipped);
            }
            Ok(outcome)
        }
    }
}

/// Applies `plan`, recording what was there before in the manifest.
pub fn apply(plan: &Plan) -> Result<Outcome, NixError> {
    let state = &plan.state_dir;
    let mut manifest = Manifest::load(state)?.unwrap_or_default();
    manifest.sysroot = Some(plan.sysroot.clone());
    let mut outcome = Outcome::default();
    for op in &plan.operations {
        match op {
            Operation::WriteFile {
                path,
                content,
                mode,
                owner,
            } => {
                remember(&mut manifest, state, path, true)?;
                if put(path, content.as_bytes(), *mode, *owner)? {
                    outcome.changed.push(path.clone());
                }
            }
            Operation::InstallKeyFile {
                source,
                path,
                owner,
            } => {
                // Checked before use, and before anything is recorded: a
                // plain file, 0600, owned by the user who asked (a file
                // planted in its place is refused).
                let bytes =
                    crate::keys::file_check::read_private_key_copy(source).map_err(|e| {
                        NixError::io("use the key copy", source)(std::io::Error::other(e))
                    })?;
                remember(&mut manifest, state, path, true)?;
                let changed = put(path, &bytes, 0o600, *owner)?;
                let _ = std::fs::remove_file(source);
                if changed {
                    outcome.changed.push(path.clone());
                }
            }
            Operation::EditBetweenMarkers {
                path,
                content,
                mode,
            } => {
                let existing = read_optional(path)?;
                let added_newline = existing.as_deref().is_some_and(|t| {
                    !t.is_empty() && !t.ends_with('\n') && !t.contains(BEGIN_MARK)
                });
                if !manifest.knows(path) {
                    let before = match &existing {
                        None => Before::Absent,
                        Some(_) => Before::Edited { added_newline },
                    };
                    record(&mut manifest, state, path, false, before, None)?;
                }
                let old = existing.unwrap_or_default();
                let new = with_block(&old, content);
                let (mode, owner) = match std::fs::metadata(path) {
                    Ok(meta) => (
                        meta.permissions().mode() & 0o7777,
                        Owner::User {
                            uid: meta.uid(),
                            gid: meta.gid(),
                        },
                    ),
                    Err(_) => (*mode, Owner::Root),
                };
                if put(path, new.as_bytes(), mode, owner)? {
                    outcome.changed.push(path.clone());
                }
            }
            Operation::RemoveFile { path } => {
                if path.exists() {
                    remember(&mut manifest, state, path, true)?;
                    std::fs::remove_file(path).map_err(NixError::io("remove", path))?;
                    outcome.changed.push(path.clone());
                }
            }
            Operation::Symlink { path, target } => {
                if link(&mut manifest, state, path, target)? {
                    outcome.changed.push(path.clone());
                }
            }
            Operation::ReloadDaemon(kind) => {
                if outcome.changed.is_empty() {
                    outcome
                        .skipped
                        .push("nix-daemon was not reloaded: nothing changed".into());
                } else if plan.sysroot != Path::new("/") {
                    outcome.skipped.push(format!(
                        "nix-daemon was not reloaded: the files are under the sysroot {}",
                        plan.sysroot.display()
                    ));
                } else {
                    reload(*kind)?;
                    outcome.reloaded = Some(*kind);
                }
            }
        }
    }
    Ok(outcome)
}

/// Puts back what the manifest under `state_dir` recorded, then forgets it.
pub fn uninstall(state_dir: &Path, daemon: Option<DaemonKind>) -> Result<Outcome, NixError> {
    let mut outcome = Outcome::default();
    let Some(manifest) = Manifest::load(state_dir)? else {
        outcome
            .skipped
            .push("nothing to undo: BuilderBar's wiring is not installed".into());
        return Ok(outcome);
    };
    for entry in manifest.entries.iter().rev() {
        let path = &entry.path;
        match (&entry.before, entry.whole) {
            (Before::Absent, true) if entry.link_to.is_some() => {
                match std::fs::read_link(path) {
                    Ok(t) if Some(t.as_path()) == entry.link_to.as_deref() => {
                        if remove_if_present(path)? {
                            outcome.changed.push(path.clone());
                        }
                    }
                    // Gone already: nothing to undo.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    _ => outcome.skipped.push(format!(
                        "{} is no longer BuilderBar's link, so it was left as it is",
                        path.display()
                    )),
                }
            }
            (Before::Absent, true) => {
                if remove_if_present(path)? {
                    outcome.changed.push(path.clone());
                }
            }
            (
                Before::Replaced {
                    backup,
                    mode,
                    uid,
                    gid,
                },
                _,
            ) => {
                let source = state_dir.join("backups").join(backup);
                let bytes = Zeroizing::new(
                    std::fs::read(&source).map_err(NixError::io("read the backup", &source))?,
                );
                put(
                    path,
                    &bytes,
                    *mode,
                    Owner::User {
                        uid: *uid,
                        gid: *gid,
                    },
                )?;
                outcome.changed.push(path.clone());
            }
            (before, _) => {
                let added_newline = matches!(
                    before,
                    Before::Edited {
                        added_newline: true
                    }
                );
                let Some(text) = read_optional(path)? else {
                    continue;
                };
                let rest = without_block(&text, added_newline);
                if rest.is_empty() && *before == Before::Absent {
                    remove_if_present(path)?;
                } else if rest != text {
                    let meta = std::fs::metadata(path).map_err(NixError::io("read", path))?;
                    put(
                        path,
                        rest.as_bytes(),
                        meta.permissions().mode() & 0o7777,
                        Owner::User {
                            uid: meta.uid(),
                            gid: meta.gid(),
                        },
                    )?;
                }
                outcome.changed.push(path.clone());
            }
        }
    }
    for dir in manifest.created_dirs.iter().rev() {
        // Only if empty: someone else's files stay.
        let _ = std::fs::remove_dir(dir);
    }
    let sysroot_is_root = manifest.sysroot.as_deref() == Some(Path::new("/"));
    match daemon {
        Some(kind) if sysroot_is_root && !outcome.changed.is_empty() => {
            reload(kind)?;
            outcome.reloaded = Some(kind);
        }
        Some(_) => outcome
            .skipped
            .push("nix-daemon was not reloaded (a sysroot, or nothing changed)".into()),
        None => {}
    }
    std::fs::remove_dir_all(state_dir).map_err(NixError::io("remove", state_dir))?;
    Ok(outcome)
}

fn read_optional(path: &Path) -> Result<Option<String>, NixError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(NixError::io("read", path)(e)),
    }
}

fn remove_if_present(path: &Path) -> Result<bool, NixError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(NixError::io("remove", path)(e)),
    }
}

/// Makes `path` a link to `target` unless it already is one. Anything else
/// at `path` is someone else's: refused, and nothing is recorded.
fn link(
    manifest: &mut Manifest,
    state: &Path,
    path: &Path,
    target: &Path,
) -> Result<bool, NixError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            let what = match std::fs::read_link(path) {
                Ok(t) if t == target => return Ok(false),
                Ok(t) => format!("a link to {}", t.display()),
                Err(_) if meta.is_dir() => "a folder".into(),
                Err(_) => "a file".into(),
            };
            return Err(NixError::Conflict(format!(
                "{} already exists ({what}) and is not BuilderBar's, so BuilderBar leaves it alone: \
                 remove it yourself, or choose another folder",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(NixError::io("read", path)(e)),
    }
    if !manifest.knows(path) {
        record(
            manifest,
            state,
            path,
            true,
            Before::Absent,
            Some(target.to_path_buf()),
        )?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(NixError::io("create", parent))?;
    }
    // symlink(2) never replaces: a file that appeared since is refused too.
    std::os::unix::fs::symlink(target, path).map_err(NixError::io("make the link", path))?;
    Ok(true)
}

/// Records a whole file's state before its first change.
fn remember(
    manifest: &mut Manifest,
    state: &Path,
    path: &Path,
    whole: bool,
) -> Result<(), NixError> {
    if manifest.knows(path) {
        return Ok(());
    }
    let before = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Before::Absent,
        Err(e) => return Err(NixError::io("read", path)(e)),
        Ok(meta) => {
            let bytes = Zeroizing::new(std::fs::read(path).map_err(NixError::io("read", path))?);
            let backup = format!("{}", manifest.entries.len());
            let dest = state.join("backups").join(&backup);
            fsutil::write_atomic(&dest, &bytes, 0o600)
                .map_err(NixError::io("back up to", &dest))?;
            Before::Replaced {
                backup,
                mode: meta.permissions().mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
            }
        }
    };
    record(manifest, state, path, whole, before, None)
}

fn record(
    manifest: &mut Manifest,
    state: &Path,
    path: &Path,
    whole: bool,
    before: Before,
    link_to: Option<PathBuf>,
) -> Result<(), NixError> {
    // Folders this file will need that are missing now: we made them.
    let mut missing = Vec::new();
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d.exists() {
            break;
        }
        missing.push(d.to_path_buf());
        dir = d.parent();
    }
    for d in missing.into_iter().rev() {
        if !manifest.created_dirs.contains(&d) {
            manifest.created_dirs.push(d);
        }
    }
    manifest.entries.push(Entry {
        path: path.to_path_buf(),
        whole,
        before,
        link_to,
    });
    manifest.save(state)
}

/// Writes `bytes` with `mode` and `owner` unless the file already is exactly
/// that. Returns whether anything changed.
fn put(path: &Path, bytes: &[u8], mode: u32, owner: Owner) -> Result<bool, NixError> {
    let (uid, gid) = match owner {
        Owner::Root => (0, 0),
        Owner::User { uid, gid } => (uid, gid),
    };
    let as_root = rustix::process::geteuid().is_root();
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && meta.file_type().is_file()
        && meta.permissions().mode() & 0o7777 == mode
        && (!as_root || (meta.uid() == uid && meta.gid() == gid))
        && std::fs::read(path).is_ok_and(|old| Zeroizing::new(old).as_slice() == bytes)
    {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(NixError::io("create", parent))?;
    }
    fsutil::write_atomic(path, bytes, mode).map_err(NixError::io("write", path))?;
    if as_root {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(NixError::io("set the owner of", path))?;
    }
    Ok(true)
}

fn reload(kind: DaemonKind) -> Result<(), NixError> {
    let command = kind.command();
    let (program, args) = command.split_first().ok_or_else(|| NixError::Command {
        program: "reload".into(),
        message: "no command".into(),
    })?;
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|e| NixError::Command {
            program: (*program).to_owned(),
            message: e.to_string(),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(NixError::Command {
            program: command.join(" "),
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}
