//! The first-run window of the real app: a fresh home opens it by itself;
//! the check and the one-screen plan; a failure (the port taken after the
//! check) with its fix and "Try Again"; then the whole run — key, dev VM,
//! the wiring through the osascript double, the service, Ready and the
//! test build — to "Your Mac can now build Linux packages". Then the tray's
//! "Run Test Build"; a derivation that fails on the builder, built by the
//! host's Nix, makes exactly one notification naming it; uninstall leaves
//! the sysroot's /etc as it was. Screenshots of each screen for the README.
//!
//! Doubles: `tests/doubles/osascript` for the admin prompt (it runs the
//! root step; the tests run as root); a sysroot folder for /etc
//! (`BUILDERBAR_SYSROOT`), so nothing of this machine is touched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use builderbar::nix::test_build::{HostNix, TestBuildError};
use builderbar::nix::test_build_host::sysroot_env;

use crate::harness::{Harness, Launch, build_dir, until};
use crate::notifications::NotificationServer;

/// Every file under `dir` and its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(current) = todo.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn osascript_double() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/doubles/osascript")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Xvfb, a session bus and tauri-driver: run by `make e2e`"]
async fn the_first_run_window_sets_the_builder_up() {
    let sysroot = tempfile::Builder::new()
        .prefix("builderbar-e2e-sysroot-")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(sysroot.path().join("etc/nix")).unwrap();
    std::fs::create_dir_all(sysroot.path().join("etc/ssh")).unwrap();
    std::fs::write(
        sysroot.path().join("etc/ssh/ssh_config"),
        "# as macOS ships it\nInclude /etc/ssh/ssh_config.d/*\n",
    )
    .unwrap();
    std::fs::write(sysroot.path().join("etc/nix/nix.conf"), "max-jobs = auto\n").unwrap();
    let etc_before = snapshot(&sysroot.path().join("etc"));
    let notifications = NotificationServer::start().await;
    // The app's build watcher reads the host's Nix logs: the sysroot's.
    let mut env: Vec<(String, PathBuf)> = sysroot_env(sysroot.path())
        .into_iter()
        .map(|(k, v)| (k.to_string(), PathBuf::from(v)))
        .collect();
    env.push(("BUILDERBAR_SYSROOT".into(), sysroot.path().to_path_buf()));
    env.push(("BUILDERBAR_OSASCRIPT".into(), osascript_double()));
    let h = Harness::launch(Launch {
        args: Vec::new(),
        env,
        make_key: false,
        loaded: "#setup-continue",
    })
    .await;
    let c = &h.client;
    // Clicked from the page: the buttons sit below the fold of the window,
    // and a WebDriver click that must scroll first hung here.
    let click = |selector: &'static str| async move {
        eprintln!("first run: click {selector}");
        c.execute(
            &format!("document.querySelector('{selector}').click()"),
            Vec::new(),
        )
        .await
        .unwrap();
        eprintln!("first run: clicked {selector}");
    };

    // The check and the plan, in one screen.
    let checks = h.text("#setup-checks").await;
    assert!(checks.contains("not set up yet"), "{checks}");
    assert!(h.text("#setup-admin").await.contains("asked once"));
    assert!(h.text("#setup-plan").await.contains("etc/nix/machines"));
    h.x_screenshot("first-run-check").await;
    eprintln!("first run: the check is shown");

    // Something takes the port after the check: the run stops at once with
    // the fix, and nothing is installed.
    let listener = std::net::TcpListener::bind(("127.0.0.1", h.port1)).unwrap();
    click("#setup-continue").await;
    until(Duration::from_secs(30), || async {
        !h.text("#setup-failure").await.is_empty()
    })
    .await;
    eprintln!("first run: the failure is shown");
    let failure = h.text("#setup-failure").await;
    assert!(failure.contains("is already in use"), "{failure}");
    assert!(failure.contains("Fix:"), "{failure}");
    h.x_screenshot("first-run-failed").await;
    assert!(!h.root().join("nix-wiring").exists());
    drop(listener);

    // Try again: the whole run, with live progress, to success.
    click("#setup-retry").await;
    until(Duration::from_secs(30), || async {
        h.text("#setup-checks").await.contains("is free")
    })
    .await;
    click("#setup-continue").await;
    until(Duration::from_secs(120), || async {
        h.text("#setup-line").await.contains("(")
    })
    .await;
    h.x_screenshot("first-run-progress").await;
    until(Duration::from_secs(300), || async {
        !h.text("#setup-success").await.is_empty() || !h.text("#setup-failure").await.is_empty()
    })
    .await;
    let failure = h.text("#setup-failure").await;
    assert!(failure.is_empty(), "setup failed: {failure}");
    assert_eq!(
        h.text("#setup-headline").await,
        "Your Mac can now build Linux packages."
    );
    assert!(
        h.text("#setup-try")
            .await
            .contains("builderbar doctor --build")
    );
    h.x_screenshot("first-run-done").await;
    assert!(h.root().join("nix-wiring/manifest.json").exists());
    until(Duration::from_secs(60), || async { h.ssh_ok(h.port1) }).await;

    // The tray's test build, off the main thread; the result in its label.
    let tray = h.tray();
    until(Duration::from_secs(60), || async {
        tray.labels().iter().any(|l| l.starts_with("Ready"))
    })
    .await;
    assert!(tray.click("Run Test Build"));
    until(Duration::from_secs(300), || async {
        tray.labels()
            .iter()
            .any(|l| l.starts_with("Run Test Build — last passed"))
    })
    .await;
    h.save_text("tray-menu-test-build.txt", &tray.labels().join("\n"));

    // A derivation that only the builder may build, and that fails there:
    // one notification naming it, from the host's log folder.
    let host = HostNix::for_sysroot(Some(sysroot.path())).unwrap();
    let failed = host.build_on_builder(
        builderbar::settings::host::linux_twin(),
        "builderbar-e2e-fail",
        "echo 'error: this build fails on purpose' >&2; exit 1",
        Duration::from_secs(300),
    );
    assert!(
        matches!(failed, Err(TestBuildError::BuildFailed { .. })),
        "{failed:?}"
    );
    until(Duration::from_secs(60), || async {
        !notifications.shown("builderbar-e2e-fail").is_empty()
    })
    .await;

    // Uninstall: the sysroot's /etc exactly as before setup.
    let uninstall = Command::new(build_dir().join("builderbar"))
        .args(["uninstall", "--sysroot"])
        .arg(sysroot.path())
        .env("BUILDERBAR_HOME", h.root())
        .env("BUILDERBAR_OSASCRIPT", osascript_double())
        .output()
        .unwrap();
    assert!(
        uninstall.status.success(),
        "{}",
        String::from_utf8_lossy(&uninstall.stderr)
    );
    assert_eq!(snapshot(&sysroot.path().join("etc")), etc_before);
    // Exactly one, seen again after the watcher's settle time has long passed.
    let shown = notifications.shown("builderbar-e2e-fail");
    assert_eq!(shown.len(), 1, "{shown:#?}");
    let body = shown[0]["body"].as_str().unwrap_or_default();
    assert!(body.contains("fails on purpose"), "{body}");
    h.finish().await;
}
