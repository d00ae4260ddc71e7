//! The typed launchd job model and its plist (launchd.plist(5)).
//!
//! Only the keys BuilderBar uses are modelled. Reading a plist ignores keys the
//! model does not know, so a hand-edited or newer plist still parses; writing
//! emits keys in a fixed order, so the output is stable (golden-file tested).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// launchd's default `ThrottleInterval`, in seconds.
pub const DEFAULT_THROTTLE_INTERVAL: u32 = 10;
/// launchd's default `ExitTimeOut`, in seconds.
pub const DEFAULT_EXIT_TIMEOUT: u32 = 20;

/// One launchd job, as written to `~/Library/LaunchAgents/<label>.plist`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Job {
    /// `Label`: the job's unique name in its domain.
    pub label: String,
    /// `ProgramArguments`: argv, the first element being the program (an absolute path).
    pub program_arguments: Vec<String>,
    /// `EnvironmentVariables`: added to the job's environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment_variables: BTreeMap<String, String>,
    /// `WorkingDirectory` (launchd's default is `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<PathBuf>,
    /// `KeepAlive`: when launchd restarts the job after it exits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAlive>,
    /// `RunAtLoad`: start as soon as the job is loaded (bootstrap, login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_at_load: Option<bool>,
    /// `ThrottleInterval`: the least number of seconds between two starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle_interval: Option<u32>,
    /// `ExitTimeOut`: seconds between SIGTERM and SIGKILL when stopping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_time_out: Option<u32>,
    /// `ProcessType`: the resource-limit class launchd applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_type: Option<ProcessType>,
    /// `AssociatedBundleIdentifiers` (macOS 13+): the app that System
    /// Settings › General › Login Items names for this job.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub associated_bundle_identifiers: Vec<String>,
    /// `StandardOutPath`: file the job's stdout is appended to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard_out_path: Option<PathBuf>,
    /// `StandardErrorPath`: file the job's stderr is appended to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard_error_path: Option<PathBuf>,
}

/// `KeepAlive`: a plain boolean, or a dictionary of conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeepAlive {
    /// `<true/>` restarts whenever the job exits; `<false/>` never does.
    Always(bool),
    /// `{ SuccessfulExit = … }`.
    Conditions(KeepAliveConditions),
}

/// The `KeepAlive` conditions BuilderBar uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeepAliveConditions {
    /// `SuccessfulExit = false`: restart only after a failure (non-zero exit
    /// or a signal), so a deliberate clean stop stays stopped.
    /// `true`: restart only after an exit with status 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful_exit: Option<bool>,
}

/// How a job's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// It exited with this status.
    Exited(i32),
    /// A signal (by number) ended it.
    Signaled(i32),
}

impl Termination {
    /// launchd's notion of a successful exit: status 0, no signal.
    pub fn is_success(self) -> bool {
        self == Termination::Exited(0)
    }
}

impl KeepAlive {
    /// `KeepAlive = { SuccessfulExit = false }`: restart after failures only.
    pub fn on_failure() -> Self {
        KeepAlive::Conditions(KeepAliveConditions {
            successful_exit: Some(false),
        })
    }

    /// Whether launchd would start the job again after it ended like this.
    pub fn restarts_after(self, how: Termination) -> bool {
        match self {
            KeepAlive::Always(always) => always,
            KeepAlive::Conditions(KeepAliveConditions {
                successful_exit: Some(wanted),
            }) => how.is_success() == wanted,
            KeepAlive::Conditions(KeepAliveConditions {
                successful_exit: None,
            }) => false,
        }
    }
}

/// `ProcessType` (launchd.plist(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcessType {
    /// Throttled CPU and I/O; for work nobody waits on.
    Background,
    /// The default.
    Standard,
    /// Limits move with the job's XPC activity.
    Adaptive,
    /// No limits, like an app.
    Interactive,
}

/// What can go wrong building, writing or reading a job.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job breaks a rule launchd (or BuilderBar) relies on.
    #[error("invalid launchd job: {0}")]
    Invalid(String),
    /// The plist could not be encoded or decoded.
    #[error("the launchd plist {what} is not valid: {source}")]
    Plist {
        /// Which plist.
        what: String,
        /// The plist crate's error.
        source: plist::Error,
    },
    /// A file could not be read or written.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Job {
    /// A job with a label and argv, every other key unset (launchd defaults).
    pub fn new(label: impl Into<String>, program_arguments: Vec<String>) -> Self {
        Job {
            label: label.into(),
            program_arguments,
            environment_variables: BTreeMap::new(),
            working_directory: None,
            keep_alive: None,
            run_at_load: None,
            throttle_interval: None,
            exit_time_out: None,
            process_type: None,
            associated_bundle_identifiers: Vec::new(),
            standard_out_path: None,
            standard_error_path: None,
        }
    }

    /// The effective `ThrottleInterval`, launchd's default when unset.
    pub fn throttle_secs(&self) -> u32 {
        self.throttle_interval.unwrap_or(DEFAULT_THROTTLE_INTERVAL)
    }

    /// The effective `ExitTimeOut`, launchd's default when unset (0 means forever).
    pub fn exit_timeout_secs(&self) -> u32 {
        self.exit_time_out.unwrap_or(DEFAULT_EXIT_TIMEOUT)
    }

    /// Checks what launchd would reject or what would make the job misbehave.
    pub fn validate(&self) -> Result<(), JobError> {
        let invalid = |m: String| Err(JobError::Invalid(m));
        if self.label.is_empty()
            || self.label.contains('/')
            || !plist_safe(&self.label)
            || self.label.trim() != self.label
        {
            return invalid(format!(
                "label {:?} must be non-empty, without '/' or surrounding spaces",
                self.label
            ));
        }
        let Some(program) = self.program_arguments.first() else {
            return invalid("ProgramArguments is empty".into());
        };
        if !Path::new(program).is_absolute() {
            return invalid(format!("the program {program:?} must be an absolute path"));
        }
        if self.program_arguments.iter().any(|a| !plist_safe(a)) {
            return invalid(
                "an argument contains a NUL or another control character a plist cannot hold"
                    .into(),
            );
        }
        for (key, value) in &self.environment_variables {
            if key.is_empty() || key.contains('=') || !plist_safe(key) || !plist_safe(value) {
                return invalid(format!(
                    "environment variable {key:?} is not a valid name=value pair"
                ));
            }
        }
        let paths = [
            ("WorkingDirectory", &self.working_directory),
            ("StandardOutPath", &self.standard_out_path),
            ("StandardErrorPath", &self.standard_error_path),
        ];
        for (key, path) in paths {
            if let Some(path) = path
                && (!path.is_absolute() || !path.to_str().is_some_and(plist_safe))
            {
                return invalid(format!(
                    "{key} {} must be an absolute UTF-8 path without control characters",
                    path.display()
                ));
            }
        }
        Ok(())
    }

    /// The job as an XML plist (validated first).
    pub fn to_plist_xml(&self) -> Result<Vec<u8>, JobError> {
        self.validate()?;
        let mut out = Vec::new();
        plist::to_writer_xml(&mut out, self).map_err(|source| JobError::Plist {
            what: format!("for {}", self.label),
            source,
        })?;
        out.push(b'\n');
        Ok(out)
    }

    /// Reads a job from plist bytes (XML or binary).
    pub fn from_plist_bytes(bytes: &[u8]) -> Result<Self, JobError> {
        plist::from_bytes(bytes).map_err(|source| JobError::Plist {
            what: "given".into(),
            source,
        })
    }

    /// Reads a job from a plist file.
    pub fn read_from(path: &Path) -> Result<Self, JobError> {
        let bytes = std::fs::read(path).map_err(|source| JobError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        })?;
        plist::from_bytes(&bytes).map_err(|source| JobError::Plist {
            what: path.display().to_string(),
            source,
        })
    }

    /// Writes the plist atomically (temp file in the same folder, fsync,
    /// rename), mode 0644 as launchd wants for agents, creating the folder.
    pub fn write_to(&self, path: &Path) -> Result<(), JobError> {
        let xml = self.to_plist_xml()?;
        write_atomically(path, &xml, 0o644)
    }
}

/// Whether an XML plist can hold `text`: XML 1.0 has no way to write NUL,
/// the other C0 control characters but tab, newline and carriage return,
/// U+FFFE or U+FFFF, so a plist holding one is not well-formed XML.
fn plist_safe(text: &str) -> bool {
    !text.chars().any(|c| {
        matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
    })
}

/// Writes `bytes` to `path` atomically: temp file beside it, fsync, rename.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), JobError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let io = |action: &'static str, p: &Path| {
        let p = p.to_owned();
        move |source| JobError::Io {
            action,
            path: p,
            source,
        }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(io("create the folder", dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io("create", &tmp))?;
    file.write_all(bytes).map_err(io("write", &tmp))?;
    file.sync_all().map_err(io("sync", &tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io("replace", path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_a_plist_cannot_hold_are_refused() {
        let mut job = Job::new("x", vec!["/bin/echo".into(), "a\u{1}b".into()]);
        assert!(job.to_plist_xml().is_err());
        job.program_arguments[1] = "tab\tnewline\ncr\r".into();
        assert!(job.to_plist_xml().is_ok());
        job.environment_variables
            .insert("A".into(), "\u{FFFF}".into());
        assert!(job.to_plist_xml().is_err());
    }
}
