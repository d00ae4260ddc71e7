//! `builderbar vm run`: the supervisor, as launchd runs it.

use std::process::ExitCode;
use std::time::Duration;

use builderbar::paths::Paths;
use builderbar::settings::SettingsStore;
use builderbar::vm::{self, VmConfig};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Prepare and run the builder VM in the foreground until it stops
    /// (what launchd runs; SIGTERM powers the guest down cleanly)
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Seconds to wait for the guest to power down before QEMU is told to quit.
    #[arg(long, default_value_t = 30)]
    powerdown_timeout: u64,
}

pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Run(args) => run_vm(args),
    }
}

fn run_vm(args: RunArgs) -> ExitCode {
    let paths = match Paths::from_env() {
        Ok(paths) => paths,
        Err(err) => return fail(1, &err.to_string()),
    };
    let vm_paths = vm::config::vm_paths(&paths);
    let log = match vm::log::VmLog::open(&vm_paths.log_file) {
        Ok(log) => log,
        Err(err) => {
            return fail(
                1,
                &format!("cannot open the log {}: {err}", vm_paths.log_file.display()),
            );
        }
    };
    super::log_to(log.clone());
    let settings = match SettingsStore::open(&paths).and_then(|store| store.load()) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                tracing::warn!("{warning}");
            }
            loaded.settings
        }
        Err(err) => return fail(1, &err.to_string()),
    };
    if let Err(err) = builderbar::keys::render_vm_keys_folder(&paths) {
        return fail(15, &err.to_string());
    }
    // Not fatal: the runner in place still starts, and the trial's disk
    // writes stay apart (`vm::trial`).
    if let Err(err) = builderbar::generations::switch::settle_interrupted(&paths) {
        tracing::warn!("{err}");
    }
    let mut config = VmConfig::from_settings(
        &settings,
        vm::config::runner_source(&paths),
        Duration::from_secs(args.powerdown_timeout),
    );
    if let Some(idle) = config.on_demand.as_mut()
        && let Some(secs) = idle_secs_for_tests()
    {
        *idle = Duration::from_secs(secs);
    }
    match vm::supervisor::run(&config, &vm_paths, &log) {
        Ok(_) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("builderbar: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// `BUILDERBAR_IDLE_SECS`: the on-demand idle time in seconds instead of
/// the setting's minutes. For tests and benchmarks only (the settings
/// allow 1 minute at least), so that they need not wait minutes.
fn idle_secs_for_tests() -> Option<u64> {
    let secs = std::env::var("BUILDERBAR_IDLE_SECS").ok()?;
    match secs.trim().parse() {
        Ok(secs) => {
            tracing::warn!("BUILDERBAR_IDLE_SECS: the builder powers down after {secs} s unused");
            Some(secs)
        }
        Err(_) => {
            tracing::warn!("BUILDERBAR_IDLE_SECS is not a number of seconds: ignored");
            None
        }
    }
}

fn fail(code: u8, message: &str) -> ExitCode {
    tracing::error!("{message}");
    eprintln!("builderbar: {message}");
    ExitCode::from(code)
}
