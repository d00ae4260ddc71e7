//! `builderbar setup [--yes] [--json] [--sysroot DIR] [--ready-timeout SECS]`:
//! the check, the one-screen plan, a question, then the run with its
//! progress, ending on what to try — or on what went wrong and the fix.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use builderbar::actions;
use builderbar::paths::Paths;
use builderbar::setup::{self, Event, SetupOptions, StepId};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Go ahead without asking
    #[arg(long, short = 'y')]
    yes: bool,
    /// Print one JSON object per line (the check and plan, each event, the
    /// outcome) for scripts; implies --yes
    #[arg(long)]
    json: bool,
    /// Make every system path relative to DIR (Linux development; also
    /// BUILDERBAR_SYSROOT). The service is still installed and started.
    #[arg(long, value_name = "DIR")]
    sysroot: Option<PathBuf>,
    /// How long to wait for the builder to become Ready, in seconds
    #[arg(long, value_name = "SECS", default_value_t = setup::DEFAULT_READY_TIMEOUT.as_secs())]
    ready_timeout: u64,
}

pub fn run(args: Args) -> Result<()> {
    let paths = Paths::from_env()?;
    let sysroot = args.sysroot.or_else(setup::sysroot_from_env);
    let (found, plan) = actions::setup_check(&paths, sysroot.as_deref())?;
    if args.json {
        json_line(&serde_json::json!({ "event": "check", "check": found, "plan": plan }));
    } else {
        println!("What is there:");
        print!("{}", found.to_text());
        println!();
        if found.blocker().is_none() {
            print!("{}", plan.to_text());
            println!();
        }
    }
    if found.blocker().is_none() && !args.yes && !args.json && !confirm()? {
        println!("Nothing was changed.");
        return Ok(());
    }
    let options = SetupOptions {
        sysroot,
        ready_timeout: Duration::from_secs(args.ready_timeout),
    };
    let json = args.json;
    let mut show = |event: Event| {
        if json {
            json_line(&event);
        } else {
            print_event(&event);
        }
    };
    match actions::setup_run(&paths, &options, &mut show) {
        Ok(done) => {
            if json {
                json_line(&serde_json::json!({ "event": "done", "done": done }));
            } else {
                println!("\n{}.", done.headline);
                println!("Try it:\n    {}", done.try_command);
            }
            Ok(())
        }
        Err(failure) => {
            if json {
                json_line(&serde_json::json!({ "event": "failed", "failure": failure }));
            } else {
                eprintln!();
                eprint!("{}", failure.describe());
            }
            bail!("setup did not finish: {}", failure.message)
        }
    }
}

fn confirm() -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("setup asks before it changes anything: run it in a terminal, or pass --yes");
    }
    print!("Continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

fn json_line(value: &impl serde::Serialize) {
    if let Ok(line) = serde_json::to_string(value) {
        println!("{line}");
    }
}

/// A progress line rewritten with `\r` is open on stderr.
static OPEN_LINE: AtomicBool = AtomicBool::new(false);

fn print_event(event: &Event) {
    match event {
        Event::StepStarted { step } => {
            let n = StepId::ALL.iter().position(|s| s == step).unwrap_or(0) + 1;
            println!("[{n}/{}] {}…", StepId::ALL.len(), step.title());
        }
        Event::StepDone {
            detail, skipped, ..
        } => {
            // Ends the line the download or the wait kept rewriting.
            if OPEN_LINE.swap(false, Ordering::Relaxed) {
                eprintln!();
            }
            let mark = if *skipped { "already done" } else { "done" };
            println!("      {mark}: {detail}");
        }
        Event::Download { done, total } => {
            eprint!(
                "\r      downloading: {} of {} MiB   ",
                done >> 20,
                total >> 20
            );
            let _ = std::io::stderr().flush();
            OPEN_LINE.store(true, Ordering::Relaxed);
        }
        Event::Waiting {
            state,
            elapsed_secs,
            timeout_secs,
        } => {
            eprint!("\r      {state} ({elapsed_secs} s, at most {timeout_secs} s)      ");
            let _ = std::io::stderr().flush();
            OPEN_LINE.store(true, Ordering::Relaxed);
        }
        Event::RollingBack { what } => println!("      undoing: {what}"),
    }
}
