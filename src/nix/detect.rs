//! What is there already: which Nix (upstream, Determinate, a nix.conf
//! managed by nix-darwin, or none), which builders Nix really uses (asked
//! of Nix itself, [`super::builders`]), and any other builder on our alias
//! or our port, which we refuse to fight.

use std::path::Path;

use serde::Serialize;

use super::ALIAS;
use super::block::outside_marks;
use super::builders::{self, Resolved};
use super::plan::Layout;

/// Which Nix the host has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flavor {
    /// No Nix found.
    NotInstalled,
    /// The official installer's Nix: we edit nix.conf between our marks.
    Upstream,
    /// Determinate Nix: we edit nix.custom.conf.
    Determinate,
    /// nix.conf is a link into /nix/store made by nix-darwin: never edited.
    NixDarwin,
}

impl Flavor {
    /// In plain words.
    pub fn words(self) -> &'static str {
        match self {
            Flavor::NotInstalled => "not installed",
            Flavor::Upstream => "Nix (official installer)",
            Flavor::Determinate => "Determinate Nix",
            Flavor::NixDarwin => "Nix with a nix.conf managed by nix-darwin",
        }
    }
}

/// What detection found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detected {
    pub flavor: Flavor,
    /// /etc/nix/machines is a link into the store (nix-darwin's `nix.buildMachines`).
    pub machines_managed: bool,
    /// Other builders on our alias or port, each as a reason to refuse.
    pub conflicts: Vec<String>,
    /// Nix's resolved `builders` setting, as the nix-daemon reads it.
    pub builders: BuildersView,
    /// The `builders` value inside BuilderBar's own marked block (the file
    /// the plan edits), left by an earlier install.
    pub builders_ours: Option<String>,
}

/// What Nix said of its `builders` setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BuildersView {
    Resolved(Resolved),
    /// There is no `nix` program to ask.
    NoNix,
    /// Nix was asked and did not answer; the words say why.
    Unreadable {
        reason: String,
    },
}

impl BuildersView {
    /// Asks Nix under `layout`.
    pub fn ask(layout: &Layout) -> BuildersView {
        match builders::resolve(layout) {
            Ok(Some(resolved)) => BuildersView::Resolved(resolved),
            Ok(None) => BuildersView::NoNix,
            Err(err) => BuildersView::Unreadable {
                reason: err.to_string(),
            },
        }
    }

    /// Nix's default: the machines file under `layout`.
    pub fn default_for(layout: &Layout) -> BuildersView {
        BuildersView::Resolved(Resolved {
            value: format!("@{}", layout.machines().display()),
        })
    }
}

/// Looks at the files under the sysroot.
pub fn detect(layout: &Layout, port: u16) -> Detected {
    let flavor = flavor(layout);
    let machines_managed = is_store_link(&layout.machines());
    let mut conflicts = Vec::new();
    machines_conflicts(&layout.machines(), &mut conflicts);
    ssh_conflicts(layout, port, &mut conflicts);
    let builders_ours = std::fs::read_to_string(conf_we_edit(layout, flavor))
        .ok()
        .and_then(|text| builders::ours_in(&text));
    Detected {
        flavor,
        machines_managed,
        conflicts,
        builders: BuildersView::ask(layout),
        builders_ours,
    }
}

/// The Nix configuration file our marked block goes in for `flavor`.
pub fn conf_we_edit(layout: &Layout, flavor: Flavor) -> std::path::PathBuf {
    match flavor {
        Flavor::Determinate => layout.nix_custom_conf(),
        _ => layout.nix_conf(),
    }
}

fn flavor(layout: &Layout) -> Flavor {
    let conf = layout.nix_conf();
    if is_store_link(&conf) {
        return Flavor::NixDarwin;
    }
    let text = std::fs::read_to_string(&conf).ok();
    let determinate = layout.path("/usr/local/bin/determinate-nixd").exists()
        || layout
            .path("/Library/LaunchDaemons/systems.determinate.nix-daemon.plist")
            .exists()
        || text
            .as_deref()
            .is_some_and(|t| t.contains("nix.custom.conf"));
    if determinate {
        Flavor::Determinate
    } else if text.is_some() || layout.path("/nix/store").is_dir() {
        Flavor::Upstream
    } else {
        Flavor::NotInstalled
    }
}

/// A link (directly or through `/etc/static`) into `/nix/store`.
fn is_store_link(path: &Path) -> bool {
    let Ok(target) = std::fs::read_link(path) else {
        return false;
    };
    let target = target.to_string_lossy();
    target.starts_with("/nix/store/") || target.starts_with("/etc/static/")
}

fn machines_conflicts(path: &Path, conflicts: &mut Vec<String>) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    for line in outside_marks(&text) {
        let line = line.split('#').next().unwrap_or("").trim();
        if builders::machine_host(line) == Some(ALIAS) {
            conflicts.push(format!(
                "{} already lists a builder at {ALIAS} that BuilderBar did not write",
                path.display()
            ));
        }
    }
}

fn ssh_conflicts(layout: &Layout, port: u16, conflicts: &mut Vec<String>) {
    let mut files = vec![layout.path("/etc/ssh/ssh_config")];
    if let Ok(entries) = std::fs::read_dir(layout.ssh_config_dir()) {
        let mut names: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        names.sort();
        files.extend(names.into_iter().filter(|p| *p != layout.ssh_config()));
    }
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for host in ssh_hosts(&text) {
            if host.patterns.iter().any(|p| p == ALIAS) {
                conflicts.push(format!(
                    "{} already defines the ssh alias {ALIAS}",
                    file.display()
                ));
            } else if host.port == Some(port) && host.local {
                conflicts.push(format!(
                    "{} already points the ssh alias {} at port {port} on this Mac (another linux-builder?)",
                    file.display(),
                    host.patterns.join(" ")
                ));
            }
        }
    }
}

struct SshHost {
    patterns: Vec<String>,
    port: Option<u16>,
    local: bool,
}

fn ssh_hosts(text: &str) -> Vec<SshHost> {
    let mut hosts: Vec<SshHost> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let mut words = line
            .splitn(2, |c: char| c.is_whitespace() || c == '=')
            .map(str::trim);
        let key = words.next().unwrap_or("").to_ascii_lowercase();
        let value = words.next().unwrap_or("").trim_start_matches('=').trim();
        match key.as_str() {
            "host" => hosts.push(SshHost {
                patterns: value.split_whitespace().map(str::to_owned).collect(),
                port: None,
                local: false,
            }),
            "match" => hosts.push(SshHost {
                patterns: Vec::new(),
                port: None,
                local: false,
            }),
            "port" => {
                if let Some(h) = hosts.last_mut() {
                    h.port = value.parse().ok();
                }
            }
            "hostname" => {
                if let Some(h) = hosts.last_mut() {
                    h.local = matches!(value, "127.0.0.1" | "localhost" | "::1");
                }
            }
            _ => {}
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_hosts_are_read() {
        let hosts =
            ssh_hosts("Host linux-builder\n  Hostname localhost\n  Port 31022\nHost other\n");
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].port, Some(31022));
        assert!(hosts[0].local);
        assert!(hosts[1].port.is_none());
    }
}
