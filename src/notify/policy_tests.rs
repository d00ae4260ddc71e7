use super::*;
use crate::health::{Problem, ProblemKind};

fn health(state: BuilderState, disk: Option<u8>) -> Event {
    Event::Health(Health {
        state,
        disk_used_percent: disk,
        switching: None,
    })
}

fn failed(kind: ProblemKind) -> BuilderState {
    BuilderState::Failed(Problem::new(kind, "x"))
}

fn shows(actions: &[Action]) -> Vec<Kind> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Show { kind, .. } => Some(*kind),
            Action::Withdraw { .. } => None,
        })
        .collect()
}

fn policy() -> Policy {
    Policy::new(Notifications::default())
}

#[test]
fn a_crash_shows_once_and_recovery_withdraws_it() {
    let mut p = policy();
    let t = Instant::now();
    assert!(p.on_event(&health(BuilderState::Ready, None), t).is_empty());
    let a = p.on_event(&health(failed(ProblemKind::StoppedUnexpectedly), None), t);
    assert_eq!(shows(&a), vec![Kind::StoppedUnexpectedly]);
    // The same state again: nothing.
    let a = p.on_event(&health(failed(ProblemKind::StoppedUnexpectedly), None), t);
    assert!(a.is_empty());
    let a = p.on_event(&health(BuilderState::Ready, None), t);
    assert_eq!(
        a,
        vec![Action::Withdraw {
            kind: Kind::StoppedUnexpectedly,
            id: "stopped-unexpectedly".into()
        }]
    );
}

#[test]
fn a_requested_stop_is_silent() {
    let mut p = policy();
    let t = Instant::now();
    p.on_event(&health(BuilderState::Ready, None), t);
    assert!(
        p.on_event(&health(BuilderState::Stopping, None), t)
            .is_empty()
    );
    assert!(
        p.on_event(&health(BuilderState::Stopped, None), t)
            .is_empty()
    );
}

#[test]
fn sleeping_is_silent_and_a_failed_wake_stays_shown_until_ready() {
    let mut p = policy();
    let t = Instant::now();
    p.on_event(&health(BuilderState::Ready, None), t);
    for state in [
        BuilderState::Stopping,
        BuilderState::Sleeping,
        BuilderState::Starting,
        BuilderState::Ready,
        BuilderState::Sleeping,
    ] {
        assert!(p.on_event(&health(state, None), t).is_empty());
    }
    let a = p.on_event(&health(failed(ProblemKind::StoppedUnexpectedly), None), t);
    assert_eq!(shows(&a), vec![Kind::StoppedUnexpectedly]);
    // launchd starts the supervisor again, which sleeps: still shown.
    assert!(
        p.on_event(&health(BuilderState::Sleeping, None), t)
            .is_empty()
    );
    let a = p.on_event(&health(BuilderState::Ready, None), t);
    assert_eq!(a.len(), 1, "withdrawn once the builder answers: {a:?}");
}

#[test]
fn twenty_failures_in_ten_minutes_make_one_notification() {
    let mut p = policy();
    let start = Instant::now();
    let mut count = 0;
    for i in 0..20u64 {
        let t = start + Duration::from_secs(i * 25);
        p.on_event(&health(BuilderState::Ready, None), t);
        count +=
            shows(&p.on_event(&health(failed(ProblemKind::StoppedUnexpectedly), None), t)).len();
    }
    assert_eq!(count, 1);
    // After the window a new failure shows again.
    let t = start + RATE_WINDOW + Duration::from_secs(600);
    p.on_event(&health(BuilderState::Ready, None), t);
    let a = p.on_event(&health(failed(ProblemKind::StoppedUnexpectedly), None), t);
    assert_eq!(shows(&a), vec![Kind::StoppedUnexpectedly]);
}

#[test]
fn kinds_are_limited_separately_and_a_new_one_supersedes() {
    let mut p = policy();
    let t = Instant::now();
    p.on_event(&health(failed(ProblemKind::StoppedUnexpectedly), None), t);
    let a = p.on_event(&health(failed(ProblemKind::CrashLoop), None), t);
    assert_eq!(
        a[0],
        Action::Withdraw {
            kind: Kind::StoppedUnexpectedly,
            id: "stopped-unexpectedly".into()
        }
    );
    assert_eq!(shows(&a), vec![Kind::CrashLoop]);
}

#[test]
fn disk_low_has_hysteresis() {
    let mut p = policy(); // threshold 85
    let t = Instant::now();
    let ready = |d| health(BuilderState::Ready, Some(d));
    assert!(shows(&p.on_event(&ready(50), t)).is_empty());
    assert_eq!(shows(&p.on_event(&ready(86), t)), vec![Kind::DiskLow]);
    assert!(p.on_event(&ready(90), t).is_empty());
    // Hovering around the threshold does not re-arm.
    assert!(p.on_event(&ready(83), t).is_empty());
    assert!(p.on_event(&ready(86), t).is_empty());
    // Freed well below: withdrawn and re-armed, but still rate limited.
    let a = p.on_event(&ready(70), t);
    assert!(matches!(
        a[..],
        [Action::Withdraw {
            kind: Kind::DiskLow,
            ..
        }]
    ));
    assert!(shows(&p.on_event(&ready(90), t + Duration::from_secs(60))).is_empty());
    let later = t + RATE_WINDOW + Duration::from_secs(1);
    p.on_event(&ready(10), later);
    assert_eq!(shows(&p.on_event(&ready(95), later)), vec![Kind::DiskLow]);
}

#[test]
fn settings_turn_kinds_off_but_never_the_security_warning() {
    let mut p = Policy::new(Notifications {
        vm_failures: false,
        ..Notifications::default()
    });
    let t = Instant::now();
    assert!(
        p.on_event(&health(failed(ProblemKind::StoppedUnexpectedly), None), t)
            .is_empty()
    );
    let a = p.on_event(&health(failed(ProblemKind::HostKeyMismatch), None), t);
    assert_eq!(shows(&a), vec![Kind::HostKeyMismatch]);
    match &a[0] {
        Action::Show { title, .. } => assert!(title.starts_with("Security warning")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn builds_fail_by_name_and_successes_only_when_asked() {
    let mut p = policy();
    let t = Instant::now();
    let report = |name: &str, outcome| {
        Event::Build(BuildReport {
            name: name.into(),
            drv_path: format!("/nix/store/x-{name}.drv").into(),
            system: "x86_64-linux".into(),
            log_path: "/x".into(),
            outcome,
        })
    };
    let failed = |name| {
        report(
            name,
            BuildOutcome::Failed {
                last_lines: vec!["error: boom".into()],
            },
        )
    };
    let a = p.on_event(&failed("hello"), t);
    match &a[..] {
        [Action::Show { title, body, .. }] => {
            assert!(title.contains("hello"));
            assert!(body.contains("error: boom"));
        }
        other => panic!("{other:?}"),
    }
    assert!(p.on_event(&failed("hello"), t).is_empty());
    assert_eq!(
        shows(&p.on_event(&failed("other"), t)),
        vec![Kind::BuildFailed]
    );
    assert!(
        p.on_event(&report("ok", BuildOutcome::Succeeded), t)
            .is_empty()
    );
    p.set_settings(Notifications {
        build_successes: true,
        ..Notifications::default()
    });
    assert_eq!(
        shows(&p.on_event(&report("ok", BuildOutcome::Succeeded), t)),
        vec![Kind::BuildSucceeded]
    );
}

#[test]
fn a_runner_switch_raises_no_notification_of_the_builder_s_own() {
    let mut policy = Policy::new(Notifications::default());
    let now = Instant::now();
    let switching = |state| {
        Event::Health(Health {
            state,
            disk_used_percent: None,
            switching: Some(2),
        })
    };
    policy.on_event(&health(BuilderState::Ready, None), now);
    assert!(
        policy
            .on_event(&switching(BuilderState::Stopped), now)
            .is_empty()
    );
    assert!(
        policy
            .on_event(&switching(failed(ProblemKind::FailedToStart)), now)
            .is_empty(),
        "the new generation's failure is the switch's to tell"
    );
    assert!(
        policy
            .on_event(&switching(failed(ProblemKind::CrashLoop)), now)
            .is_empty()
    );
    // After it, what is left is judged afresh: a failure it left shows.
    let after = policy.on_event(&health(failed(ProblemKind::FailedToStart), None), now);
    assert!(
        matches!(
            &after[..],
            [Action::Show {
                kind: Kind::FailedToStart,
                ..
            }]
        ),
        "{after:?}"
    );
}

#[test]
fn a_failed_switch_says_which_generation_why_and_where_the_builder_is() {
    let (title, body) = switch_failed_text(3, "QEMU exited with code 1", Some(2), true);
    assert_eq!(title, "New builder generation failed");
    assert!(
        body.starts_with("Generation 3: QEMU exited with code 1."),
        "{body}"
    );
    assert!(body.contains("back on generation 2 and Ready"), "{body}");
    let (_, body) = switch_failed_text(3, "x", Some(2), false);
    assert!(body.contains("failed too"), "{body}");
    let (_, body) = switch_failed_text(3, "x", None, false);
    assert!(body.contains("no generation to go back to"), "{body}");
}
