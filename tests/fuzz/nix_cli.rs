//! Cross-checks the Rust Nix parser against the real one: a few cases go
//! through Debian's `nix-instantiate` (scripts/setup.sh installs nix-bin),
//! with a private store so nothing of the machine is used.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use builderbar::nix::expr::{RunnerInputs, nix_string, runner_expression};
use builderbar::settings::validate;
use proptest::prelude::*;

use crate::renderers::{check_expression, nix_literals};
use crate::settings::{HOST, settings};
use crate::strategies::text;

/// Cases per property here: each runs nix-instantiate twice (~0.1 s each).
const CASES: u32 = 50;

/// One private store for every run (under the target folder): making its
/// database is the slow part.
fn nix_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-nix");
        let conf = dir.join("conf");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(
            conf.join("nix.conf"),
            "sandbox = false\nbuild-users-group =\n",
        )
        .unwrap();
        dir
    })
}

fn nix_instantiate(args: &[&str]) -> Output {
    let dir = nix_dir();
    let conf = dir.join("conf");
    Command::new("nix-instantiate")
        .args(args)
        .env("NIX_STORE_DIR", dir.join("store"))
        .env("NIX_STATE_DIR", dir.join("state"))
        .env("NIX_LOG_DIR", dir.join("log"))
        .env("NIX_CONF_DIR", &conf)
        .output()
        .expect("nix-instantiate (Debian nix-bin; scripts/setup.sh installs it)")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

proptest! {
    #![proptest_config(crate::config_with(CASES.min(crate::config().cases)))]

    /// The runner's expression from validated settings: both parsers
    /// accept it, and Nix's own printing of it parses to the same literals.
    #[test]
    fn nix_parses_the_runner_expression(
        s in settings().prop_filter("refused", |s| validate(s, None, &HOST).is_empty())
    ) {
        let inputs = RunnerInputs::from_settings(&s).unwrap();
        let expr = runner_expression(&inputs).unwrap();
        check_expression(&expr, &inputs)?;
        let out = nix_instantiate(&["--parse", "-E", &expr]);
        prop_assert!(out.status.success(), "{}\n{}", stderr(&out), expr);
        // Nix prints the parsed expression back (strings re-escaped).
        let printed = String::from_utf8(out.stdout).unwrap();
        let (mut strings, mut integers) = nix_literals(&printed);
        let (mut ours, mut our_integers) = nix_literals(&expr);
        for list in [&mut strings, &mut integers, &mut ours, &mut our_integers] {
            list.sort_unstable();
        }
        prop_assert_eq!(strings, ours, "{}", printed);
        prop_assert_eq!(integers, our_integers, "{}", printed);
    }

    /// Hostile strings evaluate, in Nix itself, to exactly themselves; and
    /// the Rust parser reads them the same way.
    #[test]
    fn nix_evaluates_strings_to_themselves(value in text()) {
        let Ok(literal) = nix_string(&value) else {
            return Ok(());
        };
        let expr = format!("{{ value = {literal}; }}");
        let (strings, _) = nix_literals(&expr);
        prop_assert_eq!(&strings, &vec![value.clone()]);
        let out = nix_instantiate(&["--eval", "--strict", "--json", "-E", &expr]);
        prop_assert!(out.status.success(), "{:?}: {}", value, stderr(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        prop_assert_eq!(json["value"].as_str(), Some(value.as_str()));
    }
}

/// Nix refuses integers past i64::MAX, so the renderer must too.
#[test]
fn nix_refuses_integers_past_i64() {
    let out = nix_instantiate(&["--parse", "-E", "{ a = 9223372036854775808; }"]);
    assert!(!out.status.success());
    let out = nix_instantiate(&["--parse", "-E", "{ a = 9223372036854775807; }"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
