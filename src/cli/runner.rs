//! `builderbar runner list [--json]`, `runner build [--nixpkgs PIN]`,
//! `runner switch GEN` and `runner rollback`: the builder's runner
//! generations.

use std::time::Duration;

use anyhow::Result;
use builderbar::generations::progress::Narrator;
use builderbar::generations::successor::SuccessorRequest;
use builderbar::generations::switch::{SwitchOptions, Switched};
use builderbar::generations::update::{ModuleChange, UpdateRequest};
use builderbar::generations::{Generation, GenerationState};
use builderbar::nix::expr::Pin;
use builderbar::paths::Paths;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the builder's runner generations: the current one, the one kept
    /// to go back to, and any that failed
    List {
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Have the running builder build its successor from the settings (or
    /// another nixpkgs), kept as a generation not tried yet; the build's
    /// lines are shown as they come
    Build {
        /// The nixpkgs to build from: a branch or tag, a commit, or an
        /// https tarball URL (the settings' when not given)
        #[arg(long, value_name = "PIN")]
        nixpkgs: Option<String>,
        /// Seconds the build may take
        #[arg(long, default_value_t = 3 * 3600)]
        timeout: u64,
    },
    /// Update the builder: the newest cached nixpkgs of the settings'
    /// channel (or the one given) is built by the running builder, switched
    /// to and proved by a test build; any failure leaves the old generation
    /// serving
    Update {
        /// The nixpkgs to update to (a branch or tag, a commit, or an https
        /// tarball URL); the network is not asked for the newest one
        #[arg(long, value_name = "PIN")]
        nixpkgs: Option<String>,
        /// Seconds the new generation may take to become Ready
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// The builder's own NixOS module (a configuration file imported after
    /// BuilderBar's): checked, kept as a copy, and applied like an update
    #[command(subcommand)]
    Module(ModuleCommand),
    /// Switch the builder to a kept generation: stop it, start that
    /// generation's runner and wait until it is Ready; if it never is, go
    /// back to the generation it replaced
    Switch {
        /// The generation's number, as `builderbar runner list` shows it
        generation: u32,
        /// Seconds the generation may take to become Ready
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Switch the builder back to the previous generation, the one the
    /// current one replaced, the same way
    Rollback {
        /// Seconds the generation may take to become Ready
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum ModuleCommand {
    /// Check FILE with Nix, keep a copy of it (later edits to FILE change
    /// nothing until it is set again), and apply it
    Set {
        file: std::path::PathBuf,
        /// Seconds the new generation may take to become Ready
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Forget the module and apply the builder without it
    Clear {
        /// Seconds the new generation may take to become Ready
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Say which module is kept, if any
    Show,
}

pub fn run(command: Command) -> Result<()> {
    match command {
        Command::List { json } => {
            let paths = Paths::from_env()?;
            let generations = builderbar::actions::runner_generations(&paths)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&generations)?);
            } else {
                print!("{}", table(&generations));
            }
        }
        Command::Build { nixpkgs, timeout } => {
            let paths = Paths::from_env()?;
            let request = SuccessorRequest {
                nixpkgs: nixpkgs.as_deref().map(Pin::parse).transpose()?,
                timeout: Duration::from_secs(timeout),
            };
            let mut narrator = Narrator::default();
            let built =
                builderbar::actions::runner_build_successor(&paths, &request, &mut |event| {
                    tell(narrator.build(&event))
                })?;
            let number = built.generation.number;
            if built.new {
                println!(
                    "Built generation {number} ({}) in {} s; `builderbar runner switch {number}` starts it.",
                    built.generation.built_from,
                    built.took.as_secs()
                );
            } else {
                println!(
                    "Generation {number} is already this runner ({}); nothing new was kept.",
                    built.generation.built_from
                );
            }
        }
        Command::Update { nixpkgs, timeout } => {
            let paths = Paths::from_env()?;
            let request = UpdateRequest {
                nixpkgs: nixpkgs.as_deref().map(Pin::parse).transpose()?,
                build_timeout: None,
                switch: options(timeout),
            };
            let mut narrator = Narrator::default();
            let updated = builderbar::actions::runner_update(&paths, &request, &mut |event| {
                tell(narrator.update(&event))
            })?;
            match &updated.switched {
                None => println!(
                    "The builder already runs {} (generation {}).",
                    updated.pin.url(),
                    updated.generation.number
                ),
                Some(switched) => {
                    report(switched);
                    if let Some(test) = &updated.test_build {
                        println!(
                            "The test build passed on generation {} ({:.1} s).",
                            updated.generation.number,
                            test.elapsed.as_secs_f64()
                        );
                    }
                }
            }
        }
        Command::Module(command) => module(command)?,
        Command::Switch {
            generation,
            timeout,
        } => {
            let paths = Paths::from_env()?;
            let mut narrator = Narrator::default();
            let switched = builderbar::actions::runner_switch(
                &paths,
                generation,
                &options(timeout),
                &mut |event| tell(narrator.switch(&event)),
            )?;
            report(&switched);
        }
        Command::Rollback { timeout } => {
            let paths = Paths::from_env()?;
            let mut narrator = Narrator::default();
            let switched =
                builderbar::actions::runner_roll_back(&paths, &options(timeout), &mut |event| {
                    tell(narrator.switch(&event))
                })?;
            report(&switched);
        }
    }
    Ok(())
}

fn options(timeout_secs: u64) -> SwitchOptions {
    SwitchOptions {
        ready_timeout: Duration::from_secs(timeout_secs),
    }
}

fn report(switched: &Switched) {
    println!(
        "The builder runs generation {} ({}), Ready after {} s.",
        switched.generation.number,
        switched.generation.built_from,
        switched.ready_after.as_secs()
    );
    match &switched.store_check {
        Some(checked) => {
            println!(
                "Nix's database on the builder: {} registration(s) of paths that are gone removed.",
                checked.removed
            );
            for line in &checked.complaints {
                println!("  {line}");
            }
        }
        None => println!(
            "Nix's database on the builder could not be checked; `builderbar logs` says why."
        ),
    }
}

/// `runner module show | set FILE | clear`.
fn module(command: ModuleCommand) -> Result<()> {
    let paths = Paths::from_env()?;
    let (change, timeout) = match command {
        ModuleCommand::Show => {
            match builderbar::nix::module::current(&paths) {
                Some(module) => println!(
                    "{} (sha256 {}), imported after BuilderBar's own module.",
                    module.path.display(),
                    module.sha256
                ),
                None => println!("No builder configuration file is set."),
            }
            return Ok(());
        }
        ModuleCommand::Set { file, timeout } => (ModuleChange::Set(file), timeout),
        ModuleCommand::Clear { timeout } => (ModuleChange::Clear, timeout),
    };
    let mut narrator = Narrator::default();
    let updated = builderbar::actions::runner_module_change(
        &paths,
        &change,
        &options(timeout),
        &mut |event| tell(narrator.update(&event)),
    )?;
    match &updated.switched {
        None => println!(
            "The builder already runs this configuration (generation {}).",
            updated.generation.number
        ),
        Some(switched) => report(switched),
    }
    Ok(())
}

/// Prints the narrator's lines on stderr.
fn tell(lines: Vec<String>) {
    for line in lines {
        eprintln!("{line}");
    }
}

fn table(generations: &[Generation]) -> String {
    if generations.is_empty() {
        return "No generation yet: the builder's first start makes generation 1.\n".into();
    }
    let mut out = String::new();
    for generation in generations.iter().rev() {
        let (word, why) = match &generation.state {
            GenerationState::Current => ("current", String::new()),
            GenerationState::Previous => ("previous", String::new()),
            GenerationState::Built => (
                "built",
                format!(
                    "\n      not tried yet: `builderbar runner switch {}` starts it",
                    generation.number
                ),
            ),
            GenerationState::Failed { reason, last_log } => (
                "failed",
                std::iter::once(format!("\n      why: {reason}"))
                    .chain(last_log.iter().map(|line| format!("\n      | {line}")))
                    .collect(),
            ),
        };
        let made = generation.made_at_text();
        out.push_str(&format!(
            "{:>4}  {word:<8}  {made}  {}{why}\n",
            generation.number, generation.built_from
        ));
    }
    out
}
