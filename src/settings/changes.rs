//! What applying new settings will change, in words the settings window and
//! the CLI show before doing it: which changes restart the builder, and which
//! need an administrator password (they touch Nix's own configuration).

use serde::Serialize;

use super::model::Settings;

/// One setting that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: String,
    /// The setting's label, as the window shows it ("SSH port").
    pub label: String,
    pub from: String,
    pub to: String,
    /// The VM must restart for this to take effect.
    pub needs_restart: bool,
    /// Nix's configuration (machines entry, ssh alias) must be rewritten,
    /// which needs an administrator password on macOS.
    pub needs_admin: bool,
}

impl Change {
    /// `SSH port: 31022 → 31023 (restarts the builder if it runs; …)`.
    pub fn describe(&self) -> String {
        let mut effects = Vec::new();
        if self.needs_restart {
            effects.push("restarts the builder if it runs");
        }
        if self.needs_admin {
            effects.push("rewrites Nix's configuration if BuilderBar wired it");
        }
        let mut text = format!("{}: {} → {}", self.label, self.from, self.to);
        if !effects.is_empty() {
            text.push_str(&format!(" ({})", effects.join("; ")));
        }
        text
    }
}

/// Everything that differs between `current` and `new`, in display order
/// (the settings table's).
pub fn changes(current: &Settings, new: &Settings) -> Vec<Change> {
    super::table::SETTINGS
        .iter()
        .filter_map(|setting| {
            let (from, to) = ((setting.show)(current), (setting.show)(new));
            (from != to).then(|| Change {
                field: setting.field.to_string(),
                label: setting.label.to_string(),
                from,
                to,
                needs_restart: setting.restarts,
                needs_admin: setting.needs_admin,
            })
        })
        .collect()
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
