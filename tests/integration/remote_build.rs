//! Real remote builds, end to end on Linux: the Nix flavour of the dev VM
//! under the supervisor, `builderbar install --sysroot` (osascript double,
//! as in nix_wiring.rs), then the host's Debian nix-bin, through a private
//! nix-daemon reading exactly the sysroot's generated files, builds on the
//! guest over `ssh-ng://` (see `src/nix/test_build_host.rs`).
//!
//! - the test build passes (`builderbar doctor --build`): its output is
//!   valid in the host store and says it was built in the guest;
//! - a failing derivation fails with the builder's error and last lines,
//!   and the build watcher (`builderbar monitor`, reading the host's
//!   `NIX_LOG_DIR`) sends exactly one notification naming it, with its log,
//!   while the passing test build makes none;
//! - a wrong pinned host key: the error shows ssh's own words, not only
//!   Nix's "Failed to find a machine for remote build!".
//!
//! Needs root (a private mount namespace) and the Nix flavour (the
//! default; `BUILDERBAR_DEVVM_FLAVOUR=small` makes these tests fail loudly).

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use builderbar::nix::test_build::{HostNix, TestBuildError};
use builderbar::nix::test_build_host::sysroot_env;

use crate::notifications::{Monitor, NotificationServer};
use crate::support::home::{Home, Supervisor};
use crate::support::ssh;

const OSASCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/doubles/osascript");

/// A sysroot like a Linux host with Debian's nix-bin: a nix.conf for a
/// store without build users or sandbox (then `extra`), and an empty
/// ssh_config.d.
pub(crate) fn sysroot(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("bb-remote-")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(dir.path().join("etc/nix")).unwrap();
    std::fs::create_dir_all(dir.path().join("etc/ssh/ssh_config.d")).unwrap();
    std::fs::write(
        dir.path().join("etc/ssh/ssh_config"),
        "# as macOS ships it\nInclude /etc/ssh/ssh_config.d/*\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("etc/nix/nix.conf"),
        format!("sandbox = false\nbuild-users-group =\nsubstituters =\n{extra}"),
    )
    .unwrap();
    dir
}

/// The builder running (Nix flavour) and the wiring installed under a
/// fresh sysroot.
fn wired(home: &Home) -> (Supervisor<'_>, tempfile::TempDir) {
    wired_with(home, "")
}

/// The same, with `extra` appended to the sysroot's nix.conf.
fn wired_with<'h>(home: &'h Home, extra: &str) -> (Supervisor<'h>, tempfile::TempDir) {
    assert_eq!(
        devvm::Flavour::selected().unwrap(),
        devvm::Flavour::Nix,
        "remote builds need the dev VM's Nix flavour: unset {}",
        devvm::FLAVOUR_ENV
    );
    let mut supervisor = home.start_supervisor();
    supervisor.wait_ready();
    assert!(
        home.ssh_ok("nix-store --version").contains("2."),
        "the guest has no Nix"
    );
    let root = sysroot(extra);
    install(home, root.path());
    (supervisor, root)
}

pub(crate) fn install(home: &Home, root: &Path) {
    let out = home
        .command()
        .env("BUILDERBAR_OSASCRIPT", OSASCRIPT)
        .args(["install", "--sysroot"])
        .arg(root)
        .output()
        .unwrap();
    assert!(out.status.success(), "install: {}", ssh::stderr(&out));
}

pub(crate) fn doctor_build(home: &Home, root: &Path) -> (bool, serde_json::Value) {
    let out = home
        .command()
        .args(["doctor", "--build", "--json", "--sysroot"])
        .arg(root)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("doctor printed no JSON: {}", ssh::stderr(&out)));
    (out.status.success(), json)
}

/// `nix-store` on the host's (the sysroot's) store.
fn host_nix_store(root: &Path, args: &[&str]) -> std::process::Output {
    let mut command = Command::new("nix-store");
    command.args(args);
    for (key, value) in sysroot_env(root) {
        command.env(key, value);
    }
    command.output().unwrap()
}

#[test]
fn the_test_build_passes_and_a_failed_build_makes_one_notification() {
    let server = NotificationServer::start();
    let home = Home::new();
    let (mut supervisor, root) = wired(&home);
    let env: Vec<(&str, OsString)> = sysroot_env(root.path());
    let drvs = root.path().join("nix/var/log/nix/drvs");
    std::fs::create_dir_all(&drvs).unwrap();
    let env_refs: Vec<(&str, &Path)> = env.iter().map(|(k, v)| (*k, Path::new(v))).collect();
    let host_key = devvm::ensure_built(&devvm::default_cache_dir())
        .unwrap()
        .host_key;
    let mut monitor = Monitor::start(&home, &host_key, &[], &env_refs);

    // The test build, as `builderbar doctor --build` runs it.
    let (ok, json) = doctor_build(&home, root.path());
    let build = &json["test_build"];
    assert!(ok && build["status"] == "pass", "{json:#}");
    let output = build["output"].as_str().unwrap();
    assert!(output.starts_with(devvm::NIX_STORE_DIR), "{output}");
    let valid = host_nix_store(root.path(), &["--check-validity", output]);
    assert!(valid.status.success(), "{}", ssh::stderr(&valid));
    let text = std::fs::read_to_string(output).unwrap();
    assert!(text.contains("host: builder"), "{text}");
    assert!(text.contains("kernel: Linux\nmachine: x86_64"), "{text}");
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(
        host_name.trim(),
        "builder",
        "the test needs a host not named builder"
    );
    assert_eq!(build["system"], builderbar::settings::host::linux_twin());
    // Built in the guest: its store holds the output too.
    assert!(home.ssh(&format!("test -e {output}")).status.success());

    // A derivation that fails on the builder.
    let host = HostNix::for_sysroot(Some(root.path())).unwrap();
    let failed = host.build_on_builder(
        builderbar::settings::host::linux_twin(),
        "builderbar-remote-fail",
        "echo compiling; echo 'error: the answer is not 42' >&2; exit 1",
        Duration::from_secs(300),
    );
    let Err(TestBuildError::BuildFailed { log_tail }) = failed else {
        panic!("expected a failed build, got {failed:?}");
    };
    assert!(
        log_tail[0].contains("failed with exit code 1"),
        "{log_tail:#?}"
    );
    assert!(
        log_tail.iter().any(|l| l == "error: the answer is not 42"),
        "{log_tail:#?}"
    );

    // The watcher saw it in the host's log folder: one notification, with
    // the log's last lines; the passing test build made none.
    let report = monitor.wait_line(0, Duration::from_secs(60), |l| {
        l["event"] == "build" && l["name"] == "builderbar-remote-fail"
    });
    assert_eq!(report["failed"], true, "{report}");
    let log = report["log"].as_str().unwrap();
    assert!(log.starts_with(drvs.to_str().unwrap()), "{report}");
    let shown = server.wait_shown("builderbar-remote-fail", Duration::from_secs(20));
    assert_eq!(shown.len(), 1, "{:#?}", server.calls());
    let body = shown[0]["body"].as_str().unwrap();
    assert!(body.contains("the answer is not 42"), "{body}");
    monitor.wait_line(0, Duration::from_secs(30), |l| {
        l["event"] == "build" && l["name"] == "builderbar-test-build" && l["failed"] == false
    });
    assert!(
        server.shown("builderbar-test-build").is_empty(),
        "{:#?}",
        server.calls()
    );
    let logs: Vec<_> = walk(&drvs)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("builderbar-remote-fail.drv"))
        .collect();
    assert_eq!(
        logs.len(),
        1,
        "the failed build's log is in the host's log folder"
    );
    assert_eq!(
        server.shown("builderbar-remote-fail").len(),
        1,
        "{:#?}",
        server.calls()
    );
    supervisor.stop_cleanly();
}

/// Nix must really see the builder: with a builders line of the user's own
/// (the nixpkgs manual teaches one) in nix.conf, and then in an included
/// file, the test build through the private nix-daemon still passes.
#[test]
fn the_test_build_passes_with_a_builders_line_of_the_users_own() {
    let home = Home::new();
    let theirs = "builders = ssh://builder@other aarch64-linux\n";
    let (mut supervisor, root) = wired_with(&home, theirs);
    let (ok, json) = doctor_build(&home, root.path());
    assert!(ok && json["test_build"]["status"] == "pass", "{json:#}");

    let included = sysroot("include builders.conf\n");
    std::fs::write(included.path().join("etc/nix/builders.conf"), theirs).unwrap();
    install(&home, included.path());
    let (ok, json) = doctor_build(&home, included.path());
    assert!(ok && json["test_build"]["status"] == "pass", "{json:#}");
    supervisor.stop_cleanly();
}

#[test]
fn a_wrong_host_key_shows_what_ssh_says() {
    let home = Home::new();
    let (mut supervisor, root) = wired(&home);
    // Nix pins the host key from the machines entry's last field.
    let machines = root.path().join("etc/nix/machines");
    let text = std::fs::read_to_string(&machines).unwrap();
    let wrong = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(ssh::random_public_key())
    };
    let changed: String = text
        .lines()
        .map(|line| {
            if line.starts_with("ssh-ng://") {
                let mut fields: Vec<&str> = line.split_whitespace().collect();
                fields[7] = &wrong;
                fields.join(" ")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&machines, changed + "\n").unwrap();

    let (ok, json) = doctor_build(&home, root.path());
    assert!(!ok, "{json:#}");
    let error = json["test_build"]["error"].as_str().unwrap();
    assert!(error.contains("Nix could not use the builder"), "{error}");
    assert!(
        error.contains("cannot build on 'ssh-ng://builder@builderbar-linux-builder'"),
        "{error}"
    );
    assert!(error.contains("Host key verification failed"), "{error}");
    assert!(error.contains("doctor"), "{error}");
    assert!(!error.contains("Failed to find a machine"), "{error}");
    supervisor.stop_cleanly();
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
