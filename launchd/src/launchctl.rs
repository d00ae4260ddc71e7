//! A client of `launchctl`: bootstrap, bootout, enable, disable, kickstart and
//! print. It runs a configurable program (`/bin/launchctl` by default; the
//! `launchctl-double` in tests) and turns launchctl's terse failures
//! ("Bootstrap failed: 5: Input/output error") into messages that say what
//! happened and what to do.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use execfile::Spawn as _;

use crate::print::{PrintParseError, ServiceStatus, parse_print};

/// The system's launchctl.
pub const SYSTEM_LAUNCHCTL: &str = "/bin/launchctl";

/// launchctl's exit status for "Could not find service".
pub const EXIT_NOT_FOUND: i32 = 113;
/// errno ESRCH: `Boot-out failed: 3: No such process`.
pub const EXIT_NO_SUCH_PROCESS: i32 = 3;
/// errno EIO: `Bootstrap failed: 5: Input/output error`.
pub const EXIT_IO: i32 = 5;
/// errno EALREADY on newer macOS: `Bootstrap failed: 37: Operation already in progress`.
pub const EXIT_ALREADY: i32 = 37;
/// `Bootstrap failed: 119: Service is disabled`.
pub const EXIT_DISABLED: i32 = 119;
/// errno EPERM / `Operation not permitted`.
pub const EXIT_PERM: i32 = 1;

/// Runs launchctl.
#[derive(Debug, Clone)]
pub struct Launchctl {
    program: PathBuf,
    env: Vec<(OsString, OsString)>,
}

/// A launchctl action that failed, in plain language.
#[derive(Debug, thiserror::Error)]
pub enum LaunchctlError {
    /// launchctl itself could not be run.
    #[error("could not run {}: {source}. launchd exists only on macOS; is this a Mac?", program.display())]
    Spawn {
        /// The program tried.
        program: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The service is not loaded.
    #[error(
        "the launchd job {service} is not loaded, so it cannot be {action}. \
         Start it first (bootstrap its plist). [launchctl: {detail}]"
    )]
    NotLoaded {
        /// `domain/label`.
        service: String,
        /// What was asked, as a past participle ("restarted", "printed"…).
        action: &'static str,
        /// launchctl's own words.
        detail: String,
    },
    /// bootstrap refused because the job is already loaded or still unloading.
    #[error(
        "launchd would not load {plist} into {domain}: the job is most likely already loaded, \
         or still stopping after a recent stop (launchd answers this for an invalid plist too). \
         Check it with `launchctl print {domain}/<label>`; if it is loaded, stop it (bootout), \
         wait a few seconds and try again. [launchctl: {detail}]"
    )]
    AlreadyLoaded {
        /// The domain.
        domain: String,
        /// The plist.
        plist: String,
        /// launchctl's own words.
        detail: String,
    },
    /// The service is disabled in launchd's override database.
    #[error(
        "launchd has the job {service} disabled, so it will not load it. \
         Enable it (`launchctl enable {service}`) and try again. [launchctl: {detail}]"
    )]
    Disabled {
        /// `domain/label`.
        service: String,
        /// launchctl's own words.
        detail: String,
    },
    /// Not allowed (another user's domain, the system domain without root, SIP).
    #[error(
        "launchd did not allow `launchctl {command}`: the job must be in your own gui/<uid> domain \
         (or the command needs administrator rights). [launchctl: {detail}]"
    )]
    NotPermitted {
        /// The subcommand and its arguments.
        command: String,
        /// launchctl's own words.
        detail: String,
    },
    /// Any other failure, with launchctl's words and status.
    #[error("`launchctl {command}` failed with status {status}: {detail}")]
    Failed {
        /// The subcommand and its arguments.
        command: String,
        /// Exit status (-1 if killed by a signal).
        status: i32,
        /// launchctl's own words.
        detail: String,
    },
    /// `print` answered, but not in a shape we understand.
    #[error("could not understand `launchctl print {service}`: {source}")]
    Unparsable {
        /// `domain/label`.
        service: String,
        /// Why.
        source: PrintParseError,
    },
}

/// What a successful launchctl run printed.
struct Output {
    stdout: String,
}

/// A failed launchctl run.
struct Failure {
    status: i32,
    detail: String,
}

impl Default for Launchctl {
    fn default() -> Self {
        Launchctl::new(SYSTEM_LAUNCHCTL)
    }
}

impl Launchctl {
    /// A client that runs `program` as launchctl.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Launchctl {
            program: program.into(),
            env: Vec::new(),
        }
    }

    /// Adds an environment variable for every launchctl run (the double's state folder).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The program run as launchctl.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// `launchctl bootstrap <domain> <plist>`: loads (and, with RunAtLoad, starts) a job.
    pub fn bootstrap(&self, domain: &str, plist: &Path) -> Result<(), LaunchctlError> {
        let args = [
            OsStr::new("bootstrap"),
            OsStr::new(domain),
            plist.as_os_str(),
        ];
        self.run(&args)?.map(drop).map_err(|f| {
            let command = describe(&args);
            match f.status {
                EXIT_IO | EXIT_ALREADY | 17 => LaunchctlError::AlreadyLoaded {
                    domain: domain.to_owned(),
                    plist: plist.display().to_string(),
                    detail: f.detail,
                },
                EXIT_DISABLED => LaunchctlError::Disabled {
                    service: format!("{domain}/<label in {}>", plist.display()),
                    detail: f.detail,
                },
                _ => other(command, f),
            }
        })
    }

    /// `launchctl bootout <domain>/<label>`: stops (SIGTERM, then SIGKILL after
    /// ExitTimeOut) and unloads a job.
    pub fn bootout(&self, domain: &str, label: &str) -> Result<(), LaunchctlError> {
        let service = format!("{domain}/{label}");
        self.service_command(&["bootout"], &service, "stopped")
    }

    /// `launchctl enable <domain>/<label>`.
    pub fn enable(&self, domain: &str, label: &str) -> Result<(), LaunchctlError> {
        self.service_command(&["enable"], &format!("{domain}/{label}"), "enabled")
    }

    /// `launchctl disable <domain>/<label>`: a disabled job is not loaded at login
    /// and cannot be bootstrapped until enabled.
    pub fn disable(&self, domain: &str, label: &str) -> Result<(), LaunchctlError> {
        self.service_command(&["disable"], &format!("{domain}/{label}"), "disabled")
    }

    /// `launchctl kickstart [-k] <domain>/<label>`: starts the job now; with
    /// `kill`, stops a running instance first.
    pub fn kickstart(&self, domain: &str, label: &str, kill: bool) -> Result<(), LaunchctlError> {
        let service = format!("{domain}/{label}");
        if kill {
            self.service_command(&["kickstart", "-k"], &service, "restarted")
        } else {
            self.service_command(&["kickstart"], &service, "started")
        }
    }

    /// `launchctl print <domain>/<label>`, parsed; `Ok(None)` when not loaded.
    pub fn print(
        &self,
        domain: &str,
        label: &str,
    ) -> Result<Option<ServiceStatus>, LaunchctlError> {
        let service = format!("{domain}/{label}");
        match self.service_command_output(&["print"], &service, "printed") {
            Ok(out) => parse_print(&out.stdout)
                .map(Some)
                .map_err(|source| LaunchctlError::Unparsable { service, source }),
            Err(LaunchctlError::NotLoaded { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn service_command(
        &self,
        sub: &[&str],
        service: &str,
        action: &'static str,
    ) -> Result<(), LaunchctlError> {
        self.service_command_output(sub, service, action).map(drop)
    }

    fn service_command_output(
        &self,
        sub: &[&str],
        service: &str,
        action: &'static str,
    ) -> Result<Output, LaunchctlError> {
        let mut args: Vec<&OsStr> = sub.iter().map(OsStr::new).collect();
        args.push(OsStr::new(service));
        self.run(&args)?.map_err(|f| {
            let not_found = f.detail.contains("Could not find service");
            let bootout_absent =
                sub.first() == Some(&"bootout") && f.status == EXIT_NO_SUCH_PROCESS;
            if f.status == EXIT_NOT_FOUND || not_found || bootout_absent {
                LaunchctlError::NotLoaded {
                    service: service.to_owned(),
                    action,
                    detail: f.detail,
                }
            } else {
                other(describe(&args), f)
            }
        })
    }

    /// Runs launchctl: the outer error is "could not run it", the inner one "it failed".
    fn run(&self, args: &[&OsStr]) -> Result<Result<Output, Failure>, LaunchctlError> {
        let mut cmd = Command::new(&self.program);
        cmd.args(args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        // The program may be a file another process has just written (the
        // launchctl double, built by cargo): retried while it is busy.
        let out = cmd
            .stdin(std::process::Stdio::null())
            .output_retrying()
            .map_err(|source| LaunchctlError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(Ok(Output { stdout }));
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let detail = clean_detail(&stderr, &stdout);
        Ok(Err(Failure {
            status: out.status.code().unwrap_or(-1),
            detail,
        }))
    }
}

/// launchctl's message without its boilerplate hints, on one line.
fn clean_detail(stderr: &str, stdout: &str) -> String {
    let text = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| {
            !l.starts_with("Try re-running the command as root")
                && !l.starts_with("Try running `launchctl")
        })
        .collect();
    if lines.is_empty() {
        "no message".to_owned()
    } else {
        lines.join(" ")
    }
}

fn describe(args: &[&OsStr]) -> String {
    args.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

fn other(command: String, f: Failure) -> LaunchctlError {
    if f.status == EXIT_PERM || f.detail.contains("Operation not permitted") {
        LaunchctlError::NotPermitted {
            command,
            detail: f.detail,
        }
    } else {
        LaunchctlError::Failed {
            command,
            status: f.status,
            detail: f.detail,
        }
    }
}
