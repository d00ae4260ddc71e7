//! The setup run: key → runner → apply (one admin prompt) → service →
//! Ready → test build. Each step first looks whether its work is already
//! done (a rerun only verifies); on a failure, what this run did to the
//! machine is undone (see the module's failure policy).

use std::path::PathBuf;

use serde::Serialize;

use super::undo::Done;
use super::{Event, SUCCESS, SetupFailure, SetupOptions, StepId, check};
use crate::health::{self, ProbeChoices};
use crate::hint::Hint;
use crate::keys::Keys;
use crate::nix::NixError;
use crate::nix::apply::Manifest;
use crate::nix::install::{self, InstallError, InstallOptions, Step};
use crate::nix::plan::Layout;
use crate::paths::Paths;
use crate::service::Service;
use crate::settings::{Settings, SettingsStore};

/// What a step reports: what it found or did, whether it was already
/// done, and its value.
type StepResult<T> = Result<(String, bool, T), SetupFailure>;

/// How a successful setup ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetupDone {
    /// "Your Mac can now build Linux packages".
    pub headline: String,
    /// A command to try it.
    pub try_command: String,
    /// The test build's output path and system.
    pub test_output: Option<PathBuf>,
    pub test_system: Option<String>,
    /// Steps that were already done (a rerun).
    pub skipped: Vec<StepId>,
}

struct Run<'a> {
    paths: &'a Paths,
    options: &'a SetupOptions,
    sysroot: Option<PathBuf>,
    settings: Settings,
    on: &'a mut dyn FnMut(Event),
    done: Done,
    skipped: Vec<StepId>,
}

/// Sets up the builder, reporting each step to `on`. On failure, what this
/// run did is undone and the failure says what was.
pub fn run(
    paths: &Paths,
    options: &SetupOptions,
    on: &mut dyn FnMut(Event),
) -> Result<SetupDone, SetupFailure> {
    let sysroot = match &options.sysroot {
        Some(dir) if dir.is_dir() => Some(std::path::absolute(dir).map_err(|e| {
            SetupFailure::new(
                StepId::Check,
                format!("cannot use the sysroot: {e}"),
                "give an existing folder",
            )
        })?),
        Some(dir) => {
            return Err(SetupFailure::new(
                StepId::Check,
                format!("the sysroot {} is not a folder", dir.display()),
                "create it, or leave --sysroot / BUILDERBAR_SYSROOT unset",
            ));
        }
        None => None,
    };
    // One setup at a time (the app's window and the CLI): held to the end.
    let _lock = super::lock(paths)?;
    let settings = SettingsStore::open(paths)
        .and_then(|s| s.load())
        .map_err(|e| {
            SetupFailure::new(
                StepId::Check,
                e.to_string(),
                e.hint()
                    .unwrap_or_else(|| "fix the settings file, or move it aside".into()),
            )
        })?
        .settings;
    let mut run = Run {
        paths,
        options,
        sysroot,
        settings,
        on,
        done: Done::default(),
        skipped: Vec::new(),
    };
    let result = run.steps();
    match result {
        Ok(done) => Ok(done),
        Err(mut failure) => {
            let (undone, left) =
                super::undo::roll_back(paths, run.sysroot.as_deref(), &run.done, run.on);
            failure.rolled_back = undone;
            failure.left_behind = left;
            Err(failure)
        }
    }
}

impl Run<'_> {
    fn step<T>(
        &mut self,
        step: StepId,
        work: impl FnOnce(&mut Self) -> StepResult<T>,
    ) -> Result<T, SetupFailure> {
        (self.on)(Event::StepStarted { step });
        let (detail, skipped, value) = work(self)?;
        if skipped {
            self.skipped.push(step);
        }
        (self.on)(Event::StepDone {
            step,
            detail,
            skipped,
        });
        Ok(value)
    }

    fn steps(&mut self) -> Result<SetupDone, SetupFailure> {
        let found = self.step(StepId::Check, |r| {
            let found = check(r.paths, r.sysroot.as_deref()).map_err(|e| {
                SetupFailure::new(StepId::Check, e.to_string(), e.hint().unwrap_or_default())
            })?;
            if let Some(blocker) = found.blocker() {
                let mut failure = SetupFailure::new(
                    StepId::Check,
                    blocker.detail.clone(),
                    blocker.fix.clone().unwrap_or_default(),
                );
                failure.doctor_check = blocker.doctor_check;
                return Err(failure);
            }
            Ok(("nothing stands in the way".into(), false, found))
        })?;
        self.done.disk_created = !crate::vm::config::vm_paths(self.paths).disk.exists();
        self.done.sysroot_nix_created = self
            .sysroot
            .as_ref()
            .is_some_and(|root| !root.join("nix").exists());
        self.step(StepId::Key, |r| r.key())?;
        self.step(StepId::Runner, |r| r.runner())?;
        self.step(StepId::Apply, |r| r.apply(found.installed.wiring))?;
        self.step(StepId::Service, |r| r.service())?;
        self.step(StepId::Ready, |r| r.ready())?;
        let report = self.step(StepId::TestBuild, |r| r.test_build())?;
        Ok(SetupDone {
            headline: SUCCESS.into(),
            try_command: super::plan::try_command(&self.settings, self.sysroot.as_deref()),
            test_output: report.as_ref().map(|r| r.0.clone()),
            test_system: report.map(|r| r.1),
            skipped: self.skipped.clone(),
        })
    }

    fn key(&mut self) -> StepResult<()> {
        let fail = |e: crate::keys::KeysError| {
            SetupFailure::new(
                StepId::Key,
                e.to_string(),
                e.hint().unwrap_or_else(|| {
                    "check that the keychain is unlocked, then run setup again".into()
                }),
            )
        };
        let store = SettingsStore::open(self.paths).map_err(|e| fail(e.into()))?;
        let keys = Keys::with_platform_keychain(store);
        if let Some(key) = keys.builder_public_cached().map_err(fail)? {
            return Ok((
                format!("the builder key is there ({})", key.fingerprint),
                true,
                (),
            ));
        }
        let key = keys.builder_public().map_err(fail)?;
        Ok((
            format!("made the builder key ({})", key.fingerprint),
            false,
            (),
        ))
    }

    fn runner(&mut self) -> StepResult<()> {
        let fail = |message: String, fix: &str| SetupFailure::new(StepId::Runner, message, fix);
        if let Some(path) =
            std::env::var_os(crate::vm::config::RUNNER_ENV).filter(|p| !p.is_empty())
        {
            let path = PathBuf::from(path);
            crate::vm::preflight::runner_is_executable(&path, "unset BUILDERBAR_RUNNER").map_err(
                |e| {
                    fail(
                        e.to_string(),
                        "point BUILDERBAR_RUNNER at an executable runner, or unset it",
                    )
                },
            )?;
        }
        if cfg!(target_os = "macos") {
            let inputs = crate::nix::expr::RunnerInputs::from_settings(&self.settings)
                .map_err(|e| fail(e.to_string(), &e.hint().unwrap_or_default()))?;
            let on = &mut *self.on;
            let runner = crate::nix::runner_build::ensure_runner(self.paths, &inputs, &mut |p| {
                on(Event::Download {
                    done: p.done,
                    total: p.expected,
                })
            })
            .map_err(|e| {
                fail(
                    format!("the builder could not be downloaded and built: {e}"),
                    "check the network connection, then run setup again; `builderbar logs` has the build's output",
                )
            })?;
            let detail = format!("the builder is at {}", runner.script.display());
            return Ok((detail, !runner.built, ()));
        }
        crate::nix::builder_host_key().map_err(|e| {
            fail(
                e.to_string(),
                "`builderbar dev-runner` builds the dev VM and shows each step; fix what it reports, then run setup again",
            )
        })?;
        Ok((
            format!(
                "the dev VM is built (cached in {})",
                devvm::default_cache_dir().display()
            ),
            false,
            (),
        ))
    }

    fn apply(&mut self, wired_before: bool) -> StepResult<()> {
        let layout = Layout::new(self.sysroot.clone().unwrap_or_else(|| PathBuf::from("/")));
        if wired_before && wiring_current(self.paths, &layout) {
            return Ok(("Nix is already wired to the builder".into(), true, ()));
        }
        let service_before = service_installed(self.paths);
        // The root step runs the service's copy of `builderbar`: put it in
        // place first (from the app, the running program is not the CLI).
        if !service_before {
            let installed = Service::for_platform(self.paths).install();
            self.done.service_installed = service_installed(self.paths);
            installed.map_err(|e| {
                SetupFailure::new(
                    StepId::Apply,
                    format!("the builder's service could not be installed: {e}"),
                    "`builderbar logs` shows why; fix it, then run setup again",
                )
            })?;
        }
        let options = InstallOptions {
            sysroot: self.sysroot.clone(),
            dry_run: false,
        };
        let on = &mut *self.on;
        let result = install::install(self.paths, &options, &mut |step| {
            if let Step::Downloading { done, expected } = step {
                on(Event::Download {
                    done,
                    total: expected,
                });
            }
        });
        // Whatever happened, a manifest that is new is ours to undo.
        let manifest = Manifest::load(&install::state_dir(self.paths))
            .ok()
            .flatten();
        self.done.wiring = !wired_before && manifest.is_some();
        match result {
            Ok(_) => Ok((
                format!(
                    "Nix's files under {} are wired to the builder",
                    layout.sysroot.display()
                ),
                false,
                (),
            )),
            Err(InstallError::Nix(NixError::Cancelled)) => Err(SetupFailure::new(
                StepId::Apply,
                "the administrator password prompt was cancelled, so Nix's files were not changed",
                "run setup again and enter your password when asked: it is needed once, to change Nix's files",
            )
            .doctor("machines")),
            Err(err) => Err(SetupFailure::new(
                StepId::Apply,
                format!("Nix's files could not be changed: {err}"),
                err.hint().unwrap_or_else(|| {
                    "`builderbar install --dry-run` shows the plan; fix what the error names, then run setup again".into()
                }),
            )
            .doctor("machines")),
        }
    }

    fn service(&mut self) -> StepResult<()> {
        let service = Service::for_platform(self.paths);
        let fail = |e: crate::service::ServiceError| {
            SetupFailure::new(
                StepId::Service,
                format!("the builder's service could not start: {e}"),
                "`builderbar logs` shows why; fix it, then run setup again",
            )
            .doctor("ssh")
        };
        let info = service.info().map_err(fail)?;
        if info.pid.is_some() && !info.stopped_by_user {
            return Ok(("the builder is already running".into(), true, ()));
        }
        if !info.installed {
            service.install().map_err(fail)?;
            self.done.service_installed = true;
        }
        self.done.service_started = true;
        service.start().map_err(fail)?;
        Ok((
            "the builder's service is installed and started".into(),
            false,
            (),
        ))
    }

    fn ready(&mut self) -> StepResult<()> {
        let timeout = self.options.ready_timeout;
        let fail = |message: String| {
            SetupFailure::new(
                StepId::Ready,
                message,
                "`builderbar logs` shows what the builder did; `builderbar doctor` checks each part",
            )
            .doctor("ssh")
        };
        let config = health::monitor_config(self.paths, &self.settings, &ProbeChoices::default())
            .map_err(|e| fail(e.to_string()))?;
        let on = &mut *self.on;
        let (serving, elapsed) =
            health::ready::wait_serving(config, timeout, &mut |state, elapsed| {
                on(Event::Waiting {
                    state: state.describe(),
                    elapsed_secs: elapsed.as_secs(),
                    timeout_secs: timeout.as_secs(),
                })
            })
            .map_err(|e| fail(e.to_string()))?;
        let secs = elapsed.as_secs();
        Ok((
            match serving {
                health::ready::Serving::Ready => format!("Ready after {secs} s"),
                health::ready::Serving::Sleeping => format!(
                    "sleeping after {secs} s, its port held: it starts when a build needs it"
                ),
            },
            false,
            (),
        ))
    }

    fn test_build(&mut self) -> StepResult<Option<(PathBuf, String)>> {
        match crate::actions::test_build(self.paths, self.sysroot.as_deref()) {
            Ok(report) => Ok((
                format!(
                    "built {} for {} on the builder in {:.1} s",
                    report.output.display(),
                    report.system,
                    report.elapsed.as_secs_f64()
                ),
                false,
                Some((report.output, report.system)),
            )),
            Err(err) => Err(SetupFailure::new(
                StepId::TestBuild,
                format!("the test build failed: {err}"),
                "`builderbar doctor --build` runs the same build and shows each check with its fix",
            )
            .doctor("build")),
        }
    }
}

fn service_installed(paths: &Paths) -> bool {
    Service::for_platform(paths)
        .info()
        .is_ok_and(|info| info.installed)
}

/// The wiring in place matches the settings (the doctor's file checks).
fn wiring_current(paths: &Paths, layout: &Layout) -> bool {
    let Ok((checks, _)) = crate::nix::doctor::report(paths, &layout.sysroot) else {
        return false;
    };
    ["machines", "key-file", "alias", "host-key"]
        .iter()
        .all(|name| {
            checks
                .iter()
                .any(|c| c.name == *name && c.status == crate::nix::doctor::Status::Pass)
        })
}
