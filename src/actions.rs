//! The actions behind the menu, the settings window and the CLI, each one
//! function: the front doors call these and nothing else that changes state.

use std::path::Path;

use crate::nix::test_build::{TestBuildError, TestBuildReport};
use crate::paths::Paths;
use crate::service::{Service, ServiceError, Status};
use crate::settings::changes::{Change, changes};
use crate::settings::{Problem, Settings, SettingsError, SettingsStore, check_port_free};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("the settings were saved, but the builder could not restart: {0}")]
    Restart(#[from] ServiceError),
    #[error("the settings were saved, but Nix's configuration could not be updated: {0}")]
    Wiring(#[from] crate::nix::install::InstallError),
}

/// A step of applying settings, as the window's progress and the CLI
/// show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyStep {
    Saving,
    UpdatingNix,
    Restarting,
    Done,
}

impl ApplyStep {
    pub fn words(self) -> &'static str {
        match self {
            ApplyStep::Saving => "Saving the settings",
            ApplyStep::UpdatingNix => "Updating Nix's configuration (administrator password)",
            ApplyStep::Restarting => "Restarting the builder",
            ApplyStep::Done => "Done",
        }
    }
}

/// What applying did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub changes: Vec<Change>,
    pub restarted: bool,
}

/// What applying `change` to the current settings would change, and the
/// problems it would meet — without saving anything.
pub fn plan_settings(
    paths: &Paths,
    change: impl FnOnce(&mut Settings),
) -> Result<(Vec<Change>, Vec<Problem>), SettingsError> {
    let store = SettingsStore::open(paths)?;
    let current = store.load()?.settings;
    let mut new = current.clone();
    change(&mut new);
    let baseline = store.baseline(&current);
    let mut problems = crate::settings::validate(&new, Some(&baseline), store.host());
    if new.ssh_port != current.ssh_port
        && let Err(problem) = check_port_free(new.ssh_port)
    {
        problems.push(problem);
    }
    Ok((changes(&current, &new), problems))
}

/// What applying a change will do, before anything is done: the changes,
/// the problems that refuse it, and which of the steps it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsPlan {
    pub changes: Vec<Change>,
    pub problems: Vec<Problem>,
    /// The builder runs and a change needs a restart.
    pub restarts: bool,
    /// Nix's configuration is wired and a change is written there (the
    /// administrator password prompt).
    pub rewires: bool,
}

impl SettingsPlan {
    /// The plan in plain words, one line a step.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for change in &self.changes {
            out.push_str(&format!("change {}\n", change.describe()));
        }
        if self.rewires {
            out.push_str("update Nix's configuration (one administrator password prompt)\n");
        }
        if self.restarts {
            // Every setting of the table travels at start (memory and
            // cores in QEMU_OPTS, the port in QEMU_NET_OPTS, the disk
            // grown by the supervisor): none rebuilds the runner.
            out.push_str(
                "restart the builder (it runs now; its runner is kept, nothing is rebuilt)\n",
            );
        }
        out
    }
}

/// The plan of `change` (a parse error refuses it), without saving.
pub fn settings_plan(
    paths: &Paths,
    change: impl FnOnce(&mut Settings) -> Result<(), Problem>,
) -> Result<SettingsPlan, SettingsError> {
    let mut parsed = Ok(());
    let (changes, problems) = plan_settings(paths, |s| parsed = change(s))?;
    parsed.map_err(|problem| SettingsError::Refused(vec![problem]))?;
    let running = builder_runs(&Service::for_platform(paths), paths);
    let wired = wiring_manifest(paths).is_some();
    Ok(SettingsPlan {
        restarts: running && changes.iter().any(|c| c.needs_restart),
        rewires: wired && changes.iter().any(|c| c.needs_admin),
        changes,
        problems,
    })
}

/// Whether the service runs the builder (a supervisor is up).
fn builder_runs(service: &Service, paths: &Paths) -> bool {
    service
        .status(paths)
        .map(|s| s.service.pid.is_some())
        .unwrap_or(false)
}

/// The manifest of the installed Nix wiring, if any.
fn wiring_manifest(paths: &Paths) -> Option<crate::nix::apply::Manifest> {
    crate::nix::apply::Manifest::load(&crate::nix::install::state_dir(paths))
        .ok()
        .flatten()
}

/// Saves the change (validated, under the settings lock; a parse error or
/// a refused value changes nothing) and, where a change needs it, rewrites
/// Nix's configuration and restarts a running builder. The one path for
/// the settings window and `builderbar settings set`. `progress` hears
/// each step.
pub fn apply_settings(
    paths: &Paths,
    change: impl FnOnce(&mut Settings) -> Result<(), Problem>,
    mut progress: impl FnMut(ApplyStep),
) -> Result<Applied, ApplyError> {
    let store = SettingsStore::open(paths)?;
    let before = store.load()?.settings;
    progress(ApplyStep::Saving);
    let after = store.update(|s| {
        let old_port = s.ssh_port;
        change(s)?;
        if s.ssh_port != old_port {
            check_port_free(s.ssh_port)?;
        }
        Ok::<(), Problem>(())
    })?;
    let changes = changes(&before, &after);
    crate::keys::render_vm_keys_folder(paths).ok();
    // The port, systems and jobs live in Nix's own files too: rewrite them
    // (one admin prompt) when the wiring is installed, where it was
    // installed — the sysroot its manifest records, never a default.
    if let Some(manifest) = wiring_manifest(paths)
        && changes.iter().any(|c| c.needs_admin)
    {
        progress(ApplyStep::UpdatingNix);
        let options = crate::nix::install::InstallOptions {
            sysroot: manifest.sysroot_dir(),
            dry_run: false,
        };
        crate::nix::install::install(paths, &options, &mut |_| {})?;
    }
    let service = Service::for_platform(paths);
    let restart = builder_runs(&service, paths) && changes.iter().any(|c| c.needs_restart);
    if restart {
        progress(ApplyStep::Restarting);
        service.restart()?;
    }
    progress(ApplyStep::Done);
    Ok(Applied {
        changes,
        restarted: restart,
    })
}

/// The service's and the VM's status, as the service sees them.
pub fn status(paths: &Paths) -> Result<Status, ServiceError> {
    Service::for_platform(paths).status(paths)
}

/// The status and the one state the front doors show.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StatusView {
    #[serde(flatten)]
    pub status: Status,
    pub builder: crate::health::BuilderView,
}

/// The builder's state for `builderbar status` and every process that
/// runs no health monitor of its own: the service's view, and a running
/// monitor's word for this run of the VM (`health::published`; no Keychain
/// read, no SSH). `health` is a monitor's word the caller has itself (the
/// app's own monitor), used instead of the published one.
pub fn status_view(
    paths: &Paths,
    health: Option<&crate::health::Health>,
) -> Result<StatusView, ServiceError> {
    use crate::health::{self, Resources, ViewInputs};
    let status = status(paths)?;
    let file = crate::vm::status::StatusFile::read(&crate::vm::config::vm_paths(paths).status_file);
    let published = match health {
        Some(_) => None,
        None => file
            .as_ref()
            .and_then(|f| health::published::read(paths, f.started_at)),
    };
    let resources = SettingsStore::open(paths)
        .and_then(|store| store.load())
        .ok()
        .map(|loaded| Resources::from_settings(&loaded.settings));
    let builder = health::view(ViewInputs {
        report: &status.vm,
        file: file.as_ref(),
        stopped_by_user: status.service.stopped_by_user,
        health: health.or(published.as_ref()),
        resources,
        switching: crate::generations::switch::switching(paths),
    });
    Ok(StatusView { status, builder })
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Keys(#[from] crate::keys::KeysError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// Starts the builder. The builder key is made on this first use (the
/// keys folder then lists it), so a fresh install starts a builder that
/// Nix and the health monitor can log in to. Once it exists, only its
/// public file is read: the Keychain asks before a binary other than the
/// one that made an item reads it, and `builderbar start` from a terminal
/// (or the app, when the CLI made the key) must not raise that prompt.
pub fn start(paths: &Paths) -> Result<(), StartError> {
    let keys = crate::keys::Keys::with_platform_keychain(SettingsStore::open(paths)?);
    if keys.builder_public_cached()?.is_none() {
        keys.builder_public()?;
    }
    Ok(Service::for_platform(paths).start()?)
}

pub fn stop(paths: &Paths) -> Result<(), ServiceError> {
    Service::for_platform(paths).stop()
}

pub fn restart(paths: &Paths) -> Result<(), ServiceError> {
    Service::for_platform(paths).restart()
}

/// The doctor's checks against this Mac's files, and as text to paste.
pub fn doctor(paths: &Paths) -> Result<(Vec<crate::nix::doctor::Check>, String), SettingsError> {
    let (checks, note) = crate::nix::doctor::report(paths, std::path::Path::new("/"))?;
    let text = crate::nix::doctor::to_text(&checks, note.as_deref());
    Ok((checks, text))
}

/// Removes the service and restores Nix's files as they were.
pub fn uninstall(
    paths: &Paths,
) -> Result<Option<crate::nix::apply::Outcome>, crate::nix::install::InstallError> {
    crate::nix::install::uninstall(paths, None, &mut |_| {})
}

/// Where `builderbar` would be (or is) linked on the PATH.
pub fn cli_tool_status(
    paths: &Paths,
    dir: Option<&Path>,
) -> Result<crate::cli_tool::CliTool, crate::cli_tool::CliToolError> {
    crate::cli_tool::status(paths, dir)
}

/// "Install Command-Line Tool…": links `builderbar` into `dir` (the usual
/// folder when None), asking for the administrator password only if needed.
pub fn install_cli_tool(
    paths: &Paths,
    dir: Option<&Path>,
) -> Result<crate::cli_tool::CliTool, crate::cli_tool::CliToolError> {
    crate::cli_tool::install(paths, dir)
}

/// Removes the command-line tool's link; false when there was none.
pub fn uninstall_cli_tool(paths: &Paths) -> Result<bool, crate::cli_tool::CliToolError> {
    crate::cli_tool::uninstall(paths).map(|o| o.is_some())
}

/// What is there before setup, and what setup would do: the first screen of
/// `builderbar setup` and of the app's first-run window.
pub fn setup_check(
    paths: &Paths,
    sysroot: Option<&std::path::Path>,
) -> Result<(crate::setup::CheckReport, crate::setup::SetupPlan), SettingsError> {
    let found = crate::setup::check(paths, sysroot)?;
    let plan = crate::setup::plan(paths, sysroot, &found)?;
    Ok((found, plan))
}

/// Sets the builder up from nothing (or finishes a partial setup), each
/// step reported to `on`; a failure undoes what this run did.
pub fn setup_run(
    paths: &Paths,
    options: &crate::setup::SetupOptions,
    on: &mut dyn FnMut(crate::setup::Event),
) -> Result<crate::setup::SetupDone, crate::setup::SetupFailure> {
    crate::setup::run(paths, options, on)
}

/// Whether BuilderBar is set up here (the app shows its first-run window
/// when it is not).
pub fn is_set_up(paths: &Paths) -> bool {
    crate::setup::is_set_up(paths)
}

/// The test build: a derivation only the builder can build, built by the
/// host's Nix through its daemon (under `sysroot`, a private daemon over
/// the files `install --sysroot` wrote there; Linux, as root).
/// The builder's runner generations, oldest first (`builderbar runner list`).
pub fn runner_generations(
    paths: &Paths,
) -> Result<Vec<crate::generations::Generation>, crate::generations::GenerationError> {
    crate::generations::Store::new(paths).list()
}

/// Switches the builder to a kept runner generation and proves it Ready,
/// or goes back to the one it replaced (`builderbar runner switch`).
pub fn runner_switch(
    paths: &Paths,
    number: u32,
    options: &crate::generations::switch::SwitchOptions,
    on: &mut dyn FnMut(crate::generations::switch::SwitchEvent),
) -> Result<crate::generations::switch::Switched, crate::generations::switch::SwitchError> {
    crate::generations::switch::switch(paths, number, options, on)
}

/// Has the running builder build its successor, kept as a generation not
/// tried yet (`builderbar runner build`).
pub fn runner_build_successor(
    paths: &Paths,
    request: &crate::generations::successor::SuccessorRequest,
    on: &mut dyn FnMut(crate::generations::successor::SuccessorEvent),
) -> Result<crate::generations::successor::Successor, crate::generations::successor::SuccessorError>
{
    crate::generations::successor::build(paths, request, on)
}

/// Update Builder (`builderbar runner update`): a newer nixpkgs built by
/// the running builder, switched to and proved by a test build; the
/// newest cached one is asked of channels.nixos.org unless given.
pub fn runner_update(
    paths: &Paths,
    request: &crate::generations::update::UpdateRequest,
    on: &mut dyn FnMut(crate::generations::update::UpdateEvent),
) -> Result<crate::generations::update::Updated, crate::generations::update::UpdateError> {
    let latest = crate::generations::latest::ChannelRevision::from_env();
    crate::generations::update::update(paths, request, &latest, on)
}

/// "Builder configuration file…" (`builderbar runner module set FILE |
/// clear`): the user's NixOS module checked and kept (or forgotten), then
/// applied like an update with the settings' nixpkgs.
pub fn runner_module_change(
    paths: &Paths,
    change: &crate::generations::update::ModuleChange,
    switch: &crate::generations::switch::SwitchOptions,
    on: &mut dyn FnMut(crate::generations::update::UpdateEvent),
) -> Result<crate::generations::update::Updated, crate::generations::update::ModuleChangeError> {
    crate::generations::update::change_module(paths, change, switch, on)
}

/// Switches the builder back to its previous generation
/// (`builderbar runner rollback`).
pub fn runner_roll_back(
    paths: &Paths,
    options: &crate::generations::switch::SwitchOptions,
    on: &mut dyn FnMut(crate::generations::switch::SwitchEvent),
) -> Result<crate::generations::switch::Switched, crate::generations::switch::SwitchError> {
    crate::generations::switch::roll_back(paths, options, on)
}

pub fn test_build(
    paths: &Paths,
    sysroot: Option<&Path>,
) -> Result<TestBuildReport, TestBuildError> {
    crate::nix::test_build::run(paths, sysroot)
}
