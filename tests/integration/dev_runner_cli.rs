//! `builderbar dev-runner`, run as a user would.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::vm::dev_vm;

#[test]
fn prints_the_runner_and_the_host_key_as_json() {
    let output = Command::new(env!("CARGO_BIN_EXE_builderbar"))
        .args(["dev-runner", "--port", "40999", "--json"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    let runner = std::path::PathBuf::from(json["runner"].as_str().unwrap());
    let mode = std::fs::metadata(&runner).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "the runner is executable");
    let script = std::fs::read_to_string(&runner).unwrap();
    assert!(!script.contains("hostfwd"), "no port is baked in");
    assert_eq!(json["qemu_net_opts"], "hostfwd=tcp:127.0.0.1:40999-:22");

    let host_key = json["host_key"].as_str().unwrap();
    assert!(host_key.starts_with("ssh-ed25519 AAAA"), "{host_key}");
    assert_eq!(host_key, dev_vm().host_key, "the key the guest serves");
}
