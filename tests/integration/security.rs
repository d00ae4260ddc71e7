//! Security properties, shown with real processes: the SSH forward listens
//! on 127.0.0.1 only; private key files are owner-only and checked before
//! use; with trace logging through a whole start → apply → stop cycle no
//! key material reaches a log; and the privileged step
//! (`security/privileged.rs`) is a constant script with every setting as data.
//! The log scan is in `security/logs.rs`.

mod logs;
mod privileged;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use builderbar::keys::{KeyringStore, Keys};
use builderbar::nix::detect::{BuildersView, Detected, Flavor};
use builderbar::nix::plan::{self, Layout, WiringInputs};
use builderbar::paths::Paths;
use builderbar::settings::SettingsStore;

use crate::support::home::Home;
use crate::support::services::cmdline;
use crate::support::vm::dev_vm;

/// The addresses of this machine other than 127.0.0.1: another loopback
/// address, ::1, and every address of every interface.
pub(crate) fn other_local_addresses() -> Vec<IpAddr> {
    let mut addresses: Vec<IpAddr> = vec![
        Ipv4Addr::new(127, 0, 0, 2).into(),
        Ipv4Addr::new(127, 1, 2, 3).into(),
        "::1".parse().unwrap(),
    ];
    let out = Command::new("ip")
        .args(["-o", "addr", "show"])
        .output()
        .unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(i) = words.iter().position(|w| *w == "inet" || *w == "inet6")
            && let Some(Ok(ip)) = words
                .get(i + 1)
                .map(|a| a.split('/').next().unwrap().parse::<IpAddr>())
            && !ip.is_loopback()
            && !matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
        {
            addresses.push(ip);
        }
    }
    addresses
}

/// Local addresses of the listening TCP sockets on `port`, from the
/// kernel's tables (what `ss -ltn` shows), as they are written there.
pub(crate) fn listeners(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (words.get(1), words.get(3)) else {
                continue;
            };
            let (address, hex_port) = local.rsplit_once(':').unwrap();
            if *state == "0A" && u16::from_str_radix(hex_port, 16) == Ok(port) {
                found.push(address.to_string());
            }
        }
    }
    found
}

/// QEMU is given `hostfwd=tcp:127.0.0.1:PORT-:22` and nothing else; the
/// kernel shows one listener, on 127.0.0.1; every other local address —
/// another loopback address, ::1, the machine's own network addresses — is
/// refused, while 127.0.0.1 answers.
#[test]
fn the_ssh_forward_listens_on_127_0_0_1_only() {
    let home = Home::new();
    let mut supervisor = home.start_supervisor();
    supervisor.wait_ready();
    let qemu = cmdline(u64::from(supervisor.qemu_pid()));
    let forwards: Vec<&str> = qemu
        .iter()
        .flat_map(|word| word.split(','))
        .filter(|opt| opt.starts_with("hostfwd=") || opt.starts_with("guestfwd="))
        .collect();
    assert_eq!(
        forwards,
        [format!("hostfwd=tcp:127.0.0.1:{}-:22", home.port)],
        "{qemu:?}"
    );
    assert_eq!(
        listeners(home.port),
        ["0100007F"],
        "one listener, on 127.0.0.1"
    );

    let mut refused = Vec::new();
    for ip in other_local_addresses() {
        let result =
            TcpStream::connect_timeout(&SocketAddr::new(ip, home.port), Duration::from_secs(2));
        match result {
            Ok(_) => panic!("{ip}:{} accepted a connection", home.port),
            Err(err) => {
                if ip.is_ipv4() {
                    assert_eq!(
                        err.kind(),
                        std::io::ErrorKind::ConnectionRefused,
                        "{ip}: {err}"
                    );
                }
                refused.push(format!("{ip} ({err})"));
            }
        }
    }
    println!("refused: {}", refused.join(", "));
    assert!(TcpStream::connect(("127.0.0.1", home.port)).is_ok());
    supervisor.stop_cleanly();
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), None).unwrap();
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The copy of the builder key made for the administrator step is 0600 and
/// ours; the step (`builderbar nix apply-plan`, as root) refuses a copy
/// that others may read, that belongs to someone else, or that is a link,
/// and installs nothing. The health probe refuses an `--identity` key file
/// others may read or that is not the user's.
#[test]
fn private_key_files_are_0600_and_their_owner_is_checked_before_use() {
    let home = Home::new();
    let paths = Paths::with_root(home.root());
    let keys = Keys::new(
        SettingsStore::open(&paths).unwrap(),
        Box::new(KeyringStore::platform()),
    );
    keys.builder_public().unwrap();
    let state = home.root().join("state");
    let copy = state.join("builder_ed25519.for-root");
    keys.write_private_key_file(&copy).unwrap();
    let meta = std::fs::metadata(&copy).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), rustix::process::geteuid().as_raw());

    let sysroot = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(sysroot.path().join("etc/nix")).unwrap();
    std::fs::write(sysroot.path().join("etc/nix/nix.conf"), "max-jobs = auto\n").unwrap();
    let layout = Layout::new(sysroot.path());
    let inputs =
        WiringInputs::new(home.port, &["x86_64-linux".into()], 1, &dev_vm().host_key).unwrap();
    let detected = Detected {
        flavor: Flavor::Upstream,
        machines_managed: false,
        conflicts: vec![],
        builders: BuildersView::default_for(&layout),
        builders_ours: None,
    };
    let apply_plan = |source: &Path| {
        let plan = plan::compute(
            &inputs,
            &detected,
            &layout,
            &home.root().join("nix-wiring"),
            Some(source),
        )
        .unwrap();
        let job = state.join("job.json");
        let text = serde_json::to_string(&builderbar::nix::apply::Job::Apply(plan)).unwrap();
        std::fs::write(&job, text).unwrap();
        home.command()
            .args(["nix", "apply-plan"])
            .arg(&job)
            .output()
            .unwrap()
    };
    let installed = layout.key_file();
    let planted = state.join("planted");
    let link = state.join("link");
    std::fs::copy(&copy, &planted).unwrap();
    std::os::unix::fs::symlink(&copy, &link).unwrap();
    chmod(&planted, 0o644);
    for (source, expected) in [
        (&planted, "chmod 600".to_string()),
        (&link, "a symbolic link".to_string()),
    ] {
        let out = apply_plan(source);
        assert!(!out.status.success(), "{} was used", source.display());
        assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
        assert!(!installed.exists(), "nothing installed");
    }
    chmod(&planted, 0o600);
    chown(&planted, 65534);
    let out = apply_plan(&planted);
    assert!(
        stderr(&out).contains("belongs to uid 65534"),
        "{}",
        stderr(&out)
    );
    assert!(!installed.exists());

    let out = apply_plan(&copy);
    assert!(out.status.success(), "{}", stderr(&out));
    let meta = std::fs::metadata(&installed).unwrap();
    assert_eq!((meta.permissions().mode() & 0o777, meta.uid()), (0o600, 0));
    assert!(!copy.exists(), "the copy is removed once installed");

    let monitor = |identity: &Path| {
        home.command()
            .args(["monitor", "--json", "--no-builds", "--identity"])
            .arg(identity)
            .args(["--host-key", &dev_vm().host_key])
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let client = home.client.path.clone();
    chmod(&client, 0o644);
    let out = monitor(&client);
    assert!(
        !out.status.success() && stderr(&out).contains("chmod 600"),
        "{}",
        stderr(&out)
    );
    chmod(&client, 0o600);
    chown(&client, 65534);
    let out = monitor(&client);
    assert!(
        !out.status.success() && stderr(&out).contains("belongs to uid 65534"),
        "{}",
        stderr(&out)
    );
    chown(&client, 0);
}
