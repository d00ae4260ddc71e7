//! Who keeps the VM running: launchd on macOS; on Linux (development), a
//! detached supervisor. The app and the CLI only ask the service; they never
//! start QEMU themselves, and quitting them never stops the VM.
//!
//! `start`, `stop`, `restart` and `status` are what the menu and the CLI
//! call. A stop keeps the VM stopped — across a new login too — until the
//! next start.

mod detached;
mod install;
mod launch;
mod launchd_agent;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use detached::DetachedService;
pub(crate) use install::refresh as install_binary;
pub use install::{bundled_cli, installed_binary};
pub use launchd_agent::LaunchdService;

use time::OffsetDateTime;

use crate::paths::Paths;
use crate::vm::status::{self, StatusReport};

/// Names a `launchctl` to use instead of the system's (tests run the double).
pub const LAUNCHCTL_ENV: &str = "BUILDERBAR_LAUNCHCTL";
/// Names the program the launchd job waits for `/nix/store` with (tests on
/// Linux, where there is no `/bin/wait4path`).
pub const WAIT4PATH_ENV: &str = "BUILDERBAR_WAIT4PATH";

/// How long the supervisor waits for the guest to power down on a stop.
pub const POWERDOWN_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Launchctl(#[from] launchd::LaunchctlError),
    #[error("the builder's launchd job could not be written: {0}")]
    Job(#[from] launchd::JobError),
    #[error("could not {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the builder did not stop within {0:?}; see `builderbar logs`")]
    StopTimeout(Duration),
    #[error("the builder's supervisor could not start: {0}; see `builderbar logs`")]
    Start(String),
    /// The supervisor's own reason, which says what to do.
    #[error("the builder could not start: {0}")]
    NotStarted(String),
    /// The app bundle lacks its command-line program.
    #[error(
        "BuilderBar's command-line program is missing (expected at {}); reinstall BuilderBar from its disk image", .0.display()
    )]
    CliMissing(PathBuf),
}

impl ServiceError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> ServiceError {
        let path = path.into();
        move |source| ServiceError::Io {
            action,
            path,
            source,
        }
    }
}

/// What the service manager says of the job, beside the supervisor's own
/// status file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceInfo {
    /// "launchd" or "detached".
    pub manager: &'static str,
    pub installed: bool,
    /// Loaded into launchd (always equal to `installed` for detached).
    pub loaded: bool,
    /// The supervisor's pid, when it runs.
    pub pid: Option<u32>,
    /// How often launchd started the job since it was loaded.
    pub runs: Option<u64>,
    /// The user stopped it: it stays stopped until `start`.
    pub stopped_by_user: bool,
}

/// Everything `builderbar status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    #[serde(flatten)]
    pub vm: StatusReport,
    pub service: ServiceInfo,
}

pub enum Service {
    Launchd(LaunchdService),
    Detached(DetachedService),
}

impl Service {
    /// launchd on macOS, or wherever `BUILDERBAR_LAUNCHCTL` names one (the
    /// tests' double); the detached supervisor elsewhere.
    pub fn for_platform(paths: &Paths) -> Service {
        match std::env::var_os(LAUNCHCTL_ENV).filter(|p| !p.is_empty()) {
            Some(launchctl) => {
                Service::Launchd(LaunchdService::new(paths, PathBuf::from(launchctl)))
            }
            None if cfg!(target_os = "macos") => Service::Launchd(LaunchdService::new(
                paths,
                PathBuf::from(launchd::SYSTEM_LAUNCHCTL),
            )),
            None => Service::Detached(DetachedService::new(paths)),
        }
    }

    pub fn install(&self) -> Result<(), ServiceError> {
        match self {
            Service::Launchd(s) => s.install(),
            Service::Detached(s) => s.install(),
        }
    }

    pub fn uninstall(&self) -> Result<(), ServiceError> {
        match self {
            Service::Launchd(s) => s.uninstall(),
            Service::Detached(s) => s.uninstall(),
        }
    }

    /// Starts the VM and returns once it runs (the guest boots on), or
    /// with the supervisor's reason when it could not start. A VM already
    /// running is left as it is.
    pub fn start(&self) -> Result<(), ServiceError> {
        let status_file = self.status_file();
        let was_running = status::report(&status_file).state.supervisor_runs();
        let since = OffsetDateTime::now_utc();
        match self {
            Service::Launchd(s) => s.start()?,
            Service::Detached(s) => s.start()?,
        }
        if was_running {
            return Ok(());
        }
        launch::wait(&status_file, since, launch::LAUNCH_WAIT)
    }

    pub fn stop(&self) -> Result<(), ServiceError> {
        match self {
            Service::Launchd(s) => s.stop(),
            Service::Detached(s) => s.stop(),
        }
    }

    /// A clean stop and a start, returning as [`Service::start`] does.
    pub fn restart(&self) -> Result<(), ServiceError> {
        let since = OffsetDateTime::now_utc();
        match self {
            Service::Launchd(s) => s.restart()?,
            Service::Detached(s) => s.restart()?,
        }
        launch::wait(&self.status_file(), since, launch::LAUNCH_WAIT)
    }

    fn status_file(&self) -> PathBuf {
        let paths = match self {
            Service::Launchd(s) => s.paths(),
            Service::Detached(s) => s.paths(),
        };
        crate::vm::config::vm_paths(paths).status_file
    }

    pub fn info(&self) -> Result<ServiceInfo, ServiceError> {
        match self {
            Service::Launchd(s) => s.info(),
            Service::Detached(s) => Ok(s.info()),
        }
    }

    /// The status file checked against the live processes, and the
    /// service's own word.
    pub fn status(&self, paths: &Paths) -> Result<Status, ServiceError> {
        let vm = status::report(&crate::vm::config::vm_paths(paths).status_file);
        Ok(Status {
            vm,
            service: self.info()?,
        })
    }
}

/// Checks every 50 ms until `check` has an answer or `timeout` is over.
fn wait_until<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `<root>/stopped`: present while the user wants the builder stopped.
fn stopped_marker(paths: &Paths) -> PathBuf {
    paths.state_dir().join("stopped-by-user")
}
