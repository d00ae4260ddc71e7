//! `builderbar install [--dry-run] [--sysroot DIR]` and `builderbar
//! uninstall [--sysroot DIR]`: the Nix wiring as one plan, applied (or
//! undone) in one elevation, plus the service that keeps the builder running.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use builderbar::hint::Hint;
use builderbar::nix::apply::Outcome;
use builderbar::nix::install::{self, InstallError, InstallOptions, Installed, Step};
use builderbar::paths::Paths;

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// Print the plan in plain words and change nothing
    #[arg(long)]
    dry_run: bool,
    /// Make every path relative to DIR (tests); the service is left alone
    #[arg(long, value_name = "DIR")]
    sysroot: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// Make every path relative to DIR (tests); the service is left alone
    #[arg(long, value_name = "DIR")]
    sysroot: Option<PathBuf>,
}

pub fn install(args: InstallArgs) -> Result<()> {
    let paths = Paths::from_env()?;
    let options = InstallOptions {
        sysroot: args.sysroot,
        dry_run: args.dry_run,
    };
    match install::install(&paths, &options, &mut show).map_err(explain)? {
        Installed::Planned(plan) => {
            println!("builderbar install would, as root:");
            print!("{}", plan.describe());
        }
        Installed::Applied(outcome) => report(&outcome),
    }
    Ok(())
}

pub fn uninstall(args: UninstallArgs) -> Result<()> {
    let paths = Paths::from_env()?;
    match install::uninstall(&paths, args.sysroot.as_deref(), &mut show).map_err(explain)? {
        Some(outcome) => report(&outcome),
        None => println!("The Nix wiring is not installed: nothing to undo."),
    }
    Ok(())
}

fn show(step: Step) {
    match step {
        Step::Downloading { done, expected } => {
            eprint!(
                "\rdownloading the builder: {} of {} MiB   ",
                done >> 20,
                expected >> 20
            );
            let _ = std::io::stderr().flush();
        }
        Step::Applying(plan) => {
            println!("Applying, as root:");
            print!("{}", plan.describe());
        }
        Step::Undoing(manifest) => {
            println!("Undoing the Nix wiring, as root:");
            print!("{}", manifest.describe_undo());
        }
        Step::ServiceInstalled => {
            println!("The builder's service is installed; `builderbar start` starts it.")
        }
        Step::ServiceRemoved => println!("The builder is stopped and its service removed."),
    }
}

fn explain(err: InstallError) -> anyhow::Error {
    match err.hint() {
        Some(hint) => anyhow!("{err}\n  hint: {hint}"),
        None => anyhow!("{err}"),
    }
}

fn report(outcome: &Outcome) {
    if outcome.changed.is_empty() {
        println!("Nothing changed: everything was already in place.");
    }
    for path in &outcome.changed {
        println!("changed {}", path.display());
    }
    if let Some(kind) = outcome.reloaded {
        println!("reloaded nix-daemon ({})", kind.command().join(" "));
    }
    for note in &outcome.skipped {
        println!("{note}");
    }
}
