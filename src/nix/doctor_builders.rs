//! The doctor's check "Nix uses BuilderBar's builder": Nix's resolved
//! `builders` setting (asked of Nix, as the nix-daemon reads it) reaches
//! BuilderBar's machines entry, and that entry offers every system the
//! builder has.

use super::ALIAS;
use super::builders::{Reach, Resolved};
use super::detect::{BuildersView, Detected, Flavor};
use super::doctor::{Check, REINSTALL, Status, check};
use super::plan::{Layout, WiringInputs};

const NAME: &str = "nix-uses-builder";

pub(super) fn uses_builder(
    layout: &Layout,
    detected: &Detected,
    inputs: Option<&WiringInputs>,
    machines_entry: Option<&str>,
) -> Check {
    let resolved = match &detected.builders {
        BuildersView::Resolved(resolved) => resolved,
        BuildersView::NoNix => {
            return Check {
                name: NAME,
                status: Status::Skip,
                detail: "no `nix` here to ask which builders Nix uses".into(),
                fix: None,
            };
        }
        BuildersView::Unreadable { reason } => {
            return check(
                NAME,
                false,
                format!("Nix did not say which builders it uses: {reason}"),
                "check that `nix config show` (or `nix show-config`) works in a terminal",
            );
        }
    };
    let port = inputs.map_or(0, |i| i.port);
    let systems: &[String] = inputs.map_or(&[], |i| &i.systems);
    match resolved.reach(layout, port) {
        Reach::MachinesFile => {
            let offered = machines_entry
                .and_then(|entry| entry.split_whitespace().nth(1))
                .unwrap_or("");
            let missing = missing_systems(offered, systems);
            check(
                NAME,
                machines_entry.is_some() && missing.is_empty(),
                match (machines_entry, missing.is_empty()) {
                    (None, _) => format!(
                        "Nix reads {}, but it has no entry for {ALIAS}",
                        layout.machines().display()
                    ),
                    (Some(_), true) => format!(
                        "Nix reads {} and builds {} there",
                        layout.machines().display(),
                        systems.join(", ")
                    ),
                    (Some(_), false) => format!(
                        "Nix reads {}, but its entry for {ALIAS} does not offer {}",
                        layout.machines().display(),
                        missing.join(", ")
                    ),
                },
                REINSTALL,
            )
        }
        Reach::Named(entries) => Check {
            name: NAME,
            status: Status::Pass,
            detail: format!(
                "Nix's builders setting names BuilderBar's builder itself ({}); BuilderBar's machines entry is not read",
                entries.join(" ; ")
            ),
            fix: None,
        },
        Reach::No => check(
            NAME,
            false,
            format!(
                "Nix's builders setting is {}: it replaces {}, so Nix never uses BuilderBar's builder",
                resolved.words(),
                layout.machines().display()
            ),
            &fix(layout, detected.flavor, resolved),
        ),
    }
}

fn missing_systems(offered: &str, systems: &[String]) -> Vec<String> {
    let offered: Vec<&str> = offered.split(',').collect();
    systems
        .iter()
        .filter(|s| !offered.contains(&s.as_str()))
        .cloned()
        .collect()
}

fn fix(layout: &Layout, flavor: Flavor, resolved: &Resolved) -> String {
    let kept = resolved
        .with_machines_file(layout)
        .unwrap_or_else(|_| format!("@{}", layout.machines().display()));
    if flavor == Flavor::NixDarwin {
        let setting = super::builders::nix_darwin_setting(&kept).unwrap_or_default();
        format!(
            "your nix.conf is managed by nix-darwin: add `{setting}` to your nix-darwin configuration, then run darwin-rebuild switch"
        )
    } else {
        format!(
            "run `builderbar install` again: it adds `builders = {kept}` between its marks, keeping your builders"
        )
    }
}
