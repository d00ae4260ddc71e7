//! `builderbar setup` end to end, as real processes: the happy path under a
//! sysroot (setup → Ready → the test build, built by the host's Nix on the
//! dev VM), a rerun that changes nothing, and each failure injected for
//! real — no Nix, the port taken, the admin prompt refused, the runner
//! build failing, a VM that never becomes Ready, the test build failing.
//! After each failure: the sysroot is byte for byte what it was, no
//! service is left installed, and the message names the fix.
//!
//! Doubles: `tests/doubles/osascript` stands in for macOS's admin prompt
//! (it runs the root step, or answers "User canceled." when told to); the
//! detached supervisor stands in for launchd.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::home::Home;
use crate::support::ssh;
use crate::support::vm::Slot;

/// Each failure injected for real.
mod failures;

const OSASCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/doubles/osascript");

/// A sysroot with a Nix of its own (a nix.conf and a machines file).
fn sysroot() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("bb-setup-sysroot-")
        .tempdir()
        .unwrap();
    let nix = dir.path().join("etc/nix");
    std::fs::create_dir_all(&nix).unwrap();
    std::fs::create_dir_all(dir.path().join("etc/ssh/ssh_config.d")).unwrap();
    std::fs::write(
        dir.path().join("etc/ssh/ssh_config"),
        "# as macOS ships it\nInclude /etc/ssh/ssh_config.d/*\n",
    )
    .unwrap();
    std::fs::write(nix.join("nix.conf"), "# mine\nmax-jobs = auto\n").unwrap();
    std::fs::set_permissions(nix.join("nix.conf"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(
        nix.join("machines"),
        "ssh://someone@elsewhere x86_64-linux - 2\n",
    )
    .unwrap();
    dir
}

/// Every file and folder under `root`: mode, owner and bytes.
fn tree(root: &Path) -> BTreeMap<PathBuf, (u32, u32, Option<Vec<u8>>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let bytes = if meta.is_dir() {
                stack.push(path.clone());
                None
            } else {
                Some(std::fs::read(&path).unwrap_or_default())
            };
            out.insert(rel, (meta.permissions().mode(), meta.uid(), bytes));
        }
    }
    out
}

/// Stops whatever builder the home still runs when the test ends.
struct Stopper<'h>(&'h Home);

impl Drop for Stopper<'_> {
    fn drop(&mut self) {
        let _ = self.0.cli(&["stop"]);
    }
}

/// `builderbar setup --json` under `root`; the output and its JSON lines.
fn setup(
    home: &Home,
    root: &Path,
    ready_timeout: u64,
    env: &[(&str, &str)],
) -> (Output, Vec<serde_json::Value>) {
    let mut command = home.command();
    command
        .env("BUILDERBAR_OSASCRIPT", OSASCRIPT)
        .args([
            "setup",
            "--json",
            "--ready-timeout",
            &ready_timeout.to_string(),
        ])
        .arg("--sysroot")
        .arg(root);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    let events = events_of(&out);
    (out, events)
}

/// The JSON lines `setup --json` printed.
fn events_of(out: &Output) -> Vec<serde_json::Value> {
    ssh::stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn last(events: &[serde_json::Value]) -> &serde_json::Value {
    events.last().expect("setup printed at least one event")
}

/// The failure event, checked to have stopped at `step` with a fix.
fn failure<'e>(out: &Output, events: &'e [serde_json::Value], step: &str) -> &'e serde_json::Value {
    assert!(!out.status.success(), "setup should fail: {events:?}");
    let end = last(events);
    assert_eq!(end["event"], "failed", "{events:?}\n{}", ssh::stderr(out));
    let failure = &end["failure"];
    assert_eq!(failure["step"], step, "{failure}");
    assert!(!failure["fix"].as_str().unwrap().is_empty(), "{failure}");
    assert_eq!(failure["left_behind"], serde_json::json!([]), "{failure}");
    assert!(
        ssh::stderr(out).contains("setup did not finish"),
        "{}",
        ssh::stderr(out)
    );
    failure
}

/// Nothing half-installed: the sysroot as it was, no service, no builder.
fn nothing_installed(
    home: &Home,
    root: &Path,
    before: &BTreeMap<PathBuf, (u32, u32, Option<Vec<u8>>)>,
) {
    assert_eq!(&tree(root), before, "the sysroot changed");
    let status: serde_json::Value =
        serde_json::from_str(&home.cli_ok(&["status", "--json"])).unwrap();
    assert_eq!(status["service"]["installed"], false, "{status}");
    assert!(status["service"]["pid"].is_null(), "{status}");
    assert!(!home.root().join("nix-wiring/manifest.json").exists());
    assert!(!home.root().join("state/disk.qcow2").exists());
}

fn steps_done(events: &[serde_json::Value]) -> Vec<(String, bool)> {
    events
        .iter()
        .filter(|e| e["event"] == "step-done")
        .map(|e| (e["step"].as_str().unwrap().to_owned(), e["skipped"] == true))
        .collect()
}

#[test]
fn setup_reaches_ready_and_the_test_build_and_a_rerun_changes_nothing() {
    let _slot = Slot::take();
    let home = Home::new();
    let _stop = Stopper(&home);
    let root = sysroot();
    let (out, events) = setup(&home, root.path(), 120, &[]);
    assert!(out.status.success(), "{events:?}\n{}", ssh::stderr(&out));
    let first = &events[0];
    assert_eq!(first["event"], "check");
    assert_eq!(first["plan"]["admin_prompts"], 1, "{first}");
    let done = &last(&events)["done"];
    assert_eq!(done["headline"], "Your Mac can now build Linux packages");
    assert!(
        done["try_command"]
            .as_str()
            .unwrap()
            .contains("builderbar doctor --build")
    );
    // The test build ran on the builder (the dev VM with Nix).
    assert!(
        done["test_output"]
            .as_str()
            .unwrap()
            .contains("builderbar-test-build"),
        "{done}"
    );
    let steps = steps_done(&events);
    assert_eq!(steps.len(), 7, "{steps:?}");
    assert!(steps.iter().all(|(_, skipped)| !skipped), "{steps:?}");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "waiting" && e["state"] == "Ready")
    );
    home.ssh_ok("true");
    let status: serde_json::Value =
        serde_json::from_str(&home.cli_ok(&["status", "--json"])).unwrap();
    assert_eq!(status["service"]["installed"], true, "{status}");

    // Again: every step finds its work done; Nix's files do not change and
    // no admin prompt is needed (the double would run it, so check the plan).
    let wired = |t: BTreeMap<PathBuf, _>| {
        t.into_iter()
            .filter(|(p, _)| p.starts_with("etc"))
            .collect::<BTreeMap<_, _>>()
    };
    let before = wired(tree(root.path()));
    let (out, events) = setup(&home, root.path(), 120, &[]);
    assert!(out.status.success(), "{events:?}\n{}", ssh::stderr(&out));
    assert_eq!(events[0]["plan"]["admin_prompts"], 0, "{}", events[0]);
    let skipped: Vec<String> = steps_done(&events)
        .into_iter()
        .filter(|(_, s)| *s)
        .map(|(n, _)| n)
        .collect();
    assert_eq!(skipped, ["key", "apply", "service"], "{events:?}");
    assert_eq!(wired(tree(root.path())), before);

    home.cli_ok(&["uninstall", "--sysroot", root.path().to_str().unwrap()]);
}

/// With on-demand start on, the builder sleeps once started: setup's wait
/// ends there (the monitor never wakes it) and the test build wakes it.
#[test]
fn with_on_demand_setup_waits_until_it_sleeps_and_the_test_build_wakes_it() {
    let _slot = Slot::take();
    let home = Home::new();
    let _stop = Stopper(&home);
    home.set("on-demand", "on");
    let root = sysroot();
    let (out, events) = setup(&home, root.path(), 120, &[]);
    assert!(out.status.success(), "{events:?}\n{}", ssh::stderr(&out));
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "waiting"
                && e["state"] == "Sleeping — starts when a build needs it"),
        "{events:?}"
    );
    let ready = events
        .iter()
        .find(|e| e["event"] == "step-done" && e["step"] == "ready")
        .unwrap();
    assert!(
        ready["detail"]
            .as_str()
            .unwrap()
            .contains("starts when a build needs it"),
        "{ready}"
    );
    let done = &last(&events)["done"];
    assert!(
        done["test_output"]
            .as_str()
            .unwrap()
            .contains("builderbar-test-build"),
        "the test build woke it: {done}"
    );
    assert!(
        home.log().contains("a connection wants the builder"),
        "{}",
        home.log()
    );
    home.cli_ok(&["uninstall", "--sysroot", root.path().to_str().unwrap()]);
}

#[test]
fn on_linux_setup_never_touches_the_real_etc() {
    let home = Home::new();
    let out = home
        .command()
        .env_remove("BUILDERBAR_SYSROOT")
        .args(["setup", "--json"])
        .output()
        .unwrap();
    let events = events_of(&out);
    let failure = failure(&out, &events, "check");
    assert!(
        failure["message"].as_str().unwrap().contains("sysroot"),
        "{failure}"
    );
    assert!(
        failure["fix"]
            .as_str()
            .unwrap()
            .contains("BUILDERBAR_SYSROOT")
    );
    assert!(!home.root().join("nix-wiring").exists());
}
