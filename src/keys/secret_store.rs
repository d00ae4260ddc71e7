//! Where the builder key's private half lives: the login Keychain on macOS,
//! the Secret Service on Linux (through keyring), behind a narrow trait so
//! that tests can use keyring's mock.
//!
//! Errors from the platform are turned into [`SecretStoreError`] here, and
//! never carry the stored value (keyring's `BadEncoding` does; it is
//! dropped).

use std::collections::HashMap;
use std::sync::Mutex;

use zeroize::Zeroizing;

/// The keychain service every BuilderBar secret is stored under.
pub const SERVICE: &str = "dev.builderbar";

/// A place to keep secrets by account name.
pub trait SecretStore: Send + Sync {
    /// The secret stored for `account`, or `None` when there is none.
    fn get(&self, account: &str) -> Result<Option<Zeroizing<String>>, SecretStoreError>;
    /// Stores `secret` for `account`, replacing what was there.
    fn set(&self, account: &str, secret: &str) -> Result<(), SecretStoreError>;
    /// Removes the secret for `account`; removing a missing one is fine.
    fn delete(&self, account: &str) -> Result<(), SecretStoreError>;
}

/// The keychain or Secret Service could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretStoreError {
    /// The store could not be reached or is locked.
    #[error("the {store} could not be reached or is locked ({reason})")]
    Unavailable {
        /// "login Keychain" or "Secret Service".
        store: &'static str,
        /// The platform's words (never the secret).
        reason: String,
    },
    /// The store answered with an error.
    #[error("the {store} failed: {reason}")]
    Failed {
        /// "login Keychain" or "Secret Service".
        store: &'static str,
        /// The platform's words (never the secret).
        reason: String,
    },
}

impl crate::hint::Hint for SecretStoreError {
    /// What to do about it.
    fn hint(&self) -> Option<String> {
        Some(String::from(self.what_to_do()))
    }
}

impl SecretStoreError {
    /// The fix, always known for this error.
    pub(crate) fn what_to_do(&self) -> &'static str {
        if cfg!(target_os = "macos") {
            "unlock your login Keychain (Keychain Access) and try again"
        } else {
            "start a Secret Service (gnome-keyring or KeePassXC) in your session, unlock it, and try again"
        }
    }
}

/// The store's name for people.
pub fn store_name() -> &'static str {
    if cfg!(target_os = "macos") {
        "login Keychain"
    } else {
        "Secret Service"
    }
}

fn map_err(err: keyring::Error) -> SecretStoreError {
    let store = store_name();
    match err {
        keyring::Error::NoStorageAccess(e) => SecretStoreError::Unavailable {
            store,
            reason: e.to_string(),
        },
        keyring::Error::PlatformFailure(e) => SecretStoreError::Failed {
            store,
            reason: e.to_string(),
        },
        // The bytes it carries are the secret: never shown.
        keyring::Error::BadEncoding(_) => SecretStoreError::Failed {
            store,
            reason: "the stored value is not text".into(),
        },
        keyring::Error::TooLong(name, limit) => SecretStoreError::Failed {
            store,
            reason: format!("{name} is longer than {limit}"),
        },
        keyring::Error::Invalid(name, why) => SecretStoreError::Failed {
            store,
            reason: format!("{name} is invalid: {why}"),
        },
        keyring::Error::Ambiguous(found) => SecretStoreError::Failed {
            store,
            reason: format!("{} entries match; remove the extra ones", found.len()),
        },
        keyring::Error::NoEntry => SecretStoreError::Failed {
            store,
            reason: "no entry".into(),
        },
        other => SecretStoreError::Failed {
            store,
            reason: other.to_string(),
        },
    }
}

/// keyring's store: the platform's (Keychain, Secret Service), or keyring's
/// in-memory mock for unit tests.
pub struct KeyringStore {
    service: String,
    mock: bool,
    entries: Mutex<HashMap<String, keyring::Entry>>,
}

impl KeyringStore {
    /// The platform's store, under [`SERVICE`].
    pub fn platform() -> Self {
        Self::new(SERVICE, false)
    }

    /// keyring's mock store: in memory, for tests of pure logic.
    pub fn mock() -> Self {
        Self::new(SERVICE, true)
    }

    fn new(service: &str, mock: bool) -> Self {
        Self {
            service: service.to_owned(),
            mock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn with_entry<T>(
        &self,
        account: &str,
        f: impl FnOnce(&keyring::Entry) -> Result<T, SecretStoreError>,
    ) -> Result<T, SecretStoreError> {
        let mut entries = self.entries.lock().map_err(|_| SecretStoreError::Failed {
            store: store_name(),
            reason: "an earlier keychain call crashed".into(),
        })?;
        if !entries.contains_key(account) {
            let entry = if self.mock {
                let cred = keyring::mock::default_credential_builder()
                    .build(None, &self.service, account)
                    .map_err(map_err)?;
                keyring::Entry::new_with_credential(cred)
            } else {
                keyring::Entry::new(&self.service, account).map_err(map_err)?
            };
            entries.insert(account.to_owned(), entry);
        }
        match entries.get(account) {
            Some(entry) => f(entry),
            None => Err(SecretStoreError::Failed {
                store: store_name(),
                reason: "entry vanished".into(),
            }),
        }
    }
}

impl SecretStore for KeyringStore {
    fn get(&self, account: &str) -> Result<Option<Zeroizing<String>>, SecretStoreError> {
        self.with_entry(account, |e| match e.get_password() {
            Ok(secret) => Ok(Some(Zeroizing::new(secret))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(map_err(err)),
        })
    }

    fn set(&self, account: &str, secret: &str) -> Result<(), SecretStoreError> {
        self.with_entry(account, |e| e.set_password(secret).map_err(map_err))
    }

    fn delete(&self, account: &str) -> Result<(), SecretStoreError> {
        self.with_entry(account, |e| match e.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(map_err(err)),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn mock_round_trip() {
        let store = KeyringStore::mock();
        assert!(store.get("a").unwrap().is_none());
        store.set("a", "secret").unwrap();
        assert_eq!(
            store.get("a").unwrap().as_deref().map(String::as_str),
            Some("secret")
        );
        assert!(store.get("b").unwrap().is_none());
        store.delete("a").unwrap();
        store.delete("a").unwrap();
        assert!(store.get("a").unwrap().is_none());
    }

    #[test]
    fn bad_encoding_never_shows_the_bytes() {
        let err = map_err(keyring::Error::BadEncoding(b"TOPSECRET".to_vec()));
        assert!(!format!("{err} {err:?}").contains("TOPSECRET"));
    }
}
