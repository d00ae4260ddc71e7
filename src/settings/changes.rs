//! What applying new settings will change, in words the settings window and
//! the CLI show before doing it: which changes restart the builder, and which
//! need an administrator password (they touch Nix's own configuration).

use serde::Serialize;

use super::model::{Settings, human_mib};

/// One setting that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    pub from: String,
    pub to: String,
    /// The VM must restart for this to take effect.
    pub needs_restart: bool,
    /// Nix's configuration (machines entry, ssh alias) must be rewritten,
    /// which needs an administrator password on macOS.
    pub needs_admin: bool,
}

impl Change {
    /// `ssh_port: 31022 → 31023 (restarts the builder, …)`.
    pub fn describe(&self) -> String {
        let mut effects = Vec::new();
        if self.needs_restart {
            effects.push("restarts the builder if it runs");
        }
        if self.needs_admin {
            effects.push("rewrites Nix's configuration if BuilderBar wired it");
        }
        let mut text = format!("{}: {} → {}", self.field, self.from, self.to);
        if !effects.is_empty() {
            text.push_str(&format!(" ({})", effects.join("; ")));
        }
        text
    }
}

/// Everything that differs between `current` and `new`, in display order.
pub fn changes(current: &Settings, new: &Settings) -> Vec<Change> {
    let mut out = Vec::new();
    let mut add =
        |field: &str, from: String, to: String, needs_restart: bool, needs_admin: bool| {
            if from != to {
                out.push(Change {
                    field: field.to_string(),
                    from,
                    to,
                    needs_restart,
                    needs_admin,
                });
            }
        };
    add(
        "ssh_port",
        current.ssh_port.to_string(),
        new.ssh_port.to_string(),
        true,
        true,
    );
    add(
        "disk_mib",
        human_mib(current.disk_mib),
        human_mib(new.disk_mib),
        true,
        false,
    );
    add(
        "memory_mib",
        human_mib(current.memory_mib),
        human_mib(new.memory_mib),
        true,
        false,
    );
    add(
        "cores",
        current.cores.to_string(),
        new.cores.to_string(),
        true,
        false,
    );
    add(
        "max_jobs",
        current.max_jobs.to_string(),
        new.max_jobs.to_string(),
        false,
        true,
    );
    add(
        "systems",
        current.systems.join(" "),
        new.systems.join(" "),
        false,
        true,
    );
    add(
        "ephemeral",
        on_off(current.ephemeral),
        on_off(new.ephemeral),
        true,
        false,
    );
    add(
        "start_at_login",
        on_off(current.start_at_login),
        on_off(new.start_at_login),
        false,
        false,
    );
    let (a, b) = (&current.notifications, &new.notifications);
    add(
        "notifications.vm_failures",
        on_off(a.vm_failures),
        on_off(b.vm_failures),
        false,
        false,
    );
    add(
        "notifications.build_failures",
        on_off(a.build_failures),
        on_off(b.build_failures),
        false,
        false,
    );
    add(
        "notifications.build_successes",
        on_off(a.build_successes),
        on_off(b.build_successes),
        false,
        false,
    );
    add(
        "notifications.disk_low_percent",
        format!("{}%", a.disk_low_percent),
        format!("{}%", b.disk_low_percent),
        false,
        false,
    );
    out
}

fn on_off(value: bool) -> String {
    if value { "on" } else { "off" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::HostFacts;

    fn base() -> Settings {
        Settings::defaults_for(&HostFacts::sample())
    }

    #[test]
    fn nothing_changed_means_no_changes() {
        assert!(changes(&base(), &base()).is_empty());
    }

    #[test]
    fn a_port_change_restarts_and_needs_an_admin() {
        let mut new = base();
        new.ssh_port = 31023;
        new.memory_mib = 8192;
        new.notifications.build_successes = true;
        let found = changes(&base(), &new);
        assert_eq!(found.len(), 3);
        assert!(found[0].field == "ssh_port" && found[0].needs_restart && found[0].needs_admin);
        assert_eq!(
            (found[1].from.as_str(), found[1].to.as_str()),
            ("3 GiB", "8 GiB")
        );
        assert!(found[1].needs_restart && !found[1].needs_admin);
        assert!(!found[2].needs_restart && !found[2].needs_admin);
    }
}
