//! `builderbar doctor [--json] [--sysroot DIR] [--build]`: every part of the
//! Nix wiring checked, each with its fix; with `--build`, then the test
//! build through the host's Nix.

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
    /// Then build a tiny derivation that only the builder can build, through
    /// the host's Nix (proves the whole chain)
    #[arg(long)]
    build: bool,
}

pub fn run(args: Args) -> Result<()> {
    let paths = Paths::from_env()?;
    let sysroot = match &args.sysroot {
        Some(dir) => std::path::absolute(dir)?,
        None => PathBuf::from("/"),
    };
    let (checks, note) = doctor::report(&paths, &sysroot)?;
    let build = args
        .build
        .then(|| builderbar::actions::test_build(&paths, args.sysroot.as_deref()));
    if args.json {
        let mut out = serde_json::json!({ "checks": checks });
        if !args.build {
            out = out["checks"].take();
        } else if let Some(result) = &build {
            out["test_build"] = match result {
                Ok(report) => serde_json::json!({
                    "status": "pass",
                    "output": report.output,
                    "system": report.system,
                    "seconds": report.elapsed.as_secs_f64(),
                    "built_on": report.built_on,
                    "log_tail": report.log_tail,
                }),
                Err(err) => serde_json::json!({ "status": "fail", "error": err.to_string() }),
            };
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", doctor::to_text(&checks, note.as_deref()));
        match &build {
            None => {}
            Some(Ok(report)) => {
                println!(
                    "ok   {:<16} {} built on the builder in {:.1} s: {}",
                    "test-build",
                    report.system,
                    report.elapsed.as_secs_f64(),
                    report.output.display()
                );
                for line in &report.built_on {
                    println!("     {line}");
                }
            }
            Some(Err(err)) => {
                println!("FAIL {:<16} {err}", "test-build");
                let lines = match err {
                    builderbar::nix::test_build::TestBuildError::NoMachine { cause } => cause,
                    builderbar::nix::test_build::TestBuildError::BuildFailed { log_tail } => {
                        log_tail
                    }
                    _ => &Vec::new(),
                };
                for line in lines {
                    println!("     | {line}");
                }
            }
        }
    }
    if let Some(Err(_)) = build {
        bail!("the test build failed");
    }
    if !doctor::all_passed(&checks) {
        bail!("some checks failed");
    }
    Ok(())
}
