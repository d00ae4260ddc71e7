//! start/stop/restart/status through the service: with the launchctl double
//! (which really runs, restarts and stops the job as launchd would) and with
//! the detached Linux backend — the supervisor and the dev VM for real.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::home::Home;
use crate::support::services::{Launchd, launchctl_double, wait_ssh};
use crate::support::vm::Slot;
use crate::support::wait;

#[test]
fn launchd_starts_the_vm_and_a_stop_keeps_it_stopped() {
    let home = Home::new();
    let launchd = Launchd::new(&home);
    launchd.cli_ok(&["keys", "show"]);
    // Once the builder key exists, starting never reads the keychain: on a
    // Mac the CLI is not the binary that made the item, and a read would
    // ask for the login password. Here the Secret Service is out of reach.
    let start = launchd.cli_with(
        &["start"],
        &[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")],
    );
    assert!(
        start.status.success(),
        "{}",
        String::from_utf8_lossy(&start.stderr)
    );
    wait_ssh(launchd.home, Duration::from_secs(120));
    let status = launchd.status();
    assert_eq!(status["state"], "running");
    assert_eq!(status["service"]["manager"], "launchd");
    assert_eq!(status["service"]["loaded"], true);
    let plist = home
        .root()
        .join("user-home/Library/LaunchAgents/dev.builderbar.vm.plist");
    assert!(plist.exists(), "the LaunchAgent is installed");
    assert!(
        home.root().join("bin/builderbar").exists(),
        "a stable copy of the binary runs"
    );

    // A restart while launchd still tears the old run down: its bootstrap
    // answers 5 for a moment, as on a real Mac, and the start retries.
    let restart = launchd.cli_with(&["restart"], &[("LAUNCHCTL_DOUBLE_DRAIN_MS", "1500")]);
    assert!(
        restart.status.success(),
        "{}",
        String::from_utf8_lossy(&restart.stderr)
    );
    wait_ssh(launchd.home, Duration::from_secs(120));
    assert_eq!(launchd.status()["state"], "running");

    launchd.cli_ok(&["stop"]);
    let status = launchd.status();
    assert_eq!(status["state"], "stopped");
    assert_eq!(
        status["service"]["loaded"], false,
        "booted out: launchd will not restart it"
    );
    assert_eq!(status["service"]["stopped_by_user"], true);
    assert_eq!(
        home.status_file()["last_exit"]["code"],
        0,
        "a clean exit 0 after the power-down"
    );
    assert!(home.log().contains("devvm: powering off"));
    assert!(!home.ssh("true").status.success());
}

#[test]
fn launchd_restarts_the_vm_after_qemu_is_killed() {
    let home = Home::new();
    let launchd = Launchd::new(&home);
    launchd.cli_ok(&["start"]);
    wait_ssh(launchd.home, Duration::from_secs(120));
    let first = home.status_file()["pid"].as_u64().unwrap() as i32;
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(first).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();

    // launchd's throttle (10 s between starts) has long passed: it restarts
    // the supervisor, which boots the VM again.
    let restarted = wait::until(Duration::from_secs(120), Duration::from_millis(250), || {
        let status = home.status_file();
        (status["state"] == "running" && status["pid"].as_u64() != Some(first as u64)).then_some(())
    });
    assert!(restarted.is_some(), "restarted:\n{}", home.log());
    wait_ssh(launchd.home, Duration::from_secs(120));
    let status = launchd.status();
    assert_eq!(status["service"]["runs"], 2);
    assert_eq!(home.status_file()["last_exit"]["kind"], "vm-died");
}

#[test]
fn a_runner_that_fails_at_once_is_throttled_and_reported_as_a_crash_loop() {
    let home = Home::new();
    let runner = home.root().join("broken-runner");
    crate::support::write_executable(
        &runner,
        "#!/bin/sh\necho 'qemu: cannot start' >&2\nexit 1\n",
    );
    let launchd = Launchd::new(&home);
    let out = launchd
        .home
        .command()
        .arg("start")
        .env("BUILDERBAR_RUNNER", &runner)
        .env("BUILDERBAR_LAUNCHCTL", launchctl_double())
        .env("LAUNCHCTL_DOUBLE_STATE", &launchd.state)
        .env(
            "BUILDERBAR_WAIT4PATH",
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/doubles/wait4path"),
        )
        .env("HOME", home.root().join("user-home"))
        .output()
        .unwrap();
    // `start` tells at once that the VM could not start, with the
    // supervisor's reason; launchd goes on retrying it all the same.
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "start succeeded: {said}");
    assert!(
        said.contains("the builder could not start") && said.contains("QEMU exited with code 1"),
        "{said}"
    );

    let looping = wait::until(Duration::from_secs(60), Duration::from_millis(500), || {
        let status = launchd.status();
        (status["crash_loop"] == true).then_some(status)
    });
    let status = looping.expect("a crash loop is reported");
    assert!(status["service"]["runs"].as_u64().unwrap() >= 3);
    assert!(
        home.log().contains("qemu: cannot start"),
        "the runner's words are in the log"
    );
    let human = launchd.cli_ok(&["status"]);
    assert!(human.contains("keeps failing"), "{human}");
}

#[test]
fn the_detached_backend_outlives_the_cli_and_stops_on_request() {
    let home = Home::new();
    let _slot = Slot::take();
    let out = home.cli(&["start"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The CLI has exited; the VM still comes up and stays.
    let up = wait::until(Duration::from_secs(120), Duration::from_millis(250), || {
        home.ssh("true").status.success().then_some(())
    });
    assert!(up.is_some(), "{}", home.log());
    let status: serde_json::Value =
        serde_json::from_str(&home.cli_ok(&["status", "--json"])).unwrap();
    assert_eq!(status["service"]["manager"], "detached");
    assert_eq!(status["state"], "running");

    home.cli_ok(&["stop"]);
    let status: serde_json::Value =
        serde_json::from_str(&home.cli_ok(&["status", "--json"])).unwrap();
    assert_eq!(status["state"], "stopped");
    assert_eq!(home.status_file()["last_exit"]["kind"], "requested");
    assert!(!home.ssh("true").status.success());
}
