//! Checks a private key file before its contents are used: a plain file
//! (never followed through a link), readable and writable by its owner only,
//! and owned by whom it should be. OpenSSH refuses such files too
//! ("UNPROTECTED PRIVATE KEY FILE"); we refuse them with words saying what
//! to do. The file is checked through the descriptor it is then read from,
//! so it cannot be swapped between the check and the read.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Why a private key file was not used. No variant carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be opened or read.
    #[error("cannot read the private key file {}: {source}; check that it exists and that you may read it", .path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A link, a folder, a pipe…: not a plain file.
    #[error("the private key file {} is {kind}, not a plain file; a private key is only read from a plain file: remove it and make the key file again", .path.display())]
    NotAFile { path: PathBuf, kind: &'static str },
    /// Group or others may read or change it.
    #[error("the private key file {} can be read or changed by other users (mode {mode:04o}); run `chmod 600 {}` and try again", .path.display(), .path.display())]
    TooOpen { path: PathBuf, mode: u32 },
    /// Someone other than the expected owner owns it.
    #[error("the private key file {} belongs to uid {found}, not to uid {expected}; someone else may have put it there: remove it and make the key file again", .path.display())]
    WrongOwner {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
}

/// Reads a private key file that must belong to the user running this
/// process (a key given to the health probe, say).
pub fn read_own_private_key(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    read_checked(path, rustix::process::geteuid().as_raw())
}

/// Reads the copy of the builder key handed to the administrator step. It
/// runs as root, but the copy is written by the user who asked: it must
/// belong to the owner of the folder it sits in (BuilderBar's state folder),
/// so a file planted there by anyone else is refused.
pub fn read_private_key_copy(path: &Path) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let owner = std::fs::metadata(folder)
        .map_err(|source| KeyFileError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?
        .uid();
    read_checked(path, owner)
}

/// Opens `path` without following a link, checks what it is, its mode and
/// its owner on the open descriptor, and only then reads it.
pub fn read_checked(path: &Path, owner: u32) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    use rustix::fs::{Mode, OFlags};
    let unreadable = |source: std::io::Error| KeyFileError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    // NONBLOCK: a FIFO planted in its place must not hang the open.
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let fd = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::LOOP) => {
            return Err(KeyFileError::NotAFile {
                path: path.to_path_buf(),
                kind: "a symbolic link",
            });
        }
        Err(err) => return Err(unreadable(err.into())),
    };
    let mut file = std::fs::File::from(fd);
    let meta = file.metadata().map_err(unreadable)?;
    let kind = meta.file_type();
    let not_plain = if kind.is_dir() {
        Some("a folder")
    } else if kind.is_fifo() {
        Some("a pipe")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_block_device() || kind.is_char_device() {
        Some("a device")
    } else {
        None
    };
    if let Some(kind) = not_plain {
        return Err(KeyFileError::NotAFile {
            path: path.to_path_buf(),
            kind,
        });
    }
    if meta.uid() != owner {
        return Err(KeyFileError::WrongOwner {
            path: path.to_path_buf(),
            found: meta.uid(),
            expected: owner,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(512));
    file.read_to_end(&mut bytes).map_err(unreadable)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn key_file(dir: &Path, mode: u32) -> PathBuf {
        let path = dir.join("key");
        std::fs::write(&path, b"-----BEGIN OPENSSH PRIVATE KEY-----\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn an_owner_only_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o600, 0o400] {
            let path = key_file(dir.path(), mode);
            let bytes = read_own_private_key(&path).unwrap();
            assert!(bytes.starts_with(b"-----BEGIN"));
            assert!(read_private_key_copy(&path).is_ok());
        }
    }

    #[test]
    fn a_file_others_may_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660, 0o666] {
            let path = key_file(dir.path(), mode);
            let err = read_own_private_key(&path).unwrap_err();
            assert!(
                matches!(err, KeyFileError::TooOpen { .. }),
                "{mode:o}: {err}"
            );
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
    }

    #[test]
    fn links_folders_and_pipes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = key_file(dir.path(), 0o600);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = read_own_private_key(&link).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        let err = read_own_private_key(dir.path()).unwrap_err();
        assert!(matches!(err, KeyFileError::NotAFile { .. }), "{err}");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .args(["-m", "600"])
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = read_own_private_key(&fifo).unwrap_err();
        assert!(err.to_string().contains("a pipe"), "{err}");
        let err = read_own_private_key(&dir.path().join("missing")).unwrap_err();
        assert!(matches!(err, KeyFileError::Unreadable { .. }), "{err}");
    }

    #[test]
    fn a_file_owned_by_someone_else_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_file(dir.path(), 0o600);
        let me = rustix::process::geteuid().as_raw();
        let err = read_checked(&path, me + 1).unwrap_err();
        assert!(
            matches!(err, KeyFileError::WrongOwner { found, expected, .. } if found == me && expected == me + 1),
            "{err}"
        );
        assert!(err.to_string().contains("someone else"), "{err}");
    }
}
