//! Running a job as root: in-process when we already are root; on macOS
//! through one `osascript … with administrator privileges` prompt that runs
//! `<installed builderbar> nix apply-plan <job file>`.
//!
//! No shell or AppleScript text is ever built from a value: the AppleScript
//! is a constant that takes the binary and the job file as `argv` and
//! quotes them with `quoted form of`. The job travels as a JSON file only
//! the user can read, and never holds the private key.

use std::path::{Path, PathBuf};

use super::NixError;
use super::apply::{self, Job, Outcome};
use crate::fsutil;

/// Names an `osascript` to use instead of the system's. Tests point it at
/// `tests/doubles/osascript`, a double that runs the command (or answers
/// "User canceled. (-128)") instead of showing a password prompt.
pub const OSASCRIPT_ENV: &str = "BUILDERBAR_OSASCRIPT";
/// macOS's osascript.
pub const SYSTEM_OSASCRIPT: &str = "/usr/bin/osascript";

/// The AppleScript, constant: `argv` is (binary, job file).
pub const APPLESCRIPT: [&str; 3] = [
    "on run argv",
    "do shell script (quoted form of (item 1 of argv)) & \" nix apply-plan \" & (quoted form of (item 2 of argv)) with administrator privileges",
    "end run",
];

/// How the job gets root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elevation {
    /// We are root: apply here.
    InProcess,
    /// Ask for an administrator password through this osascript.
    Osascript(PathBuf),
}

impl Elevation {
    /// `BUILDERBAR_OSASCRIPT` when set; else in-process when root; else
    /// macOS's osascript. Elsewhere, without root, there is no way up.
    pub fn for_platform() -> Result<Elevation, NixError> {
        if let Some(path) = std::env::var_os(OSASCRIPT_ENV).filter(|p| !p.is_empty()) {
            return Ok(Elevation::Osascript(PathBuf::from(path)));
        }
        if rustix::process::geteuid().is_root() {
            Ok(Elevation::InProcess)
        } else if cfg!(target_os = "macos") {
            Ok(Elevation::Osascript(PathBuf::from(SYSTEM_OSASCRIPT)))
        } else {
            Err(NixError::Command {
                program: "builderbar".into(),
                message: "changing /etc needs root here: run it again with sudo".into(),
            })
        }
    }

    /// Runs `job` as root. `binary` is the installed `builderbar`; the job
    /// file is written (0600) in `job_dir` and removed afterwards.
    pub fn run(&self, job: &Job, binary: &Path, job_dir: &Path) -> Result<Outcome, NixError> {
        match self {
            Elevation::InProcess => apply::run_job(job),
            Elevation::Osascript(osascript) => {
                let file = job_dir.join(format!("nix-job-{}.json", std::process::id()));
                let text = serde_json::to_string_pretty(job).map_err(|e| NixError::Format {
                    what: "plan",
                    path: file.clone(),
                    message: e.to_string(),
                })?;
                fsutil::write_atomic(&file, text.as_bytes(), 0o600)
                    .map_err(NixError::io("write", &file))?;
                let result = run_osascript(osascript, binary, &file);
                let _ = std::fs::remove_file(&file);
                result
            }
        }
    }
}

fn run_osascript(osascript: &Path, binary: &Path, job_file: &Path) -> Result<Outcome, NixError> {
    let mut command = std::process::Command::new(osascript);
    for line in APPLESCRIPT {
        command.arg("-e").arg(line);
    }
    let output = command
        .arg(binary)
        .arg(job_file)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| NixError::Command {
            program: osascript.display().to_string(),
            message: e.to_string(),
        })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        if stderr.contains("(-128)") {
            return Err(NixError::Cancelled);
        }
        return Err(NixError::Command {
            program: "the administrator step".into(),
            message: last_lines(&stderr),
        });
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(serde_json::from_str(stdout.trim()).unwrap_or_default())
}

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// Reads a job file (what `builderbar nix apply-plan` does).
pub fn read_job(path: &Path) -> Result<Job, NixError> {
    let text = std::fs::read_to_string(path).map_err(NixError::io("read", path))?;
    serde_json::from_str(&text).map_err(|e| NixError::Format {
        what: "plan",
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
