//! The service on Linux (development): the supervisor started as a detached
//! process in its own process group, so it outlives the app and the CLI that
//! started it. The supervisor's own lock file guards against a second one.
//! Unlike launchd it does not restart a crashed VM; the status reports it.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{POWERDOWN_WAIT, ServiceError, ServiceInfo, install, stopped_marker, wait_until};
use crate::paths::Paths;
use crate::vm::status::{StatusFile, process_alive};

/// How long a start waits for the supervisor to take its lock and report.
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct DetachedService {
    paths: Paths,
}

impl DetachedService {
    pub fn new(paths: &Paths) -> DetachedService {
        DetachedService {
            paths: paths.clone(),
        }
    }

    pub(super) fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn install(&self) -> Result<(), ServiceError> {
        install::refresh(&self.paths).map(drop)
    }

    pub fn uninstall(&self) -> Result<(), ServiceError> {
        self.stop()?;
        for path in [
            install::installed_binary(&self.paths),
            stopped_marker(&self.paths),
        ] {
            match std::fs::remove_file(&path) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    return Err(ServiceError::io("remove", path)(err));
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub fn start(&self) -> Result<(), ServiceError> {
        let _ = std::fs::remove_file(stopped_marker(&self.paths));
        if self.supervisor_pid().is_some() {
            return Ok(());
        }
        let binary = install::refresh(&self.paths)?;
        let logs = self.paths.logs_dir();
        std::fs::create_dir_all(logs).map_err(ServiceError::io("create", logs))?;
        let out_path = logs.join("vm.detached.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out_path)
            .map_err(ServiceError::io("open", &out_path))?;
        let err = out
            .try_clone()
            .map_err(ServiceError::io("open", &out_path))?;
        let mut command = Command::new(&binary);
        command
            .args([
                "vm",
                "run",
                "--powerdown-timeout",
                &POWERDOWN_WAIT.as_secs().to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        if self.paths.is_overridden() {
            command.env(crate::paths::HOME_ENV, self.paths.root());
        }
        let mut child = command
            .spawn()
            .map_err(|err| ServiceError::Start(format!("{}: {err}", binary.display())))?;
        let pid = child.id();
        // Reap it whenever it ends, so a long-lived caller (the app) keeps no
        // zombie; a short-lived one (the CLI) leaves it to init.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        let started = wait_until(START_TIMEOUT, || {
            match StatusFile::read(&self.status_file()) {
                Some(status) if status.supervisor_pid == Some(pid) => Some(Ok(())),
                _ if !process_alive(pid) => Some(Err(())),
                _ => None,
            }
        });
        match started {
            Some(Ok(())) => Ok(()),
            _ => Err(ServiceError::Start(format!(
                "it exited or did not report within {START_TIMEOUT:?}"
            ))),
        }
    }

    /// SIGTERM to the supervisor, which powers the guest down; waits until it
    /// has exited.
    pub fn stop(&self) -> Result<(), ServiceError> {
        crate::fsutil::write_atomic(&stopped_marker(&self.paths), b"", 0o644)
            .map_err(ServiceError::io("write", stopped_marker(&self.paths)))?;
        let Some(pid) = self.supervisor_pid() else {
            return Ok(());
        };
        if let Some(raw) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(raw, rustix::process::Signal::TERM);
        }
        let limit = POWERDOWN_WAIT + Duration::from_secs(15);
        wait_until(limit, || (!process_alive(pid)).then_some(()))
            .ok_or(ServiceError::StopTimeout(limit))
    }

    pub fn restart(&self) -> Result<(), ServiceError> {
        self.stop()?;
        self.start()
    }

    pub fn info(&self) -> ServiceInfo {
        let pid = self.supervisor_pid();
        ServiceInfo {
            manager: "detached",
            installed: install::installed_binary(&self.paths).exists(),
            loaded: pid.is_some(),
            pid,
            runs: None,
            stopped_by_user: stopped_marker(&self.paths).exists(),
        }
    }

    fn status_file(&self) -> std::path::PathBuf {
        crate::vm::config::vm_paths(&self.paths).status_file
    }

    /// The running supervisor, if the status file names one that lives.
    fn supervisor_pid(&self) -> Option<u32> {
        let status = StatusFile::read(&self.status_file())?;
        let running = status.state.supervisor_runs();
        status
            .supervisor_pid
            .filter(|pid| running && crate::vm::status::supervisor_alive(&self.status_file(), *pid))
    }
}
