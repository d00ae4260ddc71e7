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
    /// A runner switch failed and the builder went back.
    SwitchFailed,
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
            Kind::SwitchFailed => "switch-failed",
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
        if health.switching.is_some() {
            // A runner switch stops and starts the builder, and a new
            // generation may fail: the switch tells the outcome once. What
            // it leaves is judged afresh when it ends.
            self.previous = Some(BuilderState::Starting);
            return actions;
        }
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

/// The one notification of a runner switch that failed: generation
/// `number` failed for `reason`; the builder went back to `back_to`, Ready
/// again or (`ready_again` false) not.
pub fn switch_failed_text(
    number: u32,
    reason: &str,
    back_to: Option<u32>,
    ready_again: bool,
) -> (String, String) {
    let outcome = match (back_to, ready_again) {
        (Some(back), true) => format!("The builder is back on generation {back} and Ready."),
        (Some(back), false) => {
            format!("Going back to generation {back} failed too: see `builderbar logs`.")
        }
        (None, _) => "There was no generation to go back to: see `builderbar logs`.".into(),
    };
    (
        "New builder generation failed".into(),
        format!("Generation {number}: {reason}. {outcome} `builderbar runner list` shows why."),
    )
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
#[path = "policy_tests.rs"]
mod tests;
