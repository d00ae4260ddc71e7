//! Everything the monitor needs, from the settings: the builder key from the
//! keychain (or a given file), the pinned host key, the store check. Shared
//! by `builderbar monitor`, `status --watch` and the app.

use std::path::PathBuf;
use std::time::Duration;

use crate::health::{Intervals, MonitorConfig, ProbeConfig, StoreCheck};
use crate::keys::{KeyringStore, SecretStore};
use crate::paths::Paths;
use crate::settings::Settings;
use crate::vm::{self, RunnerSource};

/// What may be given instead of the defaults.
#[derive(Debug, Clone, Default)]
pub struct ProbeChoices {
    /// An OpenSSH private key file; default: the builder key (keychain).
    pub identity: Option<PathBuf>,
    /// The pinned host key line; default: the builder's known host key.
    pub host_key: Option<String>,
    /// Default `builder`.
    pub user: Option<String>,
    /// Default: the dev VM's folder check on Linux, `nix-store` elsewhere.
    pub store_check: Option<StoreCheck>,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Identity(#[from] crate::keys::KeyFileError),
    #[error(
        "there is no builder key yet; make one with `builderbar keys show` (or set up the builder)"
    )]
    NoBuilderKey,
    #[error("the keychain could not be read: {0}")]
    Keychain(String),
    #[error("the builder's host key is unknown: {0}")]
    HostKey(String),
    #[error("the probe cannot use these keys: {0}")]
    Probe(String),
}

/// The monitor's configuration for the builder these settings describe.
pub fn monitor_config(
    paths: &Paths,
    settings: &Settings,
    choices: &ProbeChoices,
) -> Result<MonitorConfig, SetupError> {
    let dev_vm = vm::config::runner_source(paths) == RunnerSource::DevVm;
    let private = match &choices.identity {
        // Checked first: a plain file, owner-only, owned by this user.
        Some(path) => {
            let bytes = crate::keys::file_check::read_own_private_key(path)?;
            zeroize::Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned())
        }
        None => KeyringStore::platform()
            .get(&paths.keychain_account())
            .map_err(|e| SetupError::Keychain(e.to_string()))?
            .ok_or(SetupError::NoBuilderKey)?,
    };
    let host_key = match &choices.host_key {
        Some(line) => line.clone(),
        None => crate::nix::builder_host_key().map_err(|e| SetupError::HostKey(e.to_string()))?,
    };
    let store_check = choices.store_check.clone().unwrap_or(if dev_vm {
        StoreCheck::StoreDirWritable
    } else {
        StoreCheck::NixStore
    });
    let probe = ProbeConfig::from_text(
        settings.ssh_port,
        choices.user.as_deref().unwrap_or("builder"),
        &private,
        &host_key,
        store_check,
    )
    .map_err(|e| SetupError::Probe(e.to_string()))?;
    Ok(MonitorConfig {
        paths: paths.clone(),
        probe,
        boot_timeout: Duration::from_secs(180),
        intervals: Intervals::default(),
    })
}
