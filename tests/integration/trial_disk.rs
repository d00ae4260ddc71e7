//! A runner switch's trial boot writes to an overlay of the builder's disk
//! (`vm::trial`), for real with the dev VM under the launchctl double: a
//! generation that damages the disk and fails leaves it as it was; a
//! generation seen Ready keeps its writes; the supervisor killed with
//! SIGKILL mid-switch leaves a service that starts a working runner on an
//! intact disk.

use std::process::Stdio;
use std::time::Duration;

use crate::generations::{add_generation, generations, state_of, switch};
use crate::support::home::Home;
use crate::support::services::{Launchd, wait_ssh};
use crate::support::wait;

const BOOT: Duration = Duration::from_secs(120);

/// Overwrites the first 64 KiB of whatever disk it is given (the ext4
/// superblock among them), then fails as a broken QEMU would.
const DAMAGING: &str = "#!/bin/sh\nqemu-io -f qcow2 -c 'write -P 0x5a 0 64k' \"$NIX_DISK_IMAGE\" >&2\necho 'qemu: this runner cannot boot' >&2\nexit 1\n";
/// Generation 1's dev VM again, through a runner of its own.
const GOOD: &str = "#!/bin/sh\necho 'the new generation starts' >&2\nexec GENERATION_1 \"$@\"\n";

fn marker(home: &Home) -> String {
    home.ssh_ok("cat /nix/var/marker").trim().to_owned()
}

#[test]
fn a_failed_generation_leaves_the_disk_as_it_was_and_a_ready_one_keeps_its_writes() {
    let home = Home::new();
    let launchd = Launchd::new(&home);
    launchd.cli_ok(&["start"]);
    wait_ssh(&home, BOOT);
    home.ssh_ok("echo before > /nix/var/marker && sync");

    let damaging = add_generation(&home, DAMAGING);
    let (ok, said) = switch(&launchd, &[&damaging.to_string()]);
    assert!(!ok && said.contains("went back to generation 1"), "{said}");
    assert!(
        home.log().contains("wrote 65536/65536 bytes"),
        "the runner did write: {}",
        home.log()
    );
    assert_eq!(marker(&home), "before", "the disk is as it was");
    let trial_disk = home.root().join("state/disk.trial.qcow2");
    assert!(!trial_disk.exists(), "the failed trial's writes are gone");

    let good = add_generation(&home, GOOD);
    let (ok, said) = switch(&launchd, &[&good.to_string()]);
    assert!(ok, "{said}");
    assert!(
        trial_disk.exists(),
        "the new generation runs on the overlay"
    );
    home.ssh_ok("echo during >> /nix/var/marker && sync");
    // Its next boot commits the overlay into the disk.
    launchd.cli_ok(&["restart"]);
    wait_ssh(&home, BOOT);
    assert!(!trial_disk.exists(), "committed and removed");
    assert_eq!(marker(&home), "before\nduring");
    assert!(
        home.log()
            .contains("the trial writes of a generation seen Ready are now the builder's disk"),
        "{}",
        home.log()
    );
}

/// A switch under way to a generation that boots 3 s late (so that it is
/// still waiting when something is killed), from generation 1 with a
/// marker on the disk; returned once the trial boot began, with the pid
/// of the supervisor that runs it.
struct SlowSwitch {
    generation: u32,
    process: std::process::Child,
    supervisor: u64,
}

fn slow_switch_under_way(home: &Home, launchd: &Launchd<'_>) -> SlowSwitch {
    launchd.cli_ok(&["start"]);
    wait_ssh(home, BOOT);
    home.ssh_ok("echo before > /nix/var/marker && sync");
    let generation = add_generation(home, "#!/bin/sh\nsleep 3\nexec GENERATION_1 \"$@\"\n");
    let first_supervisor = home.status_file()["supervisor_pid"].as_u64();
    let process = launchd
        .command(&["runner", "switch", &generation.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let trial_disk = home.root().join("state/disk.trial.qcow2");
    let supervisor = wait::until(BOOT, Duration::from_millis(50), || {
        let pid = home.status_file()["supervisor_pid"].as_u64()?;
        (Some(pid) != first_supervisor && trial_disk.exists()).then_some(pid)
    })
    .expect("the trial boot began");
    SlowSwitch {
        generation,
        process,
        supervisor,
    }
}

#[test]
fn the_supervisor_killed_mid_switch_leaves_a_working_builder_on_an_intact_disk() {
    let home = Home::new();
    let launchd = Launchd::new(&home);
    let switch = slow_switch_under_way(&home, &launchd);
    crate::support::services::kill(switch.supervisor, rustix::process::Signal::KILL);

    let out = switch.process.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success() && said.contains("went back to generation 1, which is Ready"),
        "{said}"
    );
    wait_ssh(&home, BOOT);
    assert_eq!(marker(&home), "before");
    let list = generations(&home);
    assert_eq!(state_of(&list, 1)["state"], "current");
    assert_eq!(
        state_of(&list, u64::from(switch.generation))["state"],
        "failed"
    );
    assert_eq!(launchd.status()["state"], "running");
}

#[test]
fn a_switch_killed_mid_trial_is_given_up_at_the_next_start() {
    let home = Home::new();
    let launchd = Launchd::new(&home);
    let mut switch = slow_switch_under_way(&home, &launchd);
    switch.process.kill().unwrap();
    switch.process.wait().unwrap();
    // The generation on trial runs on, on its overlay, until the next start.
    launchd.cli_ok(&["restart"]);
    wait_ssh(&home, BOOT);
    let list = generations(&home);
    assert_eq!(state_of(&list, 1)["state"], "current");
    let failed = state_of(&list, u64::from(switch.generation));
    assert_eq!(failed["state"], "failed");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("the switch trying it was interrupted"),
        "{failed:#}"
    );
    assert!(
        !home.root().join("state/disk.trial.qcow2").exists(),
        "its writes dropped"
    );
    assert_eq!(marker(&home), "before");
}

#[test]
fn a_switch_after_one_that_was_killed_gives_its_trial_up_first() {
    let home = Home::new();
    let launchd = Launchd::new(&home);
    let mut killed = slow_switch_under_way(&home, &launchd);
    killed.process.kill().unwrap();
    killed.process.wait().unwrap();
    // Generation 1 is the previous one now; switching to it gives up the
    // trial left behind (whose writes must not be kept) and restarts.
    let (ok, said) = switch(&launchd, &["1"]);
    assert!(ok, "{said}");
    assert!(said.contains("runs generation 1"), "{said}");
    let list = generations(&home);
    assert_eq!(state_of(&list, 1)["state"], "current");
    assert_eq!(
        state_of(&list, u64::from(killed.generation))["state"],
        "failed"
    );
    assert!(!home.root().join("state/disk.trial.qcow2").exists());
    assert_eq!(marker(&home), "before");
}
