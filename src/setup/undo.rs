//! Undoing a failed setup run: exactly what that run did to the machine,
//! newest first — the builder it started, the disk it made, Nix's files it
//! wired (through the same elevation as applying), the service it
//! installed. What cannot be undone is reported with how to undo it.

use std::path::Path;

use super::Event;
use crate::nix::NixError;
use crate::nix::apply::Job;
use crate::nix::install;
use crate::nix::plan::{DaemonKind, Layout};
use crate::paths::Paths;
use crate::service::Service;
use crate::settings::SettingsStore;

/// What this run changed, so a failure undoes exactly that.
#[derive(Default)]
pub(super) struct Done {
    pub wiring: bool,
    pub service_installed: bool,
    pub service_started: bool,
    pub disk_created: bool,
    /// `<sysroot>/nix` was made by this run (the test build's private
    /// daemon keeps its state there; on a Mac that is Nix's own /nix/var).
    pub sysroot_nix_created: bool,
}

/// Undoes what a run did, newest first. Returns (undone, left behind).
pub(super) fn roll_back(
    paths: &Paths,
    sysroot: Option<&Path>,
    done: &Done,
    on: &mut dyn FnMut(Event),
) -> (Vec<String>, Vec<String>) {
    let mut undone = Vec::new();
    let mut left = Vec::new();
    let service = Service::for_platform(paths);
    if done.service_started || done.service_installed {
        on(Event::RollingBack {
            what: "stopping the builder".into(),
        });
        match service.stop() {
            Ok(()) => undone.push("stopped the builder".into()),
            Err(e) => left.push(format!(
                "the running builder ({e}): `builderbar stop` stops it"
            )),
        }
    }
    let disk = crate::vm::config::vm_paths(paths).disk;
    if done.disk_created && disk.exists() {
        match std::fs::remove_file(&disk) {
            Ok(()) => undone.push(format!("removed the new disk {}", disk.display())),
            Err(e) => left.push(format!(
                "the disk {} ({e}): delete it by hand",
                disk.display()
            )),
        }
    }
    // Before the service goes: the root step runs its installed binary.
    if done.wiring {
        on(Event::RollingBack {
            what: "restoring Nix's files (administrator password)".into(),
        });
        match unwire(paths, sysroot) {
            Ok(()) => undone.push("restored Nix's files as they were".into()),
            Err(e) => left.push(format!(
                "Nix's files are still wired ({e}): `builderbar uninstall` restores them"
            )),
        }
    }
    if let Some(root) = sysroot.filter(|_| done.sysroot_nix_created) {
        let _ = std::fs::remove_dir_all(root.join("nix"));
    }
    if done.service_installed {
        on(Event::RollingBack {
            what: "removing the builder's service".into(),
        });
        match service.uninstall() {
            Ok(()) => undone.push("removed the builder's service".into()),
            Err(e) => left.push(format!(
                "the builder's service ({e}): `builderbar uninstall` removes it"
            )),
        }
    }
    (undone, left)
}

/// Restores Nix's files from the manifest, leaving the service alone (its
/// rollback is separate: it may have been there before this run).
fn unwire(paths: &Paths, sysroot: Option<&Path>) -> Result<(), NixError> {
    let layout = Layout::new(sysroot.unwrap_or(Path::new("/")));
    let settings = SettingsStore::open(paths)
        .and_then(|s| s.load())
        .map(|l| l.settings.ssh_port)
        .unwrap_or_default();
    let flavor = crate::nix::detect::detect(&layout, settings).flavor;
    let job = Job::Uninstall {
        state_dir: install::state_dir(paths),
        daemon: Some(DaemonKind::for_flavor(flavor)),
        also: Vec::new(),
    };
    let installed = crate::service::installed_binary(paths);
    let binary = if installed.is_file() {
        installed
    } else {
        std::env::current_exe().map_err(NixError::io("find", "the running program"))?
    };
    crate::nix::elevate::Elevation::for_platform()?
        .run(&job, &binary, &paths.state_dir())
        .map(drop)
}
