//! Real OpenSSH against the dev VM, with the host key pinned and no config
//! from the machine (`-F /dev/null`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ssh_key::{Algorithm, LineEnding, PrivateKey};

/// A client key made with the ssh-key crate and written as OpenSSH does.
pub struct ClientKey {
    pub path: PathBuf,
    pub public_line: String,
}

impl ClientKey {
    pub fn generate(path: &Path) -> ClientKey {
        let key = PrivateKey::random(&mut rand_core::OsRng, Algorithm::Ed25519).unwrap();
        key.write_openssh_file(path, LineEnding::LF).unwrap();
        ClientKey {
            path: path.to_path_buf(),
            public_line: key.public_key().to_openssh().unwrap(),
        }
    }
}

/// A fresh ed25519 public key line, for a host key that is not the VM's.
pub fn random_public_key() -> String {
    let key = PrivateKey::random(&mut rand_core::OsRng, Algorithm::Ed25519).unwrap();
    key.public_key().to_openssh().unwrap()
}

/// Writes a known_hosts file pinning `host_key` for 127.0.0.1 on `port`.
pub fn write_known_hosts(path: &Path, port: u16, host_key: &str) {
    std::fs::write(path, format!("[127.0.0.1]:{port} {host_key}\n")).unwrap();
}

/// One `ssh` run: `user@127.0.0.1 -p port command`, strictly pinned.
pub fn run(port: u16, user: &str, key: &Path, known_hosts: &Path, command: &str) -> Output {
    run_waiting(port, user, key, known_hosts, command, 2)
}

/// [`run`], waiting up to `connect_secs` for the connection and sshd's
/// greeting (ssh's ConnectTimeout covers both): as long as a builder that
/// sleeps takes to boot.
pub fn run_waiting(
    port: u16,
    user: &str,
    key: &Path,
    known_hosts: &Path,
    command: &str,
    connect_secs: u32,
) -> Output {
    Command::new("ssh")
        .args([
            "-F",
            "/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
        ])
        .args(["-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR"])
        .arg("-o")
        .arg(format!("ConnectTimeout={connect_secs}"))
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
        .arg("-i")
        .arg(key)
        .args(["-p", &port.to_string()])
        .arg(format!("{user}@127.0.0.1"))
        .arg(command)
        .output()
        .unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
