//! `builderbar doctor [--json] [--sysroot DIR]`: every part of the Nix
//! wiring checked, each with its fix.

use std::path::PathBuf;

use anyhow::{Result, bail};
use builderbar::nix::doctor;
use builderbar::paths::Paths;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON for scripts (and bug reports)
    #[arg(long)]
    json: bool,
    /// Check the files under DIR instead of / (tests)
    #[arg(long, value_name = "DIR")]
    sysroot: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let paths = Paths::from_env()?;
    let sysroot = match args.sysroot {
        Some(dir) => std::path::absolute(dir)?,
        None => PathBuf::from("/"),
    };
    let (checks, note) = doctor::report(&paths, &sysroot)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        print!("{}", doctor::to_text(&checks, note.as_deref()));
    }
    if !doctor::all_passed(&checks) {
        bail!("some checks failed");
    }
    Ok(())
}
