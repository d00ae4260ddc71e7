//! `builderbar settings show|set`.

use anyhow::{Result, anyhow};
use builderbar::actions;
use builderbar::hint::Hint;
use builderbar::paths::Paths;
use builderbar::settings::{Settings, SettingsError, SettingsStore, parse};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show the settings (and anything wrong with them)
    Show {
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Change one setting, as the settings window's Apply does: checked
    /// first (nothing changes if it is refused), the plan shown, then saved,
    /// Nix's configuration rewritten and the builder restarted where needed
    #[command(after_help = builderbar::settings::table::help())]
    Set {
        /// The setting, e.g. port, memory, max-jobs
        key: String,
        /// Its new value, e.g. 31023, 8GiB, 4, on
        value: String,
        /// Show what would change, restart and ask for a password; change nothing
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run(command: Command) -> Result<()> {
    let paths = Paths::from_env()?;
    let store = SettingsStore::open(&paths).map_err(explain)?;
    match command {
        Command::Show { json } => {
            let loaded = store.load().map_err(explain)?;
            for warning in &loaded.warnings {
                tracing::warn!("{warning}");
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&loaded.settings)?);
            } else {
                print_settings(&loaded.settings, &paths);
            }
        }
        Command::Set {
            key,
            value,
            dry_run,
        } => set(&paths, &key, &value, dry_run)?,
    }
    Ok(())
}

/// Shows the plan, then applies it through the same core call as the
/// settings window.
fn set(paths: &Paths, key: &str, value: &str, dry_run: bool) -> Result<()> {
    let change = |s: &mut Settings| parse::set_field(s, key, value);
    let plan = actions::settings_plan(paths, change).map_err(explain)?;
    if !plan.problems.is_empty() {
        return Err(explain(SettingsError::Refused(plan.problems)));
    }
    if dry_run {
        print!("{}", plan.describe());
        println!("(a dry run: nothing was changed)");
        return Ok(());
    }
    let nothing = plan.changes.is_empty();
    if nothing {
        println!("{key} is already {value}: nothing to change.");
    } else {
        print!("{}", plan.describe());
    }
    // Also when nothing changes: the settings file is then written if it
    // is missing or from an older version, as the window's Apply does.
    let applied = actions::apply_settings(paths, change, |step| {
        if !nothing && step != actions::ApplyStep::Done {
            println!("- {}", step.words());
        }
    })
    .map_err(|err| match err {
        actions::ApplyError::Settings(err) => explain(err),
        other => anyhow!("{other}"),
    })?;
    println!(
        "saved{}; the settings are now:",
        if applied.restarted {
            ", and the builder restarted"
        } else {
            ""
        }
    );
    let settings = SettingsStore::open(paths)
        .and_then(|s| s.load())
        .map_err(explain)?;
    print_settings(&settings.settings, paths);
    Ok(())
}

/// One line saying what went wrong, one with the hint.
pub fn explain(err: SettingsError) -> anyhow::Error {
    match err.hint() {
        Some(hint) => anyhow!("{err}\n  hint: {hint}"),
        None => anyhow!("{err}"),
    }
}

/// Each setting of the table, by its key, as `settings set` takes it.
fn print_settings(s: &Settings, paths: &Paths) {
    for setting in builderbar::settings::table::SETTINGS {
        println!("{:<24}{}", setting.key, (setting.show)(s));
    }
    println!("{:<24}{}", "authorized keys", s.authorized_keys.len());
    println!("{:<24}{}", "file", paths.settings_file().display());
}
