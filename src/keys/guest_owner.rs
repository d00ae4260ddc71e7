//! The keys folder as the guest sees it.
//!
//! nixpkgs' runner shares `$KEYS` into the guest over 9p with QEMU's default
//! `mapped-xattr` security model (`virtualisation.sharedDirectories.keys` in
//! `nix-builder-vm.nix` sets no `securityModel`). Under that model the guest
//! sees a file's owner as the host file's owner — on a Mac the user's uid,
//! 501 — unless the `user.virtfs.uid` / `user.virtfs.gid` attributes say
//! otherwise. The guest's sshd (StrictModes) only reads an authorized-keys
//! file owned by root or by the user logging in (`builder`, uid 1000), so a
//! folder owned by uid 501 would refuse every key. nixpkgs' own scripts never
//! meet this: nix-darwin runs QEMU as root, and `create-builder` shares a
//! root-owned `/nix/store` copy. BuilderBar runs QEMU as the user, so it marks
//! the folder and its files as root's for the guest, and keeps their real
//! modes at 0755 and 0644 (public keys only: readable by anyone is fine).

use std::path::Path;

use super::KeysError;

/// The attribute names QEMU's 9p `mapped-xattr` model reads the guest-side
/// owner from (hw/9pfs/9p-local.c).
pub const UID_ATTR: &str = "user.virtfs.uid";
/// See [`UID_ATTR`].
pub const GID_ATTR: &str = "user.virtfs.gid";

/// Marks `dir` and every file in it as owned by root inside the guest and
/// makes their modes what sshd accepts (folder 0755, files 0644). The mode
/// is not mapped: QEMU reads `user.virtfs.mode` as a `mode_t`, 2 bytes on
/// macOS and 4 on Linux, so the real mode is kept right instead.
pub fn mark_for_guest(dir: &Path) -> Result<(), KeysError> {
    set_mode(dir, 0o755)?;
    mark(dir)?;
    let entries = std::fs::read_dir(dir).map_err(|e| KeysError::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| KeysError::io("list", dir, e))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| KeysError::io("inspect", &path, e))?;
        if kind.is_file() {
            set_mode(&path, 0o644)?;
            mark(&path)?;
        }
    }
    Ok(())
}

/// The guest-side owner QEMU would report for `path` (`None`: no mark, so
/// the guest sees the host's owner).
pub fn guest_uid(path: &Path) -> Result<Option<u32>, KeysError> {
    let mut value = [0u8; 4];
    match rustix::fs::getxattr(path, UID_ATTR, &mut value) {
        Ok(4) => Ok(Some(u32::from_le_bytes(value))),
        Ok(_) => Ok(None),
        Err(e) if e == NO_ATTRIBUTE => Ok(None),
        Err(e) => Err(KeysError::io("read the guest owner of", path, e.into())),
    }
}

/// "No such attribute": ENODATA on Linux, ENOATTR on macOS.
#[cfg(target_os = "macos")]
const NO_ATTRIBUTE: rustix::io::Errno = rustix::io::Errno::NOATTR;
#[cfg(not(target_os = "macos"))]
const NO_ATTRIBUTE: rustix::io::Errno = rustix::io::Errno::NODATA;

fn mark(path: &Path) -> Result<(), KeysError> {
    // QEMU stores the ids little-endian in 4 bytes (uid_t and gid_t are
    // 32-bit on macOS and Linux alike).
    let root = 0u32.to_le_bytes();
    for name in [UID_ATTR, GID_ATTR] {
        rustix::fs::setxattr(path, name, &root, rustix::fs::XattrFlags::empty()).map_err(|e| {
            KeysError::Io {
                action: "mark as root's for the builder",
                path: path.to_path_buf(),
                source: std::io::Error::other(format!(
                    "{} (the folder must be on a disk that keeps extended attributes, as APFS does)",
                    std::io::Error::from(e)
                )),
            }
        })?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<(), KeysError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| KeysError::io("set the mode of", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_the_folder_and_its_files_as_roots_with_public_modes() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        std::fs::create_dir(&keys).unwrap();
        let file = keys.join("builder_ed25519.pub");
        std::fs::write(&file, "ssh-ed25519 AAAA x\n").unwrap();
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(guest_uid(&file).unwrap(), None);

        mark_for_guest(&keys).unwrap();
        assert_eq!(guest_uid(&keys).unwrap(), Some(0));
        assert_eq!(guest_uid(&file).unwrap(), Some(0));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&keys), 0o755);
        assert_eq!(mode(&file), 0o644);
        // A second run changes nothing and does not fail.
        mark_for_guest(&keys).unwrap();
    }
}
