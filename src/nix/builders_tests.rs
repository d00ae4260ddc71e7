use super::*;

/// Real output of Debian's Nix 2.8 `nix show-config`, with no `builders`
/// line in nix.conf (NIX_CONF_DIR=/etc/nix).
const SHOW_CONFIG_DEFAULT: &str = include_str!("testdata/show-config-2.8-default.txt");
/// The same with `builders = ssh://builder@other aarch64-linux ; ssh-ng://me@big x86_64-linux /k 8`.
const SHOW_CONFIG_BUILDERS: &str = include_str!("testdata/show-config-2.8-builders.txt");

fn resolved(value: &str) -> Resolved {
    Resolved {
        value: value.into(),
    }
}

#[test]
fn show_config_is_read_in_both_of_nix_2_8s_cases() {
    assert_eq!(
        parse_show_config(SHOW_CONFIG_DEFAULT).as_deref(),
        Some("@/etc/nix/machines")
    );
    assert_eq!(
        parse_show_config(SHOW_CONFIG_BUILDERS).as_deref(),
        Some("ssh://builder@other aarch64-linux ; ssh-ng://me@big x86_64-linux /k 8")
    );
    // `builders-use-substitutes` comes right after and is not mistaken.
    assert_eq!(
        parse_show_config("builders = \nbuilders-use-substitutes = true\n").as_deref(),
        Some("")
    );
    assert_eq!(parse_show_config("builders =\n").as_deref(), Some(""));
    assert_eq!(parse_show_config("max-jobs = 1\n"), None);
}

/// `nix config show builders` (Nix 2.20 and later) prints the value and a
/// newline (`logger->cout("%s", value)` in NixOS/nix src/nix/config.cc);
/// no such Nix runs here, so these are written from that source.
#[test]
fn config_show_prints_the_value_alone() {
    assert_eq!(
        parse_config_show("@/etc/nix/machines\n"),
        "@/etc/nix/machines"
    );
    assert_eq!(
        parse_config_show("ssh-ng://builder@linux-builder aarch64-linux\n"),
        "ssh-ng://builder@linux-builder aarch64-linux"
    );
    assert_eq!(parse_config_show("\n"), "");
}

#[test]
fn entries_are_split_as_nix_splits_them() {
    let value = resolved("@/etc/nix/machines ; ssh://a x86_64-linux # old\nssh://b ;; ");
    assert_eq!(
        value.entries(),
        vec!["@/etc/nix/machines", "ssh://a x86_64-linux", "ssh://b"]
    );
}

#[test]
fn the_default_reaches_the_machines_file_and_an_explicit_list_does_not() {
    let layout = Layout::new("/");
    assert_eq!(
        resolved("@/etc/nix/machines").reach(&layout, 31022),
        Reach::MachinesFile
    );
    assert_eq!(
        resolved("ssh://other aarch64-linux ; @ /etc/nix/machines").reach(&layout, 31022),
        Reach::MachinesFile
    );
    assert_eq!(
        resolved("ssh://builder@other aarch64-linux").reach(&layout, 31022),
        Reach::No
    );
    assert_eq!(resolved("").reach(&layout, 31022), Reach::No);
    assert_eq!(
        resolved("@/etc/nix/other-machines").reach(&layout, 31022),
        Reach::No
    );
    let sysroot = Layout::new("/tmp/root");
    assert_eq!(
        resolved("@/etc/nix/machines").reach(&sysroot, 31022),
        Reach::No,
        "under a sysroot, the real /etc is not ours"
    );
    assert_eq!(
        resolved("@/tmp/root/etc/nix/machines").reach(&sysroot, 31022),
        Reach::MachinesFile
    );
}

#[test]
fn entries_naming_our_alias_or_port_are_found() {
    let layout = Layout::new("/");
    let ours = format!("ssh-ng://builder@{ALIAS} aarch64-linux");
    assert_eq!(
        resolved(&format!("ssh://x aarch64-linux ; {ours}")).reach(&layout, 31022),
        Reach::Named(vec![ours])
    );
    assert_eq!(
        resolved("ssh-ng://builder@localhost:31022 aarch64-linux").reach(&layout, 31022),
        Reach::Named(vec![
            "ssh-ng://builder@localhost:31022 aarch64-linux".into()
        ])
    );
    assert_eq!(
        resolved("ssh-ng://builder@localhost:31023 aarch64-linux").reach(&layout, 31022),
        Reach::No
    );
    assert_eq!(
        resolved("ssh-ng://builder@linux-builder aarch64-linux").reach(&layout, 31022),
        Reach::No
    );
}

#[test]
fn the_kept_value_puts_the_machines_file_first_and_keeps_theirs() {
    let layout = Layout::new("/");
    assert_eq!(
        resolved("ssh://builder@other aarch64-linux")
            .with_machines_file(&layout)
            .unwrap(),
        "@/etc/nix/machines ; ssh://builder@other aarch64-linux"
    );
    assert_eq!(
        resolved("  ").with_machines_file(&layout).unwrap(),
        "@/etc/nix/machines"
    );
    assert!(resolved("ssh://a # x").with_machines_file(&layout).is_err());
}

#[test]
fn our_line_is_read_only_from_inside_our_block() {
    let conf = format!(
        "builders = theirs\n{}\nbuilders-use-substitutes = true\nbuilders = @/etc/nix/machines ; theirs\n{}\n",
        super::super::block::BEGIN_MARK,
        super::super::block::END_MARK
    );
    assert_eq!(
        ours_in(&conf).as_deref(),
        Some("@/etc/nix/machines ; theirs")
    );
    assert_eq!(ours_in("builders = theirs\n"), None);
}

mod plan {
    use super::super::super::detect::{BuildersView, Detected, Flavor};
    use super::super::super::plan::{self, Layout, Operation, WiringInputs};
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJBWcxb/Blaqt1auOtE+F8QUWrUotiC5qBJ+UuEWdVCb";

    fn detected(flavor: Flavor, builders: &str, ours: Option<&str>) -> Detected {
        Detected {
            flavor,
            machines_managed: false,
            conflicts: vec![],
            builders: BuildersView::Resolved(resolved(builders)),
            builders_ours: ours.map(str::to_owned),
        }
    }

    /// The plan's text and the content it puts between our marks in a
    /// Nix configuration file.
    fn planned(detected: &Detected) -> (String, Option<String>) {
        let inputs = WiringInputs::new(31022, &["aarch64-linux".into()], 4, KEY).unwrap();
        let layout = Layout::new("/");
        let plan = plan::compute(&inputs, detected, &layout, Path::new("/state"), None).unwrap();
        let conf = plan.operations.iter().find_map(|op| match op {
            Operation::EditBetweenMarkers { path, content, .. }
                if path.to_string_lossy().contains(".conf") =>
            {
                Some(content.clone())
            }
            _ => None,
        });
        (plan.describe(), conf)
    }

    #[test]
    fn an_explicit_list_gets_our_line_that_keeps_it_and_the_plan_says_why() {
        let (text, conf) = planned(&detected(
            Flavor::Upstream,
            "ssh://builder@other aarch64-linux",
            None,
        ));
        assert_eq!(
            conf.unwrap(),
            "builders-use-substitutes = true\nbuilders = @/etc/nix/machines ; ssh://builder@other aarch64-linux\n"
        );
        assert!(
            text.contains("replaces the default @/etc/nix/machines"),
            "{text}"
        );
    }

    #[test]
    fn the_default_needs_no_line_and_our_own_line_is_kept() {
        let (_, conf) = planned(&detected(Flavor::Upstream, "@/etc/nix/machines", None));
        assert_eq!(conf.unwrap(), "builders-use-substitutes = true\n");
        let ours = "@/etc/nix/machines ; ssh://builder@other aarch64-linux";
        let (_, conf) = planned(&detected(Flavor::Determinate, ours, Some(ours)));
        assert_eq!(
            conf.unwrap(),
            format!("builders-use-substitutes = true\nbuilders = {ours}\n")
        );
    }

    #[test]
    fn an_entry_naming_our_builder_is_reported_not_duplicated() {
        let entry = format!("ssh-ng://builder@{ALIAS} aarch64-linux");
        let (text, conf) = planned(&detected(Flavor::Upstream, &entry, None));
        assert_eq!(conf.unwrap(), "builders-use-substitutes = true\n");
        assert!(
            text.contains("already lists BuilderBar's builder"),
            "{text}"
        );
    }

    #[test]
    fn a_nix_conf_managed_by_nix_darwin_gets_the_exact_line_to_add() {
        let (text, conf) = planned(&detected(
            Flavor::NixDarwin,
            "ssh://builder@other aarch64-linux",
            None,
        ));
        assert_eq!(conf, None);
        assert!(
            text.contains(
                r#"nix.settings.builders = "@/etc/nix/machines ; ssh://builder@other aarch64-linux";"#
            ),
            "{text}"
        );
    }

    #[test]
    fn no_nix_to_ask_is_said_and_changes_nothing() {
        let mut found = detected(Flavor::Upstream, "", None);
        found.builders = BuildersView::NoNix;
        let (text, conf) = planned(&found);
        assert_eq!(conf.unwrap(), "builders-use-substitutes = true\n");
        assert!(
            text.contains("could not check which builders Nix uses"),
            "{text}"
        );
    }
}
