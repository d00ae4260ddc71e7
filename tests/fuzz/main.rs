//! Property tests over everything that reads outside input or writes a
//! file another program parses: settings, authorized keys, `launchctl
//! print`, the runner's Nix expression, the machines line, the ssh config,
//! the known host and the VM job's plist. Each property runs 10,000 cases
//! (`PROPTEST_CASES` overrides it); failures are kept next to each module as
//! `<module>.proptest-regressions` and replayed first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod authorized_keys;
mod job_plist;
mod launchctl_print;
mod nix_cli;
mod renderers;
mod settings;
mod settings_file;
mod strategies;

use proptest::test_runner::{Config, FileFailurePersistence};

/// The cases each property runs unless `PROPTEST_CASES` says otherwise.
pub const CASES: u32 = 10_000;

/// Placed in inputs; must never start a line (or be a key) in any output.
pub const SENTINEL: &str = "INJECTED";

/// 10,000 cases, or `PROPTEST_CASES`; failures saved beside the module.
pub fn config() -> Config {
    let default = Config::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() {
        default.cases
    } else {
        CASES
    };
    config_with(cases)
}

/// `cases` cases (for the few properties that run an outside program).
pub fn config_with(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

/// Characters that break a line for some reader: Rust's `lines`, a
/// terminal, a text editor, JavaScript, or OpenSSH.
pub fn breaks_line(c: char) -> bool {
    matches!(
        c,
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// `text` holds no line break, NUL or other control character.
pub fn is_one_clean_line(text: &str) -> bool {
    !text.chars().any(|c| breaks_line(c) || c.is_control())
}

/// No line of `text` starts with the sentinel, whatever the whitespace.
pub fn no_line_starts_with_sentinel(text: &str) -> bool {
    text.split(breaks_line)
        .all(|line| !line.trim_start().starts_with(SENTINEL))
}
