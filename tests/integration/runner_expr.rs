//! The runner's Nix expression (docs/MACOS.md §1), parsed by Debian's
//! real nix-bin and instantiated against the stand-in nixpkgs: the first
//! runner's with its guard, the successor's without it and with the
//! user's own module; every value escaped.

use std::path::Path;
use std::process::Output;

use builderbar::nix::expr::{
    Pin, RunnerInputs, nix_string, runner_expression, successor_expression,
};

use crate::nix_wiring::{golden, parses, private_nix};
use crate::support::home::Home;
use crate::support::ssh;

fn inputs() -> RunnerInputs {
    RunnerInputs {
        pin: Pin::parse("nixpkgs-25.05-darwin").unwrap(),
        memory_mib: 8192,
        disk_mib: 40960,
        cores: 4,
    }
}

#[test]
fn the_runner_expression_parses_and_matches_its_golden_file() {
    let expr = runner_expression(&inputs()).unwrap();
    let out = parses(&expr);
    assert!(out.status.success(), "{}", ssh::stderr(&out));
    golden("runner.nix", &expr);
    assert!(expr.contains("virtualisation.forwardPorts = lib.mkForce [ ];"));
    assert!(
        !expr.contains("hostPort"),
        "no port is baked into the runner"
    );

    let url = RunnerInputs {
        pin: Pin::parse("https://example.org/nixpkgs/abc~1%2B.tar.gz").unwrap(),
        ..inputs()
    };
    let out = parses(&runner_expression(&url).unwrap());
    assert!(out.status.success(), "{}", ssh::stderr(&out));
}

/// `nix-instantiate` of the runner expression against a stand-in nixpkgs
/// (tests/doubles/nixpkgs*/: the real one cannot be fetched here), for an
/// Apple Silicon Mac.
fn instantiate_runner(dir: &Path, standin: &str) -> Output {
    instantiate(dir, standin, &runner_expression(&inputs()).unwrap())
}

fn instantiate(dir: &Path, standin: &str, expr: &str) -> Output {
    let file = dir.join("runner.nix");
    std::fs::write(&file, expr).unwrap();
    let nixpkgs = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/doubles")
        .join(standin);
    private_nix(dir, "nix-instantiate")
        .arg(&file)
        .arg("--arg")
        .arg("nixpkgs")
        .arg(&nixpkgs)
        .args(["--argstr", "system", "aarch64-darwin"])
        .output()
        .unwrap()
}

#[test]
fn the_runner_is_the_host_side_script_when_the_guest_is_nixpkgs_own() {
    let dir = tempfile::tempdir().unwrap();
    let out = instantiate_runner(dir.path(), "nixpkgs");
    assert!(out.status.success(), "{}", ssh::stderr(&out));
    let drv = ssh::stdout(&out).trim().to_owned();
    let system = private_nix(dir.path(), "nix-store")
        .args(["--query", "--binding", "system"])
        .arg(&drv)
        .output()
        .unwrap();
    assert_eq!(ssh::stdout(&system).trim(), "aarch64-darwin", "{drv}");
    let script = private_nix(dir.path(), "nix-store")
        .args(["--query", "--binding", "script"])
        .arg(&drv)
        .output()
        .unwrap();
    assert_eq!(
        ssh::stdout(&script).trim(),
        "-m 8192 -smp 4",
        "the settings reach the runner script, and no forward is baked in"
    );
}

#[test]
fn a_setting_that_would_change_the_guest_stops_evaluation_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = instantiate_runner(dir.path(), "nixpkgs-guest-changing");
    assert!(
        !out.status.success(),
        "the guard let a changed guest through"
    );
    let stderr = ssh::stderr(&out);
    assert!(
        stderr.contains("these settings would change the builder's Linux system")
            && stderr.contains("nixos-system-builder.drv"),
        "{stderr}"
    );
}

#[test]
fn hostile_strings_come_out_escaped_and_evaluate_to_themselves() {
    let dir = tempfile::tempdir().unwrap();
    for hostile in [
        "a\"; x = builtins.abort \"pwned",
        "${builtins.abort \"pwned\"}",
        "back\\slash\\",
        "two\nlines\r\tand tab",
        "$${x} $ {y} ''${z}",
        "\\${x}",
        "trailing $",
    ] {
        let literal = nix_string(hostile).unwrap();
        let expr = format!("{{ value = {literal}; }}");
        let out = parses(&expr);
        assert!(out.status.success(), "{hostile:?}: {}", ssh::stderr(&out));
        let out = private_nix(dir.path(), "nix-instantiate")
            .args(["--eval", "--strict", "--json", "-E"])
            .arg(&expr)
            .output()
            .unwrap();
        assert!(out.status.success(), "{hostile:?}: {}", ssh::stderr(&out));
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(value["value"], hostile, "round trip of {hostile:?}");
    }
    assert!(nix_string("nul\u{0}").is_err());
}

#[test]
fn a_hostile_nixpkgs_setting_never_reaches_the_expression() {
    let home = Home::new();
    for hostile in [
        "nixos\"; pwned = \"",
        "${builtins.abort \"x\"}",
        "https://example.org/x.tar.gz\nmore",
        "a\\b",
    ] {
        home.write_setting_raw("nixpkgs", &toml::Value::String(hostile.into()).to_string());
        let out = home.cli(&["nix", "expr"]);
        assert!(!out.status.success(), "{hostile:?} was accepted");
        assert!(
            ssh::stderr(&out).contains("nixpkgs"),
            "{}",
            ssh::stderr(&out)
        );
        assert!(ssh::stdout(&out).is_empty());
    }
    home.write_setting_raw("nixpkgs", "\"nixos-24.11\"");
    let expr = home.cli_ok(&["nix", "expr"]);
    assert!(expr.contains("archive/nixos-24.11.tar.gz"));
    assert!(parses(&expr).status.success());
}

/// A successor is built through the running builder, which builds what
/// the cache lacks: the guard is lifted, and a guest that differs from
/// nixpkgs' own evaluates to its runner.
#[test]
fn a_successor_lets_a_changed_guest_through_to_its_runner() {
    let expr = successor_expression(&inputs(), None).unwrap();
    let out = parses(&expr);
    assert!(out.status.success(), "{}", ssh::stderr(&out));
    golden("runner-successor.nix", &expr);
    assert!(!expr.contains("throw"), "{expr}");
    let dir = tempfile::tempdir().unwrap();
    let out = instantiate(dir.path(), "nixpkgs-guest-changing", &expr);
    assert!(out.status.success(), "{}", ssh::stderr(&out));
    let drv = ssh::stdout(&out).trim().to_owned();
    let system = private_nix(dir.path(), "nix-store")
        .args(["--query", "--binding", "system"])
        .arg(&drv)
        .output()
        .unwrap();
    assert_eq!(ssh::stdout(&system).trim(), "aarch64-darwin", "{drv}");
}

/// The user's module (the copy BuilderBar keeps, in a folder with a space
/// in its name, as macOS's Application Support is) is imported after
/// BuilderBar's own: it changes the guest, and the stock guard would have
/// refused it.
#[test]
fn the_users_module_is_imported_after_ours_and_changes_the_guest() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("Application Support/BuilderBar");
    std::fs::create_dir_all(&folder).unwrap();
    let module = folder.join("builder-module.nix");
    std::fs::write(
        &module,
        "{ config, lib, pkgs, ... }:\n{\n  boot.kernelModules = [ \"kvm-amd\" ];\n}\n",
    )
    .unwrap();
    let with_module = successor_expression(&inputs(), Some(&module)).unwrap();
    let out = parses(&with_module);
    assert!(out.status.success(), "{}", ssh::stderr(&out));
    let ours = with_module.find("virtualisation.forwardPorts").unwrap();
    let theirs = with_module.find("builder-module.nix").unwrap();
    assert!(ours < theirs, "imported after BuilderBar's module");
    golden(
        "runner-successor-module.nix",
        &with_module.replace(dir.path().to_str().unwrap(), "/HOME"),
    );

    let vm = |expr: &str| {
        let out = instantiate(dir.path(), "nixpkgs", expr);
        assert!(out.status.success(), "{}", ssh::stderr(&out));
        let drv = ssh::stdout(&out).trim().to_owned();
        let toplevel = private_nix(dir.path(), "nix-store")
            .args(["--query", "--binding", "toplevel"])
            .arg(&drv)
            .output()
            .unwrap();
        ssh::stdout(&toplevel).trim().to_owned()
    };
    let plain = vm(&successor_expression(&inputs(), None).unwrap());
    assert_ne!(vm(&with_module), plain, "the module reaches the guest");
}
