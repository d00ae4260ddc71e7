//! What only a real Mac can show: the system's `launchctl` running a user
//! agent in `gui/<uid>` the way the VM job is run, and the login Keychain
//! behind `keyring`. Built and run on macOS only — by
//! `.github/workflows/macos.yml` and `scripts/mac-check.sh`; on Linux
//! `scripts/check-macos.sh` type-checks this file for aarch64-apple-darwin.

#![cfg(target_os = "macos")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use builderbar::keys::{KeyringStore, SecretStore};
use launchd::{Job, KeepAlive, Launchctl, ServiceState, gui_domain};

fn wait_for<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A throwaway agent with the VM job's restart rules: KeepAlive only on a
/// failed exit, a short throttle, started at load.
fn agent(label: &str, script: &str) -> Job {
    let mut job = Job::new(label, vec!["/bin/sh".into(), "-c".into(), script.into()]);
    job.keep_alive = Some(KeepAlive::on_failure());
    job.run_at_load = Some(true);
    job.throttle_interval = Some(1);
    job
}

#[test]
fn the_system_launchctl_runs_restarts_and_stops_a_user_agent_as_the_double_does() {
    let uid = rustix::process::getuid().as_raw();
    let domain = gui_domain(uid);
    let label = format!("dev.builderbar.test.{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let plist = dir.path().join(format!("{label}.plist"));
    let marker = dir.path().join("runs");
    // Each run appends a line; the first two runs fail (KeepAlive restarts
    // them), the third stays up until it is booted out.
    let script = format!(
        "echo run >> '{m}'; [ $(wc -l < '{m}') -ge 3 ] && exec sleep 600; exit 7",
        m = marker.display()
    );
    agent(&label, &script).write_to(&plist).unwrap();
    let launchctl = Launchctl::default();

    launchctl.bootstrap(&domain, &plist).unwrap();
    let running = wait_for(Duration::from_secs(20), || {
        let runs = std::fs::read_to_string(&marker).unwrap_or_default();
        if runs.lines().count() < 3 {
            return None;
        }
        let status = launchctl.print(&domain, &label).unwrap()?;
        (status.state == ServiceState::Running).then_some(status)
    })
    .expect("launchd restarted the failing agent until it stayed up");
    let runs = std::fs::read_to_string(&marker).unwrap().lines().count();
    assert_eq!(
        runs, 3,
        "KeepAlive SuccessfulExit=false restarted two failures"
    );
    assert!(running.pid.is_some());

    // A second bootstrap of a loaded job is the error the client names.
    let again = launchctl.bootstrap(&domain, &plist).unwrap_err();
    assert!(
        matches!(again, launchd::LaunchctlError::AlreadyLoaded { .. }),
        "{again}"
    );

    launchctl.bootout(&domain, &label).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || launchctl
            .print(&domain, &label)
            .unwrap()
            .is_none()
            .then_some(()))
        .is_some(),
        "booted out"
    );
    let gone = launchctl.kickstart(&domain, &label, false).unwrap_err();
    assert!(
        matches!(gone, launchd::LaunchctlError::NotLoaded { .. }),
        "{gone}"
    );
}

#[test]
fn the_login_keychain_keeps_and_forgets_a_secret_through_keyring() {
    let store = KeyringStore::platform();
    let account = format!("macos-test-{}", std::process::id());
    assert!(store.get(&account).unwrap().is_none());
    store.set(&account, "not a real key").unwrap();
    assert_eq!(
        store.get(&account).unwrap().as_deref().map(String::as_str),
        Some("not a real key")
    );
    store.delete(&account).unwrap();
    assert!(store.get(&account).unwrap().is_none());
}
