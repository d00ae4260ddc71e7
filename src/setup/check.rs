//! What is there before setup: Nix and its daemon, the OS, free disk where
//! the builder's disk goes, another builder on our alias or port, and what
//! BuilderBar already set up. Looks only; changes nothing.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::keys::Keys;
use crate::nix::apply::Manifest;
use crate::nix::detect::{self, Flavor};
use crate::nix::plan::Layout;
use crate::paths::Paths;
use crate::service::Service;
use crate::settings::{SettingsError, SettingsStore, check_port_free};
use crate::vm::VmState;

pub use super::host::OsInfo;

/// Where nix-daemon listens (the official installer and Determinate Nix).
const DAEMON_SOCKET: &str = "/nix/var/nix/daemon-socket/socket";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NixFound {
    /// The `nix` program, when there is one.
    pub program: Option<PathBuf>,
    pub flavor: Flavor,
    /// nix-daemon answers on its socket.
    pub daemon_running: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiskSpace {
    /// Where the builder's disk image lives.
    pub folder: PathBuf,
    pub free_bytes: u64,
    /// The configured disk size (the image may grow to it).
    pub disk_bytes: u64,
}

/// What BuilderBar already set up (a rerun skips it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Installed {
    pub key: bool,
    pub wiring: bool,
    pub service: bool,
    pub running: bool,
}

impl Installed {
    pub fn complete(&self) -> bool {
        self.key && self.wiring && self.service
    }
}

/// How a line of the setup check stands (a TypeScript union for the window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(export_to = "../../ui/src/bindings/"))]
#[serde(rename_all = "kebab-case")]
pub enum CheckStatus {
    Ok,
    /// Worth knowing; setup goes on.
    Warn,
    /// Setup cannot go on until it is fixed.
    Blocker,
}

/// One line of the check, for the terminal and the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckItem {
    /// Short and stable: `nix`, `nix-daemon`, `os`, `disk`, `port`,
    /// `other-builder`, `nix-builders`, `sysroot` (Linux), `set-up`.
    pub name: &'static str,
    pub status: CheckStatus,
    pub detail: String,
    pub fix: Option<String>,
    /// The matching `builderbar doctor` check, when there is one.
    pub doctor_check: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub nix: NixFound,
    pub os: OsInfo,
    pub disk: DiskSpace,
    pub port: u16,
    /// Other builders on our alias or port, each as a sentence.
    pub conflicts: Vec<String>,
    pub installed: Installed,
    pub items: Vec<CheckItem>,
}

impl CheckReport {
    /// The first thing that stops setup, if any.
    pub fn blocker(&self) -> Option<&CheckItem> {
        self.items.iter().find(|i| i.status == CheckStatus::Blocker)
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for item in &self.items {
            let mark = match item.status {
                CheckStatus::Ok => "ok  ",
                CheckStatus::Warn => "note",
                CheckStatus::Blocker => "STOP",
            };
            out.push_str(&format!("{mark} {:<14} {}\n", item.name, item.detail));
            if let Some(fix) = &item.fix {
                out.push_str(&format!("     fix: {fix}\n"));
            }
        }
        out
    }
}

fn item(
    name: &'static str,
    status: CheckStatus,
    detail: String,
    fix: Option<&str>,
    doctor_check: Option<&'static str>,
) -> CheckItem {
    CheckItem {
        name,
        status,
        detail,
        fix: fix.map(str::to_owned),
        doctor_check,
    }
}

/// Looks at this machine (its files under `sysroot`, `/` when None).
pub fn check(paths: &Paths, sysroot: Option<&Path>) -> Result<CheckReport, SettingsError> {
    let store = SettingsStore::open(paths)?;
    let settings = store.load()?.settings;
    let layout = Layout::new(sysroot.unwrap_or(Path::new("/")));
    let detected = detect::detect(&layout, settings.ssh_port);
    let service = Service::for_platform(paths);
    let status = service.status(paths).ok();
    let running = status.as_ref().is_some_and(|s| {
        matches!(
            s.vm.state,
            VmState::Sleeping | VmState::Starting | VmState::Running
        )
    });
    let installed = Installed {
        key: Keys::with_platform_keychain(store)
            .builder_public_cached()
            .ok()
            .flatten()
            .is_some(),
        wiring: Manifest::load(&crate::nix::install::state_dir(paths))
            .ok()
            .flatten()
            .is_some(),
        service: status.as_ref().is_some_and(|s| s.service.installed),
        running,
    };
    let nix = NixFound {
        program: crate::nix::runner_build::find_nix(),
        flavor: detected.flavor,
        daemon_running: std::os::unix::net::UnixStream::connect(DAEMON_SOCKET).is_ok(),
    };
    let os = super::host::os_info();
    let disk = disk_space(paths, settings.disk_mib.saturating_mul(1 << 20));
    let mut items = Vec::new();

    // Off macOS this is development: the real /etc is never the target.
    if !cfg!(target_os = "macos") && sysroot.is_none() {
        items.push(item(
            "sysroot",
            CheckStatus::Blocker,
            "on Linux, setup works on a sysroot folder, never on this machine's own /etc".into(),
            Some("pass --sysroot DIR or set BUILDERBAR_SYSROOT (`make run` does) to a folder with etc/nix/nix.conf"),
            None,
        ));
    }
    let nix_fix = "install Nix (the official installer or Determinate Nix), open a new terminal, then run setup again";
    items.push(match (&nix.program, nix.flavor) {
        (None, _) => item(
            "nix",
            CheckStatus::Blocker,
            "Nix is not installed: there is no `nix` program on PATH or in /nix/var/nix/profiles/default/bin".into(),
            Some(nix_fix),
            Some("nix"),
        ),
        (Some(_), Flavor::NotInstalled) => item(
            "nix",
            CheckStatus::Blocker,
            format!(
                "there is a `nix` program but no Nix configuration at {}",
                layout.nix_conf().display()
            ),
            Some(nix_fix),
            Some("nix"),
        ),
        (Some(program), flavor) => item(
            "nix",
            CheckStatus::Ok,
            format!("{} ({})", flavor.words(), program.display()),
            None,
            Some("nix"),
        ),
    });
    items.push(daemon_item(&nix));
    items.push(item(
        "os",
        if os.supported {
            CheckStatus::Ok
        } else {
            CheckStatus::Blocker
        },
        match &os.note {
            Some(note) => format!("{} — {note}", os.name),
            None => os.name.clone(),
        },
        (!os.supported).then_some("update macOS to 13 (Ventura) or later"),
        None,
    ));
    items.push(disk_item(&disk));
    items.push(port_item(settings.ssh_port, status.as_ref()));
    items.push(match detected.conflicts.first() {
        Some(first) => item(
            "other-builder",
            CheckStatus::Blocker,
            first.clone(),
            Some("remove or change the other builder first, or pick another port with `builderbar settings set port N`"),
            Some("machines"),
        ),
        None => item(
            "other-builder",
            CheckStatus::Ok,
            format!("no other builder uses {} or port {}", crate::nix::ALIAS, settings.ssh_port),
            None,
            None,
        ),
    });
    items.push(super::check_builders::item(
        &detected,
        &layout,
        settings.ssh_port,
    ));
    items.push(item(
        "set-up",
        CheckStatus::Ok,
        if installed.complete() {
            "BuilderBar is already set up: setup will check each step and redo only what is missing"
                .into()
        } else if installed.key || installed.wiring || installed.service {
            "partly set up: setup keeps what is there and does the rest".into()
        } else {
            "not set up yet".into()
        },
        None,
        None,
    ));
    Ok(CheckReport {
        nix,
        os,
        disk,
        port: settings.ssh_port,
        conflicts: detected.conflicts,
        installed,
        items,
    })
}

fn daemon_item(nix: &NixFound) -> CheckItem {
    if nix.daemon_running {
        return item(
            "nix-daemon",
            CheckStatus::Ok,
            format!("nix-daemon answers on {DAEMON_SOCKET}"),
            None,
            None,
        );
    }
    if cfg!(target_os = "macos") && nix.program.is_some() {
        item(
            "nix-daemon",
            CheckStatus::Blocker,
            format!("nix-daemon does not answer on {DAEMON_SOCKET}"),
            Some(
                "start it: `sudo launchctl kickstart -k system/org.nixos.nix-daemon` (Determinate Nix: `sudo launchctl kickstart -k system/systems.determinate.nix-daemon`)",
            ),
            None,
        )
    } else {
        item(
            "nix-daemon",
            CheckStatus::Warn,
            "no nix-daemon here: on Linux the dev VM's test build uses a private Nix store instead"
                .into(),
            None,
            None,
        )
    }
}

fn disk_item(disk: &DiskSpace) -> CheckItem {
    let words = format!(
        "{} free in {}; the builder's disk may grow to {}",
        gib(disk.free_bytes),
        disk.folder.display(),
        gib(disk.disk_bytes)
    );
    if disk.free_bytes >= disk.disk_bytes {
        item("disk", CheckStatus::Ok, words, None, None)
    } else {
        item(
            "disk",
            CheckStatus::Warn,
            format!("{words}: builds may run out of space"),
            Some(
                "free some space, or choose a smaller disk with `builderbar settings set disk SIZE`",
            ),
            None,
        )
    }
}

fn port_item(port: u16, status: Option<&crate::service::Status>) -> CheckItem {
    // Our own running builder holds its port: that is not a clash.
    let ours = status.is_some_and(|s| s.service.pid.is_some() && s.vm.port == Some(port));
    if ours {
        return item(
            "port",
            CheckStatus::Ok,
            format!("port {port} is BuilderBar's builder's"),
            None,
            None,
        );
    }
    match check_port_free(port) {
        Ok(()) => item(
            "port",
            CheckStatus::Ok,
            format!("port {port} on 127.0.0.1 is free for the builder's SSH"),
            None,
            None,
        ),
        Err(problem) => CheckItem {
            name: "port",
            status: CheckStatus::Blocker,
            detail: problem.message,
            fix: Some(format!(
                "pick another port with `builderbar settings set port N`, or stop the program that uses {port}"
            )),
            // The doctor has no port check: the fix above is the whole story.
            doctor_check: None,
        },
    }
}

/// Free space where the disk goes (its nearest existing folder).
fn disk_space(paths: &Paths, disk_bytes: u64) -> DiskSpace {
    let folder = paths.state_dir();
    let mut probe: &Path = &folder;
    while !probe.exists() {
        match probe.parent() {
            Some(parent) => probe = parent,
            None => break,
        }
    }
    let free_bytes = rustix::fs::statvfs(probe)
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .unwrap_or(0);
    DiskSpace {
        folder,
        free_bytes,
        disk_bytes,
    }
}

pub(crate) fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}
