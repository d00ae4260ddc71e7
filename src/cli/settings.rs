//! `builderbar settings show|set`.

use anyhow::{Result, anyhow};
use builderbar::actions;
use builderbar::paths::Paths;
use builderbar::settings::model::human_mib;
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
    #[command(
        after_help = "KEYS: port, disk, memory, cores, max-jobs, systems, ephemeral, \
        start-at-login, notify-vm-failures, notify-build-failures, notify-build-successes, \
        disk-low-threshold\n\nSizes take a unit: 8GiB, 8G, 8192M. Switches take on or off."
    )]
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
        if !nothing {
            println!("- {step}");
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

fn on(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn print_settings(s: &Settings, paths: &Paths) {
    let n = &s.notifications;
    println!("port                    {}", s.ssh_port);
    println!("disk                    {}", human_mib(s.disk_mib));
    println!("memory                  {}", human_mib(s.memory_mib));
    println!("cores                   {}", s.cores);
    println!("max-jobs                {}", s.max_jobs);
    println!("systems                 {}", s.systems.join(","));
    println!("ephemeral               {}", on(s.ephemeral));
    println!("start-at-login          {}", on(s.start_at_login));
    println!("notify-vm-failures      {}", on(n.vm_failures));
    println!("notify-build-failures   {}", on(n.build_failures));
    println!("notify-build-successes  {}", on(n.build_successes));
    println!("disk-low-threshold      {}%", n.disk_low_percent);
    println!("authorized keys         {}", s.authorized_keys.len());
    println!(
        "file                    {}",
        paths.settings_file().display()
    );
}
