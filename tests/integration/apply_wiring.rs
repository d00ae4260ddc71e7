//! One path for every change. A settings change that touches Nix's files
//! (the port) rewrites them where the wiring was installed — the sysroot
//! its manifest records — and never this machine's own /etc: made as the
//! app makes it (one `actions::apply_settings` call, in a process of its
//! own: `support::app`), and through `builderbar settings set`, which makes
//! the same call. The tests run as root, so the wiring is applied in
//! process, as it would be on a Mac after the prompt.

use std::path::Path;
use std::time::Duration;

use crate::remote_build;
use crate::support::app;
use crate::support::home::Home;
use crate::support::services::{Detached, wait_ssh};
use crate::support::ssh;
use crate::support::sysroot::{install, sysroot};
use crate::support::vm::dev_vm;
use crate::support::wait;

const BOOT: Duration = Duration::from_secs(120);

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

/// `builderbar settings set port P` goes through the same core call as the
/// window's Apply: the plan first (`--dry-run` stops there, a refused value
/// changes nothing), then the sysroot's ssh alias says P, the builder
/// restarts and answers on P with its pinned host key, and the test build
/// through the private nix-daemon passes. Needs the dev VM's Nix flavour.
#[test]
fn settings_set_port_rewires_restarts_and_the_test_build_passes() {
    let home = Home::new();
    let _service = Detached::new(&home);
    home.cli_ok(&["start"]);
    wait_ssh(&home, BOOT);
    let root = remote_build::sysroot("");
    remote_build::install(&home, root.path());
    let saved_port = || -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&home.cli_ok(&["settings", "show", "--json"]))
            .unwrap()["ssh_port"]
            .clone()
    };

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dry = home.cli_ok(&["settings", "set", "port", &port.to_string(), "--dry-run"]);
    assert!(
        dry.contains(&format!("SSH port: {} → {port}", home.port)),
        "{dry}"
    );
    assert!(dry.contains("update Nix's configuration"), "{dry}");
    assert!(dry.contains("restart the builder"), "{dry}");
    assert_eq!(saved_port(), home.port, "a dry run saves nothing");

    let refused = home.cli(&["settings", "set", "port", "80"]);
    assert!(!refused.status.success());
    assert!(
        ssh::stderr(&refused).contains("port"),
        "{}",
        ssh::stderr(&refused)
    );
    assert_eq!(saved_port(), home.port, "a refused value changes nothing");

    let said = home.cli_ok(&["settings", "set", "port", &port.to_string()]);
    assert!(said.contains("Updating Nix's configuration"), "{said}");
    assert!(said.contains("Restarting the builder"), "{said}");
    assert_eq!(saved_port(), port);
    assert!(port_in_alias(root.path()).contains(&format!("Port {port}")));

    let known_hosts = home.root().join("known_hosts.new-port");
    ssh::write_known_hosts(&known_hosts, port, &dev_vm().host_key);
    let answered = wait::until(BOOT, Duration::from_millis(250), || {
        ssh::run(port, "builder", &home.client.path, &known_hosts, "true")
            .status
            .success()
            .then_some(())
    });
    assert!(answered.is_some(), "no SSH on port {port}:\n{}", home.log());
    let (ok, json) = remote_build::doctor_build(&home, root.path());
    assert!(ok && json["test_build"]["status"] == "pass", "{json:#}");
}
