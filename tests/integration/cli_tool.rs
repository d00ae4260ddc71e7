//! "Install Command-Line Tool…" through the real `builderbar`: a link on the
//! PATH made without a prompt where the user may write, through the
//! administrator step where only root may (run here as an unprivileged
//! user against the osascript double, the root side then run as root just
//! as `do shell script … with administrator privileges` runs it), never
//! over a file of someone else's, and removed by uninstall.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::home::{BIN, Home};
use crate::support::ssh;
use crate::support::sysroot::{OSASCRIPT, install, sysroot, tree};

/// An unprivileged user for the tests that need one (no account needed).
const USER: u32 = 4242;

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", ssh::stderr(out));
    ssh::stdout(out)
}

/// `builderbar cli-tool install --dir DIR`.
fn install_in(home: &Home, dir: &Path) -> Output {
    home.command()
        .args(["cli-tool", "install", "--dir"])
        .arg(dir)
        .output()
        .unwrap()
}

fn link_in(dir: &Path) -> PathBuf {
    dir.join("builderbar")
}

#[test]
fn a_folder_of_the_users_gets_the_link_without_a_prompt_and_uninstall_removes_it() {
    let home = Home::new();
    let dir = home.root().join("user-bin");
    let out = home
        .command()
        // A prompt would fail the test: this osascript always fails.
        .env("BUILDERBAR_OSASCRIPT", "/bin/false")
        .args(["cli-tool", "install", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let said = ok(&out);
    assert!(said.contains("open a new Terminal window"), "{said}");
    let link = link_in(&dir);
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        home.root().join("bin/builderbar")
    );
    let version = ok(&Command::new(&link).arg("--version").output().unwrap());
    assert!(version.starts_with("builderbar "), "{version}");
    assert!(ok(&home.cli(&["cli-tool", "status"])).starts_with("installed: "));

    let again = ok(&install_in(&home, &dir));
    assert!(again.contains(&link.display().to_string()), "{again}");

    ok(&home.cli(&["uninstall"]));
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "uninstall removes the link"
    );
    assert!(!dir.exists(), "the folder BuilderBar made goes too");
    assert!(!home.root().join("cli-tool").exists());
}

#[test]
fn a_file_or_a_link_of_someone_elses_is_never_replaced_nor_removed() {
    let home = Home::new();
    let dir = home.root().join("bin-theirs");
    std::fs::create_dir_all(&dir).unwrap();
    let link = link_in(&dir);
    std::fs::write(&link, "#!/bin/sh\necho theirs\n").unwrap();
    let out = install_in(&home, &dir);
    assert!(!out.status.success());
    let said = ssh::stderr(&out);
    assert!(
        said.contains("already exists (a file) and is not BuilderBar's"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(&link).unwrap(),
        "#!/bin/sh\necho theirs\n"
    );
    assert!(
        !home.root().join("cli-tool").exists(),
        "nothing is recorded"
    );

    // Ours at first, then replaced by the user: uninstall leaves theirs.
    std::fs::remove_file(&link).unwrap();
    ok(&install_in(&home, &dir));
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/bin/true", &link).unwrap();
    let said = ok(&home.cli(&["cli-tool", "uninstall"]));
    assert!(said.contains("removed"), "{said}");
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/bin/true"));

    let relative = home.cli(&["cli-tool", "install", "--dir", "bin"]);
    assert!(!relative.status.success());
    assert!(ssh::stderr(&relative).contains("must be a full path"));
}

/// `builderbar` as the unprivileged user, with the osascript double keeping
/// the job it was given and answering "User canceled" — what a real prompt
/// would run as root is then run by the test, as root.
fn as_user(home: &Home, args: &[&str], kept: &Path) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid",
            &USER.to_string(),
            "--regid",
            &USER.to_string(),
            "--clear-groups",
        ])
        .arg(BIN)
        .args(args)
        .env("BUILDERBAR_HOME", home.root())
        .env("HOME", home.root())
        .env("BUILDERBAR_OSASCRIPT", OSASCRIPT)
        .env("OSASCRIPT_DOUBLE_ANSWER", "cancel")
        .env("OSASCRIPT_DOUBLE_KEEP", kept)
        .output()
        .unwrap()
}

fn chown_tree(root: &Path, uid: u32) {
    let status = Command::new("chown")
        .args(["-R", &format!("{uid}:{uid}")])
        .arg(root)
        .status()
        .unwrap();
    assert!(status.success());
}

fn run_as_root(job: &Path) {
    ok(&Command::new(BIN)
        .args(["nix", "apply-plan"])
        .arg(job)
        .output()
        .unwrap());
}

#[test]
fn a_folder_only_root_may_write_goes_through_one_admin_prompt_and_stays_readable() {
    let home = Home::new();
    chown_tree(home.root(), USER);
    let dir = tempfile::Builder::new()
        .prefix("bb-root-bin-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let kept = home.root().join("job-copy.json");

    let status = ok(&as_user(
        &home,
        &["cli-tool", "status", "--dir", dir_arg],
        &kept,
    ));
    assert!(
        status.contains("with the administrator password"),
        "{status}"
    );

    let cancelled = as_user(&home, &["cli-tool", "install", "--dir", dir_arg], &kept);
    assert!(!cancelled.status.success());
    assert!(
        ssh::stderr(&cancelled).contains("cancelled"),
        "{}",
        ssh::stderr(&cancelled)
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a cancelled prompt changes nothing"
    );
    let job = std::fs::read_to_string(&kept).unwrap();
    assert!(job.contains(r#""op": "symlink""#), "{job}");
    assert!(
        job.contains(&link_in(dir.path()).display().to_string()),
        "{job}"
    );
    assert_eq!(
        std::fs::read_to_string(kept.with_extension("json.mode"))
            .unwrap()
            .trim(),
        "600"
    );

    // What the prompt would have run as root.
    run_as_root(&kept);
    let link = link_in(dir.path());
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        home.root().join("bin/builderbar")
    );
    let manifest = home.root().join("cli-tool/manifest.json");
    assert_eq!(
        std::fs::metadata(&manifest).unwrap().uid(),
        USER,
        "the manifest root wrote is handed back to the user"
    );
    let status = ok(&as_user(&home, &["cli-tool", "status"], &kept));
    assert!(status.starts_with("installed: "), "{status}");

    let cancelled = as_user(&home, &["cli-tool", "uninstall"], &kept);
    assert!(ssh::stderr(&cancelled).contains("cancelled"));
    assert!(
        std::fs::symlink_metadata(&link).is_ok(),
        "a cancelled prompt changes nothing"
    );
    run_as_root(&kept);
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "the link is gone"
    );
    assert!(
        dir.path().is_dir(),
        "a folder BuilderBar did not make stays"
    );
}

#[test]
fn uninstall_restores_nix_and_removes_the_link_in_one_prompt() {
    let home = Home::new();
    let root = sysroot();
    let before = tree(root.path());
    ok(&install(&home, root.path(), &[]));
    let dir = home.root().join("user-bin");
    ok(&install_in(&home, &dir));

    let kept = home.root().join("uninstall-job.json");
    let out = home
        .command()
        .env("BUILDERBAR_OSASCRIPT", OSASCRIPT)
        .env("OSASCRIPT_DOUBLE_KEEP", &kept)
        .arg("uninstall")
        .output()
        .unwrap();
    ok(&out);
    let job: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&kept).unwrap()).unwrap();
    assert_eq!(job["job"], "uninstall");
    assert_eq!(
        job["also"][0],
        home.root().join("cli-tool").display().to_string()
    );
    assert_eq!(tree(root.path()), before, "Nix's files are as they were");
    assert!(std::fs::symlink_metadata(link_in(&dir)).is_err());
}
