//! After the service was asked to start the VM: wait until the supervisor
//! has the VM running, or has written down why it could not (a taken port,
//! no room for the disk, a missing runner…), so that `start` fails with that
//! reason instead of succeeding and leaving it to `status` to tell.

use std::path::Path;
use std::time::Duration;

use time::OffsetDateTime;

use super::ServiceError;
use crate::vm::VmState;
use crate::vm::status::StatusFile;

/// How long a start waits for the supervisor's word. Its checks take well
/// under a second; longer means it is still preparing (the first build of
/// the dev VM, a disk being grown, launchd waiting for /nix/store), and
/// the start is left to go on.
pub const LAUNCH_WAIT: Duration = Duration::from_secs(20);

/// What the supervisor said about the run that began at or after `since`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// QEMU runs (the guest is booting), or the supervisor holds the port
    /// for an on-demand builder that sleeps.
    Running,
    /// The run ended without error before we looked (stopped meanwhile).
    Ended,
    /// It could not start: the supervisor's reason.
    Failed(String),
}

/// The supervisor's word on a run that began at or after `since`, if the
/// status file has it yet. Pure but for the read.
pub fn observed(status_file: &Path, since: OffsetDateTime) -> Option<Launch> {
    let file = StatusFile::read(status_file)?;
    let ended_since = file.last_exit.as_ref().filter(|exit| exit.at >= since);
    match (file.state, ended_since) {
        // Sleeping (on-demand): the supervisor holds the port; `started_at`
        // is when the sleep began.
        (VmState::Sleeping | VmState::Running | VmState::Stopping, _)
            if file.started_at.is_some_and(|s| s >= since) =>
        {
            Some(Launch::Running)
        }
        (VmState::Failed, Some(exit)) => Some(Launch::Failed(exit.reason.clone())),
        (VmState::Stopped, Some(_)) => Some(Launch::Ended),
        _ => None,
    }
}

/// Waits up to `limit` for the supervisor's word; its reason becomes the
/// error when the VM could not start. No word in time is not an error.
pub fn wait(
    status_file: &Path,
    since: OffsetDateTime,
    limit: Duration,
) -> Result<(), ServiceError> {
    match super::wait_until(limit, || observed(status_file, since)) {
        Some(Launch::Failed(reason)) => Err(ServiceError::NotStarted(reason)),
        Some(Launch::Running | Launch::Ended) => Ok(()),
        None => {
            tracing::info!("the supervisor is still preparing the VM");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::status::LastExit;

    fn file(state: VmState, started: Option<i64>, exit_at: Option<i64>) -> StatusFile {
        let at = |secs| OffsetDateTime::from_unix_timestamp(secs).unwrap();
        StatusFile {
            state,
            supervisor_pid: Some(1),
            pid: None,
            port: Some(31022),
            forward_port: None,
            started_at: started.map(at),
            last_exit: exit_at.map(|secs| LastExit {
                code: Some(78),
                signal: None,
                kind: crate::vm::status::ExitKind::PortTaken,
                reason: "port 31022 is already in use".into(),
                at: at(secs),
            }),
            consecutive_failures: 1,
        }
    }

    fn seen(status: StatusFile, since: i64) -> Option<Launch> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        std::fs::write(&path, serde_json::to_vec(&status).unwrap()).unwrap();
        observed(&path, OffsetDateTime::from_unix_timestamp(since).unwrap())
    }

    #[test]
    fn a_run_that_began_since_is_running() {
        assert_eq!(
            seen(file(VmState::Running, Some(105), Some(50)), 100),
            Some(Launch::Running)
        );
    }

    #[test]
    fn a_failure_since_carries_the_supervisors_reason() {
        assert_eq!(
            seen(file(VmState::Failed, None, Some(101)), 100),
            Some(Launch::Failed("port 31022 is already in use".into()))
        );
    }

    #[test]
    fn what_an_earlier_run_left_says_nothing_yet() {
        // The last run failed before this start was asked for; the new
        // supervisor has written only "starting".
        assert_eq!(seen(file(VmState::Failed, None, Some(90)), 100), None);
        assert_eq!(seen(file(VmState::Starting, None, Some(90)), 100), None);
        assert_eq!(seen(file(VmState::Running, Some(95), None), 100), None);
    }

    #[test]
    fn a_vm_that_died_at_once_is_a_failed_start() {
        // QEMU ran and died before the first look (a runner QEMU refuses).
        assert_eq!(
            seen(file(VmState::Failed, Some(101), Some(101)), 100),
            Some(Launch::Failed("port 31022 is already in use".into()))
        );
    }

    #[test]
    fn no_status_file_yet_is_no_word() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            observed(&dir.path().join("status.json"), OffsetDateTime::UNIX_EPOCH),
            None
        );
    }
}
