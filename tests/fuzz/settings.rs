//! Settings as people type them (`settings set`, the window) and as the
//! validator judges them: never a panic, every problem one line naming a
//! real field, and values parsed exactly.

use builderbar::settings::parse::{parse_size_mib, set_field};
use builderbar::settings::table::{SETTINGS, keys};
use builderbar::settings::validate::KNOWN_SYSTEMS;
use builderbar::settings::{HostFacts, Notifications, Settings, validate};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

use crate::is_one_clean_line;
use crate::strategies::{hostile, key_input, key_line, text};

/// An 8-core, 16 GiB Mac.
pub const HOST: HostFacts = HostFacts {
    cpus: 8,
    memory_bytes: 16 << 30,
};

/// Every field a problem may name: the settings table's, and the ones no
/// key sets (the authorized keys, the pin, an unknown key).
fn is_field(name: &str) -> bool {
    SETTINGS.iter().any(|s| s.field == name)
        || ["authorized_keys", "nixpkgs", "setting"].contains(&name)
}

/// A nixpkgs pin: real-looking branches, commits and URLs, or anything.
pub fn pin() -> impl Strategy<Value = String> {
    prop_oneof![
        select(&["nixpkgs-25.05-darwin", "nixos-24.11", "master", "INJECTED"][..])
            .prop_map(str::to_owned),
        "[a-zA-Z0-9][a-zA-Z0-9._-]{0,30}",
        "[0-9a-f]{40}",
        "https://[a-z0-9.-]{1,12}/[a-zA-Z0-9._~%+/-]{1,30}\\.tar\\.(gz|xz)",
        text(),
    ]
}

/// Mostly `valid` (19 in 20), else `any`.
fn mostly<T: std::fmt::Debug>(
    valid: impl Strategy<Value = T> + 'static,
    any: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    prop_oneof![19 => valid, 1 => any].boxed()
}

/// Settings, most of which the validator accepts on [`HOST`].
pub fn settings() -> impl Strategy<Value = Settings> {
    let numbers = (
        mostly(1024u16.., any::<u16>()),
        mostly(2048u64..=16 << 20, any::<u64>()),
        mostly(1024u64..=14 << 10, any::<u64>()),
        mostly(1u32..=8, any::<u32>()),
        mostly(1u32..=256, any::<u32>()),
    );
    let systems = mostly(
        subsequence(KNOWN_SYSTEMS, 1..=2).prop_map(|s| s.iter().map(|s| s.to_string()).collect()),
        vec(
            prop_oneof![select(KNOWN_SYSTEMS).prop_map(str::to_owned), hostile()],
            0..3,
        ),
    );
    let notifications = (any::<[bool; 3]>(), mostly(50u8..=99, any::<u8>())).prop_map(
        |([vm, failed, succeeded], pct)| Notifications {
            vm_failures: vm,
            build_failures: failed,
            build_successes: succeeded,
            disk_low_percent: pct,
            extra: toml::Table::new(),
        },
    );
    let keys = prop_oneof![3 => vec(key_line(), 0..3), 1 => vec(key_input(), 0..3)];
    let extra = vec((text(), text()), 0..3).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| (k, toml::Value::String(v)))
            .collect::<toml::Table>()
    });
    (
        numbers,
        systems,
        any::<[bool; 3]>(),
        mostly(1u32..=1440, any::<u32>()),
        notifications,
        keys,
        option::weighted(0.5, pin()),
        prop_oneof![3 => Just(toml::Table::new()), 1 => extra],
    )
        .prop_map(
            |(
                (ssh_port, disk_mib, memory_mib, cores, max_jobs),
                systems,
                [ephemeral, start_at_login, on_demand],
                idle_minutes,
                notifications,
                authorized_keys,
                nixpkgs,
                extra,
            )| Settings {
                version: 1,
                ssh_port,
                disk_mib,
                memory_mib,
                cores,
                max_jobs,
                systems,
                ephemeral,
                start_at_login,
                on_demand,
                idle_minutes,
                notifications,
                authorized_keys,
                nixpkgs,
                extra,
            },
        )
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(keys()).prop_map(str::to_owned),
        2 => select(&["ssh_port", "MAX_JOBS", " cores ", "notifications.disk_low_percent",
            "notifications.vm_failures", "ram", "login", "Disk-Size"][..]).prop_map(str::to_owned),
        1 => text(),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,6}(\\.[0-9]{0,3})? ?([GgMmTt]i?[Bb]?)?%?",
        select(
            &[
                "on",
                "off",
                "yes",
                "NO",
                "1",
                "0",
                "aarch64-linux,x86_64-linux",
                " x86_64-linux ",
                "-1",
                "1e3G",
                "NaNG",
                "infG",
                "0x10",
                "65536"
            ][..]
        )
        .prop_map(str::to_owned),
        text(),
    ]
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn set_field_parses_or_explains(key in key(), value in value()) {
        let before = Settings::defaults_for(&HOST);
        let mut after = before.clone();
        match set_field(&mut after, &key, &value) {
            Ok(()) => {
                for p in validate(&after, Some(&before), &HOST) {
                    prop_assert!(is_field(&p.field), "{:?}", p);
                    prop_assert!(is_one_clean_line(&p.message), "{:?}", p);
                    prop_assert!(is_one_clean_line(&p.hint), "{:?}", p);
                }
            }
            Err(p) => {
                prop_assert_eq!(&after, &before, "a refused value changed something");
                prop_assert!(is_field(&p.field), "{:?}", p);
                prop_assert!(is_one_clean_line(&p.message), "{:?}", p);
                prop_assert!(is_one_clean_line(&p.hint), "{:?}", p);
            }
        }
    }

    #[test]
    fn sizes_are_exact(whole in 0u64..100_000, tenths in option::of(0u64..10),
                       unit in select(&["M", "MiB", "mb", "G", "GiB", "gb", "T", "TiB"][..]),
                       space in select(&["", " ", "  "][..])) {
        let text = match tenths {
            Some(t) => format!("{whole}.{t}{space}{unit}"),
            None => format!("{whole}{space}{unit}"),
        };
        let factor = match unit.to_ascii_lowercase().chars().next() {
            Some('m') => 1,
            Some('g') => 1024,
            _ => 1024 * 1024,
        };
        let tenths_mib = (whole * 10 + tenths.unwrap_or(0)) * factor;
        match parse_size_mib(&text, "disk_mib", "40GiB") {
            Ok(mib) => prop_assert_eq!(mib * 10, tenths_mib, "{}", text),
            Err(_) => prop_assert!(tenths_mib % 10 != 0, "{} refused", text),
        }
    }

    #[test]
    fn any_size_text(text in prop_oneof![value(), text()]) {
        if let Ok(mib) = parse_size_mib(&text, "memory_mib", "8GiB") {
            prop_assert!(mib <= 1_000_000_000_000_000);
        }
    }

    #[test]
    fn every_problem_is_one_line_naming_its_field(new in settings(), current in option::of(settings())) {
        for p in validate(&new, current.as_ref(), &HOST) {
            prop_assert!(is_field(&p.field), "{:?}", p);
            prop_assert!(is_one_clean_line(&p.message), "{:?}", p);
            prop_assert!(is_one_clean_line(&p.hint), "{:?}", p);
        }
    }
}
