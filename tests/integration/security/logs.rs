//! Trace logging on through a whole cycle, and no key material in any log.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use builderbar::keys::{KeyringStore, SecretStore};
use builderbar::paths::Paths;

use crate::support::home::Home;
use crate::support::services::wait_ssh;
use crate::support::vm::dev_vm;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The builder key as it must never be seen: the lines of its OpenSSH
/// armour that carry the private scalar (the others — the format's header,
/// the public key — are the same in any such key, or public), the whole
/// base64 body, and the private scalar in base64, hex and as a byte list.
fn key_needles(pem: &str) -> Vec<String> {
    use base64::Engine;
    let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let key = ssh_key::PrivateKey::from_openssh(pem).unwrap();
    let seed = key.key_data().ed25519().unwrap().private.to_bytes();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(body.concat())
        .unwrap();
    let offset = decoded.windows(32).position(|w| w == seed).unwrap();
    let secret_chars = offset * 4 / 3..(offset + 32) * 4 / 3 + 1;
    let mut needles = Vec::new();
    let mut at = 0;
    for line in &body {
        if at < secret_chars.end && secret_chars.start < at + line.len() {
            needles.push(line.to_string());
        }
        at += line.len();
    }
    assert!(!needles.is_empty());
    needles.push(body.concat());
    needles.push(base64::engine::general_purpose::STANDARD.encode(seed));
    needles.push(base64::engine::general_purpose::STANDARD_NO_PAD.encode(seed));
    needles.push(seed.iter().map(|b| format!("{b:02x}")).collect());
    needles.push(
        format!("{:?}", &seed[..8])
            .trim_end_matches(']')
            .to_string(),
    );
    needles
}

/// Every file under `dir` but the VM's disk image.
fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files_under(&entry.path(), out);
        } else if kind.is_file() && entry.file_name() != "disk.qcow2" {
            out.push(entry.path());
        }
    }
}

/// `BUILDERBAR_LOG=trace` for every process of a whole cycle — the builder
/// key made, start, the health monitor (which logs in with the key) until
/// Ready, the Nix wiring (the key handed to the administrator step), an
/// Apply from the app that restarts the builder, status, stop — then every
/// file under BUILDERBAR_HOME (logs, state, settings; all but the VM's disk)
/// and everything the processes printed is searched for the key.
#[test]
fn no_key_material_reaches_a_log_through_a_traced_start_apply_stop() {
    let home = Home::new();
    let _service = crate::support::services::Detached::new(&home);
    let mut printed: Vec<u8> = Vec::new();
    let mut traced = |command: &mut Command| {
        let out = command.env("BUILDERBAR_LOG", "trace").output().unwrap();
        printed.extend_from_slice(&out.stdout);
        printed.extend_from_slice(&out.stderr);
        assert!(out.status.success(), "{command:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    traced(home.command().args(["keys", "show"]));
    let account = Paths::with_root(home.root()).keychain_account();
    let pem = KeyringStore::platform().get(&account).unwrap().unwrap();
    traced(home.command().arg("start"));
    wait_ssh(&home, Duration::from_secs(120));

    let out = home.root().join("monitor.out");
    let mut monitor = home
        .command()
        .args([
            "monitor",
            "--json",
            "--no-builds",
            "--host-key",
            &dev_vm().host_key,
        ])
        .env("BUILDERBAR_LOG", "trace")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(home.root().join("monitor.err")).unwrap())
        .spawn()
        .unwrap();
    let ready =
        crate::support::wait::until(Duration::from_secs(120), Duration::from_millis(50), || {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            text.contains("\"state\":\"ready\"").then_some(())
        });
    monitor.kill().unwrap();
    monitor.wait().unwrap();
    assert!(
        ready.is_some(),
        "{}",
        std::fs::read_to_string(&out).unwrap_or_default()
    );

    let sysroot = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(sysroot.path().join("etc/nix")).unwrap();
    std::fs::write(sysroot.path().join("etc/nix/nix.conf"), "max-jobs = auto\n").unwrap();
    let osascript = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/doubles/osascript");
    traced(
        home.command()
            .env("BUILDERBAR_OSASCRIPT", osascript)
            .args(["install", "--sysroot"])
            .arg(sysroot.path()),
    );
    let installed =
        std::fs::read_to_string(sysroot.path().join("etc/nix/builderbar_ed25519")).unwrap();
    assert_eq!(installed.trim(), pem.trim(), "the wiring did get the key");

    let applied = traced(&mut crate::support::app::apply_command(
        home.root(),
        "memory",
        "1536MiB",
    ));
    assert!(applied.contains("applied: restarted=true"), "{applied}");
    wait_ssh(&home, Duration::from_secs(120));
    traced(home.command().arg("status"));
    traced(home.command().arg("stop"));
    assert!(
        TcpListener::bind(("127.0.0.1", home.port)).is_ok(),
        "the port is free once stopped"
    );

    let mut files = Vec::new();
    files_under(home.root(), &mut files);
    let mut scanned = vec![("what the processes printed".to_string(), printed)];
    scanned.extend(
        files
            .iter()
            .map(|f| (f.display().to_string(), std::fs::read(f).unwrap())),
    );
    let needles = key_needles(&pem);
    assert!(
        needles.iter().any(|n| installed.contains(n.as_str())),
        "the search finds the key where it belongs (the root-owned copy under the sysroot)"
    );
    let total: usize = scanned.iter().map(|(_, b)| b.len()).sum();
    let log = String::from_utf8_lossy(&scanned[0].1).into_owned();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "trace logging was on"
    );
    for (name, bytes) in &scanned {
        let text = String::from_utf8_lossy(bytes);
        for needle in &needles {
            assert!(!text.contains(needle.as_str()), "key material in {name}");
        }
    }
    println!(
        "{} files and the processes' output, {total} bytes, hold no key material",
        files.len()
    );
}
