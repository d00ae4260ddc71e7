//! The private nix-daemon of a test build under a sysroot (Linux, root):
//! started by util-linux's `unshare --mount --propagation private`, so its
//! mounts are its own, then given the sysroot's ssh alias folder (and
//! `/etc/nix`, where the host has one) by `nsenter … mount --bind`. Each
//! program gets its arguments as separate words; no shell is involved.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::test_build_host::{HostError, program, sysroot_env};

/// A nix-daemon in its own mount namespace, stopped when dropped.
pub(crate) struct PrivateDaemon {
    child: Child,
    /// Held while the daemon runs: a second test build on the same sysroot
    /// waits instead of taking over the socket.
    _lock: std::fs::File,
}

impl PrivateDaemon {
    pub(crate) fn start(sysroot: &Path) -> Result<PrivateDaemon, HostError> {
        if !rustix::process::geteuid().is_root() {
            return Err(HostError::Unsupported("root".into()));
        }
        let unshare = program("unshare")?;
        let nsenter = program("nsenter")?;
        let mount = program("mount")?;
        let daemon = program("nix-daemon")?;
        for dir in [
            PathBuf::from(devvm::NIX_STORE_DIR),
            sysroot.join("nix/var/nix"),
            sysroot.join("nix/var/log/nix"),
        ] {
            std::fs::create_dir_all(&dir).map_err(HostError::io("create", &dir))?;
        }
        let lock_path = sysroot.join("nix/var/nix/builderbar-test-build.lock");
        let lock =
            std::fs::File::create(&lock_path).map_err(HostError::io("create", &lock_path))?;
        lock.lock().map_err(HostError::io("lock", &lock_path))?;
        let socket = sysroot.join("nix/var/nix/daemon-socket/socket");
        let _ = std::fs::remove_file(&socket);
        let log_path = sysroot.join("nix/var/log/builderbar-nix-daemon.log");
        let log = std::fs::File::create(&log_path).map_err(HostError::io("create", &log_path))?;
        let log_err = log.try_clone().map_err(HostError::io("open", &log_path))?;
        let mut command = Command::new(unshare);
        command
            .args(["--mount", "--propagation", "private", "--"])
            .arg(daemon)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        for (key, value) in sysroot_env(sysroot) {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .map_err(|e| HostError::Daemon(format!("could not run unshare: {e}")))?;
        let mut daemon = PrivateDaemon { child, _lock: lock };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(HostError::Daemon(format!(
                    "it exited ({status}): {}",
                    log.trim()
                )));
            }
            if Instant::now() >= deadline {
                return Err(HostError::Daemon(
                    "its socket did not appear within 20 s".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // No client has connected yet, so every worker it forks (and the
        // ssh each runs) sees these mounts.
        let mut binds = vec![(
            sysroot.join("etc/ssh/ssh_config.d"),
            PathBuf::from("/etc/ssh/ssh_config.d"),
        )];
        if Path::new("/etc/nix").is_dir() {
            binds.push((sysroot.join("etc/nix"), PathBuf::from("/etc/nix")));
        }
        for (source, target) in binds {
            if !target.is_dir() {
                return Err(HostError::Unsupported(format!(
                    "{} on this machine (install openssh-client)",
                    target.display()
                )));
            }
            let out = Command::new(&nsenter)
                .arg("--target")
                .arg(daemon.child.id().to_string())
                .args(["--mount", "--"])
                .arg(&mount)
                .arg("--bind")
                .arg(&source)
                .arg(&target)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| HostError::Daemon(format!("could not run nsenter: {e}")))?;
            if !out.status.success() {
                return Err(HostError::Daemon(format!(
                    "could not mount {} over {}: {}",
                    source.display(),
                    target.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        Ok(daemon)
    }
}

impl Drop for PrivateDaemon {
    fn drop(&mut self) {
        // SIGTERM lets it remove its socket; its namespace goes with it.
        if let Some(pid) = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
