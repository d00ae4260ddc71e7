//! Faults injected into real processes: SIGKILL of the supervisor under
//! launchd (the double) and of the app in the middle of an Apply, stale
//! files as a power loss leaves them, a port taken between Apply and
//! Start; the settings file (`faults/settings.rs`) and a full host disk
//! (`faults/disk.rs`). docs/RELIABILITY.md lists each fault, what happens
//! and the test that shows it — these and the older ones they build on.

mod disk;
mod settings;

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use rustix::process::Signal;

use crate::notifications::{Monitor, NotificationServer};
use crate::support::app;
use crate::support::home::Home;
use crate::support::services::{Detached, Launchd, cmdline, kill, wait_ssh, wait_status};
use crate::support::vm::dev_vm;

const BOOT: Duration = Duration::from_secs(120);

fn alive(pid: u64) -> bool {
    builderbar::vm::status::process_alive(pid as u32)
}

/// kill -9 of the supervisor while the VM runs under launchd (the double).
/// launchd kills what is left of the job's process group — the QEMU that
/// would otherwise be orphaned, holding the port and the disk — and, the
/// exit being a failure (KeepAlive), starts the job again after its
/// throttle: the VM boots again on the same port. (Without launchd, the
/// next supervisor stops such an orphan itself:
/// `supervisor::a_supervisor_killed_with_sigkill_does_not_block_the_next_start`.)
#[test]
fn launchd_restarts_a_supervisor_killed_with_sigkill_and_stops_its_orphan() {
    let home = Home::new();
    let launchd = Launchd::new(&home);
    launchd.cli_ok(&["start"]);
    wait_ssh(&home, BOOT);
    let first = home.status_file();
    let (supervisor, orphan) = (
        first["supervisor_pid"].as_u64().unwrap(),
        first["pid"].as_u64().unwrap(),
    );
    kill(supervisor, Signal::KILL);

    let again = wait_status(&home, BOOT, |s| {
        s["state"] == "running" && s["supervisor_pid"].as_u64() != Some(supervisor)
    });
    assert_ne!(again["pid"].as_u64(), Some(orphan));
    assert!(!alive(orphan), "the orphaned QEMU was stopped");
    assert_eq!(again["port"], home.port, "the port was free again");
    wait_ssh(&home, BOOT);
    assert_eq!(launchd.status()["service"]["runs"], 2);
}

/// The app, killed -9 twice: once idle with its health monitor running (the
/// VM does not notice), once in the middle of an Apply that restarts the
/// builder — after it asked the supervisor to stop, before it started it
/// again. The supervisor finishes the clean stop; the builder is reported
/// stopped (not failed); the settings hold the new value; the next start
/// runs with it. The stand-in is described in `support/app.rs`.
#[test]
fn the_app_killed_with_sigkill_loses_nothing() {
    let _server = NotificationServer::start();
    let home = Home::new();
    let service = Detached::new(&home);
    home.cli_ok(&["start"]);
    wait_ssh(&home, BOOT);
    let before = home.status_file();

    let mut monitor = Monitor::start(&home, &dev_vm().host_key, &["--no-builds"], &[]);
    monitor.wait_state(0, "ready", BOOT);
    drop(monitor); // SIGKILL
    assert_eq!(home.ssh_ok("echo still here").trim(), "still here");
    let after = home.status_file();
    assert_eq!(after["pid"], before["pid"]);
    assert_eq!(after["supervisor_pid"], before["supervisor_pid"]);

    let mut stand_in = app::apply_command(home.root(), "memory", "1536MiB")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The supervisor has the stop request and is powering the guest down.
    wait_status(&home, Duration::from_secs(30), |s| s["state"] == "stopping");
    stand_in.kill().unwrap();
    stand_in.wait().unwrap();

    let stopped = wait_status(&home, Duration::from_secs(60), |s| s["state"] == "stopped");
    assert_eq!(stopped["last_exit"]["kind"], "requested", "{stopped}");
    assert_eq!(service.status()["state"], "stopped");
    let saved: serde_json::Value =
        serde_json::from_str(&home.cli_ok(&["settings", "show", "--json"])).unwrap();
    assert_eq!(saved["memory_mib"], 1536);

    home.cli_ok(&["start"]);
    wait_ssh(&home, BOOT);
    let qemu = cmdline(home.status_file()["pid"].as_u64().unwrap());
    let memory = qemu.windows(2).rfind(|w| w[0] == "-m").unwrap();
    assert_eq!(memory[1], "1536", "{qemu:?}");
}

/// The port is free when it is chosen (Apply checks), then another program
/// takes it before the builder starts. The supervisor refuses before boot;
/// `start` fails with its reason, and the status names the port, the
/// program holding it and the way out.
#[test]
fn a_port_taken_between_apply_and_start_is_reported_naming_the_holder() {
    let home = Home::new();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    home.set("port", &port.to_string());
    let squatter = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let _service = Detached::new(&home);
    let start = home.cli(&["start"]);
    assert!(!start.status.success(), "start succeeded");
    let said = crate::support::ssh::stderr(&start);
    assert!(
        said.contains(&format!("port {port} is already in use"))
            && said.contains("choose another SSH port"),
        "{said}"
    );

    let failed = wait_status(&home, Duration::from_secs(30), |s| s["state"] == "failed");
    assert_eq!(failed["last_exit"]["kind"], "port-taken", "{failed}");
    let reason = failed["last_exit"]["reason"].as_str().unwrap();
    for part in [
        format!("port {port} is already in use"),
        format!("pid {}", std::process::id()),
        "choose another SSH port".to_string(),
    ] {
        assert!(reason.contains(&part), "{part:?} in {reason}");
    }
    let human = home.cli_ok(&["status"]);
    assert!(
        human.contains(&format!("port {port} is already in use")),
        "{human}"
    );
    assert!(
        !home.log().contains("starting the VM"),
        "refused before boot"
    );
    drop(squatter);
}

/// A power loss leaves the status file saying "running", the pid file, the
/// QMP socket and the lock file — and after the reboot, the pids they name
/// belong to other programs. None of it blocks a start, and no stranger is
/// signalled: status reports the supervisor gone, start boots the VM, stop
/// stops it, and the strangers live on.
#[test]
fn stale_files_from_a_power_loss_neither_block_a_start_nor_hit_a_stranger() {
    let home = Home::new();
    let stranger = || {
        Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (mut was_supervisor, mut was_qemu) = (stranger(), stranger());
    let state = home.root().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let status = serde_json::json!({
        "state": "running",
        "supervisor_pid": was_supervisor.id(),
        "pid": was_qemu.id(),
        "port": home.port,
        "started_at": "2026-01-01T00:00:00Z",
        "last_exit": null,
        "consecutive_failures": 0,
    });
    std::fs::write(state.join("status.json"), status.to_string()).unwrap();
    std::fs::write(state.join("vm.pid"), format!("{}\n", was_qemu.id())).unwrap();
    std::fs::write(state.join("supervisor.lock"), b"").unwrap();
    drop(std::os::unix::net::UnixListener::bind(state.join("qmp.sock")).unwrap());

    let report: serde_json::Value =
        serde_json::from_str(&home.cli_ok(&["status", "--json"])).unwrap();
    assert_eq!(report["state"], "failed", "{report}");
    assert!(
        report["last_error"]
            .as_str()
            .unwrap()
            .contains("supervisor is gone"),
        "{report}"
    );

    let service = Detached::new(&home);
    home.cli_ok(&["start"]);
    wait_ssh(&home, BOOT);
    let running = home.status_file();
    assert_ne!(running["pid"].as_u64(), Some(u64::from(was_qemu.id())));
    home.cli_ok(&["stop"]);
    assert_eq!(service.status()["state"], "stopped");
    for (name, child) in [("supervisor", &mut was_supervisor), ("QEMU", &mut was_qemu)] {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the process that took the old {name}'s pid was killed"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
