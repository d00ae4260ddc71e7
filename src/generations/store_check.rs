//! After a switch: Nix's database on the builder may list store paths that
//! are gone. nixpkgs' builder keeps the database on its disk and adds the
//! new system's registrations at every boot (`nix-store --load-db`, which
//! never removes one), while the old system's paths lived only in the old
//! store image (docs/MACOS.md §1). A build that needs one of them would fail
//! with "No such file or directory" instead of fetching it.
//!
//! `nix-store --verify` as the builder's user, through the builder's
//! daemon (allowed without `--repair` for any user), drops each
//! registration whose files are gone and which no valid path refers to;
//! what it cannot drop it names, and that is reported, not fatal.

use std::time::Duration;

use crate::health::{self, ProbeChoices};
use crate::paths::Paths;
use crate::settings::Settings;

/// A whole store's registrations are checked for their files, not read.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(600);
const REMOVED: &str = "disappeared, removing from database";

/// What the check of the builder's store found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreChecked {
    /// Registrations of paths that were gone, removed.
    pub removed: usize,
    /// Lines Nix complained with (a gone path still referred to).
    pub complaints: Vec<String>,
}

/// Runs `nix-store --verify` on the builder, logged in as the health
/// monitor does.
pub fn check_builder_store(paths: &Paths, settings: &Settings) -> Result<StoreChecked, String> {
    let config = health::monitor_config(paths, settings, &ProbeChoices::default())
        .map_err(|err| err.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| err.to_string())?;
    runtime.block_on(async move {
        let mut probe = health::probe::Probe::new(config.probe);
        let ran = probe.run("nix-store --verify 2>&1", VERIFY_TIMEOUT).await;
        probe.disconnect().await;
        let (code, output) = ran?;
        Ok(read(code, &output))
    })
}

fn read(code: u32, output: &str) -> StoreChecked {
    let removed = output.lines().filter(|l| l.contains(REMOVED)).count();
    let mut complaints: Vec<String> = output
        .lines()
        .filter(|l| !l.contains(REMOVED) && !l.trim().is_empty())
        .filter(|l| !l.starts_with("reading the Nix store") && !l.starts_with("checking path"))
        .map(str::to_owned)
        .collect();
    if code != 0 && complaints.is_empty() {
        complaints.push(format!("nix-store --verify exited {code}"));
    }
    StoreChecked {
        removed,
        complaints,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gone_paths_are_counted_and_the_rest_is_a_complaint() {
        let output = "reading the Nix store...\nchecking path existence...\npath '/nix/store/aaa-x' disappeared, removing from database...\npath '/nix/store/bbb-y' disappeared, but it still has valid referrers!\n";
        let checked = read(1, output);
        assert_eq!(checked.removed, 1);
        assert_eq!(
            checked.complaints,
            ["path '/nix/store/bbb-y' disappeared, but it still has valid referrers!"]
        );
        assert_eq!(
            read(0, "reading the Nix store...\n"),
            StoreChecked::default()
        );
        assert_eq!(read(1, "").complaints, ["nix-store --verify exited 1"]);
    }
}
