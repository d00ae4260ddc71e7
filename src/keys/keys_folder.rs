//! The VM's keys folder (shared into the guest at `/var/keys`): public keys
//! only. `builder_ed25519.pub` holds the builder key and every authorized
//! key, one per line; the guest's sshd reads it as its authorized keys.

use std::path::PathBuf;

use super::KeysError;
use super::authorized::parse_line;
use super::builder_key;
use crate::fsutil;
use crate::settings::SettingsStore;

/// The folder file's contents for a builder key line and authorized key
/// lines. Each authorized line is parsed again and re-encoded by ssh-key,
/// so only public keys can end up there; lines that do not parse are left
/// out (and logged).
pub fn render(builder: Option<&str>, authorized: &[String]) -> String {
    let mut out = String::new();
    if let Some(line) = builder {
        out.push_str(line.trim());
        out.push('\n');
    }
    for line in authorized {
        match parse_line(line) {
            Ok(key) => {
                out.push_str(&key.line);
                out.push('\n');
            }
            Err(e) => tracing::warn!("an authorized key is left out of the VM's keys: {e}"),
        }
    }
    out
}

/// Rewrites `vm-keys/builder_ed25519.pub` from the builder's public key
/// file and the authorized keys in the settings, atomically and under a
/// lock (so the last writer always writes the latest keys). Never touches
/// the keychain. Returns the file's path.
pub fn refresh(store: &SettingsStore) -> Result<PathBuf, KeysError> {
    let paths = store.paths();
    let lock_path = paths.vm_keys_lock();
    let _lock =
        fsutil::lock_exclusive(&lock_path).map_err(|e| KeysError::io("lock", &lock_path, e))?;
    let builder = builder_key::public(paths)?;
    let settings = store.load()?.settings;
    let text = render(
        builder.as_ref().map(|b| b.openssh.as_str()),
        &settings.authorized_keys,
    );
    let dir = paths.vm_keys_dir();
    std::fs::create_dir_all(&dir).map_err(|e| KeysError::io("create", &dir, e))?;
    let file = paths.vm_authorized_keys_file();
    fsutil::write_atomic(&file, text.as_bytes(), 0o644)
        .map_err(|e| KeysError::io("write", &file, e))?;
    // The rename made a new file: mark it, so a running guest keeps
    // accepting the keys (see guest_owner).
    super::guest_owner::mark_for_guest(&dir)?;
    Ok(file)
}
