//! With the real `qemu-img` and `qemu-io` (Debian's qemu-utils): bytes a
//! trial boot writes reach the disk only when its generation was proved.

use std::process::Command;

use super::*;
use crate::generations::Candidate;

struct Fixture {
    _dir: tempfile::TempDir,
    paths: VmPaths,
    tools: DiskTools,
    store: Store,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let paths = VmPaths::new(
        &dir.path().join("state"),
        &dir.path().join("keys"),
        &dir.path().join("vm.log"),
        &dir.path().join("generations"),
    );
    std::fs::create_dir_all(&paths.state_dir).unwrap();
    let tools = DiskTools::from_path().unwrap();
    let status = Command::new(&tools.qemu_img)
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&paths.disk)
        .arg("16M")
        .status()
        .unwrap();
    assert!(status.success());
    let store = Store::at(&paths.generations_dir);
    for identity in ["one", "two"] {
        store
            .adopt(Candidate {
                nixpkgs: None,
                identity: identity.into(),
                built_from: identity.into(),
                make: &mut |dir| {
                    let runner = dir.join("runner");
                    std::fs::write(&runner, "").unwrap();
                    Ok(runner)
                },
            })
            .unwrap();
    }
    // Generation 1 is current again; 2 is kept.
    store.select(1).unwrap();
    store.accept(1).unwrap();
    Fixture {
        _dir: dir,
        paths,
        tools,
        store,
    }
}

/// `qemu-io` on `image`: writes or checks a 64 KiB pattern at 0.
fn io(image: &std::path::Path, command: &str) -> bool {
    Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", command])
        .arg(image)
        .output()
        .map(|out| {
            out.status.success()
                && !String::from_utf8_lossy(&out.stdout).contains("Pattern verification failed")
        })
        .unwrap()
}

#[test]
fn without_a_trial_the_boot_writes_the_disk() {
    let f = fixture();
    let settled = settle(&f.tools, &f.paths, false).unwrap();
    assert_eq!(settled, Settled::Disk);
    assert_eq!(
        image_for_boot(&f.tools, &f.paths, settled).unwrap(),
        f.paths.disk
    );
    assert!(!f.paths.trial_disk.exists());
}

#[test]
fn a_proved_trial_s_writes_are_committed_into_the_disk_at_the_next_boot() {
    let f = fixture();
    assert!(io(&f.paths.disk, "write -P 0x11 0 64k"));
    f.store.select(2).unwrap();
    let settled = settle(&f.tools, &f.paths, false).unwrap();
    assert_eq!(settled, Settled::Trial(2));
    let image = image_for_boot(&f.tools, &f.paths, settled).unwrap();
    assert_eq!(image, f.paths.trial_disk);
    assert!(
        io(&image, "read -P 0x11 0 64k"),
        "the overlay shows the disk"
    );
    assert!(io(&image, "write -P 0x22 0 64k"));
    assert!(
        io(&f.paths.disk, "read -P 0x11 0 64k"),
        "the disk is untouched"
    );

    // A second boot of the same trial (an on-demand wake) keeps its writes.
    let again = settle(&f.tools, &f.paths, false).unwrap();
    assert_eq!(again, Settled::Trial(2));
    assert!(io(&f.paths.trial_disk, "read -P 0x22 0 64k"));

    f.store.accept(2).unwrap();
    assert_eq!(settle(&f.tools, &f.paths, false).unwrap(), Settled::Disk);
    assert!(io(&f.paths.disk, "read -P 0x22 0 64k"), "committed");
    assert!(!f.paths.trial_disk.exists() && !f.paths.trial_disk_owner.exists());
}

#[test]
fn a_failed_trial_s_writes_are_dropped_and_the_disk_is_as_it_was() {
    let f = fixture();
    assert!(io(&f.paths.disk, "write -P 0x11 0 64k"));
    f.store.select(2).unwrap();
    let settled = settle(&f.tools, &f.paths, false).unwrap();
    let image = image_for_boot(&f.tools, &f.paths, settled).unwrap();
    assert!(io(&image, "write -P 0x22 0 64k"));
    f.store
        .fail_back(2, "never Ready", Vec::new(), Some(1))
        .unwrap();
    assert_eq!(settle(&f.tools, &f.paths, false).unwrap(), Settled::Disk);
    assert!(io(&f.paths.disk, "read -P 0x11 0 64k"), "as it was");
    assert!(!f.paths.trial_disk.exists());
}

#[test]
fn an_ephemeral_disk_has_no_trial_overlay() {
    let f = fixture();
    f.store.select(2).unwrap();
    assert_eq!(settle(&f.tools, &f.paths, true).unwrap(), Settled::Disk);
}
