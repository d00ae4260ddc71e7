//! The settings file for real: corrupt, truncated, future-version and old
//! files; unknown fields; round trips (proptest); validation on any input
//! (proptest); and several `builderbar` processes writing at once.

use std::path::Path;
use std::process::Command;

use builderbar::hint::Hint;
use builderbar::paths::Paths;
use builderbar::settings::store::to_toml;
use builderbar::settings::{HostFacts, Settings, SettingsError, SettingsStore, validate};
use proptest::prelude::*;

fn host() -> HostFacts {
    HostFacts {
        cpus: 8,
        memory_bytes: 16 << 30,
    }
}

fn store(dir: &Path) -> SettingsStore {
    SettingsStore::with_host(&Paths::with_root(dir), host())
}

fn write_file(dir: &Path, text: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("settings.toml"), text).unwrap();
}

fn corrupt_copies(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .contains(".corrupt-")
        })
        .collect()
}

#[test]
fn an_unreadable_file_is_moved_aside_reported_then_replaced() {
    for bad in [
        &b"ssh_port = 4000\nmemory_mib = [unclosed"[..],
        &b""[..],
        &b"\xff\xfe\x00binary"[..],
        &b"version = 1\nssh_port = \"forty\"\n"[..],
        &b"version = \"1\"\n"[..],
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_file(dir.path(), bad);
        let loaded = store(dir.path()).load().unwrap();
        assert_eq!(loaded.settings, Settings::defaults_for(&host()));
        assert!(
            loaded.warnings.iter().any(|w| w.contains("moved to")),
            "{:?}",
            loaded.warnings
        );
        let aside = corrupt_copies(dir.path());
        assert_eq!(aside.len(), 1, "{aside:?}");
        assert_eq!(std::fs::read(&aside[0]).unwrap(), bad, "kept byte for byte");
        // The defaults were written in its place and read back cleanly.
        let again = store(dir.path()).load().unwrap();
        assert!(again.warnings.is_empty(), "{:?}", again.warnings);
    }
}

#[test]
fn a_truncated_file_is_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::defaults_for(&host());
    s.ssh_port = 40000;
    let full = to_toml(&s).unwrap();
    // Cut in the middle of the notifications table header.
    let cut = full.find("[notifications").unwrap() + 5;
    write_file(dir.path(), &full.as_bytes()[..cut]);
    let loaded = store(dir.path()).load().unwrap();
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("could not be read"))
    );
    assert_eq!(corrupt_copies(dir.path()).len(), 1);
}

#[test]
fn a_future_version_is_left_untouched_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = b"version = 2\nssh_port = 40000\nnew_thing = true\n";
    write_file(dir.path(), text);
    let st = store(dir.path());
    let err = st.load().unwrap_err();
    assert!(matches!(
        err,
        SettingsError::FutureVersion { version: 2, .. }
    ));
    assert!(err.to_string().contains("newer BuilderBar"), "{err}");
    assert!(st.set("cores", "2").is_err());
    assert_eq!(
        std::fs::read(dir.path().join("settings.toml")).unwrap(),
        text
    );
    assert!(corrupt_copies(dir.path()).is_empty());
}

#[test]
fn an_old_version_is_migrated_and_backed_up() {
    let dir = tempfile::tempdir().unwrap();
    let old = b"port = 40000\nmemory_size = 4096\ndisk_size = 30720\n";
    write_file(dir.path(), old);
    let st = store(dir.path());
    let loaded = st.load().unwrap();
    assert_eq!(loaded.settings.ssh_port, 40000);
    assert_eq!(loaded.settings.memory_mib, 4096);
    assert_eq!(loaded.settings.disk_mib, 30720);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| w.contains("migrated from version 0"))
    );
    st.set("cores", "2").unwrap();
    let text = std::fs::read_to_string(dir.path().join("settings.toml")).unwrap();
    assert!(text.contains("version = 1"), "{text}");
    assert!(text.contains("ssh_port = 40000"), "{text}");
    assert_eq!(
        std::fs::read(dir.path().join("settings.toml.v0-backup")).unwrap(),
        old
    );
}

#[test]
fn unknown_fields_are_kept_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_file(
        dir.path(),
        b"version = 1\nfuture_knob = 7\n[notifications]\nsound = \"ping\"\n[future_table]\na = [1, 2]\n",
    );
    let st = store(dir.path());
    let loaded = st.load().unwrap();
    let w = loaded.warnings.join("\n");
    assert!(w.contains("`future_knob`"), "{w}");
    assert!(w.contains("`notifications.sound`"), "{w}");
    assert!(w.contains("`future_table`"), "{w}");
    st.set("max-jobs", "3").unwrap();
    let text = std::fs::read_to_string(dir.path().join("settings.toml")).unwrap();
    let table: toml::Table = text.parse().unwrap();
    assert_eq!(table["future_knob"].as_integer(), Some(7));
    assert_eq!(table["notifications"]["sound"].as_str(), Some("ping"));
    assert_eq!(table["future_table"]["a"].as_array().unwrap().len(), 2);
    assert_eq!(table["max_jobs"].as_integer(), Some(3));
}

#[test]
fn a_refused_change_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    st.set("disk", "40GiB").unwrap();
    // The disk exists at that size: from now on it may only grow.
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    let made = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(dir.path().join("state/disk.qcow2"))
        .arg("40G")
        .status()
        .unwrap();
    assert!(made.success());
    let before = std::fs::read(dir.path().join("settings.toml")).unwrap();
    for (key, value) in [
        ("disk", "30GiB"),
        ("port", "22"),
        ("port", "80"),
        ("memory", "512M"),
        ("memory", "64G"),
        ("cores", "0"),
        ("cores", "9"),
        ("max-jobs", "0"),
        ("systems", "x86_64-darwin"),
        ("memory", "lots"),
        ("nonsense", "1"),
    ] {
        let err = st.set(key, value).unwrap_err();
        assert!(
            err.hint().is_some_and(|h| !h.is_empty()),
            "{key} {value}: {err}"
        );
        assert_eq!(
            std::fs::read(dir.path().join("settings.toml")).unwrap(),
            before,
            "{key} {value}"
        );
    }
    let err = st.set("disk", "30GiB").unwrap_err();
    assert!(err.to_string().contains("only grow"), "{err}");
    assert!(err.hint().unwrap().contains("recreate"));
}

#[test]
fn a_port_in_use_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let err = store(dir.path())
        .set("port", &port.to_string())
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("in use"), "{msg}");
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
}

fn arb_settings() -> impl Strategy<Value = Settings> {
    (
        any::<u16>(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        proptest::collection::vec("[ -~]{0,20}", 0..4),
        any::<(bool, bool, bool, bool, bool)>(),
        any::<u8>(),
        proptest::collection::vec("\\PC{0,60}", 0..3),
    )
        .prop_map(|(port, disk, mem, cores, jobs, systems, b, pct, keys)| {
            let mut s = Settings::defaults_for(&host());
            s.ssh_port = port;
            // TOML integers are i64.
            s.disk_mib = disk >> 1;
            s.memory_mib = mem >> 1;
            s.cores = cores;
            s.max_jobs = jobs;
            s.systems = systems;
            s.ephemeral = b.0;
            s.start_at_login = b.1;
            s.notifications.vm_failures = b.2;
            s.notifications.build_failures = b.3;
            s.notifications.build_successes = b.4;
            s.notifications.disk_low_percent = pct;
            s.authorized_keys = keys;
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn validation_never_panics(
        new in arb_settings(),
        cur in arb_settings(),
        cpus in any::<u32>(),
        memory_bytes in any::<u64>(),
    ) {
        let host = HostFacts { cpus, memory_bytes };
        for p in validate(&new, Some(&cur), &host) {
            prop_assert!(!p.message.is_empty() && !p.hint.is_empty());
            prop_assert!(!p.message.contains('\n'));
        }
        let _ = validate(&new, None, &host);
    }

    #[test]
    fn settings_round_trip_through_the_file(s in arb_settings()) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::with_root(dir.path());
        builderbar::fsutil::write_atomic(
            &paths.settings_file(), to_toml(&s).unwrap().as_bytes(), 0o600).unwrap();
        let loaded = store(dir.path()).load().unwrap();
        prop_assert_eq!(loaded.settings, s);
    }

    #[test]
    fn any_set_is_saved_exactly_or_refused_without_a_change(
        key in proptest::sample::select(builderbar::settings::table::keys()),
        value in "\\PC{0,12}",
    ) {
        let dir = tempfile::tempdir().unwrap();
        let st = store(dir.path());
        st.set("max-jobs", "2").unwrap();
        let before = std::fs::read(dir.path().join("settings.toml")).unwrap();
        match st.set(key, &value) {
            Ok(saved) => prop_assert_eq!(st.load().unwrap().settings, saved),
            Err(_) => prop_assert_eq!(
                std::fs::read(dir.path().join("settings.toml")).unwrap(), before),
        }
    }
}

fn builderbar(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_builderbar"))
        .args(args)
        .env("BUILDERBAR_HOME", home)
        .env("BUILDERBAR_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn processes_writing_at_once_lose_nothing() {
    const WRITERS: usize = 4;
    const KEYS_EACH: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_path_buf();
    let mut lines = Vec::new();
    let handles: Vec<_> = (0..WRITERS)
        .map(|w| {
            let keys: Vec<String> = (0..KEYS_EACH)
                .map(|k| crate::keys::ed25519_line(&format!("writer{w}-key{k}")))
                .collect();
            lines.extend(keys.clone());
            let home = home.clone();
            std::thread::spawn(move || {
                for (k, key) in keys.iter().enumerate() {
                    let file = home.join(format!("in-{w}-{k}.pub"));
                    std::fs::write(&file, key).unwrap();
                    let out = builderbar(&home, &["keys", "add", file.to_str().unwrap()]);
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    // Interleave plain settings writes too.
                    let jobs = (w * KEYS_EACH + k) % 4 + 1;
                    let out =
                        builderbar(&home, &["settings", "set", "max-jobs", &jobs.to_string()]);
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let out = builderbar(&home, &["keys", "list", "--json"]);
    assert!(out.status.success());
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.len(), WRITERS * KEYS_EACH, "every key added survived");
    let folder = std::fs::read_to_string(home.join("vm-keys/builder_ed25519.pub")).unwrap();
    for line in &lines {
        assert!(folder.contains(line.as_str()), "the keys folder has {line}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&home)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn the_cli_shows_and_sets() {
    let dir = tempfile::tempdir().unwrap();
    let out = builderbar(dir.path(), &["settings", "show", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["ssh_port"], 31022);
    assert_eq!(json["disk_mib"], 20480);
    assert_eq!(json["memory_mib"], 3072);

    let out = builderbar(dir.path(), &["settings", "set", "memory", "2GiB"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = builderbar(dir.path(), &["settings", "show"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("memory                  2 GiB"), "{text}");

    let before = std::fs::read(dir.path().join("settings.toml")).unwrap();
    let out = builderbar(dir.path(), &["settings", "set", "port", "22"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with("builderbar: Port 22"), "{err}");
    assert!(lines[1].trim_start().starts_with("hint: "), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join("settings.toml")).unwrap(),
        before
    );
}

/// On-demand start's two settings: saved and shown (the supervisor does
/// not act on them yet); a bad idle time is one clear line and changes
/// nothing; an old settings file without them reads with the defaults.
#[test]
fn on_demand_and_its_idle_minutes_are_set_shown_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let show = |dir: &std::path::Path| -> serde_json::Value {
        let out = builderbar(dir, &["settings", "show", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let defaults = show(dir.path());
    assert_eq!(defaults["on_demand"], false);
    assert_eq!(defaults["idle_minutes"], 30);

    for (key, value) in [("on-demand", "on"), ("idle-minutes", "45")] {
        let out = builderbar(dir.path(), &["settings", "set", key, value]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let set = show(dir.path());
    assert_eq!(set["on_demand"], true);
    assert_eq!(set["idle_minutes"], 45);
    let text =
        String::from_utf8_lossy(&builderbar(dir.path(), &["settings", "show"]).stdout).into_owned();
    assert!(text.contains("on-demand               on"), "{text}");
    assert!(text.contains("idle-minutes            45 min"), "{text}");

    let before = std::fs::read(dir.path().join("settings.toml")).unwrap();
    for bad in ["0", "1441", "soon"] {
        let out = builderbar(dir.path(), &["settings", "set", "idle-minutes", bad]);
        assert!(!out.status.success(), "{bad} was taken");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 2, "{err}");
        assert_eq!(
            std::fs::read(dir.path().join("settings.toml")).unwrap(),
            before
        );
    }

    let old = tempfile::tempdir().unwrap();
    std::fs::write(
        old.path().join("settings.toml"),
        "version = 1\nssh_port = 40000\n",
    )
    .unwrap();
    let read = show(old.path());
    assert_eq!(read["on_demand"], false);
    assert_eq!(read["idle_minutes"], 30);
}
