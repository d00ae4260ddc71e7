//! Where BuilderBar keeps everything it stores.
//!
//! One root holds it all: `BUILDERBAR_HOME` when set (tests and scripts use
//! it), else `~/Library/Application Support/BuilderBar` on macOS and the
//! platform's data folder plus `builderbar` elsewhere. Logs go to
//! `~/Library/Logs/BuilderBar` on macOS (where Console.app looks) unless
//! `BUILDERBAR_HOME` is set; elsewhere, and whenever the root is overridden,
//! to `<root>/logs`.

use std::path::{Path, PathBuf};

/// The variable that moves everything BuilderBar stores under one folder.
pub const HOME_ENV: &str = "BUILDERBAR_HOME";

/// The root and every path under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    root: PathBuf,
    logs_dir: PathBuf,
    overridden: bool,
}

/// The platform gave no home folder to put BuilderBar's files in.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot find a home folder to keep BuilderBar's files in; set {HOME_ENV} to a folder BuilderBar may use"
)]
pub struct NoHomeError;

impl Paths {
    /// The paths for this user: `BUILDERBAR_HOME` if set (and not empty),
    /// else the platform's application-support folder.
    pub fn from_env() -> Result<Self, NoHomeError> {
        match std::env::var_os(HOME_ENV) {
            Some(root) if !root.is_empty() => Ok(Self::with_root(PathBuf::from(root))),
            _ => Self::platform_default(),
        }
    }

    /// Everything under `root`, logs included (what `BUILDERBAR_HOME` does).
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            logs_dir: root.join("logs"),
            root,
            overridden: true,
        }
    }

    fn platform_default() -> Result<Self, NoHomeError> {
        if cfg!(target_os = "macos") {
            let base = directories::BaseDirs::new().ok_or(NoHomeError)?;
            let home = base.home_dir();
            Ok(Self {
                root: home.join("Library/Application Support/BuilderBar"),
                logs_dir: home.join("Library/Logs/BuilderBar"),
                overridden: false,
            })
        } else {
            let base = directories::BaseDirs::new().ok_or(NoHomeError)?;
            let root = base.data_dir().join("builderbar");
            Ok(Self {
                logs_dir: root.join("logs"),
                root,
                overridden: false,
            })
        }
    }

    /// The folder everything lives under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the root came from `BUILDERBAR_HOME` (or [`Paths::with_root`]).
    pub fn is_overridden(&self) -> bool {
        self.overridden
    }

    /// `settings.toml`: the one versioned settings file.
    pub fn settings_file(&self) -> PathBuf {
        self.root.join("settings.toml")
    }

    /// The lock file that serializes settings writers across processes.
    pub fn settings_lock(&self) -> PathBuf {
        self.root.join("settings.lock")
    }

    /// Runtime state: pid, status and socket files.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }

    /// Log files.
    pub fn logs_dir(&self) -> &Path {
        &self.logs_dir
    }

    /// The VM's keys folder (shared into the guest at `/var/keys`): public keys only.
    pub fn vm_keys_dir(&self) -> PathBuf {
        self.root.join("vm-keys")
    }

    /// The guest's authorized keys: `vm-keys/builder_ed25519.pub`.
    pub fn vm_authorized_keys_file(&self) -> PathBuf {
        self.vm_keys_dir().join("builder_ed25519.pub")
    }

    /// The lock file that serializes renders of the VM's keys folder.
    pub fn vm_keys_lock(&self) -> PathBuf {
        self.root.join("vm-keys.lock")
    }

    /// The builder key's public half, in plain text, readable without the keychain.
    pub fn builder_public_key_file(&self) -> PathBuf {
        self.root.join("builder_ed25519.pub")
    }

    /// The lock file that serializes creating and rotating the builder key.
    pub fn builder_key_lock(&self) -> PathBuf {
        self.root.join("builder-key.lock")
    }

    /// The runner on macOS: a link (a GC root) to nixpkgs' `run-nixos-vm`
    /// build. Only `nix::runner_build` replaces it, atomically.
    pub fn runner_link(&self) -> PathBuf {
        self.root.join("runner")
    }

    /// The script the supervisor starts, through [`Paths::runner_link`].
    pub fn runner_script(&self) -> PathBuf {
        self.runner_link().join("bin/run-nixos-vm")
    }

    /// The hash of what the linked runner was built from (its cache key).
    pub fn runner_key_file(&self) -> PathBuf {
        self.root.join("runner.key")
    }

    /// The Nix expression the linked runner was built from.
    pub fn runner_expr_file(&self) -> PathBuf {
        self.root.join("runner.nix")
    }

    /// The user's NixOS module for the builder, as BuilderBar keeps it
    /// (a checked copy; `nix::module`).
    pub fn builder_module_file(&self) -> PathBuf {
        self.root.join("builder-module.nix")
    }

    /// The expression a successor is being built from (macOS); each
    /// generation keeps its own copy once made.
    pub fn successor_expr_file(&self) -> PathBuf {
        self.root.join("successor.nix")
    }

    /// The runner generations: their store and each one's folder.
    pub fn generations_dir(&self) -> PathBuf {
        self.root.join("generations")
    }

    /// The keychain account that holds the builder key's private half:
    /// `builder-key`, or `builder-key@<root>` when the root is overridden so
    /// that tests and scripts never touch the user's real key.
    pub fn keychain_account(&self) -> String {
        if self.overridden {
            format!("builder-key@{}", self.root.display())
        } else {
            "builder-key".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_lives_under_an_overridden_root() {
        let paths = Paths::with_root("/tmp/bb");
        for p in [
            paths.settings_file(),
            paths.settings_lock(),
            paths.state_dir(),
            paths.logs_dir().to_path_buf(),
            paths.vm_keys_dir(),
            paths.vm_authorized_keys_file(),
            paths.vm_keys_lock(),
            paths.builder_public_key_file(),
            paths.builder_key_lock(),
            paths.runner_link(),
            paths.runner_script(),
            paths.runner_key_file(),
            paths.runner_expr_file(),
            paths.generations_dir(),
        ] {
            assert!(p.starts_with("/tmp/bb"), "{}", p.display());
        }
        assert_eq!(paths.keychain_account(), "builder-key@/tmp/bb");
    }
}
