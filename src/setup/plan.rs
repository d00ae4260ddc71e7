//! The one screen before setup changes anything: what will be downloaded,
//! that there is exactly one administrator prompt, and where every file
//! goes. Computed from the settings and the layout only: it builds and
//! asks nothing.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::check::{CheckReport, gib};
use crate::nix::detect::Flavor;
use crate::nix::plan::Layout;
use crate::paths::Paths;
use crate::settings::{Settings, SettingsError, SettingsStore};

/// darwin.linux-builder's closure from the public binary cache, measured
/// roughly; shown as "about". Nothing is downloaded when the runner is
/// already built for these settings.
const MACOS_DOWNLOAD_ESTIMATE: u64 = 1_300 * (1 << 20);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedPath {
    pub path: PathBuf,
    /// What goes there, in plain words.
    pub what: String,
    /// Written as root, through the one administrator prompt.
    pub as_root: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetupPlan {
    /// Bytes to download; an estimate on macOS, 0 when nothing is needed.
    pub download_bytes: u64,
    pub download_is_estimate: bool,
    /// How many administrator password prompts (0 or 1).
    pub admin_prompts: u32,
    pub files: Vec<PlannedPath>,
    /// The steps, in words.
    pub steps: Vec<String>,
}

impl SetupPlan {
    pub fn to_text(&self) -> String {
        let mut out = String::from("Setup will:\n");
        for (i, step) in self.steps.iter().enumerate() {
            out.push_str(&format!("  {}. {step}\n", i + 1));
        }
        out.push_str(&match (self.download_bytes, self.download_is_estimate) {
            (0, _) => "Download: nothing.\n".to_owned(),
            (n, true) => format!("Download: about {}.\n", gib(n)),
            (n, false) => format!("Download: {}.\n", gib(n)),
        });
        out.push_str(&match self.admin_prompts {
            0 => "Administrator password: not needed (Nix is already wired).\n".to_owned(),
            _ => "Administrator password: asked once, to change Nix's files below.\n".to_owned(),
        });
        out.push_str("Files:\n");
        for file in &self.files {
            let root = if file.as_root { " (as root)" } else { "" };
            out.push_str(&format!(
                "  {}{root}\n      {}\n",
                file.path.display(),
                file.what
            ));
        }
        out
    }
}

/// What setup would do on this machine, given what `check` found.
pub fn plan(
    paths: &Paths,
    sysroot: Option<&Path>,
    found: &CheckReport,
) -> Result<SetupPlan, SettingsError> {
    let settings = SettingsStore::open(paths)?.load()?.settings;
    let layout = Layout::new(sysroot.unwrap_or(Path::new("/")));
    let mut files = vec![
        PlannedPath {
            path: paths.root().to_path_buf(),
            what: format!(
                "BuilderBar's folder: settings, the builder key's public half, the builder's disk (grows up to {}), logs",
                gib(settings.disk_mib.saturating_mul(1 << 20))
            ),
            as_root: false,
        },
        PlannedPath {
            path: PathBuf::from(if cfg!(target_os = "macos") {
                "login Keychain"
            } else {
                "Secret Service (the keyring)"
            }),
            what: "the builder key's private half".into(),
            as_root: false,
        },
    ];
    let (download_bytes, download_is_estimate) = if cfg!(target_os = "macos") {
        files.push(PlannedPath {
            path: paths.runner_link(),
            what: "the builder (nixpkgs' darwin.linux-builder), a link into /nix/store".into(),
            as_root: false,
        });
        files.push(PlannedPath {
            path: paths.generations_dir(),
            what: "the builder's generations: the current runner and the one before it, each a link into /nix/store".into(),
            as_root: false,
        });
        if runner_cached(paths, &settings) {
            (0, false)
        } else {
            (MACOS_DOWNLOAD_ESTIMATE, true)
        }
    } else {
        files.push(PlannedPath {
            path: devvm::default_cache_dir(),
            what: "the dev VM, built from Debian packages (development on Linux)".into(),
            as_root: false,
        });
        files.push(PlannedPath {
            path: paths.generations_dir(),
            what: "the builder's generations: the dev VM's runner, written once per build".into(),
            as_root: false,
        });
        (0, false)
    };
    let conf = if found.nix.flavor == Flavor::Determinate {
        layout.nix_custom_conf()
    } else {
        layout.nix_conf()
    };
    for (path, what) in [
        (
            layout.machines(),
            "the builder's entry with its pinned host key, between BuilderBar's marked lines",
        ),
        (
            conf,
            "`builders-use-substitutes = true`, between BuilderBar's marked lines",
        ),
        (
            layout.key_file(),
            "a root-only (0600) copy of the builder key, for nix-daemon",
        ),
        (layout.known_hosts(), "the builder's host key"),
        (
            layout.ssh_config(),
            "the ssh alias builderbar-linux-builder → 127.0.0.1",
        ),
    ] {
        files.push(PlannedPath {
            path,
            what: what.into(),
            as_root: true,
        });
    }
    files.push(service_file(paths));
    let admin_prompts = u32::from(!found.installed.wiring);
    let mut steps = vec![
        "make the builder's SSH key (kept in the keychain)".to_owned(),
        if cfg!(target_os = "macos") {
            "download and build the builder VM".to_owned()
        } else {
            "build the dev VM".to_owned()
        },
        "wire Nix to the builder: one administrator prompt".to_owned(),
        "install and start the builder's service; it keeps running when BuilderBar quits"
            .to_owned(),
        "wait until the builder answers (Ready)".to_owned(),
        "build a small Linux package on it, through your Nix".to_owned(),
    ];
    if found.installed.wiring {
        steps[2] = "check Nix's wiring (already installed: no password needed)".to_owned();
    }
    Ok(SetupPlan {
        download_bytes,
        download_is_estimate,
        admin_prompts,
        files,
        steps,
    })
}

fn service_file(paths: &Paths) -> PlannedPath {
    if cfg!(target_os = "macos") {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default();
        PlannedPath {
            path: launchd::launch_agent_plist_path(&home, launchd::VM_JOB_LABEL),
            what: "the launchd agent that runs the builder as you (not root)".into(),
            as_root: false,
        }
    } else {
        PlannedPath {
            path: crate::service::installed_binary(paths),
            what: "the copy of builderbar the detached service runs (Linux stands in for launchd)"
                .into(),
            as_root: false,
        }
    }
}

fn runner_cached(paths: &Paths, settings: &crate::settings::Settings) -> bool {
    let Ok(inputs) = crate::nix::expr::RunnerInputs::from_settings(settings) else {
        return false;
    };
    crate::nix::runner_build::cached(paths, &inputs).is_some()
}

/// A command that proves it, true for this machine.
pub(super) fn try_command(settings: &Settings, sysroot: Option<&Path>) -> String {
    if cfg!(target_os = "macos") {
        let system = settings
            .systems
            .first()
            .map_or("aarch64-linux", String::as_str);
        format!(
            "nix-build --no-out-link -E 'derivation {{ name = \"hello-linux\"; system = \"{system}\"; builder = \"/bin/sh\"; args = [ \"-c\" \"uname -a > $out\" ]; }}'"
        )
    } else {
        match sysroot {
            Some(dir) => format!("builderbar doctor --build --sysroot {}", dir.display()),
            None => "builderbar doctor --build".into(),
        }
    }
}
