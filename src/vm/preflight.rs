//! Checks made before boot, so that a start that cannot work fails at once
//! with the reason instead of as a QEMU error in a log.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::vm::exit::{SupervisorError, human_bytes};

pub fn runner_is_executable(runner: &Path, hint: &str) -> Result<(), SupervisorError> {
    let executable = std::fs::metadata(runner)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    if executable {
        Ok(())
    } else {
        Err(SupervisorError::RunnerMissing {
            path: runner.display().to_string(),
            hint: hint.to_string(),
        })
    }
}

/// The keys folder must exist and its authorized-keys file be readable: the
/// guest would otherwise boot with no way in.
pub fn keys_are_readable(keys_dir: &Path) -> Result<(), SupervisorError> {
    let file = keys_dir.join("builder_ed25519.pub");
    match std::fs::read_to_string(&file) {
        // The guest's sshd accepts the file only if it is root's as the
        // guest sees it (keys::guest_owner); files of an older version or
        // written by hand get the mark here.
        Ok(text) if text.lines().any(|line| !line.trim().is_empty()) => {
            crate::keys::guest_owner::mark_for_guest(keys_dir).map_err(|err| {
                SupervisorError::KeysUnreadable {
                    path: keys_dir.to_path_buf(),
                    reason: err.to_string(),
                }
            })
        }
        Ok(_) => Err(SupervisorError::KeysUnreadable {
            path: file,
            reason: "it lists no key".into(),
        }),
        Err(err) => Err(SupervisorError::KeysUnreadable {
            path: file,
            reason: err.to_string(),
        }),
    }
}

/// The forward binds 127.0.0.1:port; if we cannot, neither can QEMU.
pub fn port_is_free(port: u16) -> Result<(), SupervisorError> {
    match TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => Ok(()),
        Err(_) => Err(SupervisorError::PortTaken {
            port,
            holder: crate::settings::port::port_holder(port),
        }),
    }
}

/// QEMU locks its disk image; `qemu-img info` fails on a locked one.
pub fn disk_not_in_use(qemu_img: &Path, disk: &Path) -> Result<(), SupervisorError> {
    if !disk.exists() {
        return Ok(());
    }
    let output = Command::new(qemu_img)
        .arg("info")
        .arg(disk)
        .output()
        .map_err(SupervisorError::io("run", qemu_img))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() && stderr.contains("lock") {
        return Err(SupervisorError::DiskInUse(disk.to_path_buf()));
    }
    Ok(())
}

/// The disk may grow to its full size: that much must be free on the host
/// beyond what it already takes, or builds will fail half-way.
pub fn space_for_disk(disk: &Path, disk_bytes: u64) -> Result<(), SupervisorError> {
    let dir = disk.parent().unwrap_or(Path::new("."));
    let stat = rustix::fs::statvfs(dir).map_err(|err| SupervisorError::Io {
        action: "check free space in",
        path: dir.to_path_buf(),
        source: err.into(),
    })?;
    let free = stat.f_bavail.saturating_mul(stat.f_frsize);
    let allocated = std::fs::metadata(disk)
        .map(|meta| std::os::unix::fs::MetadataExt::blocks(&meta) * 512)
        .unwrap_or(0);
    let needed = disk_bytes.saturating_sub(allocated);
    if free < needed {
        return Err(SupervisorError::NoSpace(format!(
            "its disk may grow by {} more, and only {} are free",
            human_bytes(needed),
            human_bytes(free)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_port_is_refused_with_its_number() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let err = port_is_free(port).unwrap_err();
        assert_eq!(err.exit_code(), 11);
        assert!(err.to_string().contains(&port.to_string()));
    }

    #[test]
    fn an_empty_keys_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(keys_are_readable(dir.path()).is_err());
        std::fs::write(dir.path().join("builder_ed25519.pub"), "\n").unwrap();
        assert!(keys_are_readable(dir.path()).is_err());
        std::fs::write(dir.path().join("builder_ed25519.pub"), "ssh-ed25519 AAAA\n").unwrap();
        assert!(keys_are_readable(dir.path()).is_ok());
    }

    #[test]
    fn more_space_than_the_disk_has_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = space_for_disk(&dir.path().join("disk.qcow2"), u64::MAX / 2).unwrap_err();
        assert_eq!(err.exit_code(), 14);
        assert!(space_for_disk(&dir.path().join("disk.qcow2"), 1 << 20).is_ok());
    }
}
