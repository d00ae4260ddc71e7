//! End to end: the launchctl client against `launchctl-double`, which really
//! runs, restarts and stops the jobs (see the double's header for what it does
//! not emulate). Every wait is a poll with a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use launchd::{Job, KeepAlive, LastExit, Launchctl, LaunchctlError, ServiceState, ServiceStatus};
use tempfile::TempDir;

const DOMAIN: &str = "gui/501";

struct Fixture {
    _state: TempDir,
    work: TempDir,
    lc: Launchctl,
    labels: Vec<String>,
}

impl Fixture {
    fn new() -> Self {
        let state = TempDir::new().unwrap();
        let lc = Launchctl::new(env!("CARGO_BIN_EXE_launchctl-double"))
            .env("LAUNCHCTL_DOUBLE_STATE", state.path());
        Fixture {
            _state: state,
            work: TempDir::new().unwrap(),
            lc,
            labels: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// A `/bin/sh -c script` job in the work folder, restarted on failure, throttle 1 s.
    fn job(&self, label: &str, script: &str) -> Job {
        let mut job = Job::new(label, vec!["/bin/sh".into(), "-c".into(), script.into()]);
        job.working_directory = Some(self.work.path().to_owned());
        job.keep_alive = Some(KeepAlive::on_failure());
        job.run_at_load = Some(true);
        job.throttle_interval = Some(1);
        job.exit_time_out = Some(5);
        job
    }

    fn plist(&self, job: &Job) -> PathBuf {
        let path = self.path(&format!("{}.plist", job.label));
        job.write_to(&path).unwrap();
        path
    }

    fn load(&mut self, job: &Job) {
        let plist = self.plist(job);
        self.lc.bootstrap(DOMAIN, &plist).unwrap();
        self.labels.push(job.label.clone());
    }

    fn status(&self, label: &str) -> Option<ServiceStatus> {
        self.lc.print(DOMAIN, label).unwrap()
    }

    fn wait_status(
        &self,
        label: &str,
        what: &str,
        ok: impl Fn(&ServiceStatus) -> bool,
    ) -> ServiceStatus {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.status(label);
            if let Some(s) = &s
                && ok(s)
            {
                return s.clone();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last status {s:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for label in &self.labels {
            let _ = self.lc.bootout(DOMAIN, label);
        }
    }
}

fn wait_for(what: &str, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn alive(pid: u32) -> bool {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::test_kill_process(pid).is_ok()
}

fn kill9(pid: u32) {
    let pid = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
}

#[test]
fn runs_with_env_and_workdir_and_restarts_after_kill9() {
    let mut f = Fixture::new();
    let mut job = f.job("t.env", "echo \"$FOO\" > out; exec sleep 1000");
    job.environment_variables
        .insert("FOO".into(), "bar baz".into());
    let loaded_at = Instant::now();
    f.load(&job);
    wait_for("out file", || read(&f.path("out")) == "bar baz\n");
    let first = f.wait_status("t.env", "running", |s| {
        s.state == ServiceState::Running && s.pid.is_some()
    });
    assert_eq!(first.runs, 1);
    assert_eq!(first.last_exit, None);
    let pid = first.pid.unwrap();

    kill9(pid);
    let second = f.wait_status("t.env", "restart", |s| {
        s.runs == 2 && s.state == ServiceState::Running
    });
    assert!(
        loaded_at.elapsed() >= Duration::from_secs(1),
        "restarted before ThrottleInterval"
    );
    assert_ne!(second.pid, Some(pid));
    assert!(!alive(pid));
    assert_eq!(
        second.last_exit,
        Some(LastExit::Signal {
            number: 9,
            name: "Killed".into()
        })
    );
}

#[test]
fn clean_exit_is_not_restarted() {
    let mut f = Fixture::new();
    f.load(&f.job("t.clean", "echo ran >> runs; exit 0"));
    let s = f.wait_status("t.clean", "exit", |s| s.last_exit.is_some());
    assert_eq!(s.last_exit, Some(LastExit::Code(0)));
    // A restart would come after the 1 s throttle: watch for twice that.
    std::thread::sleep(Duration::from_secs(2));
    let s = f.status("t.clean").unwrap();
    assert_eq!((s.runs, s.state), (1, ServiceState::NotRunning));
    assert_eq!(read(&f.path("runs")), "ran\n");
}

#[test]
fn failing_program_is_restarted_no_faster_than_the_throttle() {
    let mut f = Fixture::new();
    f.load(&f.job("t.fail", "date +%s.%N >> starts; exit 1"));
    // The status says `runs` once the double has spawned the program and
    // written it down, which may come after the program's own line.
    wait_for("three starts, recorded", || {
        read(&f.path("starts")).lines().count() >= 3
            && f.status("t.fail").is_some_and(|s| s.runs >= 3)
    });
    let starts: Vec<f64> = read(&f.path("starts"))
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    for pair in starts.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= 0.98, "restarted after {gap:.3}s, throttle is 1s");
    }
    let s = f.status("t.fail").unwrap();
    assert!(s.runs >= 3);
    assert_eq!(s.last_exit, Some(LastExit::Code(1)));
}

#[test]
fn bootout_sends_sigterm_then_unloads() {
    let mut f = Fixture::new();
    let script =
        "trap 'echo term > got_term; exit 0' TERM; echo up > ready; while :; do sleep 0.05; done";
    f.load(&f.job("t.term", script));
    wait_for("ready", || f.path("ready").exists());
    let pid = f
        .wait_status("t.term", "running", |s| s.pid.is_some())
        .pid
        .unwrap();
    let started = Instant::now();
    f.lc.bootout(DOMAIN, "t.term").unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "SIGTERM was not enough?"
    );
    assert_eq!(read(&f.path("got_term")), "term\n");
    assert!(!alive(pid));
    assert_eq!(f.status("t.term"), None);
}

#[test]
fn program_ignoring_sigterm_is_killed_after_exit_timeout() {
    let mut f = Fixture::new();
    let mut job = f.job(
        "t.stubborn",
        "trap '' TERM; echo up > ready; exec sleep 1000",
    );
    job.exit_time_out = Some(1);
    f.load(&job);
    wait_for("ready", || f.path("ready").exists());
    let pid = f
        .wait_status("t.stubborn", "running", |s| s.pid.is_some())
        .pid
        .unwrap();
    let started = Instant::now();
    f.lc.bootout(DOMAIN, "t.stubborn").unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1),
        "SIGKILL before ExitTimeOut ({took:?})"
    );
    assert!(took < Duration::from_secs(8), "bootout took {took:?}");
    assert!(!alive(pid));
    assert_eq!(f.status("t.stubborn"), None);
}

#[test]
fn kickstart_k_restarts_a_running_job() {
    let mut f = Fixture::new();
    f.load(&f.job("t.kick", "exec sleep 1000"));
    let first = f.wait_status("t.kick", "running", |s| s.pid.is_some());
    f.lc.kickstart(DOMAIN, "t.kick", true).unwrap();
    let second = f.status("t.kick").unwrap();
    assert_eq!(second.runs, 2);
    assert_eq!(second.state, ServiceState::Running);
    assert_ne!(second.pid, first.pid);
    assert_eq!(
        second.last_exit,
        Some(LastExit::Signal {
            number: 15,
            name: "Terminated".into()
        })
    );
}

#[test]
fn kickstart_starts_a_stopped_job() {
    let mut f = Fixture::new();
    let mut job = f.job("t.lazy", "echo ran >> runs; exit 0");
    job.run_at_load = Some(false);
    f.load(&job);
    let s = f.status("t.lazy").unwrap();
    assert_eq!((s.runs, s.state), (0, ServiceState::NotRunning));
    f.lc.kickstart(DOMAIN, "t.lazy", false).unwrap();
    wait_for("a run", || read(&f.path("runs")) == "ran\n");
}

#[test]
fn client_turns_launchctl_errors_into_clear_messages() {
    let mut f = Fixture::new();
    // Not loaded.
    assert_eq!(f.lc.print(DOMAIN, "t.none").unwrap(), None);
    let e = f.lc.kickstart(DOMAIN, "t.none", true).unwrap_err();
    assert!(matches!(e, LaunchctlError::NotLoaded { .. }), "{e:?}");
    assert!(e.to_string().contains("is not loaded"), "{e}");
    let e = f.lc.bootout(DOMAIN, "t.none").unwrap_err();
    assert!(matches!(e, LaunchctlError::NotLoaded { .. }), "{e:?}");

    // Already loaded: "Bootstrap failed: 5: Input/output error".
    let job = f.job("t.twice", "exec sleep 1000");
    f.load(&job);
    let e = f.lc.bootstrap(DOMAIN, &f.plist(&job)).unwrap_err();
    assert!(matches!(e, LaunchctlError::AlreadyLoaded { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("already loaded") && msg.contains("Bootstrap failed: 5: Input/output error"),
        "{msg}"
    );
    assert!(!msg.contains("Try re-running"), "{msg}");

    // Disabled: 119.
    let job = f.job("t.off", "exec sleep 1000");
    f.lc.disable(DOMAIN, "t.off").unwrap();
    let e = f.lc.bootstrap(DOMAIN, &f.plist(&job)).unwrap_err();
    assert!(matches!(e, LaunchctlError::Disabled { .. }), "{e:?}");
    assert!(e.to_string().contains("launchctl enable"), "{e}");
    f.lc.enable(DOMAIN, "t.off").unwrap();
    f.load(&job);
    assert!(f.status("t.off").is_some());

    // No launchctl at all.
    let e = Launchctl::new("/nonexistent/launchctl")
        .print(DOMAIN, "x")
        .unwrap_err();
    assert!(matches!(e, LaunchctlError::Spawn { .. }), "{e:?}");
    assert!(e.to_string().contains("only on macOS"), "{e}");
}

#[test]
fn missing_program_records_ex_config() {
    let mut f = Fixture::new();
    let mut job = f.job("t.missing", "");
    job.program_arguments = vec!["/nonexistent/program".into()];
    f.load(&job);
    let s = f.wait_status("t.missing", "spawn failure", |s| s.last_exit.is_some());
    assert_eq!(s.last_exit, Some(LastExit::Code(78)));
}
