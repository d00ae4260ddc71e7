//! The wiring as a plan: typed operations computed from the settings, shown
//! in plain words, applied in one elevation and undone from a manifest.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::builders::{self, Wiring};
use super::detect::{Detected, Flavor};
use super::{ALIAS, BUILDER_USER, NixError};

pub use super::block::{BEGIN_MARK, END_MARK};
pub use super::render::{
    WiringInputs, checked_path, known_hosts, machines_line, ssh_config, valid_system,
};

/// Who owns a file we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Owner {
    /// root:wheel (root:root on Linux).
    Root,
    /// This uid and gid.
    User { uid: u32, gid: u32 },
}

/// Which nix-daemon to reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DaemonKind {
    /// The upstream installer's (and nix-darwin's) `org.nixos.nix-daemon`.
    Upstream,
    /// Determinate Nix's own daemon, `systems.determinate.nix-daemon`.
    Determinate,
    /// Linux: the systemd unit `nix-daemon.service`.
    Systemd,
}

impl DaemonKind {
    /// The command that reloads it (never built from a setting).
    pub fn command(self) -> Vec<&'static str> {
        match self {
            DaemonKind::Upstream => vec![
                "/bin/launchctl",
                "kickstart",
                "-k",
                "system/org.nixos.nix-daemon",
            ],
            DaemonKind::Determinate => vec![
                "/bin/launchctl",
                "kickstart",
                "-k",
                "system/systems.determinate.nix-daemon",
            ],
            DaemonKind::Systemd => vec!["systemctl", "try-restart", "nix-daemon.service"],
        }
    }

    /// For the platform and the flavour.
    pub fn for_flavor(flavor: Flavor) -> DaemonKind {
        match flavor {
            _ if !cfg!(target_os = "macos") => DaemonKind::Systemd,
            Flavor::Determinate => DaemonKind::Determinate,
            _ => DaemonKind::Upstream,
        }
    }
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Operation {
    /// Write a whole file we own.
    WriteFile {
        path: PathBuf,
        content: String,
        mode: u32,
        owner: Owner,
    },
    /// Put `content` between our marked lines in a file that may hold
    /// other content (created with `mode` if missing). Nothing outside the
    /// marks is touched.
    EditBetweenMarkers {
        path: PathBuf,
        content: String,
        mode: u32,
    },
    /// Copy the builder's private key from a 0600 file the user owns into
    /// place, root-owned 0600, and delete the source. The plan never
    /// carries the key itself.
    InstallKeyFile {
        source: PathBuf,
        path: PathBuf,
        owner: Owner,
    },
    /// Remove a file.
    RemoveFile { path: PathBuf },
    /// Make `path` a symbolic link to `target`. A file or a different link
    /// already at `path` is someone else's and is refused, never replaced.
    Symlink { path: PathBuf, target: PathBuf },
    /// Reload nix-daemon so it reads the new settings.
    ReloadDaemon(DaemonKind),
}

impl Operation {
    /// The operation in plain words.
    pub fn describe(&self) -> String {
        match self {
            Operation::WriteFile {
                path,
                content,
                mode,
                owner,
            } => format!(
                "write {} (mode {mode:04o}, owner {}):\n{}",
                path.display(),
                owner_words(*owner),
                indent(content)
            ),
            Operation::EditBetweenMarkers { path, content, .. } => format!(
                "add these lines to {} between BuilderBar's marked lines (the rest of the file is left as it is):\n{}",
                path.display(),
                indent(content)
            ),
            Operation::InstallKeyFile { path, owner, .. } => format!(
                "install the builder's private key (from the Keychain) at {} (mode 0600, owner {})",
                path.display(),
                owner_words(*owner)
            ),
            Operation::RemoveFile { path } => format!("remove {}", path.display()),
            Operation::Symlink { path, target } => {
                format!("make {} a link to {}", path.display(), target.display())
            }
            Operation::ReloadDaemon(kind) => {
                format!("reload nix-daemon: {}", kind.command().join(" "))
            }
        }
    }
}

fn owner_words(owner: Owner) -> String {
    match owner {
        Owner::Root => "root".into(),
        Owner::User { uid, .. } => format!("uid {uid}"),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What to apply: every path is absolute and already under the sysroot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Where the manifest of what was there before lives (`<root>/nix-wiring`).
    pub state_dir: PathBuf,
    /// `/` on a real machine; tests use a temp folder.
    pub sysroot: PathBuf,
    pub operations: Vec<Operation>,
    /// What we leave to the user (nix-darwin's configuration), in plain words.
    pub notes: Vec<String>,
}

impl Plan {
    /// The plan in plain words, one numbered step at a time.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        if self.sysroot != Path::new("/") {
            out.push_str(&format!(
                "(every path is under the sysroot {})\n",
                self.sysroot.display()
            ));
        }
        for (i, op) in self.operations.iter().enumerate() {
            out.push_str(&format!("{}. {}\n", i + 1, op.describe()));
        }
        for note in &self.notes {
            out.push_str(&format!("note: {note}\n"));
        }
        out
    }
}

/// The paths of the wiring under a sysroot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub sysroot: PathBuf,
}

impl Layout {
    pub fn new(sysroot: impl Into<PathBuf>) -> Layout {
        Layout {
            sysroot: sysroot.into(),
        }
    }

    /// `/etc/...` under the sysroot.
    pub fn path(&self, absolute: &str) -> PathBuf {
        self.sysroot.join(absolute.trim_start_matches('/'))
    }

    pub fn nix_conf(&self) -> PathBuf {
        self.path("/etc/nix/nix.conf")
    }
    pub fn nix_custom_conf(&self) -> PathBuf {
        self.path("/etc/nix/nix.custom.conf")
    }
    pub fn machines(&self) -> PathBuf {
        self.path("/etc/nix/machines")
    }
    pub fn key_file(&self) -> PathBuf {
        self.path("/etc/nix/builderbar_ed25519")
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.path("/etc/nix/builderbar_known_hosts")
    }
    pub fn ssh_config_dir(&self) -> PathBuf {
        self.path("/etc/ssh/ssh_config.d")
    }
    pub fn ssh_config(&self) -> PathBuf {
        self.ssh_config_dir().join("200-builderbar.conf")
    }
}

/// Computes the plan. `key_source` is the user's 0600 copy of the private
/// key (None for a dry run: the step is shown, nothing is read).
pub fn compute(
    inputs: &WiringInputs,
    detected: &Detected,
    layout: &Layout,
    state_dir: &Path,
    key_source: Option<&Path>,
) -> Result<Plan, NixError> {
    if detected.flavor == Flavor::NotInstalled {
        return Err(NixError::Conflict(
            "Nix is not installed: install it first (the official installer or Determinate Nix), then run `builderbar install` again".into(),
        ));
    }
    if let Some(conflict) = detected.conflicts.first() {
        return Err(NixError::Conflict(conflict.clone()));
    }
    let machines = machines_line(inputs, &layout.key_file())?;
    let mut operations = vec![
        Operation::InstallKeyFile {
            source: key_source
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("(the Keychain)")),
            path: layout.key_file(),
            owner: Owner::Root,
        },
        Operation::WriteFile {
            path: layout.known_hosts(),
            content: known_hosts(inputs),
            mode: 0o644,
            owner: Owner::Root,
        },
        Operation::WriteFile {
            path: layout.ssh_config(),
            content: ssh_config(inputs, layout)?,
            mode: 0o644,
            owner: Owner::Root,
        },
    ];
    let mut notes = Vec::new();
    if detected.machines_managed {
        notes.push(format!(
            "{} is managed by nix-darwin, so BuilderBar leaves it alone. Add to your nix-darwin configuration: \
             nix.distributedBuilds = true; nix.buildMachines = [ {{ hostName = \"{ALIAS}\"; sshUser = \"{BUILDER_USER}\"; protocol = \"ssh-ng\"; sshKey = \"{}\"; systems = [ {} ]; maxJobs = {}; supportedFeatures = [ \"big-parallel\" ]; publicHostKey = \"{}\"; }} ];",
            layout.machines().display(),
            layout.key_file().display(),
            inputs
                .systems
                .iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(" "),
            inputs.max_jobs,
            base64::engine::general_purpose::STANDARD.encode(inputs.host_key.as_bytes()),
        ));
    } else {
        operations.push(Operation::EditBetweenMarkers {
            path: layout.machines(),
            content: format!("{machines}\n"),
            mode: 0o644,
        });
    }
    let wiring = builders::wiring(
        &detected.builders,
        detected.builders_ours.as_deref(),
        layout,
        inputs.port,
    )?;
    let builders_line = match wiring {
        Wiring::Line { value, why } => {
            notes.push(why);
            Some(value)
        }
        Wiring::AlreadyNamed(entries) => {
            notes.push(format!(
                "Nix's builders setting already lists BuilderBar's builder ({}), so BuilderBar adds no builders line; if that entry is out of date, remove it and install again",
                entries.join(" ; ")
            ));
            None
        }
        Wiring::Unknown(reason) => {
            notes.push(format!(
                "could not check which builders Nix uses ({reason}); `builderbar doctor` checks it once Nix answers"
            ));
            None
        }
        Wiring::Reaches => None,
    };
    if detected.flavor == Flavor::NixDarwin {
        let mut settings = String::from("nix.settings.builders-use-substitutes = true;");
        if let Some(value) = &builders_line {
            settings.push(' ');
            settings.push_str(&builders::nix_darwin_setting(value)?);
        }
        notes.push(format!(
            "{} is managed by nix-darwin, so BuilderBar does not edit it. Add to your nix-darwin configuration: \
             {settings} then run darwin-rebuild switch.",
            layout.nix_conf().display()
        ));
    } else {
        let mut content = String::from("builders-use-substitutes = true\n");
        if let Some(value) = &builders_line {
            content.push_str(&format!("builders = {value}\n"));
        }
        operations.push(Operation::EditBetweenMarkers {
            path: super::detect::conf_we_edit(layout, detected.flavor),
            content,
            mode: 0o644,
        });
    }
    operations.push(Operation::ReloadDaemon(DaemonKind::for_flavor(
        detected.flavor,
    )));
    Ok(Plan {
        state_dir: state_dir.to_path_buf(),
        sysroot: layout.sysroot.clone(),
        operations,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJBWcxb/Blaqt1auOtE+F8QUWrUotiC5qBJ+UuEWdVCb";

    #[test]
    fn systems_are_strict() {
        assert!(valid_system("aarch64-linux"));
        assert!(valid_system("x86_64-linux"));
        for bad in [
            "",
            "linux",
            "a-b-c",
            "A-linux",
            "a-linux\n",
            "a -linux",
            "a-",
        ] {
            assert!(!valid_system(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_machines_line_has_eight_fields() {
        let inputs = WiringInputs::new(
            31022,
            &["aarch64-linux".into()],
            4,
            &format!("{KEY} root@nixos"),
        )
        .unwrap();
        let line = machines_line(&inputs, Path::new("/etc/nix/builderbar_ed25519")).unwrap();
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 8, "{line}");
        assert_eq!(fields[0], "ssh-ng://builder@builderbar-linux-builder");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(fields[7])
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), KEY);
    }

    #[test]
    fn hostile_values_are_refused() {
        assert!(WiringInputs::new(1, &["x86_64-linux\nbad".into()], 1, KEY).is_err());
        assert!(
            WiringInputs::new(1, &["x86_64-linux".into()], 1, "ssh-ed25519 AAAA\nHost *").is_err()
        );
        assert!(checked_path(Path::new("/tmp/a b")).is_err());
        assert!(checked_path(Path::new("/tmp/%h")).is_err());
        assert!(checked_path(Path::new("relative")).is_err());
    }
}
