//! Growing nixpkgs' disk layout on the host: a bare ext4 filesystem inside a
//! qcow2, grown with the VM stopped, its files intact. Real qemu-img and
//! e2fsprogs; debugfs reads and writes the filesystem without mounting it.

use std::path::Path;
use std::process::Command;

use builderbar::vm::DiskLayout;
use builderbar::vm::disk::{self, DiskAction, DiskTools};

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn to_raw(qcow2: &Path, raw: &Path) {
    run(
        "qemu-img",
        &[
            "convert",
            "-f",
            "qcow2",
            "-O",
            "raw",
            qcow2.to_str().unwrap(),
            raw.to_str().unwrap(),
        ],
    );
}

fn block_count(raw: &Path) -> u64 {
    let header = run("dumpe2fs", &["-h", raw.to_str().unwrap()]);
    let line = header
        .lines()
        .find(|l| l.starts_with("Block count:"))
        .unwrap();
    line.split_whitespace().last().unwrap().parse().unwrap()
}

#[test]
fn a_bare_ext4_disk_grows_on_the_host_and_keeps_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let tools = DiskTools::from_path().unwrap();
    let disk_path = dir.path().join("disk.qcow2");
    let raw = dir.path().join("check.raw");

    let mib = 1 << 20;
    assert_eq!(
        disk::prepare(&tools, &disk_path, 64 * mib, DiskLayout::BareExt4, false).unwrap(),
        DiskAction::Created
    );
    to_raw(&disk_path, &raw);
    let label = run("dumpe2fs", &["-h", raw.to_str().unwrap()]);
    assert!(
        label.contains("Filesystem volume name:   nixos"),
        "nixpkgs' label"
    );
    std::fs::write(dir.path().join("marker"), "built before the grow\n").unwrap();
    let write = format!("write {} marker", dir.path().join("marker").display());
    run("debugfs", &["-w", "-R", &write, raw.to_str().unwrap()]);
    run(
        "qemu-img",
        &[
            "convert",
            "-f",
            "raw",
            "-O",
            "qcow2",
            raw.to_str().unwrap(),
            disk_path.to_str().unwrap(),
        ],
    );
    let blocks_before = block_count(&raw);

    let grown = disk::prepare(&tools, &disk_path, 192 * mib, DiskLayout::BareExt4, false).unwrap();
    assert_eq!(grown, DiskAction::Grown { from: 64 * mib });
    assert_eq!(disk::virtual_size(&tools, &disk_path).unwrap(), 192 * mib);
    to_raw(&disk_path, &raw);
    assert!(
        block_count(&raw) >= blocks_before * 2,
        "the filesystem itself grew"
    );
    let content = run("debugfs", &["-R", "cat marker", raw.to_str().unwrap()]);
    assert_eq!(content, "built before the grow\n");
    let fsck = Command::new("e2fsck")
        .args(["-f", "-n", raw.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(fsck.status.code(), Some(0), "clean after the grow");

    let err =
        disk::prepare(&tools, &disk_path, 128 * mib, DiskLayout::BareExt4, false).unwrap_err();
    assert_eq!(err.exit_code(), 16, "never shrinks: {err}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("disk.qcow2."))
        .collect();
    assert!(leftovers.is_empty(), "no scratch files left: {leftovers:?}");
}

#[test]
fn the_qcow2_header_gives_the_size_without_running_anything() {
    let dir = tempfile::tempdir().unwrap();
    let disk_path = dir.path().join("disk.qcow2");
    assert_eq!(disk::qcow2_virtual_size(&disk_path).unwrap(), None);
    run(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            disk_path.to_str().unwrap(),
            "3G",
        ],
    );
    assert_eq!(disk::qcow2_virtual_size(&disk_path).unwrap(), Some(3 << 30));
    std::fs::write(&disk_path, b"not an image at all, just text").unwrap();
    assert!(disk::qcow2_virtual_size(&disk_path).is_err());
}

#[test]
fn before_a_disk_exists_any_size_may_be_chosen_and_after_it_only_grows() {
    let home = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_builderbar"))
            .args(args)
            .env("BUILDERBAR_HOME", home.path())
            .output()
            .unwrap()
    };
    assert!(
        cli(&["settings", "set", "disk", "10GiB"]).status.success(),
        "a first setup picks a smaller disk than the default"
    );
    let disk_path = home.path().join("state/disk.qcow2");
    std::fs::create_dir_all(disk_path.parent().unwrap()).unwrap();
    run(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            disk_path.to_str().unwrap(),
            "10G",
        ],
    );
    let refused = cli(&["settings", "set", "disk", "8GiB"]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("10 GiB") && message.contains("recreate"),
        "{message}"
    );
    assert!(cli(&["settings", "set", "disk", "12GiB"]).status.success());
}
