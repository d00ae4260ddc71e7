//! The dev VM behind the runner contract, booted for real.

use crate::support::ssh::{self, ClientKey};
use crate::support::vm::{BootOptions, Ending, Vm, Workdir};

/// The size in KiB of the filesystem mounted at /nix, from the guest's `df`.
fn nix_size_kib(vm: &Vm) -> u64 {
    let df = vm.ssh_ok("df -P /nix");
    let line = df
        .lines()
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected df output: {df}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn boots_logs_in_and_powers_down_cleanly() {
    let work = Workdir::new();
    let vm = Vm::boot_with(
        &work,
        BootOptions {
            // Later options win: the runner's own -m is overridden.
            qemu_opts: vec!["-m".into(), "384".into()],
            ..Default::default()
        },
    );

    let uname = vm.ssh_ok("uname -s -m");
    assert_eq!(uname.trim(), "Linux x86_64");
    assert!(
        nix_size_kib(&vm) > 3_000_000,
        "the default 4 GiB disk is mounted at /nix"
    );
    assert_eq!(vm.ssh_ok("id -un").trim(), "builder");

    let mem_kib: u64 = vm
        .ssh_ok("awk '/MemTotal/ {print $2}' /proc/meminfo")
        .trim()
        .parse()
        .unwrap();
    assert!(
        (300_000..=384 * 1024).contains(&mem_kib),
        "QEMU_OPTS -m 384 won: {mem_kib} KiB"
    );

    // QEMU works inside TMPDIR, as run-nixos-vm does with USE_TMPDIR=1.
    let cwd = std::fs::read_link(format!("/proc/{}/cwd", vm.pid())).unwrap();
    assert_eq!(cwd, work.tmp.canonicalize().unwrap());

    let (ending, status) = vm.power_off();
    assert_eq!(ending, Ending::PoweredDown);
    assert!(
        status.success(),
        "QEMU exits 0 after a guest power-off: {status}"
    );
}

#[test]
fn refuses_a_wrong_host_key_an_unknown_key_and_root() {
    let work = Workdir::new();
    let vm = Vm::boot(&work);

    let wrong_hosts = work.dir.path().join("wrong_known_hosts");
    ssh::write_known_hosts(&wrong_hosts, vm.port, &ssh::random_public_key());
    let out = ssh::run(vm.port, "builder", &work.client.path, &wrong_hosts, "true");
    assert_eq!(out.status.code(), Some(255));
    assert!(
        ssh::stderr(&out).contains("Host key verification failed"),
        "{}",
        ssh::stderr(&out)
    );

    let empty_hosts = work.dir.path().join("empty_known_hosts");
    std::fs::write(&empty_hosts, "").unwrap();
    let out = ssh::run(vm.port, "builder", &work.client.path, &empty_hosts, "true");
    assert_eq!(
        out.status.code(),
        Some(255),
        "an unknown host key is never accepted"
    );

    let stranger = ClientKey::generate(&work.dir.path().join("stranger"));
    let out = ssh::run(
        vm.port,
        "builder",
        &stranger.path,
        &work.known_hosts,
        "true",
    );
    assert_eq!(out.status.code(), Some(255));
    assert!(
        ssh::stderr(&out).contains("Permission denied"),
        "{}",
        ssh::stderr(&out)
    );

    let out = ssh::run(
        vm.port,
        "root",
        &work.client.path,
        &work.known_hosts,
        "true",
    );
    assert_eq!(out.status.code(), Some(255), "root may not log in");

    // The forward binds 127.0.0.1 only.
    let listening = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port_hex = format!(":{:04X} ", vm.port);
    let bound: Vec<&str> = listening
        .lines()
        .filter(|line| line.contains(&port_hex))
        .collect();
    assert!(!bound.is_empty(), "the forward is listening");
    assert!(
        bound.iter().all(|line| line
            .split_whitespace()
            .nth(1)
            .unwrap()
            .starts_with("0100007F:")),
        "only 127.0.0.1 listens: {bound:?}"
    );
}

#[test]
fn a_second_authorized_key_logs_in_after_a_restart() {
    let work = Workdir::new();
    let second = ClientKey::generate(&work.dir.path().join("second"));

    let vm = Vm::boot(&work);
    vm.ssh_ok("echo kept > /nix/var/marker");
    let out = ssh::run(vm.port, "builder", &second.path, &work.known_hosts, "true");
    assert_eq!(out.status.code(), Some(255), "not yet authorized");
    assert_eq!(vm.power_off().0, Ending::PoweredDown);

    work.authorize(&second.public_line);
    // QEMU_NET_OPTS is appended to the user netdev: a second forward works.
    let extra_port = TcpPort::free();
    let vm = Vm::boot_with(
        &work,
        BootOptions {
            net_opts: Some(format!("hostfwd=tcp:127.0.0.1:{}-:22", extra_port.0)),
            ..Default::default()
        },
    );
    let out = ssh::run(
        vm.port,
        "builder",
        &second.path,
        &work.known_hosts,
        "cat /nix/var/marker",
    );
    assert!(out.status.success(), "{}", ssh::stderr(&out));
    assert_eq!(ssh::stdout(&out).trim(), "kept");
    vm.ssh_ok("true");

    let extra_hosts = work.dir.path().join("extra_known_hosts");
    ssh::write_known_hosts(&extra_hosts, extra_port.0, &vm.host_key);
    let out = ssh::run(extra_port.0, "builder", &second.path, &extra_hosts, "true");
    assert!(
        out.status.success(),
        "QEMU_NET_OPTS forward: {}",
        ssh::stderr(&out)
    );
    assert_eq!(vm.power_off().0, Ending::PoweredDown);
}

#[test]
fn a_disk_grown_while_off_is_seen_at_the_next_boot_with_its_data() {
    let work = Workdir::new();
    work.qemu_img(&["create", "1G"]);

    let vm = Vm::boot(&work);
    let before = nix_size_kib(&vm);
    vm.ssh_ok("echo precious > /nix/var/marker && sync");
    assert_eq!(vm.power_off().0, Ending::PoweredDown);

    work.qemu_img(&["resize", "+1G"]);
    let vm = Vm::boot(&work);
    let after = nix_size_kib(&vm);
    assert!(
        after > before + 900_000,
        "grew from {before} KiB to {after} KiB"
    );
    assert_eq!(vm.ssh_ok("cat /nix/var/marker").trim(), "precious");
    assert_eq!(vm.power_off().0, Ending::PoweredDown);
}

/// On a Mac the keys folder belongs to the user (uid 501), and nixpkgs'
/// runner shares it with QEMU's mapped-xattr model: unmarked, the guest sees
/// uid 501, which is neither root nor `builder`, and sshd refuses the key.
/// Here the test plays that user by giving the file to a stranger uid.
#[test]
fn keys_owned_by_a_host_user_log_in_only_once_marked_as_roots() {
    use std::os::unix::fs::PermissionsExt;
    let work = Workdir::new();
    let vm = Vm::boot(&work);
    let file = work.authorized_keys();
    let host_user = Some(rustix::fs::Uid::from_raw(4242));
    let host_group = Some(rustix::fs::Gid::from_raw(4242));
    // A fresh file, as every atomic rewrite of the keys makes: no mark.
    let text = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, text).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    rustix::fs::chown(&file, host_user, host_group).unwrap();
    rustix::fs::chown(&work.keys, host_user, host_group).unwrap();

    let out = vm.ssh("true");
    assert_eq!(
        out.status.code(),
        Some(255),
        "a key file the guest sees as uid 4242's is refused: {}",
        ssh::stderr(&out)
    );

    builderbar::keys::guest_owner::mark_for_guest(&work.keys).unwrap();
    let seen = vm.ssh_ok("stat -c '%u %g %a' /var/keys /var/keys/builder_ed25519.pub");
    assert_eq!(seen.trim(), "0 0 755\n0 0 644");
    // The host's real owner is untouched: only the guest's view changed.
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 4242);
    assert_eq!(vm.power_off().0, Ending::PoweredDown);
}

struct TcpPort(u16);

impl TcpPort {
    fn free() -> TcpPort {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        TcpPort(listener.local_addr().unwrap().port())
    }
}
