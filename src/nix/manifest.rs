//! The manifest of what was there before a plan changed it
//! (`<state_dir>/manifest.json`, 0600), so that uninstall can put it back.
//!
//! The administrator step writes it as root, yet the user's own processes
//! (settings, setup, uninstall) read it afterwards: it is handed to the
//! owner of BuilderBar's folder, which holds the state folder. Without that,
//! a manifest made through macOS's admin prompt is root's and unreadable,
//! and BuilderBar would take the wiring for absent.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::NixError;
use crate::fsutil;

/// How a path was before we touched it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "was", rename_all = "kebab-case")]
pub enum Before {
    /// Nothing was there.
    Absent,
    /// A whole file, backed up under `backups/<backup>`.
    Replaced {
        backup: String,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// Someone else's file; we added our marked block (and a final newline
    /// when it had none).
    Edited { added_newline: bool },
}

/// One path we changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: PathBuf,
    /// We own the whole file (false: only our marked block).
    pub whole: bool,
    pub before: Before,
    /// We made it a link to this; undoing removes it only while it still is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_to: Option<PathBuf>,
}

/// What was there before, so uninstall can put it back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub entries: Vec<Entry>,
    /// Folders we created, outermost first.
    pub created_dirs: Vec<PathBuf>,
    /// The sysroot the plan was applied under (the daemon is reloaded only for `/`).
    #[serde(default)]
    pub sysroot: Option<PathBuf>,
}

impl Manifest {
    /// `<state_dir>/manifest.json`.
    pub fn file(state_dir: &Path) -> PathBuf {
        state_dir.join("manifest.json")
    }

    /// The manifest, or None when nothing was ever applied.
    pub fn load(state_dir: &Path) -> Result<Option<Manifest>, NixError> {
        let path = Manifest::file(state_dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| NixError::Format {
                    what: "manifest",
                    path,
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(NixError::io("read", path)(e)),
        }
    }

    pub(super) fn save(&self, state_dir: &Path) -> Result<(), NixError> {
        let path = Manifest::file(state_dir);
        let text = serde_json::to_string_pretty(self).map_err(|e| NixError::Format {
            what: "manifest",
            path: path.clone(),
            message: e.to_string(),
        })?;
        fsutil::write_atomic(&path, text.as_bytes(), 0o600)
            .map_err(NixError::io("write", &path))?;
        hand_to_folder_owner(state_dir, &path)
    }

    /// The sysroot folder the wiring was installed under, or None when it
    /// was installed on this machine's own `/`.
    pub fn sysroot_dir(&self) -> Option<PathBuf> {
        self.sysroot
            .clone()
            .filter(|sysroot| sysroot.as_path() != Path::new("/"))
    }

    pub(super) fn knows(&self, path: &Path) -> bool {
        self.entries.iter().any(|e| e.path == path)
    }

    /// What uninstall will do, in plain words.
    pub fn describe_undo(&self) -> String {
        let mut out = String::new();
        for (i, e) in self.entries.iter().rev().enumerate() {
            let words = match (&e.before, e.whole) {
                (Before::Absent, true) if e.link_to.is_some() => {
                    format!("remove the link {}", e.path.display())
                }
                (Before::Absent, true) => format!("remove {}", e.path.display()),
                (Before::Absent, false) => format!(
                    "remove BuilderBar's lines from {} (and the file, if nothing else is left)",
                    e.path.display()
                ),
                (Before::Replaced { .. }, _) => {
                    format!("put back the earlier {}", e.path.display())
                }
                (Before::Edited { .. }, _) => {
                    format!("remove BuilderBar's lines from {}", e.path.display())
                }
            };
            out.push_str(&format!("{}. {words}\n", i + 1));
        }
        out
    }
}

/// As root, gives the state folder and its manifest to whoever owns the
/// folder above it (BuilderBar's root, the user's). Backups stay root's:
/// only the administrator step reads them.
fn hand_to_folder_owner(state_dir: &Path, manifest: &Path) -> Result<(), NixError> {
    if !rustix::process::geteuid().is_root() {
        return Ok(());
    }
    let Some(parent) = state_dir.parent() else {
        return Ok(());
    };
    let owner = std::fs::metadata(parent).map_err(NixError::io("read", parent))?;
    for path in [state_dir, manifest] {
        std::os::unix::fs::chown(path, Some(owner.uid()), Some(owner.gid()))
            .map_err(NixError::io("set the owner of", path))?;
    }
    Ok(())
}
