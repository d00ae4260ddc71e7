//! The builder's observed state and the pure rule that derives it from what
//! the monitor saw: the status file (checked against live processes), the
//! user's own stop, and the SSH probe.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::vm::VmState;
use crate::vm::status::{ExitKind, StatusFile, StatusReport};

/// What is wrong, in a word the policy and the tray can switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// The supervisor could not start the VM (port taken, disk, runner…).
    FailedToStart,
    /// The VM (or its supervisor) died while it ran, not asked to.
    StoppedUnexpectedly,
    /// Failures in a row, each short-lived: launchd keeps retrying.
    CrashLoop,
    /// The VM runs but SSH does not answer.
    Unreachable,
    /// SSH answers but the Nix store does not.
    StoreUnavailable,
    /// The builder presented a host key other than the pinned one.
    HostKeyMismatch,
}

/// A problem and a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub detail: String,
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Problem {
        Problem {
            kind,
            detail: detail.into(),
        }
    }
}

/// The builder as observed — not as assumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum BuilderState {
    Stopped,
    /// On-demand start: the VM is off and its supervisor holds the port;
    /// the first connection from Nix boots it.
    Sleeping,
    Starting,
    /// SSH answered with the pinned host key and the store answered.
    Ready,
    /// The VM runs but does not serve builds.
    Degraded(Problem),
    /// The VM is not running and should be, or must not be used.
    Failed(Problem),
    Stopping,
}

impl BuilderState {
    /// The problem, when degraded or failed.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            BuilderState::Degraded(p) | BuilderState::Failed(p) => Some(p),
            _ => None,
        }
    }

    /// A short line for a terminal or a menu.
    pub fn describe(&self) -> String {
        match self {
            BuilderState::Stopped => "Stopped".into(),
            BuilderState::Sleeping => "Sleeping — starts when a build needs it".into(),
            BuilderState::Starting => "Starting".into(),
            BuilderState::Ready => "Ready".into(),
            BuilderState::Stopping => "Stopping".into(),
            BuilderState::Degraded(p) => format!("Degraded ({}): {}", kind_word(p.kind), p.detail),
            BuilderState::Failed(p) => format!("Failed ({}): {}", kind_word(p.kind), p.detail),
        }
    }
}

/// The stable word for a problem kind (`stopped-unexpectedly`…).
pub fn kind_word(kind: ProblemKind) -> &'static str {
    match kind {
        ProblemKind::FailedToStart => "failed-to-start",
        ProblemKind::StoppedUnexpectedly => "stopped-unexpectedly",
        ProblemKind::CrashLoop => "crash-loop",
        ProblemKind::Unreachable => "unreachable",
        ProblemKind::StoreUnavailable => "store-unavailable",
        ProblemKind::HostKeyMismatch => "host-key-mismatch",
    }
}

/// Everything the monitor publishes: the state and, while the builder
/// answers, how full its disk is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    #[serde(flatten)]
    pub state: BuilderState,
    /// `/nix/store`'s filesystem use in the guest, in percent.
    pub disk_used_percent: Option<u8>,
    /// A runner switch is trying this generation: the builder's stops,
    /// starts and failures are the switch's, which reports its outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switching: Option<u32>,
}

impl Health {
    pub fn stopped() -> Health {
        Health {
            state: BuilderState::Stopped,
            disk_used_percent: None,
            switching: None,
        }
    }
}

/// What the SSH probe last found, as the state rule needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProbeView {
    /// The last probe of this run: `None` before the first.
    pub last: Option<ProbeResult>,
    /// SSH answered at least once since the VM last started.
    pub answered_this_run: bool,
    /// Probes in a row that did not answer.
    pub failures_in_a_row: u32,
}

/// One probe's result, without the details the state does not need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    Answered {
        store_ok: bool,
        store_detail: String,
    },
    HostKeyMismatch {
        presented: String,
    },
    Unreachable(String),
}

/// Probe failures in a row before a builder that answered is unreachable.
pub const UNREACHABLE_AFTER: u32 = 2;

/// What the rule sees.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub report: &'a StatusReport,
    pub file: Option<&'a StatusFile>,
    pub stopped_by_user: bool,
    pub probe: &'a ProbeView,
    /// How long the VM has been running (from the status file).
    pub running_for: Option<Duration>,
    /// How long a boot may take before a silent VM counts as unreachable.
    pub boot_timeout: Duration,
    pub previous: &'a BuilderState,
}

/// The state, from what was observed. Pure.
pub fn derive(inputs: &Inputs<'_>) -> BuilderState {
    let last_kind = inputs
        .file
        .and_then(|f| f.last_exit.as_ref())
        .map(|e| e.kind);
    match inputs.report.state {
        VmState::Stopped => BuilderState::Stopped,
        VmState::Sleeping => BuilderState::Sleeping,
        VmState::Stopping => BuilderState::Stopping,
        VmState::Starting => BuilderState::Starting,
        VmState::Failed if inputs.stopped_by_user => BuilderState::Stopped,
        VmState::Failed => {
            let detail = inputs
                .report
                .last_error
                .clone()
                .unwrap_or_else(|| "the builder stopped; see `builderbar logs`".into());
            let claimed_running = inputs.file.is_some_and(|f| f.state.supervisor_runs());
            let kind = if inputs.report.crash_loop {
                ProblemKind::CrashLoop
            } else if claimed_running || last_kind == Some(ExitKind::VmDied) {
                // The status file still says "running" when the supervisor
                // itself was killed; "vm-died" when QEMU was.
                ProblemKind::StoppedUnexpectedly
            } else {
                ProblemKind::FailedToStart
            };
            BuilderState::Failed(Problem::new(kind, detail))
        }
        VmState::Running => from_probe(inputs),
    }
}

fn from_probe(inputs: &Inputs<'_>) -> BuilderState {
    let probe = inputs.probe;
    match &probe.last {
        Some(ProbeResult::HostKeyMismatch { presented }) => BuilderState::Failed(Problem::new(
            ProblemKind::HostKeyMismatch,
            format!(
                "the builder presented host key {presented}, not the pinned one; BuilderBar will not connect to it. If you did not recreate the builder, someone may be impersonating it"
            ),
        )),
        Some(ProbeResult::Answered { store_ok: true, .. }) => BuilderState::Ready,
        Some(ProbeResult::Answered {
            store_ok: false,
            store_detail,
        }) => BuilderState::Degraded(Problem::new(
            ProblemKind::StoreUnavailable,
            format!("SSH answers but the Nix store does not: {store_detail}"),
        )),
        Some(ProbeResult::Unreachable(why)) if probe.answered_this_run => {
            if probe.failures_in_a_row >= UNREACHABLE_AFTER {
                BuilderState::Degraded(Problem::new(
                    ProblemKind::Unreachable,
                    format!("the VM runs but SSH does not answer: {why}"),
                ))
            } else {
                inputs.previous.clone()
            }
        }
        Some(ProbeResult::Unreachable(_)) | None => {
            let booting = inputs
                .running_for
                .is_none_or(|age| age < inputs.boot_timeout);
            match (&probe.last, booting) {
                (_, true) => BuilderState::Starting,
                (Some(ProbeResult::Unreachable(why)), false) => {
                    BuilderState::Degraded(Problem::new(
                        ProblemKind::Unreachable,
                        format!("the VM runs but SSH never answered: {why}"),
                    ))
                }
                _ => BuilderState::Starting,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::status::LastExit;

    fn report(state: VmState) -> StatusReport {
        StatusReport {
            state,
            pid: None,
            port: Some(1),
            uptime_secs: None,
            last_error: Some("boom".into()),
            crash_loop: false,
        }
    }

    fn file(state: VmState, kind: ExitKind) -> StatusFile {
        StatusFile {
            state,
            supervisor_pid: None,
            pid: None,
            port: Some(1),
            forward_port: None,
            started_at: None,
            last_exit: Some(LastExit {
                code: None,
                signal: Some(9),
                kind,
                reason: "boom".into(),
                at: time::OffsetDateTime::UNIX_EPOCH,
            }),
            consecutive_failures: 1,
        }
    }

    fn derive_with(
        report: &StatusReport,
        file: Option<&StatusFile>,
        user: bool,
        probe: &ProbeView,
        age: u64,
        previous: &BuilderState,
    ) -> BuilderState {
        derive(&Inputs {
            report,
            file,
            stopped_by_user: user,
            probe,
            running_for: Some(Duration::from_secs(age)),
            boot_timeout: Duration::from_secs(120),
            previous,
        })
    }

    #[test]
    fn failures_are_told_apart() {
        let p = ProbeView::default();
        let prev = BuilderState::Ready;
        let died = file(VmState::Failed, ExitKind::VmDied);
        let s = derive_with(&report(VmState::Failed), Some(&died), false, &p, 0, &prev);
        assert_eq!(
            s.problem().map(|p| p.kind),
            Some(ProblemKind::StoppedUnexpectedly)
        );
        let port = file(VmState::Failed, ExitKind::PortTaken);
        let s = derive_with(&report(VmState::Failed), Some(&port), false, &p, 0, &prev);
        assert_eq!(
            s.problem().map(|p| p.kind),
            Some(ProblemKind::FailedToStart)
        );
        let mut looping = report(VmState::Failed);
        looping.crash_loop = true;
        let s = derive_with(&looping, Some(&port), false, &p, 0, &prev);
        assert_eq!(s.problem().map(|p| p.kind), Some(ProblemKind::CrashLoop));
        // The supervisor was killed: the file still says running.
        let running = file(VmState::Running, ExitKind::Requested);
        let s = derive_with(
            &report(VmState::Failed),
            Some(&running),
            false,
            &p,
            0,
            &prev,
        );
        assert_eq!(
            s.problem().map(|p| p.kind),
            Some(ProblemKind::StoppedUnexpectedly)
        );
        // The user's stop is never a failure.
        let s = derive_with(&report(VmState::Failed), Some(&died), true, &p, 0, &prev);
        assert_eq!(s, BuilderState::Stopped);
    }

    #[test]
    fn sleeping_is_its_own_state_and_no_failure() {
        let p = ProbeView::default();
        let prev = BuilderState::Ready;
        let asleep = file(VmState::Sleeping, ExitKind::GuestPoweroff);
        let s = derive_with(
            &report(VmState::Sleeping),
            Some(&asleep),
            false,
            &p,
            0,
            &prev,
        );
        assert_eq!(s, BuilderState::Sleeping);
        assert_eq!(s.describe(), "Sleeping — starts when a build needs it");
        // A supervisor killed while it slept did stop unexpectedly.
        let s = derive_with(&report(VmState::Failed), Some(&asleep), false, &p, 0, &prev);
        assert_eq!(
            s.problem().map(|p| p.kind),
            Some(ProblemKind::StoppedUnexpectedly)
        );
    }

    #[test]
    fn ready_only_when_ssh_and_store_answer() {
        let r = report(VmState::Running);
        let prev = BuilderState::Starting;
        let none = ProbeView::default();
        assert_eq!(
            derive_with(&r, None, false, &none, 5, &prev),
            BuilderState::Starting
        );
        let ok = ProbeView {
            last: Some(ProbeResult::Answered {
                store_ok: true,
                store_detail: String::new(),
            }),
            answered_this_run: true,
            failures_in_a_row: 0,
        };
        assert_eq!(
            derive_with(&r, None, false, &ok, 5, &prev),
            BuilderState::Ready
        );
        let no_store = ProbeView {
            last: Some(ProbeResult::Answered {
                store_ok: false,
                store_detail: "x".into(),
            }),
            ..ok.clone()
        };
        assert_eq!(
            derive_with(&r, None, false, &no_store, 5, &prev)
                .problem()
                .map(|p| p.kind),
            Some(ProblemKind::StoreUnavailable)
        );
        let mismatch = ProbeView {
            last: Some(ProbeResult::HostKeyMismatch {
                presented: "SHA256:x".into(),
            }),
            ..ProbeView::default()
        };
        assert!(matches!(
            derive_with(&r, None, false, &mismatch, 5, &prev),
            BuilderState::Failed(Problem {
                kind: ProblemKind::HostKeyMismatch,
                ..
            })
        ));
    }

    #[test]
    fn unreachable_after_boot_timeout_or_repeated_failures() {
        let r = report(VmState::Running);
        let silent = ProbeView {
            last: Some(ProbeResult::Unreachable("refused".into())),
            answered_this_run: false,
            failures_in_a_row: 9,
        };
        assert_eq!(
            derive_with(&r, None, false, &silent, 10, &BuilderState::Starting),
            BuilderState::Starting
        );
        assert_eq!(
            derive_with(&r, None, false, &silent, 500, &BuilderState::Starting)
                .problem()
                .map(|p| p.kind),
            Some(ProblemKind::Unreachable)
        );
        let once = ProbeView {
            last: Some(ProbeResult::Unreachable("timeout".into())),
            answered_this_run: true,
            failures_in_a_row: 1,
        };
        assert_eq!(
            derive_with(&r, None, false, &once, 500, &BuilderState::Ready),
            BuilderState::Ready
        );
        let twice = ProbeView {
            failures_in_a_row: 2,
            ..once
        };
        assert_eq!(
            derive_with(&r, None, false, &twice, 500, &BuilderState::Ready)
                .problem()
                .map(|p| p.kind),
            Some(ProblemKind::Unreachable)
        );
    }
}
