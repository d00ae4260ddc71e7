//! The running builder builds its successor (Linux: the dev VM stands in,
//! `src/generations/successor.rs`): the host's Nix, through the private
//! daemon over the wiring's sysroot, builds the generation's Linux part on
//! the running guest (`max-jobs = 0`), the next dev VM build carries it,
//! and it is kept untried as generation 2 until `runner switch 2` starts
//! it; `runner rollback` goes back to generation 1. Without a Ready
//! builder nothing is built and nothing is kept.
//!
//! Needs root (the private daemon's mount namespace) and the Nix flavour.

use std::time::Duration;

use crate::generations::{generations, state_of, switch};
use crate::remote_build::{install, sysroot};
use crate::support::home::Home;
use crate::support::services::{Launchd, wait_ssh};
use crate::support::ssh;

const PIN: &str = "nixos-25.05";
const PIN_URL: &str = "https://github.com/NixOS/nixpkgs/archive/nixos-25.05.tar.gz";

/// The service (launchd played by its double) running the dev VM, and Nix
/// wired to it under a fresh sysroot (kept while the TempDir lives).
pub(crate) fn wired_service(home: &Home) -> (Launchd<'_>, tempfile::TempDir) {
    let launchd = Launchd::new(home);
    launchd.cli_ok(&["start"]);
    wait_ssh(home, Duration::from_secs(120));
    let root = sysroot("");
    install(home, root.path());
    (launchd, root)
}

#[test]
fn the_running_builder_builds_its_successor_and_a_switch_starts_it() {
    let home = Home::new();
    let (launchd, _root) = wired_service(&home);
    let guest_host = home.ssh_ok("cat /proc/sys/kernel/hostname");

    let out = launchd.cli(&["runner", "build", "--nixpkgs", PIN, "--timeout", "600"]);
    let (said, progress) = (ssh::stdout(&out), ssh::stderr(&out));
    assert!(out.status.success(), "{said}{progress}\n{}", home.log());
    assert!(
        progress.contains(&format!(
            "Building the next generation on the builder from nixpkgs {PIN_URL}"
        )),
        "{progress}"
    );
    assert!(
        progress.contains(&format!(
            "  | building the next builder generation on {}",
            guest_host.trim()
        )),
        "the build's own lines, from the guest, as they came:\n{progress}"
    );
    assert!(
        said.contains("Built generation 2 (")
            && said.contains("`builderbar runner switch 2` starts it"),
        "{said}"
    );
    let list = generations(&home);
    assert_eq!(state_of(&list, 1)["state"], "current", "{list:#}");
    let built = state_of(&list, 2);
    assert_eq!(built["state"], "built", "{list:#}");
    let built_from = built["built_from"].as_str().unwrap();
    assert!(
        built_from.contains(&format!("nixpkgs {PIN_URL}, built on the builder")),
        "{built_from}"
    );
    assert!(
        home.cli_ok(&["runner", "list"]).contains("not tried yet"),
        "the table says what a built generation is"
    );
    assert!(
        !home
            .ssh("test -e /etc/builderbar-generation")
            .status
            .success(),
        "generation 1 runs as it was"
    );

    // The same inputs again: the same runner, already kept.
    let again = launchd.cli(&["runner", "build", "--nixpkgs", PIN, "--timeout", "600"]);
    assert!(again.status.success(), "{}", ssh::stderr(&again));
    assert!(
        ssh::stdout(&again).contains("Generation 2 is already this runner"),
        "{}",
        ssh::stdout(&again)
    );

    let (ok, said) = switch(&launchd, &["2"]);
    assert!(ok, "{said}\n{}", home.log());
    let carried = home.ssh_ok("cat /etc/builderbar-generation");
    assert_eq!(
        carried,
        format!("nixpkgs {PIN_URL}\nbuilt on: {}\n", guest_host.trim()),
        "generation 2 carries what its predecessor built"
    );

    let back = launchd.cli(&["runner", "rollback"]);
    assert!(back.status.success(), "{}", ssh::stderr(&back));
    assert!(
        !home
            .ssh("test -e /etc/builderbar-generation")
            .status
            .success(),
        "generation 1 again"
    );
    let list = generations(&home);
    assert_eq!(state_of(&list, 1)["state"], "current", "{list:#}");
    assert_eq!(state_of(&list, 2)["state"], "previous", "{list:#}");
}

#[test]
fn without_a_ready_builder_nothing_is_built() {
    let home = Home::new();
    let root = sysroot("");
    install(&home, root.path());
    let out = home.cli(&["runner", "build", "--nixpkgs", PIN]);
    assert!(!out.status.success());
    let said = ssh::stderr(&out);
    assert!(
        said.contains("the running builder builds its successor, and it is not Ready")
            && said.contains("builderbar start"),
        "{said}"
    );
    assert!(
        home.cli_ok(&["runner", "list"])
            .contains("No generation yet"),
        "nothing kept"
    );
}

#[test]
fn a_hostile_nixpkgs_is_refused_before_anything_runs() {
    let home = Home::new();
    let out = home.cli(&["runner", "build", "--nixpkgs", "x\"; abort"]);
    assert!(!out.status.success());
    assert!(
        ssh::stderr(&out).contains("nixpkgs"),
        "{}",
        ssh::stderr(&out)
    );
}
