//! The setup flow: from nothing to a working builder, the same core steps
//! for `builderbar setup` and the app's first-run window.
//!
//! [`check`] looks at what is there (Nix, the OS, free disk, another builder
//! on our alias or port, what BuilderBar already set up); [`plan`] says in
//! one screen what will happen; [`run`] does it — key, runner, the wiring in
//! one admin prompt, the service, Ready, a test build — reporting typed
//! [`Event`]s to a callback.
//!
//! **Failure policy: roll back what touches the system, keep what is
//! cached.** A failed run undoes what *this run* did to the machine (the
//! Nix wiring it applied, the service it installed or started, the VM disk
//! it created) and keeps BuilderBar's own reusable products (the builder
//! key, the built runner or dev VM). So nothing is left half-installed, and
//! running setup again is safe: every step first looks whether its work is
//! already done and then only verifies it.

mod check;
mod check_builders;
mod host;
mod plan;
mod run;
mod undo;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use check::{
    CheckItem, CheckReport, CheckStatus, DiskSpace, Installed, NixFound, OsInfo, check,
};
pub use plan::{PlannedPath, SetupPlan, plan};
pub use run::{SetupDone, run};

/// Names a folder every system path is taken relative to (Linux
/// development: the app and `make run` never touch the real /etc).
pub const SYSROOT_ENV: &str = "BUILDERBAR_SYSROOT";

/// `BUILDERBAR_SYSROOT`, when set and not empty.
pub fn sysroot_from_env() -> Option<PathBuf> {
    std::env::var_os(SYSROOT_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// What `run` is asked to do.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    /// Every system path under this folder; the service is still installed
    /// and started, so the VM really runs.
    pub sysroot: Option<PathBuf>,
    /// How long the builder may take to become Ready.
    pub ready_timeout: Duration,
}

/// The first boot of nixpkgs' builder under hvf takes well under a minute;
/// the dev VM under TCG about ten seconds. Five minutes is "it will not".
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(300);

impl Default for SetupOptions {
    fn default() -> Self {
        SetupOptions {
            sysroot: sysroot_from_env(),
            ready_timeout: DEFAULT_READY_TIMEOUT,
        }
    }
}

/// The steps of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepId {
    Check,
    Key,
    Runner,
    Apply,
    Service,
    Ready,
    TestBuild,
}

impl StepId {
    pub const ALL: [StepId; 7] = [
        StepId::Check,
        StepId::Key,
        StepId::Runner,
        StepId::Apply,
        StepId::Service,
        StepId::Ready,
        StepId::TestBuild,
    ];

    /// The step as the user reads it.
    pub fn title(self) -> &'static str {
        match self {
            StepId::Check => "Check this Mac",
            StepId::Key => "Make the builder key",
            StepId::Runner => "Get the builder",
            StepId::Apply => "Wire Nix to the builder (administrator password)",
            StepId::Service => "Install and start the builder",
            StepId::Ready => "Wait until the builder is Ready",
            StepId::TestBuild => "Run a test build",
        }
    }
}

/// What happened, as it happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    StepStarted {
        step: StepId,
    },
    /// `skipped`: it was already done (a rerun); `detail` says what was found.
    StepDone {
        step: StepId,
        detail: String,
        skipped: bool,
    },
    /// The runner's download.
    Download {
        done: u64,
        total: u64,
    },
    /// The builder's observed state while we wait for Ready.
    Waiting {
        state: String,
        elapsed_secs: u64,
        timeout_secs: u64,
    },
    /// Undoing what this run did, after a failure.
    RollingBack {
        what: String,
    },
}

/// Why setup stopped: what went wrong, the fix, the doctor check that
/// looks at the same thing, and what was undone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct SetupFailure {
    pub step: StepId,
    pub message: String,
    pub fix: String,
    /// The `builderbar doctor` check for the same thing, when there is one.
    pub doctor_check: Option<&'static str>,
    /// What this run had done and undid.
    pub rolled_back: Vec<String>,
    /// What could not be undone, each with how to undo it by hand.
    pub left_behind: Vec<String>,
}

impl SetupFailure {
    pub(crate) fn new(step: StepId, message: impl Into<String>, fix: impl Into<String>) -> Self {
        SetupFailure {
            step,
            message: message.into(),
            fix: fix.into(),
            doctor_check: None,
            rolled_back: Vec::new(),
            left_behind: Vec::new(),
        }
    }

    pub(crate) fn doctor(mut self, check: &'static str) -> Self {
        self.doctor_check = Some(check);
        self
    }

    /// The failure as lines for a terminal.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "Setup stopped at \"{}\": {}\n  fix: {}\n",
            self.step.title(),
            self.message,
            self.fix
        );
        if let Some(check) = &self.doctor_check {
            out.push_str(&format!(
                "  `builderbar doctor` shows this as the check \"{check}\".\n"
            ));
        }
        for undone in &self.rolled_back {
            out.push_str(&format!("  undone: {undone}\n"));
        }
        for left in &self.left_behind {
            out.push_str(&format!("  NOT undone: {left}\n"));
        }
        if self.left_behind.is_empty() {
            out.push_str("  Nothing is left half-installed; running setup again is safe.\n");
        }
        out
    }
}

/// The headline of a successful setup.
pub const SUCCESS: &str = "Your Mac can now build Linux packages";

/// Set up: Nix is wired (its manifest exists) and the service is installed.
/// Cheap (two file lookups), for the app's start.
pub fn is_set_up(paths: &crate::paths::Paths) -> bool {
    let wired = crate::nix::apply::Manifest::load(&crate::nix::install::state_dir(paths))
        .is_ok_and(|m| m.is_some());
    wired
        && crate::service::Service::for_platform(paths)
            .info()
            .is_ok_and(|info| info.installed)
}

/// Takes `<root>/setup.lock`, or says that another setup runs.
pub(crate) fn lock(paths: &crate::paths::Paths) -> Result<std::fs::File, SetupFailure> {
    let path = paths.root().join("setup.lock");
    let fail = |message: String| {
        SetupFailure::new(
            StepId::Check,
            message,
            "wait for the other setup (the app's setup window or `builderbar setup`) to finish",
        )
    };
    std::fs::create_dir_all(paths.root())
        .map_err(|e| fail(format!("cannot create {}: {e}", paths.root().display())))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| fail(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(fail("another setup is already running".into()))
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(fail(format!("cannot lock {}: {e}", path.display())))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_second_setup_is_refused_while_one_runs() {
        let dir = tempfile::tempdir().unwrap();
        let paths = crate::paths::Paths::with_root(dir.path());
        let held = lock(&paths).unwrap();
        let refused = lock(&paths).unwrap_err();
        assert_eq!(refused.step, StepId::Check);
        assert!(refused.message.contains("another setup"), "{refused:?}");
        drop(held);
        assert!(lock(&paths).is_ok());
    }
}
