//! Against what Debian's Nix 2.8 really printed (captured from
//! `nix-build --max-jobs 0` through a nix-daemon, building on the dev VM).

use super::*;

/// A derivation that failed on the builder.
const REMOTE_BUILD_FAILED: &str = include_str!("testdata/nix-2.8-remote-build-failed.txt");
/// The machines entry pinned a host key the builder does not have.
const WRONG_HOST_KEY: &str = include_str!("testdata/nix-2.8-wrong-host-key.txt");

#[test]
fn the_cause_above_failed_to_find_a_machine_is_kept() {
    let Failure::NoMachine { cause } = classify(WRONG_HOST_KEY) else {
        panic!(
            "not classified as no machine: {:?}",
            classify(WRONG_HOST_KEY)
        );
    };
    assert_eq!(cause.len(), 1, "{cause:#?}");
    assert!(
        cause[0].starts_with("cannot build on 'ssh-ng://builder@builderbar-linux-builder'"),
        "{cause:#?}"
    );
    assert!(cause[0].contains("cannot open connection to remote store"));
    assert!(!cause.iter().any(|l| l.contains(NO_MACHINE)));
    assert!(
        !cause
            .iter()
            .any(|l| l.contains("this derivation will be built"))
    );
}

#[test]
fn a_failed_remote_build_gives_the_builders_last_lines() {
    let Failure::BuildFailed { log_tail } = classify(REMOTE_BUILD_FAILED) else {
        panic!("not a failed build: {:?}", classify(REMOTE_BUILD_FAILED));
    };
    assert!(
        log_tail[0].contains("failed with exit code 1"),
        "{log_tail:#?}"
    );
    assert_eq!(
        log_tail[1..],
        ["compiling", "error: the answer is not 42"],
        "{log_tail:#?}"
    );
}

#[test]
fn without_any_builder_nix_tried_nothing() {
    let stderr = "this derivation will be built:\n  /nix/store/x-a.drv\nerror: unable to start any build; either increase '--max-jobs' or enable remote builds.\n       https://nixos.org/manual/nix/stable/advanced-topics/distributed-builds.html\n";
    assert!(matches!(classify(stderr), Failure::NoMachine { .. }));
}

#[test]
fn a_system_no_machine_serves_is_explained_by_the_lines_below() {
    let stderr = "Failed to find a machine for remote build!\nderivation: x-a.drv\nrequired (system, features): (aarch64-linux, )\n1 available machines:\n(systems, maxjobs, supportedFeatures, mandatoryFeatures)\n(x86_64-linux, 1, big-parallel, )\nerror: unable to start any build\n";
    let Failure::NoMachine { cause } = classify(stderr) else {
        panic!("not no machine");
    };
    assert!(
        cause.iter().any(|l| l.contains("aarch64-linux")),
        "{cause:#?}"
    );
    assert!(!cause.iter().any(|l| l.starts_with("error:")), "{cause:#?}");
}

#[test]
fn anything_else_keeps_the_last_lines() {
    let Failure::Other { last_lines } =
        classify("error: getting status of '/x.nix': No such file\n")
    else {
        panic!("not other");
    };
    assert_eq!(
        last_lines,
        ["error: getting status of '/x.nix': No such file"]
    );
}
