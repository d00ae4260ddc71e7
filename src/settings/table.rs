//! Each setting described once: its key and the other spellings the CLI
//! accepts, its field in the settings file, its label, how its value is
//! shown and parsed, and what changing it does (restart the builder,
//! rewrite Nix's configuration). Parsing (`parse::set_field`), the change
//! plan (`changes`), `builderbar settings show` and its help, and the
//! window's labels (through `Change::label`) all read this table.

use super::model::{Settings, human_mib};
use super::parse::{parse_bool, parse_number, parse_size_mib, parse_systems};
use super::validate::Problem;

/// One setting.
pub struct Setting {
    /// The key the CLI takes and hints name (`port`).
    pub key: &'static str,
    /// Other spellings accepted (`ssh-port`); `_` and `-` are the same.
    pub aliases: &'static [&'static str],
    /// Its name in the settings file, in problems and in changes (`ssh_port`).
    pub field: &'static str,
    /// Its label in the window and in `settings show` (`SSH port`).
    pub label: &'static str,
    /// A value to show in hints and help (`31022`).
    pub example: &'static str,
    /// The builder must restart for a change to take effect.
    pub restarts: bool,
    /// A change is written into Nix's configuration too (the admin prompt).
    pub needs_admin: bool,
    /// The value as people read it (`8 GiB`, `on`).
    pub show: fn(&Settings) -> String,
    /// Sets the value from what a person typed.
    pub parse: fn(&mut Settings, &str) -> Result<(), Problem>,
}

fn on_off(value: bool) -> String {
    if value { "on" } else { "off" }.to_string()
}

/// Every setting the CLI and the window change, in display order.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "port",
        aliases: &["ssh-port"],
        field: "ssh_port",
        label: "SSH port",
        example: "31022",
        restarts: true,
        needs_admin: true,
        show: |s| s.ssh_port.to_string(),
        parse: |s, v| {
            s.ssh_port = parse_number(v, "ssh_port", "31022")?;
            Ok(())
        },
    },
    Setting {
        key: "disk",
        aliases: &["disk-size", "disk-mib"],
        field: "disk_mib",
        label: "Disk",
        example: "40GiB",
        restarts: true,
        needs_admin: false,
        show: |s| human_mib(s.disk_mib),
        parse: |s, v| {
            s.disk_mib = parse_size_mib(v, "disk_mib", "40GiB")?;
            Ok(())
        },
    },
    Setting {
        key: "memory",
        aliases: &["memory-size", "memory-mib", "ram"],
        field: "memory_mib",
        label: "Memory",
        example: "8GiB",
        restarts: true,
        needs_admin: false,
        show: |s| human_mib(s.memory_mib),
        parse: |s, v| {
            s.memory_mib = parse_size_mib(v, "memory_mib", "8GiB")?;
            Ok(())
        },
    },
    Setting {
        key: "cores",
        aliases: &["cpus"],
        field: "cores",
        label: "Cores",
        example: "4",
        restarts: true,
        needs_admin: false,
        show: |s| s.cores.to_string(),
        parse: |s, v| {
            s.cores = parse_number(v, "cores", "4")?;
            Ok(())
        },
    },
    Setting {
        key: "max-jobs",
        aliases: &["jobs"],
        field: "max_jobs",
        label: "Max jobs",
        example: "4",
        restarts: false,
        needs_admin: true,
        show: |s| s.max_jobs.to_string(),
        parse: |s, v| {
            s.max_jobs = parse_number(v, "max_jobs", "4")?;
            Ok(())
        },
    },
    Setting {
        key: "systems",
        aliases: &["system"],
        field: "systems",
        label: "Systems",
        example: "aarch64-linux,x86_64-linux",
        restarts: false,
        needs_admin: true,
        show: |s| s.systems.join(","),
        parse: |s, v| {
            s.systems = parse_systems(v);
            Ok(())
        },
    },
    Setting {
        key: "ephemeral",
        aliases: &[],
        field: "ephemeral",
        label: "Wipe the disk at every start",
        example: "off",
        restarts: true,
        needs_admin: false,
        show: |s| on_off(s.ephemeral),
        parse: |s, v| {
            s.ephemeral = parse_bool(v, "ephemeral")?;
            Ok(())
        },
    },
    Setting {
        key: "start-at-login",
        aliases: &["login"],
        field: "start_at_login",
        label: "Start at login",
        example: "on",
        restarts: false,
        needs_admin: false,
        show: |s| on_off(s.start_at_login),
        parse: |s, v| {
            s.start_at_login = parse_bool(v, "start_at_login")?;
            Ok(())
        },
    },
    Setting {
        key: "on-demand",
        aliases: &[],
        field: "on_demand",
        label: "Start when a build needs it",
        example: "on",
        // The supervisor reads it as it starts.
        restarts: true,
        needs_admin: false,
        show: |s| on_off(s.on_demand),
        parse: |s, v| {
            s.on_demand = parse_bool(v, "on_demand")?;
            Ok(())
        },
    },
    Setting {
        key: "idle-minutes",
        aliases: &["idle"],
        field: "idle_minutes",
        label: "Stop after idle",
        example: "30",
        restarts: true,
        needs_admin: false,
        show: |s| format!("{} min", s.idle_minutes),
        parse: |s, v| {
            let minutes = v
                .trim()
                .trim_end_matches("min")
                .trim_end_matches('m')
                .trim();
            s.idle_minutes = parse_number(minutes, "idle_minutes", "30")?;
            Ok(())
        },
    },
    Setting {
        key: "notify-vm-failures",
        aliases: &[],
        field: "notifications.vm_failures",
        label: "VM failures",
        example: "on",
        restarts: false,
        needs_admin: false,
        show: |s| on_off(s.notifications.vm_failures),
        parse: |s, v| {
            s.notifications.vm_failures = parse_bool(v, "notifications.vm_failures")?;
            Ok(())
        },
    },
    Setting {
        key: "notify-build-failures",
        aliases: &[],
        field: "notifications.build_failures",
        label: "Failed builds",
        example: "on",
        restarts: false,
        needs_admin: false,
        show: |s| on_off(s.notifications.build_failures),
        parse: |s, v| {
            s.notifications.build_failures = parse_bool(v, "notifications.build_failures")?;
            Ok(())
        },
    },
    Setting {
        key: "notify-build-successes",
        aliases: &[],
        field: "notifications.build_successes",
        label: "Successful builds",
        example: "off",
        restarts: false,
        needs_admin: false,
        show: |s| on_off(s.notifications.build_successes),
        parse: |s, v| {
            s.notifications.build_successes = parse_bool(v, "notifications.build_successes")?;
            Ok(())
        },
    },
    Setting {
        key: "disk-low-threshold",
        aliases: &["disk-low-percent", "notify-disk-low"],
        field: "notifications.disk_low_percent",
        label: "Disk almost full at",
        example: "85%",
        restarts: false,
        needs_admin: false,
        show: |s| format!("{}%", s.notifications.disk_low_percent),
        parse: |s, v| {
            s.notifications.disk_low_percent = parse_number(
                v.trim().trim_end_matches('%'),
                "notifications.disk_low_percent",
                "85",
            )?;
            Ok(())
        },
    },
];

/// The setting a person named: its key, an alias or its field, in any
/// case, `_` or `-`.
pub fn find(name: &str) -> Option<&'static Setting> {
    let wanted = spelling(name);
    SETTINGS.iter().find(|setting| {
        spelling(setting.key) == wanted
            || spelling(setting.field) == wanted
            || setting
                .aliases
                .iter()
                .any(|alias| spelling(alias) == wanted)
    })
}

/// The setting a field (`ssh_port`) belongs to.
pub fn by_field(field: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|setting| setting.field == field)
}

fn spelling(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

/// The keys, for hints: `port, disk, memory, …`.
pub fn keys() -> Vec<&'static str> {
    SETTINGS.iter().map(|setting| setting.key).collect()
}

/// `settings set`'s help: each key, its label and an example value.
pub fn help() -> String {
    let mut out = String::from("KEYS:\n");
    for setting in SETTINGS {
        out.push_str(&format!(
            "  {:<24} {} (e.g. {})\n",
            setting.key, setting.label, setting.example
        ));
    }
    out.push_str("\nSizes take a unit: 8GiB, 8G, 8192M. Switches take on or off.");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::settings::HostFacts;

    #[test]
    fn every_key_alias_and_field_finds_its_setting_and_each_example_parses() {
        let mut settings = Settings::defaults_for(&HostFacts::sample());
        for setting in SETTINGS {
            let names = [setting.key, setting.field]
                .into_iter()
                .chain(setting.aliases.iter().copied());
            for name in names {
                assert_eq!(find(name).map(|s| s.key), Some(setting.key), "{name}");
                assert_eq!(
                    find(&name.to_ascii_uppercase()).map(|s| s.key),
                    Some(setting.key)
                );
            }
            (setting.parse)(&mut settings, setting.example).unwrap();
            let shown = (setting.show)(&settings);
            let mut again = settings.clone();
            (setting.parse)(&mut again, &shown.replace(' ', "")).unwrap();
            assert_eq!((setting.show)(&again), shown, "{} round-trips", setting.key);
        }
        assert!(find("colour").is_none());
    }

    #[test]
    fn no_two_settings_share_a_name() {
        let names = |s: &Setting| -> Vec<String> {
            [s.key, s.field]
                .into_iter()
                .chain(s.aliases.iter().copied())
                .map(spelling)
                .collect()
        };
        for (i, a) in SETTINGS.iter().enumerate() {
            for b in &SETTINGS[i + 1..] {
                let shared: Vec<String> = names(a)
                    .into_iter()
                    .filter(|n| names(b).contains(n))
                    .collect();
                assert!(shared.is_empty(), "{} and {}: {shared:?}", a.key, b.key);
            }
        }
    }
}
