//! The command line: parsing, logging setup and error reporting. Verbs live in
//! their own modules and call into the core.

mod cli_tool;
mod dev_runner;
mod doctor;
mod install;
mod keys;
mod logs;
mod monitor;
mod nix;
mod runner;
mod service;
mod settings;
mod setup;
mod status;
mod vm;

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
    /// The builder VM's supervisor (what launchd runs)
    #[command(subcommand)]
    Vm(vm::Command),
    /// Start the builder (it keeps running after this command exits)
    Start,
    /// Stop the builder; it stays stopped, across logins too, until `start`
    Stop,
    /// Stop the builder cleanly and start it again
    Restart,
    /// Show whether the builder is running, its port, uptime and last error
    Status(status::Args),
    /// Show the builder's log (the supervisor's, QEMU's and the guest's)
    Logs(logs::Args),
    /// Watch the builder's health and builds and show notifications, in the foreground
    Monitor(monitor::Args),
    /// Show or change the settings (port, disk, memory, cores, …)
    #[command(subcommand)]
    Settings(settings::Command),
    /// The builder key and the public keys allowed into the builder
    #[command(subcommand)]
    Keys(keys::Command),
    /// Wire the host's Nix to the builder (one admin prompt) and install the service
    Install(install::InstallArgs),
    /// Undo `install`: restore the Nix files as they were, remove the service
    Uninstall(install::UninstallArgs),
    /// Set the builder up from nothing: check, say what will happen, then do it
    Setup(setup::Args),
    /// Check the Nix wiring and the builder, each with its fix
    Doctor(doctor::Args),
    /// The runner's Nix expression and build
    #[command(subcommand)]
    Nix(nix::Command),
    /// Put `builderbar` on your PATH (the menu's "Install Command-Line Tool…")
    #[command(subcommand)]
    CliTool(cli_tool::Command),
    /// The builder's runner generations
    #[command(subcommand)]
    Runner(runner::Command),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The supervisor logs to its own rotating file instead of stderr.
    if let Command::Vm(command) = cli.command {
        return vm::run(command);
    }
    init_logging();
    let result = match cli.command {
        Command::DevRunner(args) => dev_runner::run(args),
        Command::Vm(_) => Ok(()),
        Command::Start => service::run(service::Action::Start),
        Command::Stop => service::run(service::Action::Stop),
        Command::Restart => service::run(service::Action::Restart),
        Command::Status(args) => status::run(args),
        Command::Logs(args) => logs::run(args),
        Command::Monitor(args) => monitor::run(args),
        Command::Settings(command) => settings::run(command),
        Command::Keys(command) => keys::run(command),
        Command::Install(args) => install::install(args),
        Command::Uninstall(args) => install::uninstall(args),
        Command::Setup(args) => setup::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Nix(command) => nix::run(command),
        Command::CliTool(command) => cli_tool::run(command),
        Command::Runner(command) => runner::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("builderbar: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Sends tracing's output to the VM's log (for `vm run`).
fn log_to(log: builderbar::vm::log::VmLog) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BUILDERBAR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(log)
        .with_ansi(false)
        .with_target(false)
        .init();
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
