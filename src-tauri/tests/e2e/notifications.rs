//! The headless notification server (`tests/doubles/notification-server.py`)
//! on the e2e session bus, so the app's notifications can be counted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::until;

pub struct NotificationServer {
    child: Child,
    record: PathBuf,
    _dir: tempfile::TempDir,
}

fn name_has_owner() -> bool {
    Command::new("gdbus")
        .args([
            "call",
            "--session",
            "--dest",
            "org.freedesktop.DBus",
            "--object-path",
            "/org/freedesktop/DBus",
            "--method",
            "org.freedesktop.DBus.NameHasOwner",
            "org.freedesktop.Notifications",
        ])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("true"))
}

impl NotificationServer {
    pub async fn start() -> NotificationServer {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("notifications.jsonl");
        std::fs::write(&record, "").unwrap();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/doubles/notification-server.py");
        // Debian's python3, which python3-dbus and python3-gi belong to.
        let child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(&record)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        until(Duration::from_secs(20), || async { name_has_owner() }).await;
        NotificationServer {
            child,
            record,
            _dir: dir,
        }
    }

    /// The Notify calls whose summary contains `text`.
    pub fn shown(&self, text: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.record)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|c| c["call"] == "Notify" && c["summary"].as_str().unwrap_or("").contains(text))
            .collect()
    }
}

impl Drop for NotificationServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
