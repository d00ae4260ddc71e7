//! The tray menu over D-Bus: libayatana exports it as `com.canonical.dbusmenu`
//! under `/org/ayatana/NotificationItem/<id>/Menu` on the app's own
//! connection, so a test can read and click it without any tray host.

use std::process::Command;

fn gdbus(args: &[&str]) -> Option<String> {
    let out = Command::new("gdbus").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The tray menu of the process `pid`.
pub struct TrayMenu {
    bus_name: String,
    path: String,
}

impl TrayMenu {
    /// Finds the menu the app with this pid exported, if it has yet.
    pub fn find(pid: u32) -> Option<TrayMenu> {
        let names = gdbus(&[
            "call",
            "--session",
            "--dest",
            "org.freedesktop.DBus",
            "--object-path",
            "/org/freedesktop/DBus",
            "--method",
            "org.freedesktop.DBus.ListNames",
        ])?;
        for name in names.split('\'').filter(|n| n.starts_with(':')) {
            let owner = gdbus(&[
                "call",
                "--session",
                "--dest",
                "org.freedesktop.DBus",
                "--object-path",
                "/org/freedesktop/DBus",
                "--method",
                "org.freedesktop.DBus.GetConnectionUnixProcessID",
                name,
            ]);
            if !owner.is_some_and(|o| o.contains(&format!("uint32 {pid},"))) {
                continue;
            }
            // The app may hold several connections; the tray is on one.
            let Some(items) = gdbus(&[
                "introspect",
                "--session",
                "--dest",
                name,
                "--object-path",
                "/org/ayatana/NotificationItem",
            ]) else {
                continue;
            };
            let Some(node) = items
                .lines()
                .filter_map(|line| line.trim().strip_prefix("node "))
                .map(|n| n.trim_end_matches(" {").trim().to_string())
                .find(|n| !n.starts_with('/'))
            else {
                continue;
            };
            return Some(TrayMenu {
                bus_name: name.to_string(),
                path: format!("/org/ayatana/NotificationItem/{node}/Menu"),
            });
        }
        None
    }

    /// The menu's layout as gdbus prints it (labels, ids, enabled flags).
    pub fn layout(&self) -> String {
        gdbus(&[
            "call",
            "--session",
            "--dest",
            &self.bus_name,
            "--object-path",
            &self.path,
            "--method",
            "com.canonical.dbusmenu.GetLayout",
            "0",
            "int32 -1",
            "[]",
        ])
        .unwrap_or_default()
    }

    /// The visible labels, in order.
    pub fn labels(&self) -> Vec<String> {
        let layout = self.layout();
        layout
            .split("'label': <'")
            .skip(1)
            .filter_map(|rest| rest.split("'>").next().map(unmnemonic))
            .collect()
    }

    /// The dbusmenu id of the item whose label starts with `label`.
    fn id_of(&self, label: &str) -> Option<i32> {
        let layout = self.layout();
        // Items look like: (12, {'label': <'Start'>, ...}, [])
        for chunk in layout.split('(').skip(1) {
            let id = chunk.split(',').next()?.trim().parse::<i32>().ok();
            if let Some(id) = id
                && chunk.contains(&format!("'label': <'{label}"))
            {
                return Some(id);
            }
        }
        None
    }

    /// Clicks the item whose label starts with `label`.
    pub fn click(&self, label: &str) -> bool {
        let Some(id) = self.id_of(label) else {
            return false;
        };
        gdbus(&[
            "call",
            "--session",
            "--dest",
            &self.bus_name,
            "--object-path",
            &self.path,
            "--method",
            "com.canonical.dbusmenu.Event",
            &id.to_string(),
            "clicked",
            "<0>",
            "uint32 0",
        ])
        .is_some()
    }
}

/// GTK labels mark a mnemonic with `_` and write a real underscore as `__`.
fn unmnemonic(label: &str) -> String {
    label
        .replace("__", "\u{0}")
        .replace('_', "")
        .replace('\u{0}', "_")
}
