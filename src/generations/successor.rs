//! Building the builder's successor: the running builder builds the next
//! generation, which is kept, not tried (`GenerationState::Built`), until
//! a switch starts it (`switch.rs`).
//!
//! The builder must be Ready first (an on-demand one is woken): the
//! successor's Linux parts are built on it. Then, by platform:
//! - macOS: the runner expression for the new inputs, its toplevel guard
//!   lifted, is built by the host's Nix through its daemon
//!   (`nix::successor_build::build_on_mac`) and rooted as the new
//!   generation. Not run on a Mac yet.
//! - Linux (development): the dev VM stands in. The host's Nix builds the
//!   generation's Linux part on the running dev VM, through the private
//!   daemon over the sysroot the wiring was installed under, and the next
//!   dev VM build carries it at `/etc/builderbar-generation`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{Candidate, Generation, GenerationError, GenerationState, Store};
use crate::health::{self, BuilderState, ProbeChoices};
use crate::nix::expr::{Pin, RunnerInputs};
pub use crate::nix::successor_build::BuildLine;
use crate::paths::Paths;
use crate::settings::{SettingsError, SettingsStore};
use crate::vm::RunnerSource;

/// Where the dev VM's generations carry what they were built from.
pub const GENERATION_FILE: &str = "/etc/builderbar-generation";

/// What to build the successor from.
#[derive(Debug, Clone)]
pub struct SuccessorRequest {
    /// The nixpkgs to build it from; the settings' when `None`.
    pub nixpkgs: Option<Pin>,
    /// How long the build may take (a new nixpkgs may rebuild much).
    pub timeout: Duration,
}

impl Default for SuccessorRequest {
    fn default() -> Self {
        SuccessorRequest {
            nixpkgs: None,
            timeout: Duration::from_secs(3 * 3600),
        }
    }
}

/// A step of the build, as the CLI and the window show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuccessorEvent {
    /// Waiting until the running builder is Ready.
    WaitingForBuilder {
        state: String,
    },
    /// Building from these inputs (in words).
    Building {
        inputs: String,
    },
    Line(BuildLine),
}

/// A successor built.
#[derive(Debug, Clone)]
pub struct Successor {
    pub generation: Generation,
    /// False: the same runner was already kept (as this generation).
    pub new: bool,
    pub took: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SuccessorError {
    #[error(transparent)]
    Generations(#[from] GenerationError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(
        "the running builder builds its successor, and it is not Ready: {0}. Start it (`builderbar start`), wait until `builderbar status` says Ready, and try again"
    )]
    BuilderNotReady(String),
    #[error(
        "the builder's runner is given by BUILDERBAR_RUNNER ({0}); BuilderBar builds only the runner it makes: unset it first"
    )]
    RunnerGiven(String),
    #[error(
        "Nix is not wired to the builder here, so it cannot build on it: run `builderbar install` first"
    )]
    NotWired,
    #[error("the nixpkgs for the successor is not valid: {0}")]
    Pin(crate::nix::NixError),
    #[error("building the successor failed, and the builder still runs the generation it ran: {0}")]
    Build(String),
}

/// Builds the successor of the running builder and keeps it as a
/// generation not tried yet.
pub fn build(
    paths: &Paths,
    request: &SuccessorRequest,
    on: &mut dyn FnMut(SuccessorEvent),
) -> Result<Successor, SuccessorError> {
    let started = Instant::now();
    let source = crate::vm::config::runner_source(paths);
    if let RunnerSource::Path(path) = &source
        && *path != paths.runner_script()
    {
        return Err(SuccessorError::RunnerGiven(path.display().to_string()));
    }
    let settings = SettingsStore::open(paths)?.load()?.settings;
    let mut inputs = RunnerInputs::from_settings(&settings).map_err(SuccessorError::Pin)?;
    if let Some(pin) = &request.nixpkgs {
        inputs.pin = pin.clone();
    }
    let module = crate::nix::module::current(paths);
    wait_for_builder(paths, &settings, on)?;
    let before = Store::new(paths).list()?;
    let about = format!(
        "nixpkgs {}{}",
        inputs.pin.url(),
        crate::nix::runner_build::module_words(module.as_ref())
    );
    on(SuccessorEvent::Building {
        inputs: about.clone(),
    });
    let on_line = &mut |line| on(SuccessorEvent::Line(line));
    let generation = match source {
        RunnerSource::Path(_) => {
            build_on_mac(paths, &inputs, module.as_ref(), request.timeout, on_line)?
        }
        RunnerSource::DevVm => {
            let system = settings
                .systems
                .first()
                .cloned()
                .unwrap_or_else(|| crate::settings::host::linux_twin().to_owned());
            build_on_dev_vm(
                paths,
                &system,
                &inputs,
                module.as_ref(),
                settings.disk_mib,
                request.timeout,
                on_line,
            )?
        }
    };
    let new = !before.iter().any(|g| g.number == generation.number);
    Ok(Successor {
        generation,
        new,
        took: started.elapsed(),
    })
}

/// Waits (a minute at most, waking an on-demand builder) until the
/// running builder is Ready.
fn wait_for_builder(
    paths: &Paths,
    settings: &crate::settings::Settings,
    on: &mut dyn FnMut(SuccessorEvent),
) -> Result<(), SuccessorError> {
    const READY_WITHIN: Duration = Duration::from_secs(60);
    let config = health::monitor_config(paths, settings, &ProbeChoices::default())
        .map_err(|err| SuccessorError::BuilderNotReady(err.to_string()))?;
    let mut last = String::new();
    health::ready::wait_ready_waking(
        config,
        settings.ssh_port,
        READY_WITHIN,
        &mut |state: &BuilderState, _| {
            let state = state.describe();
            if state != last {
                last = state.clone();
                on(SuccessorEvent::WaitingForBuilder { state });
            }
        },
    )
    .map(|_| ())
    .map_err(|err| SuccessorError::BuilderNotReady(err.to_string()))
}

fn build_on_mac(
    paths: &Paths,
    inputs: &RunnerInputs,
    module: Option<&crate::nix::module::Module>,
    timeout: Duration,
    on: &mut dyn FnMut(BuildLine),
) -> Result<Generation, SuccessorError> {
    use crate::nix::{expr, runner_build, successor_build};
    let nix = runner_build::find_nix()
        .ok_or_else(|| SuccessorError::Build("Nix is not installed (no `nix` on PATH)".into()))?;
    let expr = expr::successor_expression(inputs, module.map(|m| m.path.as_path()))
        .map_err(SuccessorError::Pin)?;
    let file = paths.successor_expr_file();
    crate::fsutil::write_atomic(&file, expr.as_bytes(), 0o644)
        .map_err(|e| SuccessorError::Build(format!("{}: {e}", file.display())))?;
    let out_path = successor_build::build_on_mac(&nix, &file, timeout, on)
        .map_err(|err| SuccessorError::Build(err.to_string()))?;
    Ok(runner_build::record_successor(
        &nix, paths, inputs, module, &expr, &out_path,
    )?)
}

fn build_on_dev_vm(
    paths: &Paths,
    system: &str,
    inputs: &RunnerInputs,
    module: Option<&crate::nix::module::Module>,
    disk_mib: u64,
    timeout: Duration,
    on: &mut dyn FnMut(BuildLine),
) -> Result<Generation, SuccessorError> {
    let manifest = crate::nix::apply::Manifest::load(&crate::nix::install::state_dir(paths))
        .ok()
        .flatten()
        .ok_or(SuccessorError::NotWired)?;
    let sysroot: Option<PathBuf> = manifest.sysroot_dir();
    let host = crate::nix::test_build::HostNix::for_sysroot(sysroot.as_deref())
        .map_err(|err| SuccessorError::Build(err.to_string()))?;
    // The dev VM cannot apply a NixOS module: the generation records the
    // one it was built with.
    let about = match module {
        Some(module) => format!("nixpkgs {}\nmodule {}", inputs.pin.url(), module.sha256),
        None => format!("nixpkgs {}", inputs.pin.url()),
    };
    let bytes = crate::nix::successor_build::build_on_dev_vm(&host, system, &about, timeout, on)
        .map_err(|err| SuccessorError::Build(err.to_string()))?;
    let layer = devvm::Layer {
        files: vec![devvm::LayerFile {
            path: GENERATION_FILE.into(),
            mode: 0o644,
            bytes,
        }],
    };
    Ok(super::dev::add_layered(
        &Store::new(paths),
        &devvm::default_cache_dir(),
        &layer,
        &format!(
            "nixpkgs {}{}, built on the builder",
            inputs.pin.url(),
            crate::nix::runner_build::module_words(module)
        ),
        inputs.pin.url(),
        disk_mib,
    )?)
}

/// The store's part in keeping successors: one not tried yet, and one
/// that ran but did not do its job.
impl Store {
    /// Keeps `candidate` as a generation not tried yet ([`GenerationState::Built`]),
    /// beside the current one, which stays current; a switch to it tries
    /// it. An older one not tried yet is dropped (one successor at a time),
    /// and so is a failed one with the same identity (it is tried again);
    /// one kept with the same identity otherwise is returned as it is.
    pub fn add(&self, candidate: Candidate<'_>) -> Result<Generation, GenerationError> {
        let (_lock, mut store) = self.locked()?;
        if let Some(kept) = store.generations.iter().find(|g| {
            g.identity == candidate.identity
                && g.runner.is_file()
                && !matches!(g.state, GenerationState::Failed { .. })
        }) {
            return Ok(kept.clone());
        }
        let dropped: Vec<u32> = store
            .generations
            .iter()
            .filter(|g| g.state == GenerationState::Built || g.identity == candidate.identity)
            .map(|g| g.number)
            .collect();
        let made = self.make(&store, candidate, GenerationState::Built)?;
        store.generations.push(made.clone());
        self.drop_and_write(store, dropped)?;
        Ok(made)
    }

    /// Marks the generation `number`, not current, failed for `reason`
    /// (it ran, but did not do its job: an update's test build failed).
    pub fn mark_failed(&self, number: u32, reason: &str) -> Result<(), GenerationError> {
        let (_lock, mut store) = self.locked()?;
        let generation = store
            .generations
            .iter_mut()
            .find(|g| g.number == number && g.state != GenerationState::Current)
            .ok_or(GenerationError::NoSuch(number))?;
        generation.state = GenerationState::Failed {
            reason: reason.to_owned(),
            last_log: Vec::new(),
        };
        self.write(&store)
    }
}
