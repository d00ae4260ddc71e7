//! The settings file under faults: a real `builderbar settings set` killed
//! with SIGKILL at random points, a corrupt file met by the CLI, and two
//! CLIs and the app's core call writing at once.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand_core::RngCore;
use std::os::unix::process::ExitStatusExt;

use crate::support::home::BIN;
use crate::support::wait;

fn builderbar(home: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("BUILDERBAR_HOME", home)
        .env("BUILDERBAR_LOG", "warn")
        .output()
        .unwrap()
}

fn ok(home: &Path, args: &[&str]) -> String {
    let out = builderbar(home, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn names_containing(dir: &Path, part: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(part))
        .collect()
}

fn table(bytes: &[u8]) -> toml::Table {
    let text = std::str::from_utf8(bytes).expect("the settings file is UTF-8");
    text.parse()
        .unwrap_or_else(|e| panic!("a torn settings file: {e}\n{text}"))
}

/// 200 times: `settings set max-jobs N` killed with SIGKILL after a random
/// delay within 1.5 times how long one run takes here. After each kill the
/// file is byte for byte the old one, or the old one with exactly the new
/// value — never anything else — and the lock the killed writer held never
/// blocks the next one. The temp files of writers killed mid-write are
/// cleared by the next write.
#[test]
fn a_settings_write_killed_at_random_points_is_never_torn() {
    const RUNS: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let file = home.join("settings.toml");
    let mut took: Vec<Duration> = (1..=5)
        .map(|jobs| {
            let at = Instant::now();
            ok(home, &["settings", "set", "max-jobs", &jobs.to_string()]);
            at.elapsed()
        })
        .collect();
    took.sort();
    let window = (took[2].as_micros() as u64 * 3 / 2).max(1);
    let (mut killed_before, mut killed_after, mut finished, mut mid_write) = (0, 0, 0, 0);
    for run in 0..RUNS {
        let before = std::fs::read(&file).unwrap();
        let old = table(&before);
        let new_jobs = old["max_jobs"].as_integer().unwrap() % 16 + 1;
        let mut child = Command::new(BIN)
            .args(["settings", "set", "max-jobs", &new_jobs.to_string()])
            .env("BUILDERBAR_HOME", home)
            .env("BUILDERBAR_LOG", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The fault's timing (not a wait for a condition).
        std::thread::sleep(Duration::from_micros(rand_core::OsRng.next_u64() % window));
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        // It may have finished already: then it is a zombie and this is a no-op.
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        let status = wait::until(Duration::from_secs(10), Duration::from_millis(1), || {
            child.try_wait().unwrap()
        })
        .unwrap_or_else(|| panic!("run {run}: the writer hung (a lock left held?)"));

        if !names_containing(home, &format!(".settings.toml.{}.", child.id())).is_empty() {
            mid_write += 1;
        }
        let after = std::fs::read(&file).unwrap();
        let mut expected_new = old.clone();
        expected_new.insert("max_jobs".into(), toml::Value::Integer(new_jobs));
        let changed = after != before;
        if changed {
            assert_eq!(
                table(&after),
                expected_new,
                "run {run}: neither old nor new"
            );
        }
        match status.signal() {
            Some(9) if changed => killed_after += 1,
            Some(9) => killed_before += 1,
            _ => {
                assert!(status.success() && changed, "run {run}: {status}");
                finished += 1;
            }
        }
    }
    println!(
        "{RUNS} runs: {killed_before} killed before the new file was in place ({mid_write} of them \
         between writing the temp file and renaming it), {killed_after} killed after, {finished} \
         finished; kills within {window} µs of the start"
    );
    // The next write clears what killed writers left behind.
    ok(home, &["settings", "set", "max-jobs", "1"]);
    assert_eq!(names_containing(home, ".tmp"), Vec::<String>::new());
    assert!(
        names_containing(home, ".corrupt-").is_empty(),
        "no file was ever unreadable"
    );
    let out = builderbar(home, &["settings", "show", "--json"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).trim().is_empty(),
        "read back without a warning: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        killed_before + killed_after >= RUNS / 4,
        "too few kills landed while a writer ran to prove anything"
    );
    assert!(killed_after + finished > 0 && killed_before > 0);
}

/// A file cut short by a crash elsewhere (or edited by hand into nonsense):
/// the CLI says it could not be read and where it was kept, keeps it byte
/// for byte, and goes on with the defaults — never a silent reset.
#[test]
fn a_corrupt_settings_file_is_kept_aside_and_reported_by_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let torn = b"version = 1\nssh_port = 40022\nmemory_mib = 40";
    let mut torn = torn.to_vec();
    torn.extend_from_slice(b"96\n[notifications\n");
    std::fs::write(home.join("settings.toml"), &torn).unwrap();
    let out = builderbar(home, &["settings", "show", "--json"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("could not be read") && err.contains("moved to"),
        "{err}"
    );
    let aside = names_containing(home, ".corrupt-");
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(err.contains(&aside[0]), "the report names the copy: {err}");
    assert_eq!(std::fs::read(home.join(&aside[0])).unwrap(), torn);
    let again = builderbar(home, &["settings", "show"]);
    assert!(String::from_utf8_lossy(&again.stderr).trim().is_empty());
}

/// Two `builderbar` processes and the app's core calls (made here, in
/// this process, as the app makes them) change the settings at once, each
/// its own fields and keys: every key added survives, and every field ends
/// at the last value its writer gave it.
#[test]
fn two_clis_and_the_app_applying_at_once_lose_no_update() {
    const ROUNDS: usize = 6;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_path_buf();
    ok(&home, &["settings", "set", "memory", "1GiB"]);
    let keys = |who: &str| -> Vec<String> {
        (0..ROUNDS)
            .map(|i| crate::keys::ed25519_line(&format!("{who}-{i}")))
            .collect()
    };
    let (a_keys, b_keys, app_keys) = (keys("cli-a"), keys("cli-b"), keys("app"));
    let cli =
        |who: &'static str, lines: Vec<String>, key: &'static str, value: fn(usize) -> String| {
            let home = home.clone();
            std::thread::spawn(move || {
                for (i, line) in lines.iter().enumerate() {
                    let file = home.join(format!("{who}-{i}.pub"));
                    std::fs::write(&file, line).unwrap();
                    ok(&home, &["keys", "add", file.to_str().unwrap()]);
                    ok(&home, &["settings", "set", key, &value(i)]);
                }
            })
        };
    let a = cli("a", a_keys.clone(), "cores", |i| (i % 2 + 1).to_string());
    let b = cli("b", b_keys.clone(), "max-jobs", |i| (i + 1).to_string());
    let paths = builderbar::paths::Paths::with_root(&home);
    for (i, line) in app_keys.iter().enumerate() {
        let store = builderbar::settings::SettingsStore::open(&paths).unwrap();
        builderbar::keys::Keys::with_platform_keychain(store)
            .add_authorized(line)
            .unwrap();
        let applied = builderbar::actions::apply_settings(
            &paths,
            |s| {
                s.memory_mib = 1024 + 256 * i as u64;
                Ok(())
            },
            |_| {},
        )
        .unwrap();
        assert!(!applied.restarted, "nothing runs: nothing restarts");
    }
    a.join().unwrap();
    b.join().unwrap();

    let settings: serde_json::Value =
        serde_json::from_str(&ok(&home, &["settings", "show", "--json"])).unwrap();
    assert_eq!(settings["max_jobs"], ROUNDS as u64);
    assert_eq!(settings["cores"], ((ROUNDS - 1) % 2 + 1) as u64);
    assert_eq!(settings["memory_mib"], 1024 + 256 * (ROUNDS as u64 - 1));
    let listed = ok(&home, &["keys", "list", "--json"]);
    let folder = std::fs::read_to_string(home.join("vm-keys/builder_ed25519.pub")).unwrap();
    for line in a_keys.iter().chain(&b_keys).chain(&app_keys) {
        let body = line.split_whitespace().nth(1).unwrap();
        assert!(listed.contains(body), "lost: {line}");
        assert!(folder.contains(body), "not in the keys folder: {line}");
    }
}
