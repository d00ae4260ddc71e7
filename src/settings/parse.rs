//! Turning what a person types (`8GiB`, `on`, `aarch64-linux,x86_64-linux`)
//! into settings: the one place the CLI and the window parse values.

use super::model::Settings;
use super::validate::Problem;

/// Sets one setting from text. `key` is a key of the settings table
/// ([`super::table`]; its aliases and field names work too). Only parses:
/// call [`super::validate()`] for whether the value is acceptable.
pub fn set_field(settings: &mut Settings, key: &str, value: &str) -> Result<(), Problem> {
    match super::table::find(key) {
        Some(setting) => (setting.parse)(settings, value.trim()),
        None => Err(Problem::new(
            "setting",
            format!("There is no setting called \"{}\".", printable(key)),
            format!(
                "Settings you can change: {}.",
                super::table::keys().join(", ")
            ),
        )),
    }
}

/// Parses a size into MiB: `8GiB`, `8G`, `8GB`, `1.5G`, `8192M`, `8192MiB`,
/// `1T`. G, GB and GiB all mean 1024 MiB (as macOS's Activity Monitor
/// and QEMU count). A bare number is refused: it is too easy to mean GiB and
/// get MiB.
pub fn parse_size_mib(text: &str, field: &str, example: &str) -> Result<u64, Problem> {
    let bad = || {
        Problem::new(
            field,
            format!("\"{}\" is not a size.", printable(text)),
            format!("Write a number and a unit, for example {example} or 8192MiB."),
        )
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            Problem::new(
                field,
                format!("\"{}\" has no unit.", printable(text)),
                format!("Add a unit, for example {example} or 8192MiB."),
            )
        })?;
    let (number, unit) = t.split_at(split);
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "m" | "mb" | "mib" => 1.0,
        "g" | "gb" | "gib" => 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    if number.is_empty() || number.len() > 20 {
        return Err(bad());
    }
    let n: f64 = number.parse().map_err(|_| bad())?;
    let mib = n * factor;
    if !mib.is_finite() || !(0.0..=1e15).contains(&mib) || mib.fract() != 0.0 {
        return Err(Problem::new(
            field,
            format!("\"{}\" is not a whole number of MiB.", printable(text)),
            format!("Write a whole size, for example {example}."),
        ));
    }
    Ok(mib as u64)
}

pub(super) fn parse_number<T: std::str::FromStr>(
    text: &str,
    field: &str,
    example: &str,
) -> Result<T, Problem> {
    text.trim().parse().map_err(|_| {
        Problem::new(
            field,
            format!(
                "\"{}\" is not a number this setting takes.",
                printable(text)
            ),
            format!("Write a whole number, for example {example}."),
        )
    })
}

pub(super) fn parse_bool(text: &str, field: &str) -> Result<bool, Problem> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(Problem::new(
            field,
            format!("\"{}\" is neither on nor off.", printable(text)),
            "Write on or off.",
        )),
    }
}

pub(super) fn parse_systems(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A user's input shown back in a message: at most 40 characters, control
/// characters escaped, so a message stays one readable line.
pub fn printable(text: &str) -> String {
    let mut out: String = text.chars().take(40).flat_map(char::escape_debug).collect();
    if text.chars().count() > 40 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::settings::HostFacts;

    fn host() -> HostFacts {
        HostFacts::sample()
    }

    #[test]
    fn sizes_people_write() {
        for (text, mib) in [
            ("8GiB", 8192),
            ("8G", 8192),
            ("8 GB", 8192),
            ("8192M", 8192),
            ("8192MiB", 8192),
            ("1.5G", 1536),
            ("1T", 1 << 20),
        ] {
            assert_eq!(parse_size_mib(text, "m", "8GiB").unwrap(), mib, "{text}");
        }
        for text in [
            "8", "", "G", "8X", "-1G", "1.0001M", "1e400G", "NaNG", "..G",
        ] {
            assert!(parse_size_mib(text, "m", "8GiB").is_err(), "{text}");
        }
    }

    #[test]
    fn sets_each_key() {
        let mut s = Settings::defaults_for(&host());
        for key in super::super::table::keys() {
            let value = match key {
                "port" => "40000",
                "disk" => "40G",
                "memory" => "4G",
                "cores" | "max-jobs" => "2",
                "systems" => "aarch64-linux,x86_64-linux",
                "disk-low-threshold" => "90%",
                "idle-minutes" => "45",
                _ => "on",
            };
            set_field(&mut s, key, value).unwrap();
        }
        assert_eq!(s.ssh_port, 40000);
        assert_eq!(s.disk_mib, 40960);
        assert_eq!(s.memory_mib, 4096);
        assert_eq!(s.systems.len(), 2);
        assert!(s.ephemeral && s.notifications.build_successes);
        assert_eq!(s.notifications.disk_low_percent, 90);
        assert!(s.on_demand);
        assert_eq!(s.idle_minutes, 45);
        let err = set_field(&mut s, "colour", "red").unwrap_err();
        assert!(err.hint.contains("max-jobs"));
        assert!(set_field(&mut s, "ephemeral", "maybe").is_err());
    }
}
