//! Runner generations on Linux: the dev VM build and its runner, written
//! once into generation 1 by the first start and started as it is by the
//! next; `builderbar runner list` shows it. `runner switch` through the
//! service (launchd played by its double): to a kept generation, proved
//! Ready; back again when the new one exits or never answers.

use std::path::PathBuf;
use std::time::Duration;

use builderbar::generations::{Candidate, Store};

use crate::notifications::{Monitor, NotificationServer};
use crate::support::home::Home;
use crate::support::services::{Launchd, wait_ssh};
use crate::support::vm::dev_vm;

pub(crate) fn generations(home: &Home) -> serde_json::Value {
    serde_json::from_str(&home.cli_ok(&["runner", "list", "--json"])).unwrap()
}

#[test]
fn the_first_start_makes_generation_1_and_the_next_start_starts_it_as_it_is() {
    let home = Home::new();
    assert!(
        home.cli_ok(&["runner", "list"])
            .contains("No generation yet"),
        "none before the first start"
    );
    let mut supervisor = home.start_supervisor();
    supervisor.wait_ready();
    supervisor.stop_cleanly();
    drop(supervisor);

    let list = generations(&home);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
    let first = &list[0];
    assert_eq!(first["number"], 1);
    assert_eq!(first["state"], "current");
    let built_from = first["built_from"].as_str().unwrap();
    assert!(
        built_from.starts_with("the dev VM, nix flavour, build "),
        "{built_from}"
    );
    let runner = PathBuf::from(first["runner"].as_str().unwrap());
    assert_eq!(runner, home.root().join("generations/1/runner"));
    assert!(
        home.log().contains(&format!("runner={}", runner.display())),
        "the supervisor started generation 1's runner:\n{}",
        home.log()
    );
    let written = std::fs::metadata(&runner).unwrap().modified().unwrap();

    // The next start starts the same runner; nothing is written again.
    let mut supervisor = home.start_supervisor();
    supervisor.wait_ready();
    supervisor.stop_cleanly();
    assert_eq!(
        std::fs::metadata(&runner).unwrap().modified().unwrap(),
        written
    );
    assert_eq!(generations(&home), list);
    let table = home.cli_ok(&["runner", "list"]);
    assert!(table.contains("   1  current "), "{table}");
}

/// The service (launchd played by its double) running generation 1, the dev
/// VM, and a generation 2 kept beside it whose runner is `script`, as if
/// made earlier and replaced: `runner switch 2` will start it.
pub(crate) fn with_second_generation<'h>(home: &'h Home, script: &str) -> Launchd<'h> {
    let launchd = Launchd::new(home);
    launchd.cli_ok(&["start"]);
    wait_ssh(home, Duration::from_secs(120));
    assert_eq!(add_generation(home, script), 2);
    launchd
}

/// Keeps a new generation beside the current one, which stays current (as
/// if the new one had been made and then switched away from): its runner
/// is `script`, in which GENERATION_1 names generation 1's runner.
pub(crate) fn add_generation(home: &Home, script: &str) -> u32 {
    let store = Store::at(&home.root().join("generations"));
    let current = store.current().unwrap().expect("a current generation");
    let first = store.get(1).unwrap().expect("generation 1");
    let script = script.replace("GENERATION_1", first.runner.to_str().unwrap());
    let made = store
        .adopt(Candidate {
            nixpkgs: None,
            identity: format!("a test's generation made after {}", current.number),
            built_from: "a test's stand-in".into(),
            make: &mut |dir| {
                let runner = dir.join("runner");
                crate::support::write_executable(&runner, &script);
                Ok(runner)
            },
        })
        .unwrap();
    store.select(current.number).unwrap();
    store.accept(current.number).unwrap();
    made.number
}

pub(crate) fn switch(launchd: &Launchd<'_>, args: &[&str]) -> (bool, String) {
    let out = launchd.cli(&[&["runner", "switch"], args].concat());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

pub(crate) fn state_of(list: &serde_json::Value, number: u64) -> &serde_json::Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|g| g["number"] == number)
        .unwrap_or_else(|| panic!("no generation {number}: {list:#}"))
}

#[test]
fn a_switch_starts_the_chosen_generation_and_waits_until_it_is_ready() {
    let home = Home::new();
    let launchd = with_second_generation(
        &home,
        "#!/bin/sh\necho 'generation 2 starts' >&2\nexec GENERATION_1 \"$@\"\n",
    );
    // A path Nix's database lists whose files are gone, as an old store
    // image's paths are after a swap (docs/MACOS.md §1).
    let gone = home.ssh_ok(
        "echo gone > /tmp/f && p=$(nix-store --add /tmp/f) && chmod -R u+w \"$p\" && rm -rf \"$p\" && echo \"$p\"",
    );
    let gone = gone.trim();
    assert!(
        home.ssh(&format!("nix-store --check-validity {gone}"))
            .status
            .success()
    );
    let (ok, said) = switch(&launchd, &["2"]);
    assert!(ok, "{said}");
    assert!(
        said.contains("1 registration(s) of paths that are gone removed"),
        "{said}"
    );
    assert!(
        !home
            .ssh(&format!("nix-store --check-validity {gone}"))
            .status
            .success(),
        "the registration is gone"
    );
    assert!(said.contains("Stopping the builder"), "{said}");
    assert!(said.contains("Starting generation 2"), "{said}");
    assert!(
        said.contains("The builder runs generation 2 (a test's stand-in), Ready after"),
        "{said}"
    );
    assert!(home.log().contains("generation 2 starts"), "{}", home.log());
    assert_eq!(launchd.status()["state"], "running");
    home.ssh_ok("true");
    let list = generations(&home);
    assert_eq!(state_of(&list, 2)["state"], "current");
    assert_eq!(state_of(&list, 1)["state"], "previous");

    // A start of the service starts the switched-to generation: the dev
    // VM build, known as generation 1, does not take its place again.
    launchd.cli_ok(&["restart"]);
    wait_ssh(&home, Duration::from_secs(120));
    assert_eq!(
        home.log().matches("generation 2 starts").count(),
        2,
        "{}",
        home.log()
    );

    // On-demand, the builder sleeps after its start: the switch wakes it
    // to prove the generation Ready.
    launchd.cli_ok(&["settings", "set", "on-demand", "on"]);
    let (ok, said) = switch(&launchd, &["1"]);
    assert!(ok, "{said}");
    assert!(said.contains("Sleeping"), "it was asleep first: {said}");
    assert!(said.contains("runs generation 1"), "{said}");
    let table = home.cli_ok(&["runner", "list"]);
    assert!(table.contains("   1  current "), "{table}");
    assert!(table.contains("   2  previous "), "{table}");
    let (ok, said) = switch(&launchd, &["1"]);
    assert!(
        !ok && said.contains("already the builder's current one"),
        "{said}"
    );
    let (ok, said) = switch(&launchd, &["9"]);
    assert!(!ok && said.contains("there is no generation 9"), "{said}");

    // Back to the one generation 1 replaced.
    let out = launchd.cli(&["runner", "rollback"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("runs generation 2"), "{said}");
}

/// The app's part played by `builderbar monitor`: it raises nothing while
/// the switch stops and starts the builder and generation 2 fails; the
/// switch shows the one notification.
#[test]
fn a_generation_whose_runner_exits_is_marked_failed_and_the_builder_goes_back() {
    let server = NotificationServer::start();
    let home = Home::new();
    let launchd = with_second_generation(
        &home,
        "#!/bin/sh\necho 'qemu: this runner cannot boot' >&2\nexit 1\n",
    );
    let mut monitor = Monitor::start(&home, &dev_vm().host_key, &["--no-builds"], &[]);
    monitor.wait_state(0, "ready", Duration::from_secs(120));
    let skip = monitor.lines().len();
    let (ok, said) = switch(&launchd, &["2"]);
    assert!(!ok, "{said}");
    assert!(
        said.contains("generation 2 failed: ")
            && said.contains("went back to generation 1, which is Ready"),
        "{said}"
    );
    assert!(said.contains("QEMU exited with code 1"), "{said}");
    home.ssh_ok("true");
    assert_eq!(launchd.status()["state"], "running");

    let list = generations(&home);
    assert_eq!(state_of(&list, 1)["state"], "current");
    let failed = state_of(&list, 2);
    assert_eq!(failed["state"], "failed");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("QEMU exited with code 1"),
        "{failed:#}"
    );
    let log = failed["last_log"].as_array().unwrap();
    assert!(
        log.iter()
            .any(|l| l.as_str().unwrap().contains("this runner cannot boot")),
        "{failed:#}"
    );
    let table = home.cli_ok(&["runner", "list"]);
    assert!(table.contains("   2  failed "), "{table}");
    assert!(table.contains("| "), "the log lines: {table}");
    let out = launchd.cli(&["runner", "rollback"]);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("no previous generation"),
        "{out:?}"
    );

    let shown = server.wait_shown("New builder generation failed", Duration::from_secs(10));
    assert_eq!(shown.len(), 1, "{shown:#?}");
    let body = shown[0]["body"].as_str().unwrap();
    assert!(
        body.contains("Generation 2: ") && body.contains("back on generation 1 and Ready"),
        "{body}"
    );
    let seen: Vec<_> = monitor.lines().into_iter().skip(skip).collect();
    assert!(
        seen.iter()
            .any(|l| l["event"] == "state" && l["switching"] == 2),
        "the monitor saw the switch: {seen:#?}"
    );
    monitor.wait_line(skip, Duration::from_secs(30), |l| {
        l["event"] == "state" && l["state"] == "ready" && l["switching"].is_null()
    });
    let all: Vec<_> = server
        .calls()
        .into_iter()
        .filter(|c| c["call"] == "Notify")
        .collect();
    assert_eq!(all.len(), 1, "one notification in all: {all:#?}");
}

#[test]
fn a_generation_that_never_answers_is_given_up_after_the_timeout() {
    let home = Home::new();
    // QEMU "runs" but no guest ever answers SSH.
    let launchd = with_second_generation(&home, "#!/bin/sh\nexec sleep 600\n");
    let (ok, said) = switch(&launchd, &["2", "--timeout", "15"]);
    assert!(!ok, "{said}");
    assert!(
        said.contains("did not become Ready within 15 s")
            && said.contains("went back to generation 1"),
        "{said}"
    );
    home.ssh_ok("true");
    let list = generations(&home);
    assert_eq!(state_of(&list, 2)["state"], "failed");
    assert_eq!(state_of(&list, 1)["state"], "current");
}
