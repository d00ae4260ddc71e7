//! `builderbar nix expr|build-runner`, and the hidden `nix apply-plan FILE`
//! that the administrator step runs as root.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use builderbar::hint::Hint;
use builderbar::nix::expr::{RunnerInputs, runner_expression};
use builderbar::nix::{NixError, apply, elevate, runner_build};
use builderbar::paths::Paths;
use builderbar::settings::SettingsStore;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the Nix expression the runner is built from
    Expr,
    /// Build the runner from darwin.linux-builder (macOS; cached)
    BuildRunner,
    /// Apply a plan file as root (what the administrator prompt runs)
    #[command(hide = true)]
    ApplyPlan {
        /// The plan file written by `builderbar install` or `uninstall`
        file: PathBuf,
    },
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::Expr => {
            let inputs = runner_inputs()?;
            print!("{}", runner_expression(&inputs).map_err(explain)?);
        }
        Command::BuildRunner => {
            let paths = Paths::from_env()?;
            let runner = build_runner(&paths, &runner_inputs()?)?;
            println!("{}", runner.display());
        }
        Command::ApplyPlan { file } => {
            let job = elevate::read_job(&file).map_err(explain)?;
            let outcome = apply::run_job(&job).map_err(explain)?;
            println!("{}", serde_json::to_string(&outcome)?);
        }
    }
    Ok(())
}

fn runner_inputs() -> Result<RunnerInputs> {
    let paths = Paths::from_env()?;
    let settings = SettingsStore::open(&paths)?.load()?.settings;
    RunnerInputs::from_settings(&settings).map_err(explain)
}

/// Builds (or finds cached) the runner, showing the download's progress.
pub fn build_runner(paths: &Paths, inputs: &RunnerInputs) -> Result<PathBuf> {
    let mut shown = false;
    let runner = runner_build::ensure_runner(paths, inputs, &mut |p| {
        shown = true;
        let mib = |b: u64| b / (1 << 20);
        eprint!(
            "\rdownloading the builder: {} of {} MiB   ",
            mib(p.done),
            mib(p.expected)
        );
        let _ = std::io::stderr().flush();
    })
    .map_err(explain)?;
    if shown {
        eprintln!();
    }
    if runner.built {
        eprintln!("built the runner {}", runner.out_path.display());
    }
    Ok(runner.script)
}

pub fn explain(err: NixError) -> anyhow::Error {
    match err.hint() {
        Some(hint) => anyhow!("{err}\n  hint: {hint}"),
        None => anyhow!("{err}"),
    }
}
