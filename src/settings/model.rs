//! The settings model and its defaults.
//!
//! Sizes are whole MiB, as nixpkgs' `virtualisation.memorySize` and
//! `virtualisation.diskSize` are: `memory_mib = 3072` is 3 GiB and
//! `disk_mib = 20480` is 20 GiB (the defaults of nixpkgs' `darwin.linux-builder`).

use serde::{Deserialize, Serialize};

use super::host::{HostFacts, linux_twin};

/// The settings file format this build writes.
pub const CURRENT_VERSION: u32 = 1;

/// nixpkgs' builder: `hostPort = 31022`.
pub const DEFAULT_SSH_PORT: u16 = 31022;
/// nixpkgs' builder: `diskSize = 20 * 1024`.
pub const DEFAULT_DISK_MIB: u64 = 20 * 1024;
/// nixpkgs' builder: `memorySize = 3 * 1024`.
pub const DEFAULT_MEMORY_MIB: u64 = 3 * 1024;
/// On-demand start: minutes with nothing using the builder before it
/// sleeps. Half an hour keeps it awake through an edit-build-edit session
/// (a wake costs a boot, ten to twenty seconds), and gives its 3 GiB back
/// soon after the work stops.
pub const DEFAULT_IDLE_MINUTES: u32 = 30;

/// Everything a user can set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The settings file format (see [`CURRENT_VERSION`]).
    pub version: u32,
    /// The host port forwarded (on 127.0.0.1 only) to the builder's SSH.
    pub ssh_port: u16,
    /// The builder's disk size in MiB. Can only grow.
    pub disk_mib: u64,
    /// The builder's memory in MiB.
    pub memory_mib: u64,
    /// Virtual CPUs given to the builder.
    pub cores: u32,
    /// How many builds the host's Nix sends to the builder at once.
    pub max_jobs: u32,
    /// The Nix systems the builder builds for.
    pub systems: Vec<String>,
    /// Wipe the builder's disk on every start.
    pub ephemeral: bool,
    /// Start the builder when the user logs in.
    pub start_at_login: bool,
    /// On-demand start: the builder sleeps until a build needs it and
    /// sleeps again after `idle_minutes` with nothing using it.
    #[serde(default)]
    pub on_demand: bool,
    /// Minutes with no SSH session and no build before an on-demand
    /// builder powers down (1 to 1440).
    #[serde(default = "default_idle_minutes")]
    pub idle_minutes: u32,
    /// Which notifications to show.
    pub notifications: Notifications,
    /// OpenSSH public key lines allowed to log in to the builder, besides
    /// the builder key.
    #[serde(default)]
    pub authorized_keys: Vec<String>,
    /// The nixpkgs the runner is built from (macOS): a branch or tag name,
    /// a 40-hex commit, or an https tarball URL. None means BuilderBar's
    /// default pin (`builderbar::nix::expr::DEFAULT_NIXPKGS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nixpkgs: Option<String>,
    /// Fields this build does not know (written by a newer build, or by
    /// hand): kept as they are and reported, never dropped.
    #[serde(flatten)]
    pub extra: toml::Table,
}

/// Notification choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notifications {
    /// The VM failed to start, stopped unexpectedly, crash-looped or is unreachable.
    pub vm_failures: bool,
    /// A build on the builder failed.
    pub build_failures: bool,
    /// A build on the builder succeeded.
    pub build_successes: bool,
    /// Warn when the builder's disk is this full, in percent.
    pub disk_low_percent: u8,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: toml::Table,
}

impl Default for Notifications {
    fn default() -> Self {
        Self {
            vm_failures: true,
            build_failures: true,
            build_successes: false,
            disk_low_percent: 85,
            extra: toml::Table::new(),
        }
    }
}

impl Settings {
    /// The defaults on a host: nixpkgs' builder values where it has one,
    /// half the host's cores (at least one), as many jobs as cores, and the
    /// host's Linux twin as the system.
    pub fn defaults_for(host: &HostFacts) -> Self {
        let cores = (host.cpus / 2).max(1);
        Self {
            version: CURRENT_VERSION,
            ssh_port: DEFAULT_SSH_PORT,
            disk_mib: DEFAULT_DISK_MIB,
            memory_mib: DEFAULT_MEMORY_MIB,
            cores,
            max_jobs: cores,
            systems: vec![linux_twin().to_owned()],
            ephemeral: false,
            start_at_login: true,
            on_demand: false,
            idle_minutes: DEFAULT_IDLE_MINUTES,
            notifications: Notifications::default(),
            authorized_keys: Vec::new(),
            nixpkgs: None,
            extra: toml::Table::new(),
        }
    }

    /// The names of fields this build does not know, as dotted paths,
    /// escaped: a quoted TOML key may hold a newline or a NUL, and these
    /// names go into one-line warnings and logs.
    pub fn unknown_fields(&self) -> Vec<String> {
        let shown = |key: &String| key.escape_debug().to_string();
        let mut names: Vec<String> = self.extra.keys().map(shown).collect();
        names.extend(
            self.notifications
                .extra
                .keys()
                .map(|k| format!("notifications.{}", shown(k))),
        );
        names
    }
}

fn default_idle_minutes() -> u32 {
    DEFAULT_IDLE_MINUTES
}

/// Formats MiB for people: `20 GiB`, `1.5 GiB`, `512 MiB`.
pub fn human_mib(mib: u64) -> String {
    if mib >= 1024 && mib.is_multiple_of(1024) {
        format!("{} GiB", mib / 1024)
    } else if mib >= 1024 {
        format!("{:.1} GiB", mib as f64 / 1024.0)
    } else {
        format!("{mib} MiB")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_nixpkgs_and_the_host() {
        let s = Settings::defaults_for(&HostFacts {
            cpus: 8,
            memory_bytes: 16 << 30,
        });
        assert_eq!(s.ssh_port, 31022);
        assert_eq!(s.disk_mib, 20480);
        assert_eq!(s.memory_mib, 3072);
        assert_eq!(s.cores, 4);
        assert_eq!(s.max_jobs, 4);
        assert_eq!(s.systems, vec![linux_twin().to_owned()]);
        assert!(!s.ephemeral);
        assert!(s.notifications.vm_failures && s.notifications.build_failures);
        assert!(!s.notifications.build_successes);
        assert_eq!(s.notifications.disk_low_percent, 85);
        let one = Settings::defaults_for(&HostFacts {
            cpus: 1,
            memory_bytes: 4 << 30,
        });
        assert_eq!(one.cores, 1);
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_mib(20480), "20 GiB");
        assert_eq!(human_mib(1536), "1.5 GiB");
        assert_eq!(human_mib(512), "512 MiB");
    }
}
