//! `builderbar runner list [--json]`: the builder's runner generations.

use anyhow::Result;
use builderbar::generations::{Generation, GenerationState};
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
    }
    Ok(())
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
            GenerationState::Failed { reason } => ("failed", format!("\n      why: {reason}")),
        };
        let made = generation
            .made_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        out.push_str(&format!(
            "{:>4}  {word:<8}  {made}  {}{why}\n",
            generation.number, generation.built_from
        ));
    }
    out
}
