//! The service around a [`Home`]: the launchctl double (which really runs,
//! restarts and stops the job as launchd would) and the detached Linux
//! backend, each stopped when the test ends — whatever happened in it — so
//! no supervisor outlives its test.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use super::home::{BIN, Home};
use super::vm::Slot;
use super::wait;

/// The double, built from the launchd crate of this workspace.
pub fn launchctl_double() -> PathBuf {
    let path = PathBuf::from(BIN).with_file_name("launchctl-double");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "launchd", "--bin", "launchctl-double"])
            .status()
            .unwrap();
        assert!(status.success());
    }
    path
}

/// `builderbar` with launchd played by the double.
pub struct Launchd<'h> {
    pub home: &'h Home,
    pub state: PathBuf,
    _slot: Slot,
}

impl<'h> Launchd<'h> {
    pub fn new(home: &'h Home) -> Launchd<'h> {
        std::fs::create_dir_all(home.root().join("user-home")).unwrap();
        Launchd {
            home,
            state: home.root().join("launchd-double"),
            _slot: Slot::take(),
        }
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with(args, &[])
    }

    /// `cli` with more environment.
    pub fn cli_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(args)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// `builderbar ARGS` with launchd played by the double, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let wait4path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/doubles/wait4path");
        let mut command = self.home.command();
        command
            .args(args)
            .env("BUILDERBAR_LAUNCHCTL", launchctl_double())
            .env("LAUNCHCTL_DOUBLE_STATE", &self.state)
            .env("BUILDERBAR_WAIT4PATH", wait4path)
            .env("HOME", self.home.root().join("user-home"));
        command
    }

    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.cli_ok(&["status", "--json"])).unwrap()
    }
}

impl Drop for Launchd<'_> {
    fn drop(&mut self) {
        let _ = self.cli(&["stop"]);
    }
}

/// The detached backend (`builderbar start` on Linux), stopped on drop.
pub struct Detached<'h> {
    pub home: &'h Home,
    _slot: Slot,
}

impl<'h> Detached<'h> {
    /// Takes a VM slot; starts nothing yet.
    pub fn new(home: &'h Home) -> Detached<'h> {
        Detached {
            home,
            _slot: Slot::take(),
        }
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.home.cli_ok(&["status", "--json"])).unwrap()
    }
}

impl Drop for Detached<'_> {
    fn drop(&mut self) {
        let _ = self.home.cli(&["stop"]);
    }
}

/// Waits until SSH with the pinned host key answers.
pub fn wait_ssh(home: &Home, timeout: Duration) {
    let ok = wait::until(timeout, Duration::from_millis(250), || {
        home.ssh("true").status.success().then_some(())
    });
    assert!(ok.is_some(), "SSH did not answer:\n{}", home.log());
}

/// Waits until the status file satisfies `pred`; returns it.
pub fn wait_status(
    home: &Home,
    timeout: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let read = || {
        std::fs::read_to_string(home.root().join("state/status.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    };
    wait::until(timeout, Duration::from_millis(50), || read().filter(&pred)).unwrap_or_else(|| {
        panic!(
            "the status file never got there; it says {:#?}\n{}",
            read(),
            home.log()
        )
    })
}

/// QEMU's command line, from /proc (one word per element).
pub fn cmdline(pid: u64) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    raw.split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

pub fn kill(pid: u64, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}
