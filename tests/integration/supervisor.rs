//! `builderbar vm run` with the real dev VM: start, clean stop, crashes,
//! refusals before boot, the disk, and stale files.

use std::time::{Duration, Instant};

use rustix::process::Signal;

use crate::support::home::Home;
use crate::support::wait;

fn nix_size_kib(home: &Home) -> u64 {
    let df = home.ssh_ok("df -P /nix");
    df.lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn starts_answers_ssh_and_stops_cleanly_on_sigterm() {
    let home = Home::new();
    let mut supervisor = home.start_supervisor();
    supervisor.wait_ready();
    assert_eq!(home.ssh_ok("id -un").trim(), "builder");
    // The guest trusts the host's CA bundle (nixpkgs' useHostCerts reads it
    // from NIX_SSL_CERT_FILE, which nothing sets for a launchd job): without
    // it, a download on the builder fails.
    let host_bundle = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap();
    assert_eq!(
        home.ssh_ok("cat /etc/ssl/certs/ca-certificates.crt"),
        host_bundle,
        "the guest sees the host's CA bundle"
    );

    let status = home.status_file();
    assert_eq!(status["state"], "running");
    assert_eq!(status["port"], home.port);
    let report: serde_json::Value =
        serde_json::from_str(&home.cli_ok(&["status", "--json"])).unwrap();
    assert_eq!(report["state"], "running");
    assert_eq!(report["pid"], supervisor.qemu_pid());
    assert!(report["uptime_secs"].as_i64().unwrap() >= 0);

    let asked = Instant::now();
    supervisor.signal(Signal::TERM);
    let exit = supervisor
        .wait_exit(Duration::from_secs(5))
        .expect("stopped within 5 s");
    assert_eq!(exit.code(), Some(0), "a stop that was asked for exits 0");
    println!("SIGTERM to exit: {:?}", asked.elapsed());

    let status = home.status_file();
    assert_eq!(status["state"], "stopped");
    assert_eq!(status["last_exit"]["kind"], "requested");
    assert!(
        home.log().contains("devvm: powering off"),
        "the guest powered down:\n{}",
        home.log()
    );
    assert!(!home.root().join("state/vm.pid").exists());
}

#[test]
fn a_killed_qemu_is_reported_with_a_non_zero_exit() {
    let home = Home::new();
    let mut supervisor = home.start_supervisor();
    supervisor.wait_ready();
    let qemu = rustix::process::Pid::from_raw(supervisor.qemu_pid() as i32).unwrap();
    rustix::process::kill_process(qemu, Signal::KILL).unwrap();

    let exit = supervisor
        .wait_exit(Duration::from_secs(10))
        .expect("the supervisor noticed");
    assert_eq!(exit.code(), Some(20));
    let status = home.status_file();
    assert_eq!(status["state"], "failed");
    assert_eq!(status["last_exit"]["kind"], "vm-died");
    assert_eq!(status["last_exit"]["signal"], 9);
    let reason = status["last_exit"]["reason"].as_str().unwrap();
    assert!(reason.contains("signal 9"), "{reason}");
    let report: serde_json::Value =
        serde_json::from_str(&home.cli_ok(&["status", "--json"])).unwrap();
    assert_eq!(report["state"], "failed");
    assert!(report["last_error"].as_str().unwrap().contains("signal 9"));
}

#[test]
fn a_taken_port_is_refused_before_boot_with_the_reason() {
    let home = Home::new();
    let squatter = std::net::TcpListener::bind(("127.0.0.1", home.port)).unwrap();
    let mut supervisor = home.start_supervisor();
    let exit = supervisor
        .wait_exit(Duration::from_secs(30))
        .expect("refused at once");
    assert_eq!(exit.code(), Some(11));
    let status = home.status_file();
    assert_eq!(status["last_exit"]["kind"], "port-taken");
    let reason = status["last_exit"]["reason"].as_str().unwrap();
    assert!(reason.contains(&home.port.to_string()), "{reason}");
    assert!(
        home.log()
            .contains(&format!("port {} is already in use", home.port))
    );
    assert!(
        !home.log().contains("starting the VM"),
        "refused before boot"
    );
    drop(squatter);
}

#[test]
fn a_raised_disk_setting_grows_the_disk_and_keeps_the_data() {
    let home = Home::new();
    let mut supervisor = home.start_supervisor();
    supervisor.wait_ready();
    let before = nix_size_kib(&home);
    home.ssh_ok("echo precious > /nix/var/marker && sync");
    supervisor.stop_cleanly();
    drop(supervisor);

    home.set("disk", "3GiB");

    let mut supervisor = home.start_supervisor();
    supervisor.wait_ready();
    let after = nix_size_kib(&home);
    assert!(
        after > before + 900_000,
        "grew from {before} KiB to {after} KiB"
    );
    assert_eq!(home.ssh_ok("cat /nix/var/marker").trim(), "precious");
    supervisor.stop_cleanly();
    drop(supervisor);

    // The disk is 3 GiB now: a smaller one is refused, with the way out.
    let refused = home.cli(&["settings", "set", "disk", "2GiB"]);
    assert!(!refused.status.success(), "a smaller disk is refused");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("recreate"));

    home.set("ephemeral", "true");
    let mut supervisor = home.start_supervisor();
    supervisor.wait_ready();
    let out = home.ssh("cat /nix/var/marker");
    assert!(!out.status.success(), "an ephemeral disk starts empty");
    supervisor.stop_cleanly();
}

#[test]
fn a_supervisor_killed_with_sigkill_does_not_block_the_next_start() {
    let home = Home::new();
    let mut supervisor = home.start_supervisor();
    supervisor.wait_ready();
    let orphan = supervisor.qemu_pid();
    supervisor.signal(Signal::KILL);
    supervisor.wait_exit(Duration::from_secs(5)).unwrap();
    assert!(
        home.root().join("state/vm.pid").exists(),
        "the pid file is left behind"
    );
    assert!(
        home.root().join("state/qmp.sock").exists(),
        "the socket is left behind"
    );
    let report: serde_json::Value =
        serde_json::from_str(&home.cli_ok(&["status", "--json"])).unwrap();
    assert_eq!(
        report["state"], "failed",
        "status sees the supervisor is gone"
    );
    drop(supervisor);

    let mut supervisor = home.start_supervisor();
    supervisor.wait_ready();
    let gone = wait::until(Duration::from_secs(5), Duration::from_millis(50), || {
        (!builderbar::vm::status::process_alive(orphan)).then_some(())
    });
    assert!(gone.is_some(), "the orphaned QEMU was stopped");
    assert_ne!(supervisor.qemu_pid(), orphan);
    supervisor.stop_cleanly();
}

#[test]
fn logs_show_the_supervisor_and_the_guest() {
    let home = Home::new();
    let mut supervisor = home.start_supervisor();
    supervisor.wait_ready();
    let logs = home.cli_ok(&["logs"]);
    assert!(logs.contains("starting the VM"), "{logs}");
    assert!(logs.contains("devvm: starting sshd"), "{logs}");
    supervisor.stop_cleanly();
}
