//! The builder key: an ed25519 pair made on first use. Its private half
//! lives in the [`SecretStore`] (the login Keychain); its public half and
//! fingerprint sit in plain text under the root, readable without the secret.

use std::fmt;
use std::path::Path;

use serde::Serialize;
use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey};

use super::KeysError;
use super::secret_store::SecretStore;
use crate::fsutil;
use crate::paths::Paths;

/// The comment on the builder key.
pub const COMMENT: &str = "builderbar-builder-key";

/// The builder key's public half.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuilderPublicKey {
    /// `ssh-ed25519 AAAA… builderbar-builder-key`.
    pub openssh: String,
    /// `SHA256:…`.
    pub fingerprint: String,
}

impl BuilderPublicKey {
    fn of(key: &PublicKey) -> Result<Self, KeysError> {
        Ok(Self {
            openssh: key
                .to_openssh()
                .map_err(|_| KeysError::Key("cannot encode the builder's public key".into()))?,
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        })
    }
}

/// The builder key's private half. Prints only its fingerprint; its memory
/// is wiped on drop (ssh-key zeroizes ed25519 private keys).
pub struct BuilderPrivateKey(PrivateKey);

impl fmt::Debug for BuilderPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BuilderPrivateKey({})",
            self.0.public_key().fingerprint(HashAlg::Sha256)
        )
    }
}

impl BuilderPrivateKey {
    /// The public half.
    pub fn public(&self) -> Result<BuilderPublicKey, KeysError> {
        BuilderPublicKey::of(self.0.public_key())
    }
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rotation {
    /// The key retired, if there was one.
    pub old: Option<BuilderPublicKey>,
    /// The key now in use.
    pub new: BuilderPublicKey,
}

fn staging_account(paths: &Paths) -> String {
    format!("{}.next", paths.keychain_account())
}

/// The public half, from the plain-text file: never touches the secret.
/// `None` before the key was made.
pub fn public(paths: &Paths) -> Result<Option<BuilderPublicKey>, KeysError> {
    let path = paths.builder_public_key_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(KeysError::io("read", &path, e)),
    };
    let key = PublicKey::from_openssh(text.trim()).map_err(|_| {
        KeysError::Key(format!(
            "{} is not a public key; `builderbar keys show` rewrites it from the keychain",
            path.display()
        ))
    })?;
    BuilderPublicKey::of(&key).map(Some)
}

/// The builder key, made and stored on first use. Repairs the public file
/// when it is missing or does not match the secret.
pub fn ensure(paths: &Paths, secrets: &dyn SecretStore) -> Result<BuilderPublicKey, KeysError> {
    let _lock = lock(paths)?;
    let account = paths.keychain_account();
    let key = match read_private(secrets, &account)? {
        Some(key) => key,
        None => {
            if public(paths)?.is_some() {
                tracing::warn!(
                    "the builder key's private half is missing from the keychain; making a new builder key"
                );
            }
            let key = generate()?;
            store_verified(secrets, &account, &key)?;
            key
        }
    };
    let public_key = key.public()?;
    if public(paths).ok().flatten().as_ref() != Some(&public_key) {
        write_public(paths, &public_key)?;
    }
    Ok(public_key)
}

/// The private half, from the keychain.
pub fn private(paths: &Paths, secrets: &dyn SecretStore) -> Result<BuilderPrivateKey, KeysError> {
    read_private(secrets, &paths.keychain_account())?.ok_or(KeysError::NoBuilderKey)
}

/// Makes a new builder key and retires the old one once the new one is in
/// place: the new key is stored under a staging account and read back,
/// then replaces the old one, then the public file is rewritten, then the
/// staging copy is removed. A failure before the replace leaves the old key
/// fully in use.
pub fn rotate(paths: &Paths, secrets: &dyn SecretStore) -> Result<Rotation, KeysError> {
    let _lock = lock(paths)?;
    let account = paths.keychain_account();
    let staging = staging_account(paths);
    let old = match read_private(secrets, &account)? {
        Some(k) => Some(k.public()?),
        None => public(paths)?,
    };
    let key = generate()?;
    store_verified(secrets, &staging, &key)?;
    store_verified(secrets, &account, &key)?;
    let new = key.public()?;
    write_public(paths, &new)?;
    secrets.delete(&staging)?;
    Ok(Rotation { old, new })
}

/// The one way the private key reaches a file: OpenSSH format, mode 0600,
/// written atomically. For the Nix wiring (nix-daemon needs a file).
pub fn write_private_key_file(
    paths: &Paths,
    secrets: &dyn SecretStore,
    dest: &Path,
) -> Result<(), KeysError> {
    let key = private(paths, secrets)?;
    let pem = key
        .0
        .to_openssh(LineEnding::LF)
        .map_err(|_| KeysError::Key("cannot encode the builder key".into()))?;
    fsutil::write_atomic(dest, pem.as_bytes(), 0o600).map_err(|e| KeysError::io("write", dest, e))
}

fn lock(paths: &Paths) -> Result<std::fs::File, KeysError> {
    let path = paths.builder_key_lock();
    fsutil::lock_exclusive(&path).map_err(|e| KeysError::io("lock", &path, e))
}

fn generate() -> Result<BuilderPrivateKey, KeysError> {
    let mut key = PrivateKey::random(&mut rand_core::OsRng, Algorithm::Ed25519)
        .map_err(|_| KeysError::Key("cannot make a new key: no randomness".into()))?;
    key.set_comment(COMMENT);
    Ok(BuilderPrivateKey(key))
}

fn read_private(
    secrets: &dyn SecretStore,
    account: &str,
) -> Result<Option<BuilderPrivateKey>, KeysError> {
    match secrets.get(account)? {
        None => Ok(None),
        Some(pem) => PrivateKey::from_openssh(pem.as_bytes())
            .map(|k| Some(BuilderPrivateKey(k)))
            .map_err(|_| {
                KeysError::Key(
                    "the builder key in the keychain is damaged; run `builderbar keys rotate` to make a new one"
                        .into(),
                )
            }),
    }
}

fn store_verified(
    secrets: &dyn SecretStore,
    account: &str,
    key: &BuilderPrivateKey,
) -> Result<(), KeysError> {
    let pem = key
        .0
        .to_openssh(LineEnding::LF)
        .map_err(|_| KeysError::Key("cannot encode the builder key".into()))?;
    secrets.set(account, &pem)?;
    let back = read_private(secrets, account)?;
    if back.map(|k| k.0.public_key().key_data().clone())
        != Some(key.0.public_key().key_data().clone())
    {
        return Err(KeysError::Key(
            "the keychain did not keep the new builder key; the old one stays in use".into(),
        ));
    }
    Ok(())
}

fn write_public(paths: &Paths, key: &BuilderPublicKey) -> Result<(), KeysError> {
    let path = paths.builder_public_key_file();
    fsutil::write_atomic(&path, format!("{}\n", key.openssh).as_bytes(), 0o644)
        .map_err(|e| KeysError::io("write", &path, e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::keys::secret_store::KeyringStore;

    #[test]
    fn made_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::with_root(dir.path());
        let secrets = KeyringStore::mock();
        assert_eq!(public(&paths).unwrap(), None);
        let first = ensure(&paths, &secrets).unwrap();
        assert!(first.openssh.starts_with("ssh-ed25519 AAAA"));
        assert_eq!(ensure(&paths, &secrets).unwrap(), first);
        assert_eq!(public(&paths).unwrap(), Some(first.clone()));
        // A deleted public file is rebuilt from the secret.
        std::fs::remove_file(paths.builder_public_key_file()).unwrap();
        assert_eq!(ensure(&paths, &secrets).unwrap(), first);
    }

    #[test]
    fn rotation_replaces_the_key_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::with_root(dir.path());
        let secrets = KeyringStore::mock();
        let first = ensure(&paths, &secrets).unwrap();
        let rotation = rotate(&paths, &secrets).unwrap();
        assert_eq!(rotation.old, Some(first.clone()));
        assert_ne!(rotation.new, first);
        assert_eq!(public(&paths).unwrap(), Some(rotation.new.clone()));
        assert_eq!(
            private(&paths, &secrets).unwrap().public().unwrap(),
            rotation.new
        );
        assert!(secrets.get(&staging_account(&paths)).unwrap().is_none());
    }

    #[test]
    fn private_file_is_0600_and_debug_shows_no_material() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::with_root(dir.path());
        let secrets = KeyringStore::mock();
        let pubkey = ensure(&paths, &secrets).unwrap();
        let dest = dir.path().join("etc/builder_ed25519");
        write_private_key_file(&paths, &secrets, &dest).unwrap();
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let pem = std::fs::read_to_string(&dest).unwrap();
        let parsed = PrivateKey::from_openssh(&pem).unwrap();
        assert_eq!(BuilderPublicKey::of(parsed.public_key()).unwrap(), pubkey);
        let debug = format!("{:?}", private(&paths, &secrets).unwrap());
        assert_eq!(debug, format!("BuilderPrivateKey({})", pubkey.fingerprint));
        let body: String = pem.lines().nth(1).unwrap().chars().take(30).collect();
        assert!(!debug.contains(&body));
    }
}
