//! Notifications for real: `builderbar monitor` sends them with notify-rust
//! over the session bus (the one `scripts/with-secret-service.sh` provides)
//! to a headless notification server that records every call
//! (`tests/doubles/notification-server.py`). Also the build watcher against
//! real builds by Debian's nix-bin in a private store.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::support::home::Home;
use super::support::ssh;
use super::support::wait;

/// One server can own the bus name at a time: tests that use it take turns.
static BUS_NAME: Mutex<()> = Mutex::new(());

pub struct NotificationServer {
    child: Child,
    pub record: PathBuf,
    _dir: tempfile::TempDir,
    _turn: MutexGuard<'static, ()>,
}

fn name_has_owner() -> bool {
    Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            "string:org.freedesktop.Notifications",
        ])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
}

impl NotificationServer {
    pub fn start() -> NotificationServer {
        assert!(
            std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
            "no session bus: run the tests under scripts/with-secret-service.sh (as `make test` does)"
        );
        let turn = BUS_NAME.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("notifications.jsonl");
        std::fs::write(&record, "").unwrap();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/doubles/notification-server.py");
        // Debian's python3, which python3-dbus and python3-gi belong to
        // (not a pyenv or venv python that may come first on PATH).
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(&record)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let owned = wait::until(Duration::from_secs(20), Duration::from_millis(50), || {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the notification server exited ({status}); is python3-dbus installed? run scripts/setup.sh"
                );
            }
            name_has_owner().then_some(())
        });
        assert!(
            owned.is_some(),
            "the notification server did not take its name"
        );
        NotificationServer {
            child,
            record,
            _dir: dir,
            _turn: turn,
        }
    }

    /// Every call recorded so far.
    pub fn calls(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.record)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The Notify calls whose summary contains `text`.
    pub fn shown(&self, text: &str) -> Vec<serde_json::Value> {
        self.calls()
            .into_iter()
            .filter(|c| c["call"] == "Notify" && c["summary"].as_str().unwrap_or("").contains(text))
            .collect()
    }

    pub fn wait_shown(&self, text: &str, timeout: Duration) -> Vec<serde_json::Value> {
        wait::until(timeout, Duration::from_millis(50), || {
            let shown = self.shown(text);
            (!shown.is_empty()).then_some(shown)
        })
        .unwrap_or_else(|| panic!("no notification {text:?}; got {:#?}", self.calls()))
    }
}

impl Drop for NotificationServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The next test's server must find the name free.
        wait::until(Duration::from_secs(5), Duration::from_millis(50), || {
            (!name_has_owner()).then_some(())
        });
    }
}

/// `builderbar monitor --json` in the foreground, its output in a file.
pub struct Monitor {
    child: Child,
    pub out: PathBuf,
}

impl Monitor {
    pub fn start(home: &Home, host_key: &str, extra: &[&str], env: &[(&str, &Path)]) -> Monitor {
        let out = home
            .root()
            .join(format!("monitor-{}.out", std::process::id()));
        let _ = std::fs::remove_file(&out);
        let mut command = home.command();
        command
            .args(["monitor", "--json", "--identity"])
            .arg(&home.client.path)
            .args(["--host-key", host_key])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(home.root().join("monitor.err")).unwrap());
        for (k, v) in env {
            command.env(k, v);
        }
        Monitor {
            child: command.spawn().unwrap(),
            out,
        }
    }

    pub fn lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn states(&self) -> Vec<serde_json::Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["event"] == "state")
            .collect()
    }

    /// Waits for a line matching `pred` after the first `skip` lines.
    pub fn wait_line(
        &mut self,
        skip: usize,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let found = wait::until(timeout, Duration::from_millis(20), || {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the monitor exited ({status}): {}",
                    std::fs::read_to_string(self.out.with_file_name("monitor.err"))
                        .unwrap_or_default()
                );
            }
            self.lines().into_iter().skip(skip).find(|l| pred(l))
        });
        found.unwrap_or_else(|| {
            panic!(
                "the monitor never printed the line waited for; it printed {:#?}",
                self.lines()
            )
        })
    }

    pub fn wait_state(&mut self, skip: usize, state: &str, timeout: Duration) -> serde_json::Value {
        self.wait_line(skip, timeout, |l| {
            l["event"] == "state" && l["state"] == state
        })
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A status file as the supervisor writes it, naming this (live) process.
fn write_status(home: &Home, state: &str, kind: Option<&str>) {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let me = std::process::id();
    let last_exit = kind.map(|kind| {
        serde_json::json!({"code": null, "signal": 9, "kind": kind, "reason": "the VM died (signal 9)", "at": now})
    });
    let status = serde_json::json!({
        "state": state, "supervisor_pid": me, "pid": if state == "running" { Some(me) } else { None },
        "port": home.port, "started_at": now, "last_exit": last_exit, "consecutive_failures": 1,
    });
    let dir = home.root().join("state");
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = dir.join("status.json.tmp");
    std::fs::write(&tmp, status.to_string()).unwrap();
    std::fs::rename(tmp, dir.join("status.json")).unwrap();
}

/// Twenty "stopped unexpectedly" in a row, each seen by the monitor: one
/// notification. The status file is written the way the supervisor writes
/// it (atomically, naming live processes) so that twenty real VM deaths are
/// not needed; the monitor, the policy, notify-rust and D-Bus are real.
#[test]
fn twenty_failures_of_one_kind_make_one_notification() {
    let server = NotificationServer::start();
    let home = Home::new();
    // The supervisor the status file names holds its lock, as a real one
    // does (a pid alone is not believed: it may have been reused).
    let _lock =
        builderbar::fsutil::lock_exclusive(&home.root().join("state/supervisor.lock")).unwrap();
    let key = ssh::random_public_key();
    write_status(&home, "stopped", None);
    let mut monitor = Monitor::start(&home, &key, &["--no-builds"], &[]);
    monitor.wait_state(0, "stopped", Duration::from_secs(30));
    for _ in 0..20 {
        let skip = monitor.lines().len();
        write_status(&home, "running", None);
        monitor.wait_state(skip, "starting", Duration::from_secs(10));
        let skip = monitor.lines().len();
        write_status(&home, "failed", Some("vm-died"));
        let line = monitor.wait_state(skip, "failed", Duration::from_secs(10));
        assert_eq!(line["kind"], "stopped-unexpectedly", "{line}");
    }
    let shown = server.wait_shown("stopped unexpectedly", Duration::from_secs(10));
    // The monitor printed every action it sent; all were sent by now.
    let sent = monitor
        .lines()
        .into_iter()
        .filter(|l| l["event"] == "notification" && l["action"] == "show")
        .count();
    assert_eq!(sent, 1, "{:#?}", monitor.lines());
    assert_eq!(shown.len(), 1, "{:#?}", server.calls());
    assert_eq!(shown[0]["app_name"], "BuilderBar");
}

/// A private Nix store (Debian's nix-bin, no daemon, no network), as
/// LINUX.md describes.
struct PrivateNix {
    dir: tempfile::TempDir,
}

impl PrivateNix {
    fn new() -> PrivateNix {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["store", "state", "log/drvs", "conf"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(
            dir.path().join("conf/nix.conf"),
            "sandbox = false\nbuild-users-group =\nsubstituters =\n",
        )
        .unwrap();
        PrivateNix { dir }
    }

    fn env(&self) -> Vec<(&'static str, PathBuf)> {
        let p = self.dir.path();
        vec![
            ("NIX_STORE_DIR", p.join("store")),
            ("NIX_STATE_DIR", p.join("state")),
            ("NIX_LOG_DIR", p.join("log")),
            ("NIX_CONF_DIR", p.join("conf")),
        ]
    }

    /// `nix-build` of a plain derivation running `script`; whether it built.
    fn build(&self, name: &str, script: &str) -> bool {
        let expr = format!(
            r#"derivation {{ name = "{name}"; system = builtins.currentSystem; builder = "/bin/sh"; args = [ "-c" ''{script}'' ]; }}"#
        );
        let file = self.dir.path().join(format!("{name}.nix"));
        std::fs::write(&file, expr).unwrap();
        let mut command = Command::new("nix-build");
        command.arg(&file).arg("--no-out-link");
        for (k, v) in self.env() {
            command.env(k, v);
        }
        let out = command
            .output()
            .expect("nix-build is missing: run scripts/setup.sh");
        out.status.success()
    }
}

/// A build that really failed leaves a `.drv` in the store, its bzip2 log
/// in `drvs/` and invalid outputs — what a build on the builder leaves on
/// the host. One notification names the derivation; a build that passed
/// makes none (successes are off by default); `logs --build` shows the log.
#[test]
fn a_failed_build_makes_one_notification_naming_the_derivation() {
    let server = NotificationServer::start();
    let home = Home::new();
    let nix = PrivateNix::new();
    let env = nix.env();
    let env_refs: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, v.as_path())).collect();
    let key = ssh::random_public_key();
    let mut monitor = Monitor::start(&home, &key, &[], &env_refs);
    monitor.wait_state(0, "stopped", Duration::from_secs(30));

    assert!(nix.build("builderbar-test-pass", "echo fine; echo x > $out"));
    assert!(!nix.build(
        "builderbar-test-fail",
        "echo compiling; echo 'error: the answer is not 42' >&2; exit 1"
    ));
    let build = monitor.wait_line(0, Duration::from_secs(30), |l| {
        l["event"] == "build" && l["name"] == "builderbar-test-fail"
    });
    assert_eq!(build["failed"], true);
    let shown = server.wait_shown("builderbar-test-fail", Duration::from_secs(10));
    assert_eq!(shown.len(), 1, "{:#?}", server.calls());
    assert!(
        shown[0]["body"]
            .as_str()
            .unwrap()
            .contains("the answer is not 42"),
        "{}",
        shown[0]
    );
    // The passing build was seen and told apart, silently.
    monitor.wait_line(0, Duration::from_secs(30), |l| {
        l["event"] == "build" && l["name"] == "builderbar-test-pass" && l["failed"] == false
    });
    assert!(server.shown("builderbar-test-pass").is_empty());

    let mut logs = home.command();
    logs.args(["logs", "--build", "builderbar-test-fail"]);
    for (k, v) in &env {
        logs.env(k, v);
    }
    let out = logs.output().unwrap();
    assert!(out.status.success(), "{}", ssh::stderr(&out));
    assert!(ssh::stdout(&out).contains("error: the answer is not 42"));
}
