//! The Nix wiring: the plan (golden files; the runner's expression is in
//! runner_expr.rs), applying it under a sysroot twice,
//! undoing it byte for byte, refusing hostile settings and other builders,
//! and real OpenSSH logging in to the dev VM through the generated alias,
//! known host and key file.
//!
//! Doubles: `tests/doubles/osascript` stands in for macOS's osascript (no
//! admin prompt exists here): it checks the constant AppleScript and runs
//! the `nix apply-plan` it would run as root, or answers "User canceled."
//! The nix-daemon reload is never run under a sysroot (there is none).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

use builderbar::nix::detect::{BuildersView, Detected, Flavor};
use builderbar::nix::plan::{self, Layout, WiringInputs};

use crate::support::home::Home;
use crate::support::ssh;
use crate::support::sysroot::{OSASCRIPT, doctor_check, install, sysroot, tree, uninstall};

const HOST_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJBWcxb/Blaqt1auOtE+F8QUWrUotiC5qBJ+UuEWdVCb";

pub(crate) fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/nix")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(actual, expected, "{} differs", path.display());
}

/// `nix-instantiate --parse` of a file (Debian's nix-bin, no network).
pub(crate) fn parses(expr: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("e.nix");
    std::fs::write(&file, expr).unwrap();
    private_nix(dir.path(), "nix-instantiate")
        .arg("--parse")
        .arg(&file)
        .output()
        .expect("nix-instantiate (Debian nix-bin; scripts/setup.sh installs it)")
}

/// A nix command with a private store, so nothing of the machine is used.
pub(crate) fn private_nix(dir: &Path, program: &str) -> Command {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("nix.conf"),
        "sandbox = false\nbuild-users-group =\n",
    )
    .unwrap();
    let mut command = Command::new(program);
    command
        .env("NIX_STORE_DIR", dir.join("store"))
        .env("NIX_STATE_DIR", dir.join("state"))
        .env("NIX_LOG_DIR", dir.join("log"))
        .env("NIX_CONF_DIR", &conf);
    command
}

#[test]
fn the_plan_matches_its_golden_file() {
    let wiring = WiringInputs::new(
        31022,
        &["aarch64-linux".into(), "x86_64-linux".into()],
        4,
        &format!("{HOST_KEY} root@nixos"),
    )
    .unwrap();
    let layout = Layout::new("/");
    let upstream = Detected {
        flavor: Flavor::Upstream,
        machines_managed: false,
        conflicts: vec![],
        builders: BuildersView::default_for(&layout),
        builders_ours: None,
    };
    let state = Path::new("/Users/me/Library/Application Support/BuilderBar/nix-wiring");
    let plan = plan::compute(&wiring, &upstream, &layout, state, None).unwrap();
    golden("plan-upstream.txt", &plan.describe());
    golden(
        "machines.txt",
        &format!(
            "{}\n",
            plan::machines_line(&wiring, &layout.key_file()).unwrap()
        ),
    );
    golden(
        "ssh_config.conf",
        &plan::ssh_config(&wiring, &layout).unwrap(),
    );

    let determinate = Detected {
        flavor: Flavor::Determinate,
        ..upstream.clone()
    };
    let plan = plan::compute(&wiring, &determinate, &layout, state, None).unwrap();
    assert!(plan.describe().contains("/etc/nix/nix.custom.conf"));
    assert!(!plan.describe().contains("/etc/nix/nix.conf "));
}

#[test]
fn install_twice_is_one_change_and_uninstall_restores_every_byte() {
    let home = Home::new();
    let root = sysroot();
    let before = tree(root.path());

    let dry = home.cli_ok(&[
        "install",
        "--dry-run",
        "--sysroot",
        root.path().to_str().unwrap(),
    ]);
    assert!(
        dry.contains("ssh-ng://builder@builderbar-linux-builder"),
        "{dry}"
    );
    assert!(dry.contains("builders-use-substitutes = true"), "{dry}");
    assert_eq!(tree(root.path()), before, "a dry run changes nothing");

    let cancelled = install(&home, root.path(), &[("OSASCRIPT_DOUBLE_ANSWER", "cancel")]);
    assert!(!cancelled.status.success());
    assert!(
        ssh::stderr(&cancelled).contains("cancelled"),
        "{}",
        ssh::stderr(&cancelled)
    );
    assert_eq!(
        tree(root.path()),
        before,
        "a cancelled prompt changes nothing"
    );

    let keep = home.root().join("plan-copy.json");
    let out = install(
        &home,
        root.path(),
        &[("OSASCRIPT_DOUBLE_KEEP", keep.to_str().unwrap())],
    );
    assert!(out.status.success(), "{}", ssh::stderr(&out));
    let plan_text = std::fs::read_to_string(&keep).unwrap();
    assert_eq!(
        std::fs::read_to_string(keep.with_extension("json.mode"))
            .unwrap()
            .trim(),
        "600"
    );
    assert!(
        !plan_text.contains("PRIVATE KEY"),
        "the plan never carries the key"
    );
    let leftovers: Vec<_> = std::fs::read_dir(home.root().join("state"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| {
            n.to_string_lossy().contains("for-root") || n.to_string_lossy().contains("nix-job")
        })
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let first = tree(root.path());
    let etc = root.path().join("etc");
    let nix_conf = std::fs::read_to_string(etc.join("nix/nix.conf")).unwrap();
    assert!(nix_conf.starts_with("# the owner's own settings\nbuild-users-group = nixbld\nmax-jobs = auto\n# BEGIN builderbar"), "{nix_conf}");
    let machines = std::fs::read_to_string(etc.join("nix/machines")).unwrap();
    assert!(
        machines.starts_with("ssh://someone@elsewhere x86_64-linux - 2\n# BEGIN builderbar"),
        "{machines}"
    );
    let key = std::fs::metadata(etc.join("nix/builderbar_ed25519")).unwrap();
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert_eq!(key.uid(), 0);
    assert!(etc.join("ssh/ssh_config.d/200-builderbar.conf").is_file());

    let again = install(&home, root.path(), &[]);
    assert!(again.status.success(), "{}", ssh::stderr(&again));
    assert!(
        ssh::stdout(&again).contains("Nothing changed"),
        "{}",
        ssh::stdout(&again)
    );
    assert_eq!(
        tree(root.path()),
        first,
        "applying the same plan twice changes nothing"
    );

    let out = uninstall(&home, root.path());
    assert!(out.status.success(), "{}", ssh::stderr(&out));
    assert_eq!(
        tree(root.path()),
        before,
        "uninstall restores the tree byte for byte"
    );
    assert!(!home.root().join("nix-wiring").exists());
    let out = uninstall(&home, root.path());
    assert!(out.status.success());
    assert!(ssh::stdout(&out).contains("nothing to undo"));
}

#[test]
fn hostile_settings_cannot_add_a_line_and_other_builders_are_refused() {
    let home = Home::new();
    let root = sysroot();
    let before = tree(root.path());
    for systems in [
        "[\"x86_64-linux\\nssh://evil@host x86_64-linux\"]",
        "[\"x86_64-linux builders = evil\"]",
        "[\"x86_64-linux\\nHost *\\n  ProxyCommand touch /tmp/pwned\"]",
    ] {
        home.write_setting_raw("systems", systems);
        for args in [&["install", "--dry-run"][..], &["install"][..]] {
            let out = home
                .command()
                .env("BUILDERBAR_OSASCRIPT", OSASCRIPT)
                .args(args)
                .arg("--sysroot")
                .arg(root.path())
                .output()
                .unwrap();
            assert!(!out.status.success(), "{systems} was accepted");
            assert!(
                ssh::stderr(&out).contains("systems"),
                "{}",
                ssh::stderr(&out)
            );
        }
        assert_eq!(tree(root.path()), before);
    }
    home.write_setting_raw("systems", "[\"x86_64-linux\"]");

    // Another builder on our port, from nixpkgs' documented setup.
    let other = root
        .path()
        .join("etc/ssh/ssh_config.d/100-linux-builder.conf");
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    std::fs::write(
        &other,
        format!(
            "Host linux-builder\n  Hostname localhost\n  Port {}\n  User builder\n",
            home.port
        ),
    )
    .unwrap();
    let before = tree(root.path());
    let out = install(&home, root.path(), &[]);
    assert!(!out.status.success());
    let err = ssh::stderr(&out);
    assert!(
        err.contains("100-linux-builder.conf") && err.contains(&home.port.to_string()),
        "{err}"
    );
    assert_eq!(tree(root.path()), before);
    std::fs::remove_file(&other).unwrap();

    // nix-darwin's nix.conf, a link into the store: never edited.
    let conf = root.path().join("etc/nix/nix.conf");
    std::fs::remove_file(&conf).unwrap();
    std::os::unix::fs::symlink("/etc/static/nix/nix.conf", &conf).unwrap();
    let dry = home.cli_ok(&[
        "install",
        "--dry-run",
        "--sysroot",
        root.path().to_str().unwrap(),
    ]);
    assert!(dry.contains("managed by nix-darwin"), "{dry}");
    assert!(
        dry.contains("nix.settings.builders-use-substitutes = true"),
        "{dry}"
    );
    assert!(!dry.contains("etc/nix/nix.conf between"), "{dry}");
}

#[test]
fn openssh_logs_in_to_the_dev_vm_through_the_generated_alias() {
    let home = Home::new();
    home.cli_ok(&["keys", "show"]);
    let mut supervisor = home.start_supervisor();
    supervisor.wait_ready();
    let root = sysroot();
    let out = install(&home, root.path(), &[]);
    assert!(out.status.success(), "{}", ssh::stderr(&out));

    let config = root.path().join("etc/ssh/ssh_config.d/200-builderbar.conf");
    let login = Command::new("ssh")
        .arg("-F")
        .arg(&config)
        .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"])
        .args(["builderbar-linux-builder", "id -un"])
        .output()
        .unwrap();
    assert!(
        login.status.success(),
        "{}\n{}",
        ssh::stderr(&login),
        home.log()
    );
    assert_eq!(ssh::stdout(&login).trim(), "builder");

    for name in [
        "nix",
        "machines",
        "key-file",
        "ssh-include",
        "alias",
        "host-key",
        "ssh",
    ] {
        let check = doctor_check(&home, root.path(), name);
        assert_eq!(check["status"], "pass", "{check:#}");
    }

    // A system-wide ssh_config without the Include line (a managed one):
    // ssh would never read the alias, and the doctor says so and how to fix it.
    let main_config = root.path().join("etc/ssh/ssh_config");
    std::fs::write(&main_config, "Host *\n  SendEnv LANG LC_*\n").unwrap();
    let include = doctor_check(&home, root.path(), "ssh-include");
    assert_eq!(include["status"], "fail", "{include}");
    assert!(
        include["fix"]
            .as_str()
            .unwrap()
            .contains("Include /etc/ssh/ssh_config.d/*")
    );

    // A wrong pinned host key is refused: nothing answers "yes".
    let known = root.path().join("etc/nix/builderbar_known_hosts");
    std::fs::write(
        &known,
        format!("builderbar-linux-builder {}\n", ssh::random_public_key()),
    )
    .unwrap();
    let refused = Command::new("ssh")
        .arg("-F")
        .arg(&config)
        .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"])
        .args(["builderbar-linux-builder", "true"])
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "a changed host key must be refused"
    );
    supervisor.signal(rustix::process::Signal::TERM);
    supervisor.wait_exit(std::time::Duration::from_secs(15));
}
