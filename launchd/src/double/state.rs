//! The double's state folder:
//!
//! ```text
//! $LAUNCHCTL_DOUBLE_STATE/
//!   jobs/<domain>/<label>/job.plist   the plist as bootstrapped
//!                        /source      the plist's path (for `print`)
//!                        /status      key=value lines, written atomically
//!                        /request     one pending request to the supervisor
//!                        /supervisor.log
//!   disabled/<domain>/<label>         present while the job is disabled
//! ```
//! `<domain>` is `gui_<uid>` or `system`.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use launchd::{Job, Termination};

use super::Fail;

/// The environment variable naming the state folder.
pub const STATE_ENV: &str = "LAUNCHCTL_DOUBLE_STATE";
/// Milliseconds a label stays draining after a bootout (see `start_drain`).
pub const DRAIN_ENV: &str = "LAUNCHCTL_DOUBLE_DRAIN_MS";

pub struct Store {
    root: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Domain {
    Gui(u32),
    System,
}

pub struct JobDir {
    path: PathBuf,
}

/// What the supervisor records about its job.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub state: String,
    pub pid: Option<u32>,
    pub runs: u64,
    pub last_exit: Option<Termination>,
    pub supervisor: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Stop,
    Kickstart,
    KickstartKill,
    Signal(i32),
}

impl Store {
    pub fn from_env() -> Result<Self, Fail> {
        match std::env::var_os(STATE_ENV) {
            Some(root) if !root.is_empty() => Ok(Store { root: root.into() }),
            _ => Err(Fail::new(
                64,
                format!("launchctl-double: set {STATE_ENV} to the double's state folder"),
            )),
        }
    }

    fn job_path(&self, domain: &Domain, label: &str) -> PathBuf {
        self.root.join("jobs").join(domain.dir_name()).join(label)
    }

    fn disabled_path(&self, domain: &Domain, label: &str) -> PathBuf {
        self.root
            .join("disabled")
            .join(domain.dir_name())
            .join(label)
    }

    pub fn loaded(&self, domain: &Domain, label: &str) -> Option<JobDir> {
        let path = self.job_path(domain, label);
        path.join("job.plist").is_file().then_some(JobDir { path })
    }

    /// Creates the job's folder; fails if it exists (the job is loaded).
    pub fn claim(&self, domain: &Domain, label: &str) -> std::io::Result<JobDir> {
        let path = self.job_path(domain, label);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::create_dir(&path)?;
        Ok(JobDir { path })
    }

    fn draining_path(&self, domain: &Domain, label: &str) -> PathBuf {
        self.root
            .join("draining")
            .join(domain.dir_name())
            .join(label)
    }

    /// After a bootout, real launchd keeps the label registered for a
    /// moment while it tears the job down; a bootstrap then fails with 5
    /// (Input/output error) and succeeds when retried. `DRAIN_ENV` (in
    /// milliseconds) makes the double do the same; unset, there is no drain.
    pub fn start_drain(&self, domain: &Domain, label: &str) -> std::io::Result<()> {
        let Some(ms) = std::env::var(DRAIN_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        else {
            return Ok(());
        };
        let until = std::time::SystemTime::now() + std::time::Duration::from_millis(ms);
        let secs = until
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let path = self.draining_path(domain, label);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        write_atomic(&path, secs.to_string().as_bytes())
    }

    /// Whether the label is still draining after a bootout.
    pub fn is_draining(&self, domain: &Domain, label: &str) -> bool {
        let Ok(text) = std::fs::read_to_string(self.draining_path(domain, label)) else {
            return false;
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        text.trim().parse::<u128>().is_ok_and(|until| now < until)
    }

    pub fn is_disabled(&self, domain: &Domain, label: &str) -> bool {
        self.disabled_path(domain, label).exists()
    }

    pub fn set_disabled(
        &self,
        domain: &Domain,
        label: &str,
        disabled: bool,
    ) -> std::io::Result<()> {
        let path = self.disabled_path(domain, label);
        if disabled {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, b"disabled\n")
        } else {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        }
    }
}

impl Domain {
    pub fn parse(text: &str) -> Result<Self, Fail> {
        if text == "system" {
            return Ok(Domain::System);
        }
        if let Some(uid) = text.strip_prefix("gui/")
            && let Ok(uid) = uid.parse()
        {
            return Ok(Domain::Gui(uid));
        }
        Err(Fail::new(
            125,
            format!(
                "launchctl-double: domain {text:?} is not emulated (only gui/<uid> and system)"
            ),
        ))
    }

    /// `gui/501/label` → (gui/501, label).
    pub fn parse_service(text: &str) -> Result<(Self, String), Fail> {
        let (domain, label) = text
            .rsplit_once('/')
            .filter(|(_, label)| !label.is_empty())
            .ok_or_else(|| Fail::usage(format!("Unrecognized target specifier: {text}")))?;
        Ok((Domain::parse(domain)?, label.to_owned()))
    }

    fn dir_name(&self) -> String {
        match self {
            Domain::Gui(uid) => format!("gui_{uid}"),
            Domain::System => "system".into(),
        }
    }

    /// launchd's words in "Could not find service … in domain for …".
    pub fn describe(&self) -> String {
        match self {
            Domain::Gui(uid) => format!("user gui: {uid}"),
            Domain::System => "system".into(),
        }
    }

    pub fn is_gui(&self) -> bool {
        matches!(self, Domain::Gui(_))
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Gui(uid) => write!(f, "gui/{uid}"),
            Domain::System => f.write_str("system"),
        }
    }
}

impl JobDir {
    pub fn at(path: PathBuf) -> Self {
        JobDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn install(&self, plist: &[u8], source: &Path) -> std::io::Result<()> {
        write_atomic(&self.path.join("job.plist"), plist)?;
        write_atomic(
            &self.path.join("source"),
            source.to_string_lossy().as_bytes(),
        )?;
        self.write_status(&Status {
            state: "not running".into(),
            ..Status::default()
        })
    }

    pub fn job(&self) -> Result<Job, launchd::JobError> {
        Job::read_from(&self.path.join("job.plist"))
    }

    pub fn source(&self) -> String {
        std::fs::read_to_string(self.path.join("source")).unwrap_or_default()
    }

    pub fn read_status(&self) -> std::io::Result<Status> {
        let text = std::fs::read_to_string(self.path.join("status"))?;
        let mut status = Status::default();
        for line in text.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "state" => status.state = value.to_owned(),
                "pid" => status.pid = value.parse().ok(),
                "runs" => status.runs = value.parse().unwrap_or(0),
                "supervisor" => status.supervisor = value.parse().ok(),
                "exit" => status.last_exit = value.parse().ok().map(Termination::Exited),
                "signal" => status.last_exit = value.parse().ok().map(Termination::Signaled),
                _ => {}
            }
        }
        Ok(status)
    }

    pub fn write_status(&self, status: &Status) -> std::io::Result<()> {
        let mut text = format!("state={}\nruns={}\n", status.state, status.runs);
        if let Some(pid) = status.pid {
            text.push_str(&format!("pid={pid}\n"));
        }
        if let Some(pid) = status.supervisor {
            text.push_str(&format!("supervisor={pid}\n"));
        }
        match status.last_exit {
            Some(Termination::Exited(code)) => text.push_str(&format!("exit={code}\n")),
            Some(Termination::Signaled(sig)) => text.push_str(&format!("signal={sig}\n")),
            None => {}
        }
        write_atomic(&self.path.join("status"), text.as_bytes())
    }

    pub fn supervisor_alive(&self) -> bool {
        let Ok(status) = self.read_status() else {
            // Being removed: the supervisor is finishing.
            return !self.path.exists();
        };
        match status
            .supervisor
            .and_then(|p| i32::try_from(p).ok())
            .and_then(rustix::process::Pid::from_raw)
        {
            Some(pid) => rustix::process::test_kill_process(pid).is_ok(),
            None => true, // not recorded yet
        }
    }

    pub fn write_request(&self, request: &Request) -> std::io::Result<()> {
        let text = match request {
            Request::Stop => "stop".to_owned(),
            Request::Kickstart => "kickstart".to_owned(),
            Request::KickstartKill => "kickstart-kill".to_owned(),
            Request::Signal(n) => format!("signal {n}"),
        };
        write_atomic(&self.path.join("request"), text.as_bytes())
    }

    pub fn request_pending(&self) -> bool {
        self.path.join("request").exists()
    }

    /// The pending request, if any (left in place until `done_request`).
    pub fn peek_request(&self) -> Option<Request> {
        let text = std::fs::read_to_string(self.path.join("request")).ok()?;
        match text.trim() {
            "stop" => Some(Request::Stop),
            "kickstart" => Some(Request::Kickstart),
            "kickstart-kill" => Some(Request::KickstartKill),
            other => other
                .strip_prefix("signal ")
                .and_then(|n| n.parse().ok())
                .map(Request::Signal),
        }
    }

    pub fn done_request(&self) {
        let _ = std::fs::remove_file(self.path.join("request"));
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// `TERM`, `SIGTERM` or `15` → 15.
pub fn parse_signal(text: &str) -> Option<i32> {
    if let Ok(n) = text.parse::<i32>() {
        return rustix::process::Signal::from_named_raw(n).map(|s| s.as_raw());
    }
    let name = text.strip_prefix("SIG").unwrap_or(text);
    let signal = match name {
        "HUP" => rustix::process::Signal::HUP,
        "INT" => rustix::process::Signal::INT,
        "QUIT" => rustix::process::Signal::QUIT,
        "KILL" => rustix::process::Signal::KILL,
        "USR1" => rustix::process::Signal::USR1,
        "USR2" => rustix::process::Signal::USR2,
        "TERM" => rustix::process::Signal::TERM,
        _ => return None,
    };
    Some(signal.as_raw())
}

/// macOS's strsignal(3) words for the common signals (numbers are the host's).
pub fn signal_name(sig: i32) -> String {
    use rustix::process::Signal as S;
    let name = match rustix::process::Signal::from_named_raw(sig) {
        Some(S::HUP) => "Hangup",
        Some(S::INT) => "Interrupt",
        Some(S::QUIT) => "Quit",
        Some(S::ILL) => "Illegal instruction",
        Some(S::TRAP) => "Trace/BPT trap",
        Some(S::ABORT) => "Abort trap",
        Some(S::BUS) => "Bus error",
        Some(S::FPE) => "Floating point exception",
        Some(S::KILL) => "Killed",
        Some(S::USR1) => "User defined signal 1",
        Some(S::SEGV) => "Segmentation fault",
        Some(S::USR2) => "User defined signal 2",
        Some(S::PIPE) => "Broken pipe",
        Some(S::ALARM) => "Alarm clock",
        Some(S::TERM) => "Terminated",
        _ => "Unknown signal",
    };
    format!("{name}: {sig}")
}

/// "No such file or directory" from an io::Error, without Rust's "(os error 2)".
pub fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text.get(..i).unwrap_or(&text).to_owned(),
        None => text,
    }
}
