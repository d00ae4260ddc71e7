//! Each failure injected for real stops setup with a clear message, the
//! fix, and nothing half-installed (see `super` for the helpers).

use super::{Stopper, failure, nothing_installed, setup, sysroot, tree};
use crate::support::home::Home;
use crate::support::vm::Slot;

#[test]
fn no_nix_stops_at_the_check() {
    let home = Home::new();
    let root = sysroot();
    let before = tree(root.path());
    // A PATH with no `nix` in it (and this machine has none in the default
    // profile's places either).
    let empty = tempfile::tempdir().unwrap();
    let path = empty.path().to_str().unwrap();
    let (out, events) = setup(&home, root.path(), 60, &[("PATH", path)]);
    let failure = failure(&out, &events, "check");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("Nix is not installed"),
        "{failure}"
    );
    assert_eq!(failure["doctor_check"], "nix");
    nothing_installed(&home, root.path(), &before);
}

#[test]
fn a_taken_port_stops_at_the_check_naming_its_holder() {
    let home = Home::new();
    let root = sysroot();
    let before = tree(root.path());
    let listener = std::net::TcpListener::bind(("127.0.0.1", home.port)).unwrap();
    let (out, events) = setup(&home, root.path(), 60, &[]);
    let failure = failure(&out, &events, "check");
    let message = failure["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("Port {} is already in use", home.port)),
        "{failure}"
    );
    assert!(
        message.contains(&format!("pid {}", std::process::id())),
        "{failure}"
    );
    assert!(
        failure["fix"]
            .as_str()
            .unwrap()
            .contains("settings set port")
    );
    drop(listener);
    nothing_installed(&home, root.path(), &before);
}

#[test]
fn a_refused_admin_prompt_changes_nothing() {
    let home = Home::new();
    let root = sysroot();
    let before = tree(root.path());
    let (out, events) = setup(
        &home,
        root.path(),
        60,
        &[("OSASCRIPT_DOUBLE_ANSWER", "cancel")],
    );
    let failure = failure(&out, &events, "apply");
    assert!(
        failure["message"].as_str().unwrap().contains("cancelled"),
        "{failure}"
    );
    assert!(
        failure["fix"].as_str().unwrap().contains("run setup again"),
        "{failure}"
    );
    nothing_installed(&home, root.path(), &before);
}

#[test]
fn a_runner_that_cannot_be_built_stops_setup() {
    let home = Home::new();
    let root = sysroot();
    let before = tree(root.path());
    // The dev VM's cache is a file: the build cannot even start.
    let cache = home.root().join("not-a-folder");
    std::fs::write(&cache, "").unwrap();
    let (out, events) = setup(
        &home,
        root.path(),
        60,
        &[("BUILDERBAR_DEVVM_CACHE", cache.to_str().unwrap())],
    );
    let failure = failure(&out, &events, "runner");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("dev VM could not be built"),
        "{failure}"
    );
    assert!(
        failure["fix"]
            .as_str()
            .unwrap()
            .contains("builderbar dev-runner")
    );
    nothing_installed(&home, root.path(), &before);
}

#[test]
fn a_builder_that_never_becomes_ready_is_undone() {
    let _slot = Slot::take();
    let home = Home::new();
    let _stop = Stopper(&home);
    let root = sysroot();
    let before = tree(root.path());
    // A real dev VM, but forwarding another port: it boots and powers down
    // as the real one does, and SSH on the builder's port never answers.
    let other = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let json = home.cli_ok(&["dev-runner", "--port", &other.to_string(), "--json"]);
    let runner: serde_json::Value = serde_json::from_str(&json).unwrap();
    let wrapper = home.root().join("elsewhere-runner");
    crate::support::write_executable(
        &wrapper,
        &format!(
            "#!/bin/sh\nexport QEMU_NET_OPTS='{}'\nexec '{}' \"$@\"\n",
            runner["qemu_net_opts"].as_str().unwrap(),
            runner["runner"].as_str().unwrap()
        ),
    );
    let (out, events) = setup(
        &home,
        root.path(),
        12,
        &[("BUILDERBAR_RUNNER", wrapper.to_str().unwrap())],
    );
    let failure = failure(&out, &events, "ready");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("did not become Ready within 12 s"),
        "{failure}"
    );
    assert_eq!(failure["doctor_check"], "ssh");
    let undone = failure["rolled_back"].to_string();
    assert!(undone.contains("restored Nix's files"), "{undone}");
    assert!(undone.contains("removed the builder's service"), "{undone}");
    nothing_installed(&home, root.path(), &before);
}

#[test]
fn a_failing_test_build_is_undone() {
    let _slot = Slot::take();
    let home = Home::new();
    let _stop = Stopper(&home);
    // The builder is the x86_64 dev VM: a build for aarch64-linux reaches
    // it and fails there for real.
    home.set("systems", "aarch64-linux");
    let root = sysroot();
    let before = tree(root.path());
    let (out, events) = setup(&home, root.path(), 120, &[]);
    let failure = failure(&out, &events, "test-build");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("the test build failed"),
        "{failure}"
    );
    assert_eq!(failure["doctor_check"], "build");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "waiting" && e["state"] == "Ready")
    );
    nothing_installed(&home, root.path(), &before);
}
