//! The setup check's line for Nix's `builders` setting: whether the Nix
//! that will build reads BuilderBar's machines entry, and if not, whether
//! the install fixes that (a line between BuilderBar's marks) or the user
//! must (a nix.conf managed by nix-darwin).

use crate::hint::Hint;
use crate::nix::builders::{self, Wiring};
use crate::nix::detect::{Detected, Flavor};
use crate::nix::plan::Layout;

use super::check::{CheckItem, CheckStatus};

const NAME: &str = "nix-builders";
const DOCTOR: Option<&str> = Some("nix-uses-builder");

pub(super) fn item(detected: &Detected, layout: &Layout, port: u16) -> CheckItem {
    let wiring = builders::wiring(
        &detected.builders,
        detected.builders_ours.as_deref(),
        layout,
        port,
    );
    let machines = layout.machines();
    let (status, detail, fix) = match wiring {
        Ok(Wiring::Reaches) => (
            CheckStatus::Ok,
            format!("Nix reads {} for its builders", machines.display()),
            None,
        ),
        Ok(Wiring::Line { value, why }) if detected.builders_ours.as_deref() == Some(&value) => {
            (CheckStatus::Ok, why, None)
        }
        Ok(Wiring::Line { value, .. }) if detected.flavor == Flavor::NixDarwin => (
            CheckStatus::Blocker,
            format!(
                "Nix's builders setting replaces {}, and nix-darwin manages nix.conf, so Nix would never use BuilderBar's builder",
                machines.display()
            ),
            Some(format!(
                "add `{}` to your nix-darwin configuration, run darwin-rebuild switch, then run setup again",
                builders::nix_darwin_setting(&value).unwrap_or_default()
            )),
        ),
        Ok(Wiring::Line { why, .. }) => (CheckStatus::Warn, why, None),
        Ok(Wiring::AlreadyNamed(entries)) => (
            CheckStatus::Warn,
            format!(
                "Nix's builders setting already names BuilderBar's builder ({}); setup adds no builders line",
                entries.join(" ; ")
            ),
            None,
        ),
        Ok(Wiring::Unknown(reason)) => (
            CheckStatus::Warn,
            format!("could not ask Nix which builders it uses: {reason}"),
            None,
        ),
        Err(err) => (CheckStatus::Blocker, err.to_string(), err.hint()),
    };
    CheckItem {
        name: NAME,
        status,
        detail,
        fix,
        doctor_check: DOCTOR,
    }
}
