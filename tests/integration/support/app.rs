//! A process standing in for the menu-bar app. The app's state is what the
//! core writes (the settings, the status file, the service); what it does to
//! that state on Apply is one core call, `builderbar::actions::apply_settings`.
//! This stand-in makes exactly that call, in a process of its own that a
//! test can kill: this test binary, run again with only `app_stand_in`
//! selected. It logs as the app does (tracing to stderr, filtered by
//! `BUILDERBAR_LOG`) and prints each progress step on stdout as
//! `step: <words>`, then `applied` or `refused: <error>`.

use std::path::Path;
use std::process::Command;

const CHANGE_ENV: &str = "BUILDERBAR_TEST_APP_CHANGE";

/// The stand-in applying `key = value` (as `settings set` spells them) to
/// the settings under `home`.
pub fn apply_command(home: &Path, key: &str, value: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "support::app::app_stand_in", "--ignored"])
        .args(["--nocapture", "--test-threads=1", "-q"])
        .env(CHANGE_ENV, format!("{key}={value}"))
        .env("BUILDERBAR_HOME", home)
        // The service runs a copy of the CLI, which the app finds beside
        // itself; this stand-in is not beside it.
        .env("BUILDERBAR_BIN", super::home::BIN)
        .env_remove("BUILDERBAR_RUNNER");
    command
}

#[test]
#[ignore = "not a test: the app stand-in, run in its own process by the fault and security tests"]
fn app_stand_in() {
    use std::io::Write;
    let Some(change) = std::env::var_os(CHANGE_ENV) else {
        return;
    };
    let change = change.to_string_lossy().into_owned();
    let (key, value) = change.split_once('=').unwrap();
    let filter = tracing_subscriber::EnvFilter::try_from_env("BUILDERBAR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let paths = builderbar::paths::Paths::from_env().unwrap();
    let applied = builderbar::actions::apply_settings(
        &paths,
        |s| builderbar::settings::parse::set_field(s, key, value),
        |step| {
            println!("step: {}", step.words());
            let _ = std::io::stdout().flush();
        },
    );
    match applied {
        Ok(applied) => println!("applied: restarted={}", applied.restarted),
        Err(err) => println!("refused: {err}"),
    }
}
