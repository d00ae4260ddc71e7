//! The settings file: valid TOML with odd values, hand edits, old
//! versions and garbage. Loading never panics, a file is either used or
//! kept aside (never silently dropped), and whatever was loaded can be
//! saved and loaded back unchanged.

use builderbar::paths::Paths;
use builderbar::settings::store::to_toml;
use builderbar::settings::{Settings, SettingsError, SettingsStore};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use crate::settings::{HOST, settings};
use crate::strategies::{hostile, key_line, mutate, mutations, text};

/// A TOML string holding `s` (basic, escaped), or a literal or multi-line
/// one written raw (often invalid TOML, on purpose).
fn toml_string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => text().prop_map(|s| toml::Value::String(s).to_string()),
        1 => hostile().prop_map(|s| format!("'{s}'")),
        1 => hostile().prop_map(|s| format!("\"\"\"{s}\"\"\"")),
    ]
}

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<i64>().prop_map(|n| n.to_string()),
        3 => select(&["0", "-1", "1", "22", "1023", "1024", "31022", "65535", "65536", "2048",
            "16777216", "16777217", "3072", "256", "257", "50", "99", "100", "255", "256",
            "9223372036854775807", "-9223372036854775808", "0x7a1e", "0o17", "1_024", "+8",
            "1.5", "3072.0", "nan", "+inf", "-0.0", "1e3", "true", "false",
            "1979-05-27T07:32:00Z", "07:32:00", "[]", "{}"][..]).prop_map(str::to_owned),
        2 => toml_string(),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => scalar(),
        1 => vec(scalar(), 0..3).prop_map(|v| format!("[{}]", v.join(", "))),
        1 => (scalar(), scalar()).prop_map(|(a, b)| format!("{{ a = {a}, \"INJECTED\" = {b} }}")),
    ]
}

fn strings(item: BoxedStrategy<String>) -> impl Strategy<Value = String> {
    vec(item, 0..4).prop_map(|v| format!("[{}]", v.join(", ")))
}

/// One `key = value` line: a known field (or an old name) with a fitting
/// or odd value, or an unknown key.
fn entry() -> impl Strategy<Value = String> {
    let systems = prop_oneof![
        3 => select(&["aarch64-linux", "x86_64-linux"][..]).prop_map(|s| format!("\"{s}\"")),
        1 => toml_string(),
    ]
    .boxed();
    let keys = key_line()
        .prop_map(|k| toml::Value::String(k).to_string())
        .boxed();
    prop_oneof![
        6 => (select(&["version", "ssh_port", "disk_mib", "memory_mib", "cores", "max_jobs",
            "ephemeral", "start_at_login", "nixpkgs", "port", "memory_size", "disk_size",
            "notifications.disk_low_percent", "notifications.vm_failures"][..]), value())
            .prop_map(|(k, v)| format!("{k} = {v}")),
        2 => strings(systems).prop_map(|v| format!("systems = {v}")),
        2 => strings(keys).prop_map(|v| format!("authorized_keys = {v}")),
        1 => (text(), value()).prop_map(|(k, v)| format!("{} = {v}", toml::Value::String(k))),
    ]
}

/// A settings file: top-level entries, maybe a `[notifications]` table
/// and another table, maybe a few random edits.
fn document() -> impl Strategy<Value = String> {
    let notifications = vec(
        (
            select(
                &[
                    "vm_failures",
                    "build_failures",
                    "build_successes",
                    "disk_low_percent",
                    "INJECTED",
                ][..],
            ),
            value(),
        )
            .prop_map(|(k, v)| format!("{k} = {v}")),
        0..5,
    );
    (
        vec(entry(), 0..10),
        proptest::option::of(notifications),
        proptest::option::of((text(), vec(entry(), 0..2))),
        mutations(2),
    )
        .prop_map(|(top, notifications, other, edits)| {
            let mut doc = top.join("\n");
            if let Some(n) = notifications {
                doc.push_str("\n[notifications]\n");
                doc.push_str(&n.join("\n"));
            }
            if let Some((name, entries)) = other {
                doc.push_str(&format!("\n[{}]\n", toml::Value::String(name)));
                doc.push_str(&entries.join("\n"));
            }
            doc.push('\n');
            mutate(&doc, &edits)
        })
}

/// A fresh folder, in memory where there is a tmpfs: the store fsyncs
/// every write, which on a disk costs more than the rest of a case.
fn scratch() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("bb-fuzz")
            .tempdir_in(shm)
            .unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

/// Loads `bytes` as the settings file of a fresh root.
fn load(
    bytes: &[u8],
) -> (
    tempfile::TempDir,
    Result<builderbar::settings::Loaded, SettingsError>,
) {
    let dir = scratch();
    let store = SettingsStore::with_host(&Paths::with_root(dir.path()), HOST);
    std::fs::write(store.paths().settings_file(), bytes).unwrap();
    let loaded = store.load();
    (dir, loaded)
}

/// What a load must be: used, or kept aside, or left alone when newer.
fn check_load(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (dir, loaded) = load(bytes);
    let version = std::str::from_utf8(bytes)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("version").and_then(toml::Value::as_integer));
    let loaded = match loaded {
        Err(SettingsError::FutureVersion { version: v, .. }) => {
            prop_assert_eq!(Some(v), version);
            prop_assert!(v > 1);
            return Ok(());
        }
        other => other.unwrap(),
    };
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .collect();
    if let Some(file) = aside.first() {
        prop_assert_eq!(aside.len(), 1);
        prop_assert_eq!(
            std::fs::read(file.path()).unwrap(),
            bytes,
            "kept byte for byte"
        );
        prop_assert_eq!(&loaded.settings, &Settings::defaults_for(&HOST));
    }
    for warning in &loaded.warnings {
        prop_assert!(crate::is_one_clean_line(warning), "{:?}", warning);
    }
    check_saves_and_reloads(&loaded.settings)
}

/// Settings that were loaded can be written and read back unchanged.
fn check_saves_and_reloads(settings: &Settings) -> Result<(), TestCaseError> {
    let text = to_toml(settings);
    prop_assert!(text.is_ok(), "cannot save {:?}: {:?}", settings, text);
    let text = text.unwrap();
    let (_dir, again) = load(text.as_bytes());
    let again = again.unwrap();
    prop_assert!(
        !again.warnings.iter().any(|w| w.contains("moved to")),
        "{:?}\n{}",
        again.warnings,
        text
    );
    // Compared as text: a NaN kept in an unknown field is not equal to itself.
    prop_assert_eq!(to_toml(&again.settings).unwrap(), text);
    Ok(())
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn a_hand_edited_file(doc in document()) {
        check_load(doc.as_bytes())?;
    }

    #[test]
    fn any_bytes(bytes in prop_oneof![vec(any::<u8>(), 0..200), text().prop_map(String::into_bytes)]) {
        check_load(&bytes)?;
    }

    #[test]
    fn settings_round_trip_through_the_file(s in settings()) {
        // TOML integers are i64: larger sizes never come from a file, and
        // validation refuses them before any write.
        if i64::try_from(s.memory_mib.max(s.disk_mib)).is_err() {
            return Ok(());
        }
        check_saves_and_reloads(&s)?;
        let (_dir, loaded) = load(to_toml(&s).unwrap().as_bytes());
        prop_assert_eq!(loaded.unwrap().settings, s);
    }
}
