//! Apply knows where Nix lives: a settings change that touches Nix's files
//! (the port) rewrites them where the wiring was installed — the sysroot
//! its manifest records — and never this machine's own /etc. The change is
//! made as the app makes it: one `actions::apply_settings` call, in a
//! process of its own (`support::app`); the tests run as root, so the
//! wiring is applied in process, as it would be on a Mac after the prompt.

use std::path::Path;

use crate::support::app;
use crate::support::home::Home;
use crate::support::ssh;
use crate::support::sysroot::{install, sysroot};

/// The file the wiring writes that names the port.
const ALIAS_FILE: &str = "etc/ssh/ssh_config.d/200-builderbar.conf";

fn port_in_alias(root: &Path) -> String {
    std::fs::read_to_string(root.join(ALIAS_FILE)).unwrap()
}

#[test]
fn a_port_change_rewires_the_sysroot_it_was_installed_in_and_nothing_else() {
    let home = Home::new();
    let root = sysroot();
    let out = install(&home, root.path(), &[]);
    assert!(out.status.success(), "{}", ssh::stderr(&out));
    assert!(port_in_alias(root.path()).contains(&format!("Port {}", home.port)));
    let real = Path::new("/").join(ALIAS_FILE);
    let real_before = std::fs::read(&real).ok();

    let new_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = app::apply_command(home.root(), "port", &new_port.to_string())
        .output()
        .unwrap();
    let said = ssh::stdout(&out);
    assert!(said.contains("applied"), "{said}\n{}", ssh::stderr(&out));
    assert!(said.contains("Updating Nix's configuration"), "{said}");

    let alias = port_in_alias(root.path());
    assert!(alias.contains(&format!("Port {new_port}")), "{alias}");
    assert_eq!(
        std::fs::read(&real).ok(),
        real_before,
        "the machine's own {} is untouched",
        real.display()
    );
    let nix_conf = std::fs::read_to_string("/etc/nix/nix.conf").unwrap_or_default();
    assert!(!nix_conf.contains("builderbar"), "{nix_conf}");
}
