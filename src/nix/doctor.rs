//! `builderbar doctor`: each part of the wiring checked as root's Nix would
//! meet it, with the fix when it fails.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine;
use serde::Serialize;

use super::detect::{self, Flavor};
use super::plan::{Layout, WiringInputs, machines_line};
use super::{ALIAS, BUILDER_USER};

/// A check's result (the window gets it as a TypeScript union).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(
    feature = "ts",
    ts(rename = "DoctorStatus", export_to = "../../ui/src/bindings/")
)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Fail,
    /// Could not be checked here (for example no `nix` to ask).
    Skip,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// A short stable name (`nix`, `machines`, `nix-uses-builder`,
    /// `key-file`, `ssh-include`, `alias`, `host-key`, `ssh`,
    /// `remote-store`).
    pub name: &'static str,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do when it failed.
    pub fix: Option<String>,
}

pub(super) fn check(name: &'static str, ok: bool, detail: String, fix: &str) -> Check {
    Check {
        name,
        status: if ok { Status::Pass } else { Status::Fail },
        detail,
        fix: (!ok).then(|| fix.to_owned()),
    }
}

pub(super) const REINSTALL: &str =
    "run `builderbar install` (it shows what it changes with --dry-run)";

/// Runs every check under `layout`. `inputs` are the wiring the settings
/// ask for (None when they cannot be used; the checks that need them fail).
pub fn run(layout: &Layout, inputs: Option<&WiringInputs>) -> Vec<Check> {
    let mut checks = Vec::new();
    let port = inputs.map_or(0, |i| i.port);
    let detected = detect::detect(layout, port);
    checks.push(check(
        "nix",
        detected.flavor != Flavor::NotInstalled,
        detected.flavor.words().to_owned(),
        "install Nix (the official installer or Determinate Nix), then run `builderbar install`",
    ));

    let machines_text = std::fs::read_to_string(layout.machines()).unwrap_or_default();
    let prefix = format!("ssh-ng://{BUILDER_USER}@{ALIAS} ");
    let entry = machines_text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(&prefix))
        .map(str::to_owned);
    let expected = inputs.and_then(|i| machines_line(i, &layout.key_file()).ok());
    checks.push(match (&entry, &expected) {
        (None, _) => check(
            "machines",
            false,
            format!("{} has no entry for {ALIAS}", layout.machines().display()),
            REINSTALL,
        ),
        (Some(found), Some(want)) if found != want => check(
            "machines",
            false,
            format!(
                "the entry in {} is out of date",
                layout.machines().display()
            ),
            REINSTALL,
        ),
        (Some(_), _) => check(
            "machines",
            true,
            format!("{} lists {ALIAS}", layout.machines().display()),
            REINSTALL,
        ),
    });

    checks.push(super::doctor_builders::uses_builder(
        layout,
        &detected,
        inputs,
        entry.as_deref(),
    ));

    let key = layout.key_file();
    checks.push(match std::fs::metadata(&key) {
        Err(_) => check(
            "key-file",
            false,
            format!("{} is missing", key.display()),
            REINSTALL,
        ),
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            check(
                "key-file",
                mode == 0o600 && meta.uid() == 0,
                format!(
                    "{} has mode {mode:04o}, owner uid {}",
                    key.display(),
                    meta.uid()
                ),
                "it must be 0600 and owned by root: run `builderbar install` again",
            )
        }
    });

    let included = super::ssh_include::includes_ours(layout);
    checks.push(check(
        "ssh-include",
        included.is_ok(),
        match &included {
            Ok(()) => format!(
                "{} includes {}",
                layout.path("/etc/ssh/ssh_config").display(),
                layout.ssh_config_dir().display()
            ),
            Err(reason) => reason.clone(),
        },
        "add the line `Include /etc/ssh/ssh_config.d/*` at the top of /etc/ssh/ssh_config \
         (macOS's own file has it; a managed one may not), or ask your administrator to",
    ));

    let config = layout.ssh_config();
    let resolved = ssh_resolve(&config);
    let want = (String::from("127.0.0.1"), port);
    checks.push(check(
        "alias",
        resolved.as_ref() == Some(&want),
        match &resolved {
            Some((host, p)) => format!("{ALIAS} resolves to {host} port {p}"),
            None => format!(
                "ssh cannot read the alias {ALIAS} from {}",
                config.display()
            ),
        },
        REINSTALL,
    ));

    let known = std::fs::read_to_string(layout.known_hosts()).unwrap_or_default();
    let pinned = inputs.is_some_and(|i| {
        let line = format!("{ALIAS} {}", i.host_key);
        let in_known = known.lines().any(|l| l.trim() == line);
        let field = base64::engine::general_purpose::STANDARD.encode(i.host_key.as_bytes());
        let in_machines = entry
            .as_deref()
            .is_some_and(|e| e.split_whitespace().nth(7) == Some(field.as_str()));
        in_known && in_machines
    });
    checks.push(check(
        "host-key",
        pinned,
        if pinned {
            "the builder's host key is pinned in the machines entry and the known hosts".into()
        } else {
            format!(
                "the builder's host key is not pinned (or differs) in {} or the machines entry",
                layout.known_hosts().display()
            )
        },
        REINSTALL,
    ));

    let ssh = Command::new("ssh")
        .arg("-F")
        .arg(&config)
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            ALIAS,
            "true",
        ])
        .stdin(Stdio::null())
        .output();
    checks.push(match ssh {
        Ok(out) if out.status.success() => check(
            "ssh",
            true,
            format!("root's ssh logs in to {ALIAS}"),
            "",
        ),
        Ok(out) => check(
            "ssh",
            false,
            format!(
                "ssh to {ALIAS} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "start the builder (`builderbar start`); if it runs, `builderbar logs` tells why ssh fails",
        ),
        Err(e) => check("ssh", false, format!("cannot run ssh: {e}"), "install OpenSSH"),
    });

    checks.push(match super::runner_build::find_nix() {
        None => Check {
            name: "remote-store",
            status: Status::Skip,
            detail: "no `nix` here to ask the builder's store".into(),
            fix: None,
        },
        Some(nix) => {
            let out = Command::new(nix)
                .args(["--extra-experimental-features", "nix-command", "store", "ping"])
                .arg("--store")
                .arg(format!("ssh-ng://{ALIAS}"))
                .env(
                    "NIX_SSHOPTS",
                    format!("-F {} -o BatchMode=yes -o ConnectTimeout=5", config.display()),
                )
                .stdin(Stdio::null())
                .output();
            match out {
                Ok(o) if o.status.success() => {
                    check("remote-store", true, "the builder's Nix store answers".into(), "")
                }
                Ok(o) => check(
                    "remote-store",
                    false,
                    format!(
                        "the builder's store did not answer: {}",
                        String::from_utf8_lossy(&o.stderr).trim()
                    ),
                    "start the builder (`builderbar start`) and wait until `builderbar status` says it runs",
                ),
                Err(e) => check("remote-store", false, format!("cannot run nix: {e}"), REINSTALL),
            }
        }
    });
    checks
}

/// `ssh -G -F config ALIAS`: the hostname and port ssh would use.
fn ssh_resolve(config: &Path) -> Option<(String, u16)> {
    if !config.is_file() {
        return None;
    }
    let out = Command::new("ssh")
        .arg("-G")
        .arg("-F")
        .arg(config)
        .arg(ALIAS)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_owned()))
    };
    Some((value("hostname ")?, value("port ")?.parse().ok()?))
}

/// Whether every check passed or was skipped.
pub fn all_passed(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.status != Status::Fail)
}

/// The checks for this user's settings, against the files under `sysroot`
/// (`/` normally), and a note when the settings cannot be wired as they are.
pub fn report(
    paths: &crate::paths::Paths,
    sysroot: &std::path::Path,
) -> Result<(Vec<Check>, Option<String>), crate::settings::SettingsError> {
    let settings = crate::settings::SettingsStore::open(paths)?
        .load()?
        .settings;
    let layout = Layout::new(sysroot.to_path_buf());
    let inputs = crate::nix::builder_host_key()
        .and_then(|key| crate::nix::plan::WiringInputs::from_settings(&settings, &key));
    let checks = run(&layout, inputs.as_ref().ok());
    Ok((checks, inputs.err().map(|e| e.to_string())))
}

/// The checks as plain text, for the terminal and for pasting into a bug
/// report.
pub fn to_text(checks: &[Check], note: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(note) = note {
        out.push_str(&format!("note: {note}\n"));
    }
    for c in checks {
        let mark = match c.status {
            Status::Pass => "ok  ",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        out.push_str(&format!("{mark} {:<16} {}\n", c.name, c.detail));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("     fix: {fix}\n"));
        }
    }
    out
}
