//! `builderbar keys show|add|list|remove|rotate`.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use builderbar::hint::Hint;
use builderbar::keys::{Keys, KeysError};
use builderbar::paths::Paths;
use builderbar::settings::SettingsStore;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show the builder's public key and fingerprint (made on first use)
    Show {
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Allow public keys into the builder, from a .pub file or `-` for stdin
    Add {
        /// A file of OpenSSH public key lines, or `-`
        file: PathBuf,
    },
    /// List the authorized keys
    List {
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Remove an authorized key by its fingerprint (SHA256:…)
    Remove {
        /// The fingerprint, as `keys list` shows it
        fingerprint: String,
    },
    /// Make a new builder key and retire the old one
    Rotate,
}

pub fn run(command: Command) -> Result<()> {
    let paths = Paths::from_env()?;
    let store = SettingsStore::open(&paths).map_err(|e| explain(e.into()))?;
    let keys = Keys::with_platform_keychain(store);
    match command {
        Command::Show { json } => {
            let key = keys.builder_public().map_err(explain)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&key)?);
            } else {
                println!("{}", key.openssh);
                println!("fingerprint: {}", key.fingerprint);
            }
        }
        Command::Add { file } => {
            for key in keys.add_authorized_from(&file).map_err(explain)? {
                println!(
                    "added {} {} {}",
                    key.algorithm, key.fingerprint, key.comment
                );
            }
        }
        Command::List { json } => {
            let list = keys.list_authorized().map_err(explain)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("no authorized keys (add one with `builderbar keys add FILE`)");
            } else {
                for key in list {
                    println!("{} {} {}", key.algorithm, key.fingerprint, key.comment);
                }
            }
        }
        Command::Remove { fingerprint } => {
            let key = keys.remove_authorized(&fingerprint).map_err(explain)?;
            println!(
                "removed {} {} {}",
                key.algorithm, key.fingerprint, key.comment
            );
        }
        Command::Rotate => {
            let rotation = keys.rotate().map_err(explain)?;
            if let Some(old) = rotation.old {
                println!("retired {}", old.fingerprint);
            }
            println!("new builder key {}", rotation.new.fingerprint);
            println!("{}", rotation.new.openssh);
        }
    }
    Ok(())
}

fn explain(err: KeysError) -> anyhow::Error {
    match err.hint() {
        Some(hint) => anyhow!("{err}\n  hint: {hint}"),
        None => anyhow!("{err}"),
    }
}
