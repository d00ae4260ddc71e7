//! The Nix side: the runner's Nix expression and build (macOS), and the
//! wiring of the host's nix-daemon to the builder as one auditable,
//! undoable plan of typed operations ([`plan`]), applied in one elevation
//! ([`elevate`], [`apply`]) and checked by [`doctor`].
//!
//! Every value that comes from the settings is validated here, at the
//! boundary, before it reaches a Nix expression, a machines line or an ssh
//! config: nothing with a newline, a quote or a `${` ever gets through raw.

pub mod apply;
pub mod block;
pub mod builders;
pub mod detect;
pub mod doctor;
mod doctor_builders;
pub mod elevate;
pub mod expr;
pub mod install;
pub mod internal_json;
pub mod manifest;
pub mod module;
pub mod nix_errors;
pub mod plan;
pub mod render;
pub mod runner_build;
mod ssh_include;
pub mod streamed;
pub mod successor_build;
pub mod test_build;
mod test_build_daemon;
pub mod test_build_host;

use std::path::PathBuf;

/// Why a Nix wiring step failed. No variant ever carries key material.
#[derive(Debug, thiserror::Error)]
pub enum NixError {
    /// A setting cannot be used as it is.
    #[error("the setting {field} cannot be used: {reason}")]
    BadSetting {
        /// Which setting.
        field: &'static str,
        /// Why, in plain words.
        reason: String,
    },
    /// Another builder already uses our alias or port.
    #[error("{0}")]
    Conflict(String),
    /// A file operation failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS's error.
        source: std::io::Error,
    },
    /// A program we ran failed.
    #[error("{program} failed: {message}")]
    Command {
        /// The program.
        program: String,
        /// What it said (its last lines), or why it could not run.
        message: String,
    },
    /// The user declined the administrator prompt.
    #[error("the administrator password prompt was cancelled; nothing was changed")]
    Cancelled,
    /// A plan or manifest file could not be read or written.
    #[error("the file {} is not a valid BuilderBar {what}: {message}", path.display())]
    Format {
        /// "plan" or "manifest".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The parser's words.
        message: String,
    },
    /// The builder's host key is not known.
    #[error("cannot find the builder's host key: {0}")]
    HostKey(String),
}

impl NixError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> NixError {
        let path = path.into();
        move |source| NixError::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn bad(field: &'static str, reason: impl Into<String>) -> NixError {
        NixError::BadSetting {
            field,
            reason: reason.into(),
        }
    }
}

impl crate::hint::Hint for NixError {
    /// What to do about it.
    fn hint(&self) -> Option<String> {
        match self {
            NixError::BadSetting { .. } => {
                Some("change it with `builderbar settings set`, or in the settings window".into())
            }
            NixError::Conflict(_) => Some(
                "remove or change the other builder first, or pick another port with `builderbar settings set port N`"
                    .into(),
            ),
            NixError::Cancelled => Some("run `builderbar install` again to retry".into()),
            NixError::HostKey(_) => Some("`builderbar dev-runner` builds the dev VM (Linux)".into()),
            NixError::Io { .. } | NixError::Command { .. } | NixError::Format { .. } => None,
        }
    }
}

/// The ssh alias the host's Nix reaches the builder through.
pub const ALIAS: &str = "builderbar-linux-builder";
/// The user the builder's sshd lets in.
pub const BUILDER_USER: &str = "builder";

/// The public host key of nixpkgs' `darwin.linux-builder`: fixed in nixpkgs
/// (`nixos/modules/profiles/keys/ssh_host_ed25519_key.pub`), public.
pub const NIXPKGS_BUILDER_HOST_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJBWcxb/Blaqt1auOtE+F8QUWrUotiC5qBJ+UuEWdVCb";

/// The builder's host key, as an OpenSSH public key line: nixpkgs' fixed
/// key on macOS; on Linux, the dev VM's (built first if needed).
pub fn builder_host_key() -> Result<String, NixError> {
    if cfg!(target_os = "macos") {
        return Ok(NIXPKGS_BUILDER_HOST_KEY.to_owned());
    }
    devvm::ensure_built(&devvm::default_cache_dir())
        .map(|vm| vm.host_key)
        .map_err(|e| NixError::HostKey(format!("the dev VM could not be built: {e:#}")))
}
