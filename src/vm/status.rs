//! The status file: the supervisor's account of the VM, kept current and
//! written atomically, so `builderbar status`, the app and the health monitor
//! read it without asking the supervisor anything.

use std::path::Path;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::vm::exit::SupervisorError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VmState {
    /// On-demand: the VM is off and the supervisor holds the builder's
    /// port; the first connection boots it.
    Sleeping,
    Starting,
    Running,
    Stopping,
    Stopped,
    Failed,
}

impl VmState {
    /// A supervisor is at work: sleeping (on-demand), starting, running or
    /// stopping the VM.
    pub fn supervisor_runs(self) -> bool {
        matches!(
            self,
            VmState::Sleeping | VmState::Starting | VmState::Running | VmState::Stopping
        )
    }
}

/// Why the VM last ended, as the status file names it (short and stable;
/// the names are the file's contract, so they never change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitKind {
    /// Stopped as asked (SIGTERM, the menu's Stop).
    Requested,
    /// The guest powered itself off.
    GuestPoweroff,
    AlreadyRunning,
    PortTaken,
    RunnerMissing,
    DiskInUse,
    NoSpace,
    KeysUnreadable,
    DiskShrink,
    Disk,
    Start,
    /// QEMU died while it ran.
    VmDied,
    Io,
    /// Not known yet (the moment QEMU exits), or a name another version
    /// of BuilderBar wrote.
    #[serde(other)]
    Unknown,
}

impl ExitKind {
    /// An end nobody needs to hear about: asked for, or the guest's own.
    pub fn is_planned(self) -> bool {
        matches!(self, ExitKind::Requested | ExitKind::GuestPoweroff)
    }
}

/// How the VM last ended, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastExit {
    /// QEMU's exit code, or the supervisor's when it failed before QEMU ran.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub kind: ExitKind,
    /// A sentence for the user.
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusFile {
    pub state: VmState,
    pub supervisor_pid: Option<u32>,
    /// QEMU's pid while it runs.
    pub pid: Option<u32>,
    pub port: Option<u16>,
    /// On-demand, while the VM runs: QEMU's private forward to the guest's
    /// SSH on 127.0.0.1 (the builder's port is the supervisor's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_port: Option<u16>,
    /// When QEMU started; while sleeping, when the sleep began.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    pub last_exit: Option<LastExit>,
    /// Failed runs in a row, each short-lived: launchd restarting a VM that
    /// cannot start. Reset by a stop that was asked for or a run that lasted.
    #[serde(default)]
    pub consecutive_failures: u32,
}

/// Failures in a row that make a crash loop.
pub const CRASH_LOOP_FAILURES: u32 = 3;

impl StatusFile {
    pub fn read(path: &Path) -> Option<StatusFile> {
        let text = std::fs::read(path).ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub fn write(&self, path: &Path) -> Result<(), SupervisorError> {
        let json = serde_json::to_vec_pretty(self).map_err(|err| SupervisorError::Io {
            action: "encode",
            path: path.to_path_buf(),
            source: std::io::Error::other(err),
        })?;
        crate::fsutil::write_atomic(path, &json, 0o644).map_err(SupervisorError::io("write", path))
    }
}

/// What `builderbar status` reports: the status file checked against the
/// processes it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    pub state: VmState,
    pub pid: Option<u32>,
    pub port: Option<u16>,
    pub uptime_secs: Option<i64>,
    pub last_error: Option<String>,
    /// The VM keeps failing as it starts (and launchd keeps retrying).
    pub crash_loop: bool,
}

/// Reads the status file and checks that the processes it names still live:
/// a supervisor that was killed cannot have updated it, so its word is
/// corrected here.
pub fn report(status_file: &Path) -> StatusReport {
    let Some(status) = StatusFile::read(status_file) else {
        return StatusReport {
            state: VmState::Stopped,
            pid: None,
            port: None,
            uptime_secs: None,
            last_error: None,
            crash_loop: false,
        };
    };
    let crash_loop = status.consecutive_failures >= CRASH_LOOP_FAILURES;
    let claims_running = status.state.supervisor_runs();
    let supervisor_alive = status
        .supervisor_pid
        .is_some_and(|pid| supervisor_alive(status_file, pid));
    let vm_alive = status.pid.is_some_and(process_alive);
    let last_error = status
        .last_exit
        .as_ref()
        .filter(|exit| !exit.kind.is_planned())
        .map(|exit| exit.reason.clone());
    // Starting and sleeping, the supervisor runs no QEMU (yet): its own
    // life is the test.
    let no_vm_yet = matches!(status.state, VmState::Starting | VmState::Sleeping);
    if claims_running && !(supervisor_alive && (vm_alive || no_vm_yet)) {
        return StatusReport {
            state: VmState::Failed,
            pid: None,
            port: status.port,
            uptime_secs: None,
            last_error: Some(
                "the VM's supervisor is gone (it was killed, or the Mac restarted); start the builder again".into(),
            ),
            crash_loop,
        };
    }
    let uptime_secs = status
        .started_at
        .filter(|_| status.state == VmState::Running)
        .map(|started| (OffsetDateTime::now_utc() - started).whole_seconds().max(0));
    StatusReport {
        state: status.state,
        pid: status.pid.filter(|_| claims_running),
        port: status.port,
        uptime_secs,
        last_error,
        crash_loop,
    }
}

/// Whether the supervisor that wrote `status_file` as `pid` still runs: a
/// process with that pid lives and the supervisor's lock (beside the status
/// file) is held. After a crash or a power loss the pid may name another
/// program; the lock, released by the kernel when its holder dies, does not
/// lie. Where the lock cannot be checked, the pid's word is taken.
pub fn supervisor_alive(status_file: &Path, pid: u32) -> bool {
    process_alive(pid)
        && crate::fsutil::is_locked(&status_file.with_file_name(SUPERVISOR_LOCK)).unwrap_or(true)
}

/// The supervisor's lock file, beside the status file (see `VmPaths`).
pub const SUPERVISOR_LOCK: &str = "supervisor.lock";

/// Whether a process with this pid exists (signal 0 checks without sending).
pub fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        // It exists but belongs to someone else.
        Err(err) => err == rustix::io::Errno::PERM,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::ExitKind;

    /// Asleep, the supervisor runs no QEMU: its own life (the pid and the
    /// lock it holds) is what makes the word true.
    #[test]
    fn a_sleeping_supervisor_needs_no_vm_but_must_live() {
        use super::{StatusFile, VmState, report};
        let dir = tempfile::tempdir().unwrap();
        let status_file = dir.path().join("status.json");
        let lock = std::fs::File::create(dir.path().join(super::SUPERVISOR_LOCK)).unwrap();
        lock.try_lock().unwrap();
        let mut status = StatusFile {
            state: VmState::Sleeping,
            supervisor_pid: Some(std::process::id()),
            pid: None,
            port: Some(31022),
            forward_port: None,
            started_at: None,
            last_exit: None,
            consecutive_failures: 0,
        };
        status.write(&status_file).unwrap();
        let seen = report(&status_file);
        assert_eq!(seen.state, VmState::Sleeping);
        assert_eq!(seen.last_error, None);

        drop(lock);
        let seen = report(&status_file);
        assert_eq!(seen.state, VmState::Failed, "its lock is free: it is gone");

        status.supervisor_pid = Some(u32::MAX >> 2);
        status.write(&status_file).unwrap();
        assert_eq!(report(&status_file).state, VmState::Failed);
    }

    /// The names are what status files already on disk say.
    #[test]
    fn exit_kinds_keep_the_names_the_status_file_has_always_used() {
        for (kind, name) in [
            (ExitKind::Requested, "requested"),
            (ExitKind::GuestPoweroff, "guest-poweroff"),
            (ExitKind::AlreadyRunning, "already-running"),
            (ExitKind::PortTaken, "port-taken"),
            (ExitKind::RunnerMissing, "runner-missing"),
            (ExitKind::DiskInUse, "disk-in-use"),
            (ExitKind::NoSpace, "no-space"),
            (ExitKind::KeysUnreadable, "keys-unreadable"),
            (ExitKind::DiskShrink, "disk-shrink"),
            (ExitKind::Disk, "disk"),
            (ExitKind::Start, "start"),
            (ExitKind::VmDied, "vm-died"),
            (ExitKind::Io, "io"),
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<ExitKind>(&json).unwrap(), kind);
        }
        for other in ["\"\"", "\"from-a-later-version\""] {
            assert_eq!(
                serde_json::from_str::<ExitKind>(other).unwrap(),
                ExitKind::Unknown
            );
        }
    }
}
