//! The service on macOS: a LaunchAgent in `gui/<uid>` that launchd starts,
//! restarts after a crash (throttled), and stops with SIGTERM.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use launchd::{Launchctl, LaunchctlError, VM_JOB_LABEL, VmJobInputs};

use super::{POWERDOWN_WAIT, ServiceError, ServiceInfo, WAIT4PATH_ENV, install, stopped_marker};
use crate::paths::Paths;

/// How long a start keeps retrying a bootstrap that launchd refuses while
/// it is still tearing down the previous run of the job.
const BOOTSTRAP_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

pub struct LaunchdService {
    paths: Paths,
    launchctl: Launchctl,
    domain: String,
    plist: PathBuf,
}

impl LaunchdService {
    pub fn new(paths: &Paths, launchctl: PathBuf) -> LaunchdService {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        LaunchdService {
            paths: paths.clone(),
            launchctl: Launchctl::new(launchctl),
            domain: launchd::gui_domain(rustix::process::getuid().as_raw()),
            plist: launchd::launch_agent_plist_path(&home, VM_JOB_LABEL),
        }
    }

    pub(super) fn paths(&self) -> &Paths {
        &self.paths
    }

    /// Writes the job (and the binary it runs) without loading it.
    pub fn install(&self) -> Result<(), ServiceError> {
        let binary = install::refresh(&self.paths)?;
        // launchd creates neither the working directory nor the log's
        // folder: a job pointing at a missing one fails to spawn (EX_CONFIG).
        for dir in [self.paths.state_dir(), self.paths.logs_dir().to_path_buf()] {
            std::fs::create_dir_all(&dir).map_err(ServiceError::io("create", &dir))?;
        }
        let job = launchd::vm_job(&self.job_inputs(binary))?;
        job.write_to(&self.plist)?;
        Ok(())
    }

    pub fn uninstall(&self) -> Result<(), ServiceError> {
        self.stop()?;
        remove_if_present(&self.plist)?;
        remove_if_present(&install::installed_binary(&self.paths))?;
        remove_if_present(&stopped_marker(&self.paths))
    }

    /// Enables the job (so it also starts at the next login) and loads it;
    /// a loaded job that is not running is kicked.
    pub fn start(&self) -> Result<(), ServiceError> {
        self.install()?;
        remove_if_present(&stopped_marker(&self.paths))?;
        self.launchctl.enable(&self.domain, VM_JOB_LABEL)?;
        // "Bootstrap failed: 5" means either "already loaded" or "still
        // being torn down after a bootout" (real launchd answers both the
        // same way, and the second goes away within seconds): `print` tells
        // them apart. Loaded: kick it. Not loaded: bootstrap again.
        let deadline = std::time::Instant::now() + BOOTSTRAP_RETRY;
        loop {
            match self.launchctl.bootstrap(&self.domain, &self.plist) {
                Ok(()) => return Ok(()),
                Err(err @ LaunchctlError::AlreadyLoaded { .. }) => {
                    if self.launchctl.print(&self.domain, VM_JOB_LABEL)?.is_some() {
                        return Ok(self
                            .launchctl
                            .kickstart(&self.domain, VM_JOB_LABEL, false)?);
                    }
                    if std::time::Instant::now() >= deadline {
                        return Err(err.into());
                    }
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(err) => return Err(err.into()),
            }
        }
    }

    /// Disables the job first, so that no login brings it back, then boots
    /// it out: launchd sends SIGTERM and the supervisor powers the guest
    /// down.
    pub fn stop(&self) -> Result<(), ServiceError> {
        crate::fsutil::write_atomic(&stopped_marker(&self.paths), b"", 0o644)
            .map_err(ServiceError::io("write", stopped_marker(&self.paths)))?;
        self.launchctl.disable(&self.domain, VM_JOB_LABEL)?;
        match self.launchctl.bootout(&self.domain, VM_JOB_LABEL) {
            Ok(()) | Err(LaunchctlError::NotLoaded { .. }) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// A clean stop and a fresh start (not `kickstart -k`, which may kill
    /// without the power-down).
    pub fn restart(&self) -> Result<(), ServiceError> {
        match self.launchctl.bootout(&self.domain, VM_JOB_LABEL) {
            Ok(()) | Err(LaunchctlError::NotLoaded { .. }) => {}
            Err(err) => return Err(err.into()),
        }
        self.start()
    }

    pub fn info(&self) -> Result<ServiceInfo, ServiceError> {
        let status = self.launchctl.print(&self.domain, VM_JOB_LABEL)?;
        Ok(ServiceInfo {
            manager: "launchd",
            installed: self.plist.exists(),
            loaded: status.is_some(),
            pid: status.as_ref().and_then(|s| s.pid),
            runs: status.as_ref().map(|s| s.runs),
            stopped_by_user: stopped_marker(&self.paths).exists(),
        })
    }

    fn job_inputs(&self, binary: PathBuf) -> VmJobInputs {
        let mut environment = BTreeMap::new();
        // The supervisor finds qemu-img and e2fsprogs on PATH.
        if let Some(path) = std::env::var_os("PATH") {
            environment.insert("PATH".to_string(), path.to_string_lossy().into_owned());
        }
        if self.paths.is_overridden() {
            environment.insert(
                crate::paths::HOME_ENV.to_string(),
                self.paths.root().to_string_lossy().into_owned(),
            );
        }
        for passed in ["BUILDERBAR_DEVVM_CACHE", crate::vm::config::RUNNER_ENV] {
            if let Some(value) = std::env::var_os(passed) {
                environment.insert(passed.to_string(), value.to_string_lossy().into_owned());
            }
        }
        let logs = self.paths.logs_dir();
        VmJobInputs {
            binary,
            state_dir: self.paths.state_dir(),
            stdout_log: logs.join("vm.launchd.log"),
            stderr_log: logs.join("vm.launchd.log"),
            environment,
            power_down_wait: POWERDOWN_WAIT,
            wait_program: std::env::var_os(WAIT4PATH_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(launchd::WAIT4PATH)),
            wait_path: if cfg!(target_os = "macos") {
                PathBuf::from(launchd::NIX_STORE)
            } else {
                PathBuf::from("/")
            },
        }
    }
}

fn remove_if_present(path: &Path) -> Result<(), ServiceError> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(ServiceError::io("remove", path)(err))
        }
        _ => Ok(()),
    }
}
