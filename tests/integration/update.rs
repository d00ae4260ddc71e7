//! Update Builder on Linux (the dev VM stands in for nixpkgs' builder):
//! `builderbar runner update` asks a channels server — here Python's
//! http.server on a local port, reached by the real `curl` — for the
//! newest cached commit, has the running builder build its successor from
//! it, switches to it, proves it with a test build through the host's Nix,
//! and makes it the settings' nixpkgs; the same update again changes
//! nothing.
//!
//! Needs root (the private daemon's mount namespace) and the Nix flavour.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::generations::{generations, state_of};
use crate::successor::wired_service;
use crate::support::home::Home;
use crate::support::ssh;
use crate::support::wait;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A channels server with one channel (the default one) at `COMMIT`.
struct Channels {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Channels {
    fn start() -> Channels {
        let dir = tempfile::tempdir().unwrap();
        let channel = dir.path().join(builderbar::nix::expr::DEFAULT_NIXPKGS);
        std::fs::create_dir(&channel).unwrap();
        std::fs::write(channel.join("git-revision"), format!("{COMMIT}\n")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let up = wait::until(Duration::from_secs(10), Duration::from_millis(50), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(up.is_some(), "http.server did not listen");
        Channels {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

impl Drop for Channels {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_update_builds_switches_and_proves_the_newest_cached_nixpkgs() {
    let home = Home::new();
    let (launchd, _root) = wired_service(&home);
    let channels = Channels::start();
    let update = || {
        launchd
            .command(&["runner", "update"])
            .env(
                builderbar::generations::latest::CHANNELS_URL_ENV,
                &channels.url,
            )
            .output()
            .unwrap()
    };
    let pin_url = format!("https://github.com/NixOS/nixpkgs/archive/{COMMIT}.tar.gz");

    let out = update();
    let (said, progress) = (ssh::stdout(&out), ssh::stderr(&out));
    assert!(out.status.success(), "{said}{progress}\n{}", home.log());
    for step in [
        "Asking for the newest cached commit of nixpkgs-25.05-darwin",
        "Building the next generation on the builder from nixpkgs",
        "Starting generation 2",
        "Running a test build on the new generation",
    ] {
        assert!(progress.contains(step), "{step:?} in:\n{progress}");
    }
    assert!(
        said.contains("The test build passed on generation 2"),
        "{said}"
    );
    assert!(
        home.ssh_ok("cat /etc/builderbar-generation")
            .starts_with(&format!("nixpkgs {pin_url}\n")),
        "generation 2 runs, built from the channel's commit"
    );
    let list = generations(&home);
    assert_eq!(state_of(&list, 2)["state"], "current", "{list:#}");
    assert_eq!(state_of(&list, 1)["state"], "previous", "{list:#}");
    let settings = std::fs::read_to_string(home.root().join("settings.toml")).unwrap();
    assert!(
        settings.contains(&format!("nixpkgs = \"{pin_url}\"")),
        "the settings follow the proved generation:\n{settings}"
    );

    // The channel has not moved: nothing to do.
    let again = update();
    assert!(again.status.success(), "{}", ssh::stderr(&again));
    assert!(
        ssh::stdout(&again).contains(&format!(
            "The builder already runs {pin_url} (generation 2)"
        )),
        "{}",
        ssh::stdout(&again)
    );
    assert_eq!(generations(&home), list);
}

/// The new generation serves, but the test build fails on it (here Nix's
/// machines file is broken once the switch has begun, as a wiring gone
/// wrong would be): the builder goes back to generation 1, Ready, and
/// generation 2 is marked failed with the test build's words.
#[test]
fn an_update_whose_test_build_fails_goes_back_to_the_generation_before() {
    let home = Home::new();
    let (launchd, root) = wired_service(&home);
    let machines = root.path().join("etc/nix/machines");
    let store = builderbar::generations::Store::at(&home.root().join("generations"));

    let child = launchd
        .command(&["runner", "update", "--nixpkgs", "nixos-25.05"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The switch makes generation 2 current (on trial) only after its
    // build: from then on the wiring is broken.
    let switching = wait::until(Duration::from_secs(600), Duration::from_millis(100), || {
        store.trial().ok().flatten().filter(|n| *n == 2)
    });
    assert!(
        switching.is_some(),
        "the switch never began:\n{}",
        home.log()
    );
    std::fs::write(
        &machines,
        "ssh-ng://builder@nowhere.invalid x86_64-linux - 1 1 - - -\n",
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", ssh::stdout(&out), ssh::stderr(&out));
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("generation 2 started, but the test build failed on it")
            && said.contains("went back to generation 1"),
        "{said}"
    );
    let list = generations(&home);
    assert_eq!(state_of(&list, 1)["state"], "current", "{list:#}");
    let failed = state_of(&list, 2);
    assert_eq!(failed["state"], "failed", "{list:#}");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .starts_with("the test build failed: "),
        "{list:#}"
    );
    assert!(
        !home
            .ssh("test -e /etc/builderbar-generation")
            .status
            .success(),
        "generation 1 serves again"
    );
}
