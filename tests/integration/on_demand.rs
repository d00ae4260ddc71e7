//! The on-demand builder for real: the supervisor (`builderbar vm run` with
//! `on-demand` on) holds the builder's port on 127.0.0.1 while the dev VM
//! sleeps, boots it for the first connection, which it holds through the
//! boot and hands to the guest's sshd, and powers it down after the idle
//! time. The host's Nix (Debian's nix-bin through a private nix-daemon, as
//! in remote_build.rs) wakes it by building; the health monitor watches
//! without waking it or keeping it awake. The idle time is given in seconds
//! (`BUILDERBAR_IDLE_SECS`, for tests only) so that the tests need not wait
//! minutes.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use builderbar::nix::test_build::HostNix;
use builderbar::nix::test_build_host::BuildSpec;

use crate::notifications::{Monitor, NotificationServer};
use crate::remote_build::{install, sysroot};
use crate::security::{listeners, other_local_addresses};
use crate::support::home::{Home, Supervisor};
use crate::support::wait;

/// A boot under TCG and sshd's start, with room for a busy machine.
const BOOT_SECS: u32 = 120;

fn on_demand_home() -> Home {
    let home = Home::new();
    home.set("on-demand", "on");
    home
}

fn wait_state(home: &Home, supervisor: &mut Supervisor<'_>, state: &str, timeout: Duration) {
    let reached = wait::until(timeout, Duration::from_millis(10), || {
        if let Some(exit) = supervisor.child.try_wait().unwrap() {
            panic!("the supervisor exited ({exit}):\n{}", home.log());
        }
        (home.state() == state).then_some(())
    });
    assert!(
        reached.is_some(),
        "never {state} (is {:?}):\n{}",
        home.state(),
        home.log()
    );
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// One login as `builder`, waiting through a boot for the greeting.
fn ssh_waiting(home: &Home, command: &str) -> String {
    home.ssh_waiting_ok(command, BOOT_SECS)
}

/// Only 127.0.0.1 listens on `port`; every other local address is refused.
fn assert_loopback_only(port: u16) {
    assert_eq!(listeners(port), ["0100007F"], "one listener, 127.0.0.1");
    for ip in other_local_addresses() {
        let address = SocketAddr::new(ip, port);
        assert!(
            TcpStream::connect_timeout(&address, Duration::from_secs(2)).is_err(),
            "{address} accepted a connection"
        );
    }
}

/// Asleep: no QEMU, the supervisor's own listener on 127.0.0.1 only.
fn assert_asleep(home: &Home) {
    assert!(
        !home.root().join("state/vm.pid").exists(),
        "a sleeping builder runs no QEMU"
    );
    assert_loopback_only(home.port);
}

#[test]
fn a_sleeping_builder_boots_for_the_first_login_and_sleeps_again_when_unused() {
    let home = on_demand_home();
    let mut supervisor = home.start_supervisor_with(&[("BUILDERBAR_IDLE_SECS", "5")]);
    wait_state(&home, &mut supervisor, "sleeping", Duration::from_secs(60));
    assert_asleep(&home);
    let report: serde_json::Value =
        serde_json::from_str(&home.cli_ok(&["status", "--json"])).unwrap();
    assert_eq!(report["state"], "sleeping", "{report:#}");
    assert_eq!(report["builder"]["state"], "sleeping", "{report:#}");

    // The first login is held through the boot and answered by the guest.
    let user = ssh_waiting(&home, "id -un");
    assert_eq!(user.trim(), "builder");
    assert_eq!(home.state(), "running", "the VM is up after the login");
    let status = home.status_file();
    let forward = status["forward_port"].as_u64().unwrap() as u16;
    assert_ne!(forward, home.port, "QEMU forwards from a port of its own");
    assert_loopback_only(forward);
    assert_loopback_only(home.port);
    assert!(
        home.log().contains("held connections handed over"),
        "{}",
        home.log()
    );

    // Nothing uses it: after the idle time it powers down and sleeps.
    let qemu = supervisor.qemu_pid();
    wait_state(&home, &mut supervisor, "sleeping", Duration::from_secs(60));
    assert!(!alive(qemu), "QEMU ({qemu}) still runs while asleep");
    assert!(
        home.log().contains("devvm: powering off"),
        "a clean power-down:\n{}",
        home.log()
    );
    assert_asleep(&home);

    // And a stop while asleep ends the supervisor at once, as asked.
    supervisor.stop_cleanly();
    let status = home.status_file();
    assert_eq!(status["state"], "stopped");
    assert_eq!(status["last_exit"]["kind"], "requested");
}

/// A connection that arrives while the VM powers down for idleness is held
/// and reaches the guest of the next boot; it is neither refused nor reset.
#[test]
fn a_connection_during_power_down_waits_for_the_next_boot() {
    let home = on_demand_home();
    let mut supervisor = home.start_supervisor_with(&[
        ("BUILDERBAR_IDLE_SECS", "3"),
        // The guest takes 4 s to power off, as a NixOS guest stopping its
        // services does: a window to connect in.
        ("QEMU_KERNEL_PARAMS", "builderbar.shutdown_delay=4"),
    ]);
    wait_state(&home, &mut supervisor, "sleeping", Duration::from_secs(60));
    let first = ssh_waiting(&home, "cat /proc/sys/kernel/random/boot_id");

    wait_state(&home, &mut supervisor, "stopping", Duration::from_secs(30));
    let early = TcpStream::connect(("127.0.0.1", home.port)).expect("the port accepts");
    assert_eq!(home.state(), "stopping", "connected while powering down");
    let second = ssh_waiting(&home, "cat /proc/sys/kernel/random/boot_id");
    assert_ne!(first, second, "the second login is served by a new boot");
    // The raw connection made during the power-down got the guest's sshd.
    early
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut greeting = [0u8; 8];
    std::io::Read::read_exact(&mut &early, &mut greeting).expect("sshd's greeting");
    assert_eq!(&greeting, b"SSH-2.0-");
    drop(early);
    supervisor.stop_cleanly();
}

/// The port taken by another program: refused before anything boots, with
/// the reason, as always-on does.
#[test]
fn a_taken_port_is_refused_with_the_reason() {
    let home = on_demand_home();
    let squatter = std::net::TcpListener::bind(("127.0.0.1", home.port)).unwrap();
    let mut supervisor = home.start_supervisor();
    let exit = supervisor
        .wait_exit(Duration::from_secs(60))
        .expect("refused at once");
    assert_eq!(exit.code(), Some(11));
    let status = home.status_file();
    assert_eq!(status["last_exit"]["kind"], "port-taken");
    assert!(
        home.log()
            .contains(&format!("port {} is already in use", home.port)),
        "{}",
        home.log()
    );
    drop(squatter);
}

/// QEMU that dies before the guest answers fails the wake: the held login
/// is closed at once (not after the 10-minute hold) and the run ends with
/// the reason.
#[test]
fn a_vm_that_cannot_boot_closes_the_held_login_and_says_why() {
    let home = on_demand_home();
    // A runner that exits at once, as a broken QEMU would.
    let runner = home.root().join("broken-runner");
    crate::support::write_executable(
        &runner,
        "#!/bin/sh\necho 'qemu: cannot start' >&2\nexit 1\n",
    );
    let mut supervisor =
        home.start_supervisor_with(&[("BUILDERBAR_RUNNER", runner.to_str().unwrap())]);
    wait_state(&home, &mut supervisor, "sleeping", Duration::from_secs(60));
    let started = std::time::Instant::now();
    let out = home.ssh_waiting("true", BOOT_SECS);
    assert!(!out.status.success(), "no guest, no login");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "closed at once, not held: {:?}",
        started.elapsed()
    );
    let exit = supervisor
        .wait_exit(Duration::from_secs(30))
        .expect("the run ends");
    assert_eq!(exit.code(), Some(20), "{}", home.log());
    let status = home.status_file();
    assert_eq!(status["state"], "failed");
    assert_eq!(status["last_exit"]["kind"], "vm-died");
    assert!(home.log().contains("qemu: cannot start"), "{}", home.log());
}

/// Long enough for a boot under TCG and Nix's own start-up.
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);

fn notify_calls(server: &NotificationServer) -> Vec<serde_json::Value> {
    server
        .calls()
        .into_iter()
        .filter(|c| c["call"] == "Notify")
        .collect()
}

fn wakes(home: &Home) -> usize {
    home.log().matches("a connection wants the builder").count()
}

#[test]
fn builds_wake_the_sleeping_builder_and_the_monitor_neither_wakes_it_nor_keeps_it_awake() {
    const IDLE_SECS: u64 = 8;
    assert_eq!(
        devvm::Flavour::selected().unwrap(),
        devvm::Flavour::Nix,
        "remote builds need the dev VM's Nix flavour: unset {}",
        devvm::FLAVOUR_ENV
    );
    let server = NotificationServer::start();
    let home = on_demand_home();
    // Two builds at once go to the builder side by side.
    home.set("max-jobs", "2");
    let idle = IDLE_SECS.to_string();
    let mut supervisor = home.start_supervisor_with(&[("BUILDERBAR_IDLE_SECS", &idle)]);
    wait_state(&home, &mut supervisor, "sleeping", Duration::from_secs(60));
    let root = sysroot("");
    install(&home, root.path());
    let host_key = devvm::ensure_built(&devvm::default_cache_dir())
        .unwrap()
        .host_key;
    let mut monitor = Monitor::start(&home, &host_key, &["--no-builds"], &[]);
    monitor.wait_state(0, "sleeping", Duration::from_secs(30));
    assert_eq!(wakes(&home), 0, "installing or the monitor woke it");

    // The first build wakes it: Nix's connection is held through the boot.
    let host = HostNix::for_sysroot(Some(root.path())).unwrap();
    let system = builderbar::settings::host::linux_twin();
    let built = host
        .build_on_builder(
            system,
            "builderbar-on-demand-first",
            "uname -n > $out",
            BUILD_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", home.log()));
    assert_eq!(std::fs::read_to_string(&built.output).unwrap(), "builder\n");
    assert_eq!(wakes(&home), 1, "one wake:\n{}", home.log());
    // Awake, the monitor sees it Ready through QEMU's private forward. A
    // connection held open meanwhile keeps a slow monitor (a busy machine)
    // from seeing it idle out first.
    let keep_awake = TcpStream::connect(("127.0.0.1", home.port)).unwrap();
    monitor.wait_state(0, "ready", Duration::from_secs(60));
    drop(keep_awake);

    // Two builds together, one longer than the idle time: both pass, and
    // nothing powers the builder down while they run.
    let long_script = format!(
        "echo started > /tmp/long-started; sleep {}; echo long > $out",
        IDLE_SECS * 2
    );
    let builds = [
        BuildSpec {
            system,
            name: "builderbar-on-demand-long",
            script: &long_script,
        },
        BuildSpec {
            system,
            name: "builderbar-on-demand-short",
            script: "echo short > $out",
        },
    ];
    let downs = |home: &Home| home.log().matches("powering it down").count();
    // Counted from the moment the long build runs in the guest: before
    // that, the builder may well sleep and be woken by the builds.
    let (both, downs_before) = std::thread::scope(|scope| {
        let running = scope.spawn(|| host.build_all_on_builder(&builds, BUILD_TIMEOUT));
        let started = wait::until(BUILD_TIMEOUT, Duration::from_millis(250), || {
            home.ssh("test -e /tmp/long-started")
                .status
                .success()
                .then_some(())
        });
        assert!(
            started.is_some(),
            "the long build never started:\n{}",
            home.log()
        );
        let before = downs(&home);
        (running.join().unwrap(), before)
    });
    let both = both.unwrap_or_else(|e| panic!("{e}\n{}", home.log()));
    let texts: Vec<String> = both
        .outputs
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(texts, ["long\n", "short\n"]);
    assert_eq!(
        downs(&home),
        downs_before,
        "no power-down under a build:\n{}",
        home.log()
    );

    // Nothing but the monitor's probe uses it: after the idle time it
    // powers down and sleeps, and the monitor says so without waking it.
    let skip = monitor.lines().len();
    let qemu = supervisor.qemu_pid();
    wait_state(
        &home,
        &mut supervisor,
        "sleeping",
        Duration::from_secs(IDLE_SECS + 60),
    );
    assert!(!alive(qemu), "QEMU ({qemu}) still runs while asleep");
    monitor.wait_state(skip, "sleeping", Duration::from_secs(30));
    assert_asleep(&home);
    let wakes_asleep = wakes(&home);
    let report: serde_json::Value =
        serde_json::from_str(&home.cli_ok(&["status", "--json"])).unwrap();
    assert_eq!(report["builder"]["state"], "sleeping", "{report:#}");
    assert_eq!(wakes(&home), wakes_asleep, "status woke the builder");
    assert!(
        notify_calls(&server).is_empty(),
        "no notification for sleeping or a planned power-down: {:#?}",
        notify_calls(&server)
    );

    // QEMU killed under a build: the build fails, and the user is told.
    let doomed = std::thread::spawn({
        let host = HostNix::for_sysroot(Some(root.path())).unwrap();
        move || {
            host.build_on_builder(
                system,
                "builderbar-on-demand-doomed",
                "echo started > /tmp/doomed-started; sleep 600; echo late > $out",
                BUILD_TIMEOUT,
            )
        }
    });
    let started = wait::until(BUILD_TIMEOUT, Duration::from_millis(250), || {
        home.ssh("test -e /tmp/doomed-started")
            .status
            .success()
            .then_some(())
    });
    assert!(
        started.is_some(),
        "the build never started:\n{}",
        home.log()
    );
    let qemu = rustix::process::Pid::from_raw(supervisor.qemu_pid() as i32).unwrap();
    rustix::process::kill_process(qemu, rustix::process::Signal::KILL).unwrap();
    let exit = supervisor
        .wait_exit(Duration::from_secs(30))
        .expect("the supervisor noticed");
    assert_eq!(exit.code(), Some(20), "{}", home.log());
    assert!(doomed.join().unwrap().is_err(), "the build cannot pass");
    let shown = server.wait_shown("stopped unexpectedly", Duration::from_secs(30));
    assert_eq!(shown.len(), 1, "{:#?}", notify_calls(&server));
}

#[test]
fn with_on_demand_off_the_builder_is_always_on_again() {
    let home = on_demand_home();
    home.set("on-demand", "off");
    let mut supervisor = home.start_supervisor_with(&[("BUILDERBAR_IDLE_SECS", "1")]);
    // Up with no connection asking for it, QEMU on the builder's port.
    wait_state(&home, &mut supervisor, "running", Duration::from_secs(60));
    supervisor.wait_ready();
    let status = home.status_file();
    assert!(status.get("forward_port").is_none(), "{status:#}");
    assert_loopback_only(home.port);
    assert!(
        !home.log().contains("on-demand"),
        "always on:\n{}",
        home.log()
    );
    supervisor.stop_cleanly();
}
