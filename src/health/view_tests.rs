use super::*;
use crate::health::ProblemKind;
use crate::vm::status::LastExit;

fn report(state: VmState) -> StatusReport {
    StatusReport {
        state,
        pid: None,
        port: Some(31022),
        uptime_secs: None,
        last_error: Some("QEMU exited with signal 9".into()),
        crash_loop: false,
    }
}

fn died() -> StatusFile {
    StatusFile {
        state: VmState::Failed,
        supervisor_pid: None,
        pid: None,
        port: Some(31022),
        forward_port: None,
        started_at: None,
        last_exit: Some(LastExit {
            code: None,
            signal: Some(9),
            kind: crate::vm::status::ExitKind::VmDied,
            reason: "QEMU exited with signal 9".into(),
            at: time::OffsetDateTime::UNIX_EPOCH,
        }),
        consecutive_failures: 1,
    }
}

const SIZE: Resources = Resources {
    cores: 4,
    memory_mib: 8192,
};

fn inputs<'a>(report: &'a StatusReport, health: Option<&'a Health>) -> ViewInputs<'a> {
    ViewInputs {
        report,
        file: None,
        stopped_by_user: false,
        health,
        resources: Some(SIZE),
        switching: None,
    }
}

#[test]
fn a_runner_switch_shows_as_starting_whatever_the_builder_does_meanwhile() {
    let stopped = report(VmState::Stopped);
    let view = view(ViewInputs {
        switching: Some(4),
        stopped_by_user: true,
        ..inputs(&stopped, None)
    });
    assert_eq!(view.state, StateWord::Starting);
    assert_eq!(view.summary, "Switching to runner generation 4…");
    assert!(view.problem.is_none());
}

#[test]
fn ready_comes_only_from_a_monitor_with_size_and_disk() {
    let running = report(VmState::Running);
    let ready = Health {
        state: BuilderState::Ready,
        disk_used_percent: Some(31),
        switching: None,
    };
    let seen = view(inputs(&running, Some(&ready)));
    assert_eq!(seen.state, StateWord::Ready);
    assert_eq!(seen.summary, "Ready — 4 cores, 8 GiB, disk 31% used");
    assert!(seen.observed);

    let unseen = view(inputs(&running, None));
    assert_eq!(unseen.state, StateWord::Running);
    assert!(!unseen.observed);
    assert!(unseen.summary.contains("not checked"), "{}", unseen.summary);
}

#[test]
fn a_failure_the_user_then_stopped_is_stopped_not_failed() {
    let failed = report(VmState::Failed);
    let file = died();
    let mut seen = inputs(&failed, None);
    seen.file = Some(&file);
    let not_stopped = view(seen);
    assert_eq!(not_stopped.state, StateWord::Failed);
    assert_eq!(
        not_stopped.problem.map(|p| p.kind),
        Some(ProblemKind::StoppedUnexpectedly)
    );
    seen.stopped_by_user = true;
    let stopped = view(seen);
    assert_eq!(stopped.state, StateWord::Stopped);
    assert_eq!(stopped.summary, "Stopped");
    assert_eq!(stopped.problem, None);
}

#[test]
fn a_monitor_word_about_a_vm_that_no_longer_runs_is_not_used() {
    let stopped = report(VmState::Stopped);
    let ready = Health {
        state: BuilderState::Ready,
        disk_used_percent: Some(10),
        switching: None,
    };
    let seen = view(inputs(&stopped, Some(&ready)));
    assert_eq!(seen.state, StateWord::Stopped);
    assert!(!seen.observed);
}

#[test]
fn problems_carry_their_detail_and_a_crash_loop_says_so() {
    let running = report(VmState::Running);
    let degraded = Health {
        state: BuilderState::Degraded(Problem::new(
            ProblemKind::StoreUnavailable,
            "the store did not answer",
        )),
        disk_used_percent: None,
        switching: None,
    };
    let seen = view(inputs(&running, Some(&degraded)));
    assert_eq!(seen.state, StateWord::Degraded);
    assert_eq!(seen.summary, "Degraded — the store did not answer");

    let mut looping = report(VmState::Failed);
    looping.crash_loop = true;
    let seen = view(inputs(&looping, None));
    assert_eq!(seen.state, StateWord::Failed);
    assert_eq!(seen.summary, "Failed — keeps crashing");
}

#[test]
fn a_sleeping_builder_is_on_and_says_when_it_starts() {
    let asleep = report(VmState::Sleeping);
    let view = view(inputs(&asleep, None));
    assert_eq!(view.state, StateWord::Sleeping);
    assert_eq!(view.summary, "Sleeping — starts when a build needs it");
    assert!(view.state.is_up(), "the menu offers Stop");
    assert_eq!(view.state.icon(), "sleeping");
    assert_eq!(view.problem, None);
}
