//! The real app, end to end: the built `builderbar-app` under Xvfb, driven
//! through tauri-driver and WebKitWebDriver and through its tray menu over
//! D-Bus, with the real core, the supervisor and the dev VM behind it.
//!
//! Run by `make e2e` (Xvfb, a private session bus with a Secret Service).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod first_run;
mod harness;
mod notifications;
mod on_demand;
mod tray;

use std::time::Duration;

use harness::{Harness, until};

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run by `make e2e`"]
async fn the_app_runs_the_builder_from_its_menu_and_its_window() {
    let h = Harness::start().await;
    let tray = h.tray();
    let labels = tray.labels();
    assert!(
        labels.iter().any(|l| l == "Start"),
        "{labels:?} in {}",
        tray.layout()
    );
    assert!(
        labels.iter().any(|l| l.starts_with("Quit BuilderBar")),
        "{labels:?}"
    );
    for item in ["Update Builder…", "Roll Back Builder"] {
        assert!(labels.iter().any(|l| l == item), "{item}: {labels:?}");
    }
    h.save_text("tray-menu.txt", &labels.join("\n"));

    // Tray: Start → the state line reaches Ready (the health monitor logged
    // in with the builder key and the pinned host key) and SSH answers.
    assert!(tray.click("Start"));
    until(Duration::from_secs(120), || async {
        tray.labels()
            .iter()
            .any(|l| l.starts_with("Ready — 1 core, 1 GiB, disk "))
    })
    .await;
    until(Duration::from_secs(60), || async { h.ssh_ok(h.port1) }).await;
    h.save_text("tray-menu-ready.txt", &tray.labels().join("\n"));

    // Window: every section, then port and memory changed and applied.
    for section in ["general", "resources", "keys", "notifications", "advanced"] {
        h.click(&format!("#nav-{section}")).await;
        h.x_screenshot(section).await;
    }
    h.click("#nav-resources").await;
    h.type_into("#field-ssh_port", &h.port2.to_string()).await;
    h.type_into("#field-memory_mib", "1.5").await;
    until(Duration::from_secs(10), || async {
        h.text("#plan").await.contains("Memory: 1 GiB → 1.5 GiB")
    })
    .await;
    h.x_screenshot("resources-apply").await;
    let plan = h.text("#plan").await;
    assert!(
        plan.contains(&format!("SSH port: {} → {}", h.port1, h.port2)),
        "{plan}"
    );
    assert!(plan.contains("restarts the builder"), "{plan}");
    h.click("#apply").await;
    until(Duration::from_secs(120), || async {
        h.text("#progress").await == "Applied."
    })
    .await;
    until(Duration::from_secs(120), || async { h.ssh_ok(h.port2) }).await;
    until(Duration::from_secs(60), || async {
        tray.labels()
            .iter()
            .any(|l| l.starts_with("Ready — 1 core, 1.5 GiB"))
    })
    .await;
    let mem_kib: u64 = h
        .ssh(h.port2, "awk '/MemTotal/ {print $2}' /proc/meminfo")
        .trim()
        .parse()
        .unwrap();
    assert!(
        (1_300_000..=1_572_864).contains(&mem_kib),
        "1.5 GiB in the guest: {mem_kib} KiB"
    );
    assert!(!h.ssh_ok(h.port1), "the old port is closed");

    // An invalid key: the message is shown and nothing is saved.
    let before = std::fs::read_to_string(h.root().join("settings.toml")).unwrap();
    h.click("#nav-keys").await;
    h.type_into(
        "#new-key",
        "ssh-ed25519 AAAA-not-a-key\ncommand=\"rm -rf /\"",
    )
    .await;
    h.click("#add-key").await;
    until(Duration::from_secs(10), || async {
        !h.text("#key-error").await.is_empty()
    })
    .await;
    h.x_screenshot("keys-refused").await;
    let after = std::fs::read_to_string(h.root().join("settings.toml")).unwrap();
    assert_eq!(before, after, "a refused key saves nothing");

    // Advanced: the doctor's checks, each with its status.
    h.click("#nav-advanced").await;
    h.click("#run-doctor").await;
    until(Duration::from_secs(30), || async {
        !h.text("#doctor-checks").await.is_empty()
    })
    .await;
    h.x_screenshot("advanced-doctor").await;

    // Advanced: the builder's system — generation 1, made by the first
    // start, is current; nothing to roll back to yet.
    until(Duration::from_secs(10), || async {
        h.text("#generations")
            .await
            .contains("1 Current — the dev VM")
    })
    .await;

    // Advanced, then the tray: the command-line tool's link, made and
    // removed from the window, made again from the menu.
    let link = h.root().join("path-bin/builderbar");
    let target = h.root().join("bin/builderbar");
    until(Duration::from_secs(10), || async {
        h.text("#cli-tool-status")
            .await
            .contains("path-bin/builderbar")
    })
    .await;
    h.click("#cli-tool").await;
    until(Duration::from_secs(20), || async {
        h.text("#cli-tool-status").await.starts_with("Installed")
    })
    .await;
    assert_eq!(std::fs::read_link(&link).unwrap(), target);
    until(Duration::from_secs(10), || async {
        tray.labels()
            .iter()
            .any(|l| l == "Command-Line Tool Installed")
    })
    .await;
    h.click("#cli-tool").await;
    until(Duration::from_secs(20), || async {
        h.text("#cli-tool").await == "Install Command-Line Tool…"
    })
    .await;
    assert!(std::fs::symlink_metadata(&link).is_err(), "removed");
    assert!(tray.click("Install Command-Line Tool"));
    until(Duration::from_secs(20), || async {
        std::fs::read_link(&link).is_ok_and(|t| t == target)
    })
    .await;
    until(Duration::from_secs(10), || async {
        tray.labels()
            .iter()
            .any(|l| l == "Command-Line Tool Installed")
    })
    .await;

    // Tray: Stop → Stopped, and the builder is down.
    assert!(tray.click("Stop"));
    until(Duration::from_secs(60), || async {
        tray.labels().iter().any(|l| l == "Stopped")
    })
    .await;
    assert!(!h.ssh_ok(h.port2));

    // Tray: Start, then Quit → the app exits and the builder keeps running.
    assert!(tray.click("Start"));
    until(Duration::from_secs(120), || async { h.ssh_ok(h.port2) }).await;
    assert!(tray.click("Quit BuilderBar"));
    until(Duration::from_secs(20), || async { !h.app_alive() }).await;
    assert!(
        h.ssh_ok(h.port2),
        "quitting the app never stops the builder"
    );
    h.finish().await;
}
