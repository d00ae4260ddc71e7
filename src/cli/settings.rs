//! `builderbar settings show|set`.

use anyhow::{Result, anyhow};
use builderbar::paths::Paths;
use builderbar::settings::model::human_mib;
use builderbar::settings::{Settings, SettingsError, SettingsStore};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show the settings (and anything wrong with them)
    Show {
        /// Print JSON for scripts
        #[arg(long)]
        json: bool,
    },
    /// Change one setting; it is checked first and nothing changes if it is refused
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
        Command::Set { key, value } => {
            let s = store.set(&key, &value).map_err(explain)?;
            println!("saved; the settings are now:");
            print_settings(&s, &paths);
        }
    }
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
