//! What the wiring writes, rendered from validated inputs: the machines
//! line, the ssh alias and the known host. Every value reaching these files
//! is checked first, so no setting can add a line.

use std::path::Path;

use base64::Engine;

use super::plan::Layout;
use super::{ALIAS, BUILDER_USER, NixError};

/// What the plan is computed from, each value validated by [`WiringInputs::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WiringInputs {
    pub port: u16,
    pub systems: Vec<String>,
    pub max_jobs: u32,
    /// `ssh-ed25519 AAAA…`, re-encoded by ssh-key (no comment).
    pub host_key: String,
}

impl WiringInputs {
    /// Validates what comes from the settings and the host key source.
    pub fn new(
        port: u16,
        systems: &[String],
        max_jobs: u32,
        host_key: &str,
    ) -> Result<WiringInputs, NixError> {
        if port == 0 {
            return Err(NixError::bad("port", "it must be 1 to 65535"));
        }
        if systems.is_empty() {
            return Err(NixError::bad(
                "systems",
                "name at least one, like aarch64-linux",
            ));
        }
        for system in systems {
            if !valid_system(system) {
                return Err(NixError::bad(
                    "systems",
                    format!(
                        "{} is not a Nix system name like aarch64-linux",
                        crate::settings::parse::printable(system)
                    ),
                ));
            }
        }
        if max_jobs == 0 {
            return Err(NixError::bad("max_jobs", "it must be at least 1"));
        }
        let key = ssh_key::PublicKey::from_openssh(host_key.trim())
            .map_err(|_| NixError::HostKey("it is not an OpenSSH public key line".into()))?;
        let mut key = key;
        key.set_comment("");
        let host_key = key
            .to_openssh()
            .map_err(|_| NixError::HostKey("it cannot be encoded".into()))?;
        Ok(WiringInputs {
            port,
            systems: systems.to_vec(),
            max_jobs,
            host_key: host_key.trim().to_owned(),
        })
    }

    /// From the settings.
    pub fn from_settings(
        settings: &crate::settings::Settings,
        host_key: &str,
    ) -> Result<WiringInputs, NixError> {
        WiringInputs::new(
            settings.ssh_port,
            &settings.systems,
            settings.max_jobs,
            host_key,
        )
    }
}

/// `^[a-z0-9_]+-[a-z0-9_]+$`
pub fn valid_system(system: &str) -> bool {
    let part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    match system.split_once('-') {
        Some((a, b)) => part(a) && part(b),
        None => false,
    }
}

/// A path that may appear in a machines line or an ssh config: absolute,
/// and only letters, digits and `/ . _ + -` (no spaces, quotes, `%` tokens
/// or newlines).
pub fn checked_path(path: &Path) -> Result<String, NixError> {
    let text = path.to_str().unwrap_or("");
    let ok = text.starts_with('/')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '+' | '-'));
    if ok {
        Ok(text.to_owned())
    } else {
        Err(NixError::bad(
            "sysroot",
            format!(
                "the path {} may hold only letters, digits and / . _ + -",
                path.display()
            ),
        ))
    }
}

/// The machines line: `ssh-ng://builder@<alias> <systems> <key> <jobs> 1
/// big-parallel - <base64 host key>`.
pub fn machines_line(inputs: &WiringInputs, key_file: &Path) -> Result<String, NixError> {
    let key = checked_path(key_file)?;
    let host_key = base64::engine::general_purpose::STANDARD.encode(inputs.host_key.as_bytes());
    Ok(format!(
        "ssh-ng://{BUILDER_USER}@{ALIAS} {} {key} {} 1 big-parallel - {host_key}",
        inputs.systems.join(","),
        inputs.max_jobs
    ))
}

/// The ssh alias root's ssh (and so nix-daemon) reaches the builder through.
pub fn ssh_config(inputs: &WiringInputs, layout: &Layout) -> Result<String, NixError> {
    let key = checked_path(&layout.key_file())?;
    let known = checked_path(&layout.known_hosts())?;
    Ok(format!(
        "# Written by BuilderBar; `builderbar uninstall` removes it.\n\
         Host {ALIAS}\n  \
         Hostname 127.0.0.1\n  \
         Port {}\n  \
         User {BUILDER_USER}\n  \
         HostKeyAlias {ALIAS}\n  \
         UserKnownHostsFile {known}\n  \
         StrictHostKeyChecking yes\n  \
         IdentityFile {key}\n  \
         IdentitiesOnly yes\n",
        inputs.port
    ))
}

/// The pinned host key, under the alias name (`HostKeyAlias`).
pub fn known_hosts(inputs: &WiringInputs) -> String {
    format!("{ALIAS} {}\n", inputs.host_key)
}
