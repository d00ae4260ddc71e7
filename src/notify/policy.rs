//! When to tell the user, as a pure state machine: events in, actions out,
//! the clock passed in. Failures only; never for a stop the user asked for;
//! at most one notification per kind (per derivation for builds) every ten
//! minutes; withdrawn when the state recovers; the disk warning re-arms only
//! once use dropped well below the threshold.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::builds::{BuildOutcome, BuildReport};
use crate::health::{BuilderState, Health, ProblemKind};
use crate::settings::Notifications;

/// At most one notification of a kind in this window.
pub const RATE_WINDOW: Duration = Duration::from_secs(10 * 60);
/// The disk warning re-arms once use is this many points below the threshold.
pub const DISK_HYSTERESIS: u8 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    FailedToStart,
    StoppedUnexpectedly,
    CrashLoop,
    Unreachable,
    DiskLow,
    HostKeyMismatch,
    BuildFailed,
    BuildSucceeded,
}

impl Kind {
    /// The stable word (`stopped-unexpectedly`…), used in notification ids.
    pub fn word(self) -> &'static str {
        match self {
            Kind::FailedToStart => "failed-to-start",
            Kind::StoppedUnexpectedly => "stopped-unexpectedly",
            Kind::CrashLoop => "crash-loop",
            Kind::Unreachable => "unreachable",
            Kind::DiskLow => "disk-low",
            Kind::HostKeyMismatch => "host-key-mismatch",
            Kind::BuildFailed => "build-failed",
            Kind::BuildSucceeded => "build-succeeded",
        }
    }

    fn from_problem(kind: ProblemKind) -> Kind {
        match kind {
            ProblemKind::FailedToStart => Kind::FailedToStart,
            ProblemKind::StoppedUnexpectedly => Kind::StoppedUnexpectedly,
            ProblemKind::CrashLoop => Kind::CrashLoop,
            ProblemKind::Unreachable | ProblemKind::StoreUnavailable => Kind::Unreachable,
            ProblemKind::HostKeyMismatch => Kind::HostKeyMismatch,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    Health(Health),
    Build(BuildReport),
}

/// What the backend should do. `id` names the notification: showing the
/// same id again replaces it; withdrawing closes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Show {
        kind: Kind,
        id: String,
        title: String,
        body: String,
    },
    Withdraw {
        kind: Kind,
        id: String,
    },
}

pub struct Policy {
    settings: Notifications,
    previous: Option<BuilderState>,
    /// When each rate key last showed.
    last_shown: BTreeMap<String, Instant>,
    /// Notifications on screen that a recovery withdraws.
    active: BTreeSet<(Kind, String)>,
    disk_armed: bool,
}

impl Policy {
    pub fn new(settings: Notifications) -> Policy {
        Policy {
            settings,
            previous: None,
            last_shown: BTreeMap::new(),
            active: BTreeSet::new(),
            disk_armed: true,
        }
    }

    /// New choices from the settings; the history is kept.
    pub fn set_settings(&mut self, settings: Notifications) {
        self.settings = settings;
    }

    pub fn on_event(&mut self, event: &Event, now: Instant) -> Vec<Action> {
        match event {
            Event::Health(health) => self.on_health(health, now),
            Event::Build(report) => self.on_build(report, now),
        }
    }

    fn on_health(&mut self, health: &Health, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let state = &health.state;
        let was = self.previous.replace(state.clone());
        let problem_before = was
            .as_ref()
            .and_then(|s| s.problem())
            .map(|p| Kind::from_problem(p.kind));
        match state {
            // Recovered, or the user stopped it: nothing is wrong any more.
            BuilderState::Ready | BuilderState::Stopped => {
                self.withdraw_vm(&mut actions);
            }
            BuilderState::Degraded(problem) | BuilderState::Failed(problem) => {
                let kind = Kind::from_problem(problem.kind);
                if problem_before != Some(kind) {
                    // A new failure supersedes the one on screen.
                    self.withdraw_vm(&mut actions);
                    if self.settings.vm_failures || kind == Kind::HostKeyMismatch {
                        let (title, body) = vm_text(kind, &problem.detail);
                        self.show(&mut actions, kind, kind.word().into(), title, body, now);
                    }
                }
            }
            // Asleep (on-demand) says nothing, and takes back nothing: a
            // wake that failed stays on screen until the builder is Ready.
            BuilderState::Sleeping | BuilderState::Starting | BuilderState::Stopping => {}
        }
        self.on_disk(health.disk_used_percent, &mut actions, now);
        actions
    }

    fn on_disk(&mut self, used: Option<u8>, actions: &mut Vec<Action>, now: Instant) {
        let Some(used) = used else { return };
        let threshold = self.settings.disk_low_percent;
        if self.disk_armed && used >= threshold {
            self.disk_armed = false;
            self.show(
                actions,
                Kind::DiskLow,
                Kind::DiskLow.word().into(),
                "Builder disk almost full".into(),
                format!(
                    "The builder's disk is {used}% full (warning at {threshold}%). Builds will fail when it is full: run `nix-collect-garbage` on the builder or give it a larger disk in Settings."
                ),
                now,
            );
        } else if !self.disk_armed && used.saturating_add(DISK_HYSTERESIS) <= threshold {
            self.disk_armed = true;
            self.withdraw(actions, Kind::DiskLow, Kind::DiskLow.word().into());
        }
    }

    fn on_build(&mut self, report: &BuildReport, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        match &report.outcome {
            BuildOutcome::Failed { last_lines } if self.settings.build_failures => {
                let last = last_lines.last().map(String::as_str).unwrap_or("");
                let body = if last.is_empty() {
                    format!("See `builderbar logs --build {}`.", report.name)
                } else {
                    format!("{last}\nSee `builderbar logs --build {}`.", report.name)
                };
                self.show(
                    &mut actions,
                    Kind::BuildFailed,
                    format!("build-failed:{}", report.name),
                    format!("Build failed on the builder: {}", report.name),
                    body,
                    now,
                );
            }
            BuildOutcome::Succeeded if self.settings.build_successes => {
                self.show(
                    &mut actions,
                    Kind::BuildSucceeded,
                    format!("build-succeeded:{}", report.name),
                    format!("Built on the builder: {}", report.name),
                    format!("{} built on the builder.", report.name),
                    now,
                );
            }
            _ => {}
        }
        actions
    }

    fn show(
        &mut self,
        actions: &mut Vec<Action>,
        kind: Kind,
        id: String,
        title: String,
        body: String,
        now: Instant,
    ) {
        if let Some(last) = self.last_shown.get(&id)
            && now.saturating_duration_since(*last) < RATE_WINDOW
        {
            return;
        }
        self.last_shown.insert(id.clone(), now);
        if matches!(kind, Kind::BuildFailed | Kind::BuildSucceeded) {
            // Build notifications stay until dismissed; nothing withdraws them.
        } else {
            self.active.insert((kind, id.clone()));
        }
        actions.push(Action::Show {
            kind,
            id,
            title,
            body,
        });
    }

    fn withdraw(&mut self, actions: &mut Vec<Action>, kind: Kind, id: String) {
        if self.active.remove(&(kind, id.clone())) {
            actions.push(Action::Withdraw { kind, id });
        }
    }

    fn withdraw_vm(&mut self, actions: &mut Vec<Action>) {
        let vm: Vec<(Kind, String)> = self
            .active
            .iter()
            .filter(|(kind, _)| *kind != Kind::DiskLow)
            .cloned()
            .collect();
        for (kind, id) in vm {
            self.withdraw(actions, kind, id);
        }
    }
}

fn vm_text(kind: Kind, detail: &str) -> (String, String) {
    let (title, advice) = match kind {
        Kind::FailedToStart => (
            "Builder failed to start",
            "See `builderbar logs`; `builderbar start` tries again.",
        ),
        Kind::StoppedUnexpectedly => (
            "Builder stopped unexpectedly",
            "Builds sent to it will fail until it runs again. See `builderbar logs`.",
        ),
        Kind::CrashLoop => (
            "Builder keeps crashing",
            "It failed several times in a row as it started. See `builderbar logs`.",
        ),
        Kind::Unreachable => (
            "Builder unreachable",
            "The VM runs but does not answer. `builderbar restart` usually helps.",
        ),
        Kind::HostKeyMismatch => (
            "Security warning: builder host key changed",
            "BuilderBar did not connect. If you did not recreate the builder, do not use it and check what listens on its port.",
        ),
        _ => ("Builder problem", ""),
    };
    (title.to_owned(), format!("{detail}. {advice}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{Problem, ProblemKind};

    fn health(state: BuilderState, disk: Option<u8>) -> Event {
        Event::Health(Health {
            state,
            disk_used_percent: disk,
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
            count += shows(&p.on_event(&health(failed(ProblemKind::StoppedUnexpectedly), None), t))
                .len();
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
}
