//! Which dev VM: the small one (busybox, dropbear, e2fsprogs) or the same
//! with Debian's Nix in it, so that the host's Nix really builds on it.

use crate::error::{Error, Result};

/// The environment variable that picks the flavour: `nix` or `small`.
pub const FLAVOUR_ENV: &str = "BUILDERBAR_DEVVM_FLAVOUR";

/// Where the Nix flavour's store answers, in the guest and on the host.
///
/// Nix copies paths only between stores with the same folder, and Debian's
/// nix-bin on a development machine has no `/nix`: the host keeps a private
/// store here (a temporary folder nobody else uses) and the guest
/// bind-mounts its store, which lives on the data disk, at the same path.
pub const NIX_STORE_DIR: &str = "/var/tmp/builderbar-devvm-nix/store";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavour {
    /// No Nix: boots faster, for everything that only needs SSH and a disk.
    Small,
    /// Debian's nix-bin as the builder's Nix (`nix-daemon --stdio` over SSH).
    Nix,
}

impl Flavour {
    /// `BUILDERBAR_DEVVM_FLAVOUR` when set, else the Nix flavour: the
    /// product's whole flow (install, test build, build watcher) needs it.
    pub fn selected() -> Result<Flavour> {
        match std::env::var(FLAVOUR_ENV) {
            Err(_) => Ok(Flavour::Nix),
            Ok(value) if value.is_empty() => Ok(Flavour::Nix),
            Ok(value) => Flavour::parse(&value).ok_or(Error::UnknownFlavour(value)),
        }
    }

    pub fn parse(value: &str) -> Option<Flavour> {
        match value {
            "nix" => Some(Flavour::Nix),
            "small" => Some(Flavour::Small),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Flavour::Small => "small",
            Flavour::Nix => "nix",
        }
    }

    pub const ALL: [Flavour; 2] = [Flavour::Small, Flavour::Nix];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for flavour in Flavour::ALL {
            assert_eq!(Flavour::parse(flavour.name()), Some(flavour));
        }
        assert_eq!(Flavour::parse("big"), None);
    }
}
