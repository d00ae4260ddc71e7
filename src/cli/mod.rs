//! The command line: parsing, logging setup and error reporting. Verbs live in
//! their own modules and call into the core.

mod dev_runner;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "builderbar",
    version,
    about = "A Linux builder for Nix on your Mac, from the menu bar",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the Linux dev VM and write its runner (development on Linux only)
    DevRunner(dev_runner::Args),
}

pub fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::DevRunner(args) => dev_runner::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("builderbar: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Progress and warnings go to stderr, so that `--json` output on stdout
/// stays machine-readable. `BUILDERBAR_LOG` takes a tracing filter.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BUILDERBAR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}
