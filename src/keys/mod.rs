//! Keys: the builder key (private half in the keychain), the user's
//! authorized keys (in the settings), and the VM's keys folder rendered
//! from both. [`Keys`] is what the CLI and the window call.

pub mod authorized;
pub mod builder_key;
pub mod file_check;
pub mod guest_owner;
pub mod keys_folder;
pub mod secret_store;

use std::path::{Path, PathBuf};

pub use authorized::{AuthorizedKey, KeyInputError};
pub use builder_key::{BuilderPrivateKey, BuilderPublicKey, Rotation};
pub use file_check::KeyFileError;
pub use secret_store::{KeyringStore, SecretStore, SecretStoreError};

use crate::settings::{Problem, SettingsError, SettingsStore};

/// Why a key operation failed. No variant ever carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The key input was refused.
    #[error("{0}")]
    Input(#[from] KeyInputError),
    /// Reading or saving the settings failed, or the change was refused.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// The keychain failed.
    #[error(transparent)]
    Secret(#[from] SecretStoreError),
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
    /// No authorized key has this fingerprint.
    #[error("no authorized key has the fingerprint {0}")]
    NotFound(String),
    /// There is no builder key yet.
    #[error("there is no builder key yet")]
    NoBuilderKey,
    /// A key could not be made, encoded or decoded.
    #[error("{0}")]
    Key(String),
}

impl KeysError {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl crate::hint::Hint for KeysError {
    /// What to do about it.
    fn hint(&self) -> Option<String> {
        match self {
            Self::Input(e) => e.hint(),
            Self::Settings(e) => e.hint(),
            Self::Secret(e) => e.hint(),
            Self::NotFound(_) => {
                Some("`builderbar keys list` shows the fingerprints of the authorized keys".into())
            }
            Self::NoBuilderKey => Some("`builderbar keys show` makes one".into()),
            Self::Io { .. } | Self::Key(_) => None,
        }
    }
}

/// The key operations of one root, over one secret store.
pub struct Keys {
    store: SettingsStore,
    secrets: Box<dyn SecretStore>,
}

impl Keys {
    /// Keys under `store`'s root, the builder key in `secrets`.
    pub fn new(store: SettingsStore, secrets: Box<dyn SecretStore>) -> Self {
        Self { store, secrets }
    }

    /// Keys under `store`'s root with the platform's keychain.
    pub fn with_platform_keychain(store: SettingsStore) -> Self {
        Self::new(store, Box::new(KeyringStore::platform()))
    }

    /// The builder's public key; made (and the keys folder refreshed) on first use.
    pub fn builder_public(&self) -> Result<BuilderPublicKey, KeysError> {
        let before = builder_key::public(self.store.paths()).ok().flatten();
        let key = builder_key::ensure(self.store.paths(), self.secrets.as_ref())?;
        if before.as_ref() != Some(&key) {
            keys_folder::refresh(&self.store)?;
        }
        Ok(key)
    }

    /// The builder's public key from its file, without touching the keychain.
    pub fn builder_public_cached(&self) -> Result<Option<BuilderPublicKey>, KeysError> {
        builder_key::public(self.store.paths())
    }

    /// A new builder key, the old one retired, the keys folder refreshed.
    pub fn rotate(&self) -> Result<Rotation, KeysError> {
        let rotation = builder_key::rotate(self.store.paths(), self.secrets.as_ref())?;
        keys_folder::refresh(&self.store)?;
        Ok(rotation)
    }

    /// Writes the builder's private key to `dest` with mode 0600: the only
    /// way it reaches a file.
    pub fn write_private_key_file(&self, dest: &Path) -> Result<(), KeysError> {
        builder_key::write_private_key_file(self.store.paths(), self.secrets.as_ref(), dest)
    }

    /// Authorizes the keys in `text` (one per line). All or nothing: a bad
    /// line or a key already authorized refuses the lot and changes nothing.
    pub fn add_authorized(&self, text: &str) -> Result<Vec<AuthorizedKey>, KeysError> {
        let keys = authorized::parse_keys(text)?;
        self.add_parsed(keys)
    }

    /// Authorizes the keys in a file, or stdin when `source` is `-`.
    pub fn add_authorized_from(&self, source: &Path) -> Result<Vec<AuthorizedKey>, KeysError> {
        let bytes =
            authorized::read_source(source).map_err(|e| KeysError::io("read", source, e))?;
        let keys = authorized::parse_key_bytes(&bytes)?;
        self.add_parsed(keys)
    }

    fn add_parsed(&self, keys: Vec<AuthorizedKey>) -> Result<Vec<AuthorizedKey>, KeysError> {
        let builder = builder_key::public(self.store.paths()).ok().flatten();
        self.store.update(|s| {
            let mut existing: Vec<String> = s
                .authorized_keys
                .iter()
                .filter_map(|l| authorized::parse_line(l).ok())
                .map(|k| k.fingerprint)
                .collect();
            existing.extend(builder.iter().map(|b| b.fingerprint.clone()));
            for key in &keys {
                if existing.contains(&key.fingerprint) {
                    return Err(KeyInputError::Duplicate(key.fingerprint.clone()).to_problem());
                }
            }
            s.authorized_keys
                .extend(keys.iter().map(|k| k.line.clone()));
            Ok(())
        })?;
        keys_folder::refresh(&self.store)?;
        Ok(keys)
    }

    /// The authorized keys.
    pub fn list_authorized(&self) -> Result<Vec<AuthorizedKey>, KeysError> {
        let settings = self.store.load()?.settings;
        Ok(settings
            .authorized_keys
            .iter()
            .filter_map(|l| authorized::parse_line(l).ok())
            .collect())
    }

    /// Removes the authorized key with this fingerprint (`SHA256:` optional).
    pub fn remove_authorized(&self, fingerprint: &str) -> Result<AuthorizedKey, KeysError> {
        let mut removed = None;
        let result = self.store.update(|s| {
            let index = s.authorized_keys.iter().position(|l| {
                authorized::parse_line(l)
                    .map(|k| authorized::same_fingerprint(&k.fingerprint, fingerprint))
                    .unwrap_or(false)
            });
            match index {
                Some(i) => {
                    let line = s.authorized_keys.remove(i);
                    removed = authorized::parse_line(&line).ok();
                    Ok(())
                }
                None => Err(Problem::new("authorized_keys", "", "")),
            }
        });
        match (result, removed) {
            (Ok(_), Some(key)) => {
                keys_folder::refresh(&self.store)?;
                Ok(key)
            }
            (Err(SettingsError::Refused(_)), None) | (Ok(_), None) => Err(KeysError::NotFound(
                crate::settings::parse::printable(fingerprint),
            )),
            (Err(e), _) => Err(e.into()),
        }
    }

    /// Rewrites the VM's keys folder; returns the file's path.
    pub fn refresh_keys_folder(&self) -> Result<PathBuf, KeysError> {
        keys_folder::refresh(&self.store)
    }
}

/// Rewrites the VM's keys folder under `paths` (builder key plus authorized
/// keys, public only) without touching the keychain: what the supervisor
/// calls before each start. Returns the file's path.
pub fn render_vm_keys_folder(paths: &crate::paths::Paths) -> Result<PathBuf, KeysError> {
    keys_folder::refresh(&SettingsStore::open(paths)?)
}
