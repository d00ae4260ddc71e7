//! The on-demand builder from the window and the menu: switched on in
//! Resources and applied, the builder sleeps ("Sleeping — starts when a
//! build needs it", its own icon); a connection wakes it to Ready; with
//! nothing using it, it goes back to sleep; Stop stops it.

use std::path::PathBuf;
use std::time::Duration;

use crate::harness::{Harness, Launch, until};

const SLEEPING: &str = "Sleeping — starts when a build needs it";

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run by `make e2e`"]
async fn the_builder_sleeps_until_a_connection_needs_it() {
    let h = Harness::launch(Launch {
        // Seconds instead of minutes of idle time, passed to the supervisor:
        // long enough for the app's monitor to see the woken builder Ready
        // (through QEMU's private forward) on a busy machine before it
        // sleeps again.
        env: vec![("BUILDERBAR_IDLE_SECS".into(), PathBuf::from("20"))],
        ..Launch::default()
    })
    .await;
    let tray = h.tray();

    h.click("#nav-resources").await;
    h.click("#field-on_demand").await;
    until(Duration::from_secs(10), || async {
        h.text("#plan")
            .await
            .contains("Start when a build needs it: off → on")
    })
    .await;
    h.x_screenshot("resources-on-demand").await;
    h.click("#apply").await;
    until(Duration::from_secs(60), || async {
        h.text("#progress").await == "Applied."
    })
    .await;
    let settings = std::fs::read_to_string(h.root().join("settings.toml")).unwrap();
    assert!(settings.contains("on_demand = true"), "{settings}");

    // Start: the builder holds its port and sleeps; no VM runs.
    assert!(tray.click("Start"));
    until(Duration::from_secs(60), || async {
        tray.labels().iter().any(|l| l == SLEEPING)
    })
    .await;
    assert!(
        !h.root().join("state/vm.pid").exists(),
        "no VM while asleep"
    );
    assert!(
        tray.labels().iter().any(|l| l == "Stop"),
        "{:?}",
        tray.labels()
    );
    h.save_text("tray-menu-sleeping.txt", &tray.labels().join("\n"));
    h.click("#nav-general").await;
    until(Duration::from_secs(10), || async {
        h.text("#state").await.contains("Sleeping")
    })
    .await;
    h.x_screenshot("general-sleeping").await;

    // A connection (as Nix's would be) wakes it; it answers after the boot.
    let out = h.ssh_waiting(h.port1, "uname -n", 120);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "builder\n");
    until(Duration::from_secs(60), || async {
        tray.labels()
            .iter()
            .any(|l| l.starts_with("Ready — 1 core"))
    })
    .await;

    // Nothing uses it: after the idle time it sleeps again.
    until(Duration::from_secs(60), || async {
        tray.labels().iter().any(|l| l == SLEEPING)
    })
    .await;
    assert!(tray.click("Stop"));
    until(Duration::from_secs(30), || async {
        tray.labels().iter().any(|l| l == "Stopped")
    })
    .await;
    h.finish().await;
}
