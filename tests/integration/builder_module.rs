//! The builder's own NixOS module (`builderbar runner module set FILE |
//! clear | show`): Nix (Debian's nix-instantiate) checks the file first; a
//! refused one changes nothing. A kept one is a copy, applied like an
//! update with the settings' nixpkgs — on Linux the dev VM cannot apply a
//! NixOS module, so its generation records the module it was built with
//! (`/etc/builderbar-generation`), built on the running builder, switched
//! to and proved by a test build.

use crate::generations::{generations, state_of};
use crate::successor::wired_service;
use crate::support::home::Home;
use crate::support::ssh;

#[test]
fn a_file_that_does_not_parse_is_refused_naming_its_line_and_nothing_changes() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("builder.nix");
    std::fs::write(&bad, "{ config, ... }:\n{\n  x = ;\n}\n").unwrap();
    let out = home.cli(&["runner", "module", "set", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let said = ssh::stderr(&out);
    assert!(
        said.contains("does not parse as Nix (line 3)")
            && said.contains("the builder is unchanged"),
        "{said}"
    );
    assert!(
        home.cli_ok(&["runner", "module", "show"])
            .contains("No builder configuration file is set")
    );
    assert!(!home.root().join("builder-module.nix").exists());
    assert!(
        home.cli_ok(&["runner", "list"])
            .contains("No generation yet")
    );

    std::fs::write(&bad, "[ \"not\" \"a\" \"module\" ]\n").unwrap();
    let out = home.cli(&["runner", "module", "set", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        ssh::stderr(&out).contains("is a list, not a NixOS module"),
        "{}",
        ssh::stderr(&out)
    );
}

#[test]
fn a_module_is_kept_as_a_copy_and_applied_through_a_new_generation() {
    let home = Home::new();
    let (launchd, _root) = wired_service(&home);
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("builder.nix");
    std::fs::write(
        &mine,
        "{ config, lib, pkgs, ... }:\n{\n  boot.kernelModules = [ \"kvm-amd\" ];\n}\n",
    )
    .unwrap();

    let out = launchd.cli(&["runner", "module", "set", mine.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}{}\n{}",
        ssh::stdout(&out),
        ssh::stderr(&out),
        home.log()
    );
    assert!(
        ssh::stdout(&out).contains("The builder runs generation 2"),
        "{}",
        ssh::stdout(&out)
    );
    let shown = home.cli_ok(&["runner", "module", "show"]);
    let sha = shown
        .split("sha256 ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .to_owned();
    assert!(
        home.ssh_ok("cat /etc/builderbar-generation")
            .contains(&format!("module {sha}\n")),
        "generation 2 was built with the module"
    );
    let list = generations(&home);
    assert!(
        state_of(&list, 2)["built_from"]
            .as_str()
            .unwrap()
            .contains(&format!("with your module {}", &sha[..12])),
        "{list:#}"
    );

    // The original changes; the copy does not.
    std::fs::remove_file(&mine).unwrap();
    assert_eq!(home.cli_ok(&["runner", "module", "show"]), shown);

    let out = launchd.cli(&["runner", "module", "clear"]);
    assert!(out.status.success(), "{}", ssh::stderr(&out));
    assert!(
        !home
            .ssh_ok("cat /etc/builderbar-generation")
            .contains("module "),
        "the generation without it runs"
    );
    assert!(
        home.cli_ok(&["runner", "module", "show"])
            .contains("No builder configuration file is set")
    );
}
