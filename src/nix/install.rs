//! `install` and `uninstall` as one core call each, for the CLI and the app:
//! the runner built (macOS), the plan computed and shown, the builder key
//! handed to root through a 0600 file that is removed afterwards, the plan
//! applied in one elevation, and the service installed — or all undone.

use std::path::{Path, PathBuf};

use crate::keys::{Keys, KeysError};
use crate::nix::apply::{Job, Manifest, Outcome};
use crate::nix::elevate::Elevation;
use crate::nix::expr::RunnerInputs;
use crate::nix::plan::{self, DaemonKind, Layout, Plan, WiringInputs};
use crate::nix::{NixError, detect, runner_build};
use crate::paths::Paths;
use crate::service::{Service, ServiceError};
use crate::settings::{SettingsError, SettingsStore};

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Nix(#[from] NixError),
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    CliTool(#[from] crate::cli_tool::CliToolError),
    #[error("the sysroot {} is not a folder", .0.display())]
    Sysroot(PathBuf),
    #[error("cannot find the running program: {0}")]
    Binary(std::io::Error),
}

impl crate::hint::Hint for InstallError {
    /// What to do about it, where the error knows.
    fn hint(&self) -> Option<String> {
        match self {
            InstallError::Nix(err) => err.hint(),
            InstallError::Keys(err) => err.hint(),
            InstallError::Settings(err) => err.hint(),
            InstallError::CliTool(err) => err.hint(),
            _ => None,
        }
    }
}

/// What `install` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// Every path relative to this folder (tests); the service is left alone.
    pub sysroot: Option<PathBuf>,
    /// Compute and return the plan; change nothing.
    pub dry_run: bool,
}

/// A step of a long install, for progress shown to the user.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// The runner's download, in bytes.
    Downloading {
        done: u64,
        expected: u64,
    },
    /// The plan about to be applied as root (one admin prompt).
    Applying(&'a Plan),
    /// The manifest of what is about to be undone.
    Undoing(&'a Manifest),
    ServiceInstalled,
    ServiceRemoved,
}

/// What `install` did.
#[derive(Debug)]
pub enum Installed {
    /// A dry run: what would be applied.
    Planned(Plan),
    Applied(Outcome),
}

/// Where the manifest of what was there before lives.
pub fn state_dir(paths: &Paths) -> PathBuf {
    paths.root().join("nix-wiring")
}

pub fn install(
    paths: &Paths,
    options: &InstallOptions,
    progress: &mut dyn FnMut(Step),
) -> Result<Installed, InstallError> {
    let store = SettingsStore::open(paths)?;
    let settings = store.load()?.settings;
    let layout = Layout::new(sysroot(options.sysroot.as_deref())?);
    if cfg!(target_os = "macos") && options.sysroot.is_none() && !options.dry_run {
        let inputs = RunnerInputs::from_settings(&settings)?;
        runner_build::ensure_runner(paths, &inputs, &mut |p| {
            progress(Step::Downloading {
                done: p.done,
                expected: p.expected,
            })
        })?;
    }
    let host_key = crate::nix::builder_host_key()?;
    let inputs = WiringInputs::from_settings(&settings, &host_key)?;
    let detected = detect::detect(&layout, inputs.port);
    let state = state_dir(paths);
    // Computed first without the key: a refusal happens before the key is
    // ever written out.
    let dry = plan::compute(&inputs, &detected, &layout, &state, None)?;
    if options.dry_run {
        return Ok(Installed::Planned(dry));
    }
    let keys = Keys::with_platform_keychain(store);
    keys.builder_public()?;
    let key_copy = paths.state_dir().join("builder_ed25519.for-root");
    keys.write_private_key_file(&key_copy)?;
    let applied = (|| {
        let plan = plan::compute(&inputs, &detected, &layout, &state, Some(&key_copy))?;
        progress(Step::Applying(&plan));
        let binary = binary(paths)?;
        Ok::<_, InstallError>(Elevation::for_platform()?.run(
            &Job::Apply(plan),
            &binary,
            &paths.state_dir(),
        )?)
    })();
    let _ = std::fs::remove_file(&key_copy);
    let outcome = applied?;
    if options.sysroot.is_none() {
        Service::for_platform(paths).install()?;
        progress(Step::ServiceInstalled);
    }
    Ok(Installed::Applied(outcome))
}

/// Stops and removes the service, then restores the Nix files as they were
/// and removes the command-line tool's link, in one elevation. `Ok(None)`
/// when neither was installed.
pub fn uninstall(
    paths: &Paths,
    sysroot_dir: Option<&Path>,
    progress: &mut dyn FnMut(Step),
) -> Result<Option<Outcome>, InstallError> {
    let settings = SettingsStore::open(paths)?.load()?.settings;
    let layout = Layout::new(sysroot(sysroot_dir)?);
    if sysroot_dir.is_none() {
        Service::for_platform(paths).uninstall()?;
        progress(Step::ServiceRemoved);
    }
    let state = state_dir(paths);
    let Some(manifest) = Manifest::load(&state)? else {
        // No wiring; the command-line tool's link may still be there.
        if sysroot_dir.is_some() {
            return Ok(None);
        }
        return Ok(crate::cli_tool::uninstall(paths)?);
    };
    progress(Step::Undoing(&manifest));
    let flavor = detect::detect(&layout, settings.ssh_port).flavor;
    // The link goes in the same elevation: one prompt for everything.
    let link = crate::cli_tool::state_dir(paths);
    let also = match Manifest::load(&link)? {
        Some(links) if sysroot_dir.is_none() => {
            progress(Step::Undoing(&links));
            vec![link]
        }
        _ => Vec::new(),
    };
    let job = Job::Uninstall {
        state_dir: state,
        daemon: Some(DaemonKind::for_flavor(flavor)),
        also,
    };
    let outcome = Elevation::for_platform()?.run(&job, &binary(paths)?, &paths.state_dir())?;
    Ok(Some(outcome))
}

fn sysroot(dir: Option<&Path>) -> Result<PathBuf, InstallError> {
    match dir {
        None => Ok(PathBuf::from("/")),
        Some(dir) if dir.is_dir() => std::path::absolute(dir).map_err(InstallError::Binary),
        Some(dir) => Err(InstallError::Sysroot(dir.to_path_buf())),
    }
}

/// The installed binary (the one launchd runs) when there is one, else this
/// one: what the administrator step runs as root.
fn binary(paths: &Paths) -> Result<PathBuf, InstallError> {
    // The root side runs `<binary> nix apply-plan`: it must be the CLI. From
    // the app, the running program is the app (which has no such verb), so
    // the service's copy of the CLI is made first when it is missing.
    Ok(crate::service::install_binary(paths)?)
}
