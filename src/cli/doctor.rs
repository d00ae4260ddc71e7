//! `builderbar doctor [--json] [--sysroot DIR]`: every part of the Nix
//! wiring checked, each with its fix.

use std::path::PathBuf;

use anyhow::{Result, bail};
use builderbar::nix::doctor::{self, Status};
use builderbar::nix::plan::{Layout, WiringInputs};
use builderbar::paths::Paths;
use builderbar::settings::SettingsStore;

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
    let settings = SettingsStore::open(&paths)?.load()?.settings;
    let sysroot = match args.sysroot {
        Some(dir) => std::path::absolute(dir)?,
        None => PathBuf::from("/"),
    };
    let layout = Layout::new(sysroot);
    let inputs = builderbar::nix::builder_host_key()
        .and_then(|key| WiringInputs::from_settings(&settings, &key));
    let checks = doctor::run(&layout, inputs.as_ref().ok());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        if let Err(e) = &inputs {
            println!("note: {e}");
        }
        for c in &checks {
            let mark = match c.status {
                Status::Pass => "ok  ",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            println!("{mark} {:<12} {}", c.name, c.detail);
            if let Some(fix) = &c.fix {
                println!("     fix: {fix}");
            }
        }
    }
    if !doctor::all_passed(&checks) {
        bail!("some checks failed");
    }
    Ok(())
}
