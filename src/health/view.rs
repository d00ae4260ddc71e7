//! The one state every front door shows — the tray, the window,
//! `builderbar status` and `status --watch` — decided here and nowhere else.
//!
//! While the VM runs, what it *is* comes from a health monitor (SSH with
//! the pinned host key, the store): the app's own, or the one whose word
//! [`super::published`] keeps for processes that run none. Without one, the
//! state is the service's view, `Running`, and says it was not checked.
//! When the VM does not run, the core's rule (`state::derive`) decides:
//! a failure the user then stopped is `Stopped`, not `Failed`.

use std::time::Duration;

use serde::Serialize;

use super::state::{self, BuilderState, Health, Inputs, ProbeView, Problem};
use crate::vm::VmState;
use crate::vm::status::{StatusFile, StatusReport};

/// The builder's state in one word. The app's window gets it as a
/// TypeScript union (ts-rs, with the `ts` feature the app turns on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(export_to = "../../ui/src/bindings/"))]
#[serde(rename_all = "kebab-case")]
pub enum StateWord {
    Stopped,
    /// On-demand: the VM is off, its port held; a build starts it.
    Sleeping,
    Starting,
    /// The VM runs; no health monitor has checked it.
    Running,
    /// SSH answered with the pinned host key and the store answered.
    Ready,
    /// The VM runs but does not serve builds.
    Degraded,
    /// Not running and should be, or must not be used.
    Failed,
    Stopping,
}

impl StateWord {
    /// The word for a badge: "Ready", "Running", "Stopped"…
    pub fn label(self) -> &'static str {
        match self {
            StateWord::Stopped => "Stopped",
            StateWord::Sleeping => "Sleeping",
            StateWord::Starting => "Starting",
            StateWord::Running => "Running",
            StateWord::Ready => "Ready",
            StateWord::Degraded => "Degraded",
            StateWord::Failed => "Failed",
            StateWord::Stopping => "Stopping",
        }
    }

    /// The builder is on (running, on its way up, or asleep with its port
    /// held): the menu offers Stop and Restart.
    pub fn is_up(self) -> bool {
        matches!(
            self,
            StateWord::Running
                | StateWord::Sleeping
                | StateWord::Starting
                | StateWord::Ready
                | StateWord::Degraded
        )
    }

    /// Start/Stop can be pressed (not while a stop is under way).
    pub fn can_toggle(self) -> bool {
        self != StateWord::Stopping
    }

    /// The tray icon: `ready`, `sleeping`, `starting`, `degraded`, `failed`
    /// or `stopped` (icons/tray/<name>.png). Running but not yet seen to
    /// answer, and stopping, show as starting.
    pub fn icon(self) -> &'static str {
        match self {
            StateWord::Ready => "ready",
            StateWord::Sleeping => "sleeping",
            StateWord::Degraded => "degraded",
            StateWord::Running | StateWord::Starting | StateWord::Stopping => "starting",
            StateWord::Failed => "failed",
            StateWord::Stopped => "stopped",
        }
    }
}

/// What the front doors show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuilderView {
    pub state: StateWord,
    /// One line: "Ready — 4 cores, 8 GiB, disk 31% used".
    pub summary: String,
    /// What is wrong, when degraded or failed.
    pub problem: Option<Problem>,
    /// A health monitor observed it (not only the service's view).
    pub observed: bool,
    /// `/nix/store`'s use in the guest, in percent, while it answers.
    pub disk_used_percent: Option<u8>,
}

/// The builder's size, for the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    pub cores: u32,
    pub memory_mib: u64,
}

impl Resources {
    pub fn from_settings(settings: &crate::settings::Settings) -> Resources {
        Resources {
            cores: settings.cores,
            memory_mib: settings.memory_mib,
        }
    }

    fn words(self) -> String {
        format!(
            "{} {}, {}",
            self.cores,
            if self.cores == 1 { "core" } else { "cores" },
            crate::settings::model::human_mib(self.memory_mib)
        )
    }
}

/// What the rule sees.
#[derive(Debug, Clone, Copy)]
pub struct ViewInputs<'a> {
    pub report: &'a StatusReport,
    pub file: Option<&'a StatusFile>,
    pub stopped_by_user: bool,
    /// A monitor's word for this run of the VM, if one runs.
    pub health: Option<&'a Health>,
    pub resources: Option<Resources>,
    /// A runner switch is trying this generation (`generations::switch`).
    pub switching: Option<u32>,
}

/// The state, from what was observed. Pure.
pub fn view(inputs: ViewInputs<'_>) -> BuilderView {
    if let Some(number) = inputs.switching {
        // The switch stops and starts the builder and judges the new
        // generation itself: its steps are neither Stopped nor Failed.
        return BuilderView {
            state: StateWord::Starting,
            summary: format!("Switching to runner generation {number}…"),
            problem: None,
            observed: false,
            disk_used_percent: None,
        };
    }
    let running = inputs.report.state == VmState::Running;
    let observed = match inputs.health {
        Some(health)
            if running
                && !matches!(health.state, BuilderState::Stopped | BuilderState::Stopping) =>
        {
            Some(health)
        }
        _ => None,
    };
    let state = match observed {
        Some(health) => health.state.clone(),
        None if running => return unobserved(inputs),
        None => state::derive(&Inputs {
            report: inputs.report,
            file: inputs.file,
            stopped_by_user: inputs.stopped_by_user,
            probe: &ProbeView::default(),
            running_for: None,
            boot_timeout: Duration::ZERO,
            previous: &BuilderState::Stopped,
        }),
    };
    let disk = observed.and_then(|h| h.disk_used_percent);
    let resources = inputs.resources.map(Resources::words).unwrap_or_default();
    let (word, summary) = match &state {
        BuilderState::Stopped => (StateWord::Stopped, "Stopped".to_string()),
        BuilderState::Sleeping => (
            StateWord::Sleeping,
            "Sleeping — starts when a build needs it".to_string(),
        ),
        BuilderState::Starting => (StateWord::Starting, "Starting…".to_string()),
        BuilderState::Stopping => (StateWord::Stopping, "Stopping…".to_string()),
        BuilderState::Ready => (
            StateWord::Ready,
            format!(
                "Ready — {resources}{}",
                disk.map(|d| format!(", disk {d}% used"))
                    .unwrap_or_default()
            ),
        ),
        BuilderState::Degraded(p) => (StateWord::Degraded, format!("Degraded — {}", p.detail)),
        BuilderState::Failed(p) if p.kind == super::ProblemKind::CrashLoop => {
            (StateWord::Failed, "Failed — keeps crashing".to_string())
        }
        BuilderState::Failed(p) => (StateWord::Failed, format!("Failed — {}", p.detail)),
    };
    BuilderView {
        state: word,
        summary,
        problem: state.problem().cloned(),
        observed: observed.is_some(),
        disk_used_percent: disk,
    }
}

fn unobserved(inputs: ViewInputs<'_>) -> BuilderView {
    let resources = inputs
        .resources
        .map(|r| format!(" — {}", r.words()))
        .unwrap_or_default();
    BuilderView {
        state: StateWord::Running,
        summary: format!("Running{resources} (not checked: no health monitor runs)"),
        problem: None,
        observed: false,
        disk_used_percent: None,
    }
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
