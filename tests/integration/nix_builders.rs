//! Nix must really see the builder. An explicit `builders =` line replaces
//! Nix's default `@/etc/nix/machines`, so BuilderBar asks Nix itself
//! (Debian's Nix 2.8 here: `nix show-config`, with `NIX_CONF_DIR` on the
//! sysroot's etc/nix, as the test build's private daemon reads it) and adds
//! a builders line between its marks that keeps the user's builders. The
//! test build through that configuration is in remote_build.rs.

use std::path::Path;
use std::process::Command;

use crate::support::home::Home;
use crate::support::ssh;
use crate::support::sysroot::{doctor_check, install, sysroot, tree, uninstall};

const THEIRS: &str = "ssh://builder@other aarch64-linux";

/// What Nix resolves `builders` to under the sysroot, asked directly of
/// Debian's nix (not through BuilderBar's own reading of it).
fn nix_builders(root: &Path) -> String {
    let out = Command::new("nix")
        .args([
            "--extra-experimental-features",
            "nix-command",
            "show-config",
        ])
        .env("NIX_CONF_DIR", root.join("etc/nix"))
        .env("NIX_USER_CONF_FILES", "")
        .env_remove("NIX_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", ssh::stderr(&out));
    ssh::stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("builders = "))
        .unwrap_or_else(|| panic!("no builders line: {}", ssh::stdout(&out)))
        .to_owned()
}

fn append(path: &Path, text: &str) {
    let mut all = std::fs::read_to_string(path).unwrap_or_default();
    all.push_str(text);
    std::fs::write(path, all).unwrap();
}

/// Install, check what Nix sees, install again, uninstall: the cycle every
/// way of setting `builders` goes through.
fn install_keeps_theirs_and_uninstall_restores(home: &Home, root: &Path) {
    let machines = root.join("etc/nix/machines");
    let before = tree(root);
    let check = doctor_check(home, root, "nix-uses-builder");
    assert_eq!(check["status"], "fail", "{check}");
    assert!(
        check["detail"].as_str().unwrap().contains(THEIRS),
        "{check}"
    );

    let want = format!("@{} ; {THEIRS}", machines.display());
    let dry = home.cli_ok(&["install", "--dry-run", "--sysroot", root.to_str().unwrap()]);
    assert!(dry.contains(&format!("builders = {want}")), "{dry}");
    assert!(
        dry.contains(&format!(
            "replaces the default @{}, so Nix would never use BuilderBar's builder",
            machines.display()
        )),
        "{dry}"
    );
    assert_eq!(tree(root), before, "a dry run changes nothing");

    let out = install(home, root, &[]);
    assert!(out.status.success(), "{}", ssh::stderr(&out));
    assert_eq!(nix_builders(root), want, "Nix lists theirs and ours");
    let check = doctor_check(home, root, "nix-uses-builder");
    assert_eq!(check["status"], "pass", "{check}");

    let installed = tree(root);
    let again = install(home, root, &[]);
    assert!(again.status.success(), "{}", ssh::stderr(&again));
    assert!(
        ssh::stdout(&again).contains("Nothing changed"),
        "{}",
        ssh::stdout(&again)
    );
    assert_eq!(tree(root), installed, "installing again keeps our line");
    assert_eq!(nix_builders(root), want);

    let out = uninstall(home, root);
    assert!(out.status.success(), "{}", ssh::stderr(&out));
    assert_eq!(tree(root), before, "uninstall restores every file");
    assert_eq!(nix_builders(root), THEIRS);
}

#[test]
fn a_builders_line_in_nix_conf_is_kept_and_ours_added() {
    let home = Home::new();
    let root = sysroot();
    append(
        &root.path().join("etc/nix/nix.conf"),
        &format!("builders = {THEIRS}\n"),
    );
    install_keeps_theirs_and_uninstall_restores(&home, root.path());
}

#[test]
fn a_builders_line_in_an_included_file_is_seen_too() {
    let home = Home::new();
    let root = sysroot();
    let nix = root.path().join("etc/nix");
    append(
        &nix.join("nix.conf"),
        "include builders.conf\n!include not-there.conf\n",
    );
    std::fs::write(nix.join("builders.conf"), format!("builders = {THEIRS}\n")).unwrap();
    install_keeps_theirs_and_uninstall_restores(&home, root.path());
}

#[test]
fn the_default_needs_no_builders_line() {
    let home = Home::new();
    let root = sysroot();
    let check = doctor_check(&home, root.path(), "nix-uses-builder");
    assert_eq!(check["status"], "fail", "no entry yet: {check}");
    let out = install(&home, root.path(), &[]);
    assert!(out.status.success(), "{}", ssh::stderr(&out));
    let conf = std::fs::read_to_string(root.path().join("etc/nix/nix.conf")).unwrap();
    assert!(!conf.contains("builders ="), "{conf}");
    let machines = root.path().join("etc/nix/machines");
    assert_eq!(
        nix_builders(root.path()),
        format!("@{}", machines.display())
    );
    let check = doctor_check(&home, root.path(), "nix-uses-builder");
    assert_eq!(check["status"], "pass", "{check}");
}

#[test]
fn a_builders_entry_naming_our_port_is_reported_not_duplicated() {
    let home = Home::new();
    let root = sysroot();
    let entry = format!("ssh-ng://builder@localhost:{} x86_64-linux", home.port);
    append(
        &root.path().join("etc/nix/nix.conf"),
        &format!("builders = {entry}\n"),
    );
    let dry = home.cli_ok(&[
        "install",
        "--dry-run",
        "--sysroot",
        root.path().to_str().unwrap(),
    ]);
    assert!(
        dry.contains(&format!("already lists BuilderBar's builder ({entry})")),
        "{dry}"
    );
    assert!(!dry.contains("builders = @"), "{dry}");
}
