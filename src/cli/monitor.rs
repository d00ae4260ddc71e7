//! `builderbar monitor`: the health monitor, the build watcher and the
//! notifications in the foreground (for Linux users and tests; the app
//! embeds the same core). Also the shared setup of `status --watch`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use builderbar::builds;
use builderbar::health::{self, Health, MonitorConfig, Observation, StoreCheck};
use builderbar::notify::{Action, DesktopNotifier};
use builderbar::paths::Paths;
use builderbar::settings::{Settings, SettingsStore};

#[derive(Debug, Clone, clap::Args)]
pub struct ProbeArgs {
    /// The client key (OpenSSH private key file); default: the builder key
    /// from the keychain.
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
    /// The builder's pinned host key: an OpenSSH public key line or a file
    /// holding one; default on Linux: the dev VM's.
    #[arg(long, value_name = "KEY|FILE")]
    host_key: Option<String>,
    /// The user to log in as.
    #[arg(long, default_value = "builder")]
    user: String,
    /// How to check the store: `nix` (`nix-store --version` in the guest)
    /// or `dir` (`/nix/store` is a writable folder: the dev VM, which has no
    /// Nix); default: `dir` for the dev VM, else `nix`.
    #[arg(long, value_name = "nix|dir")]
    store_check: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    probe: ProbeArgs,
    /// Print JSON lines for scripts.
    #[arg(long)]
    json: bool,
    /// Do not watch the host's Nix build logs.
    #[arg(long)]
    no_builds: bool,
}

fn load_settings(paths: &Paths) -> Result<Settings> {
    Ok(SettingsStore::open(paths)?.load()?.settings)
}

/// The monitor's configuration from the settings and the flags.
pub fn monitor_config(
    paths: &Paths,
    settings: &Settings,
    args: &ProbeArgs,
) -> Result<MonitorConfig> {
    let host_key = match &args.host_key {
        Some(text) if std::path::Path::new(text).is_file() => Some(std::fs::read_to_string(text)?),
        other => other.clone(),
    };
    let store_check = match args.store_check.as_deref() {
        Some("nix") => Some(StoreCheck::NixStore),
        Some("dir") => Some(StoreCheck::StoreDirWritable),
        Some(other) => bail!("--store-check takes `nix` or `dir`, not {other:?}"),
        None => None,
    };
    let choices = health::ProbeChoices {
        identity: args.identity.clone(),
        host_key,
        user: Some(args.user.clone()),
        store_check,
    };
    Ok(health::monitor_config(paths, settings, &choices)?)
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// One line per state: a timestamp and the state, or JSON.
pub fn print_health(health: &Health, json: bool) -> Result<()> {
    print_state(health, None, json)
}

/// A state change as a line: with the view's summary when there is one
/// (`status --watch`), else the monitor's own words (`monitor`).
fn print_state(health: &Health, summary: Option<&str>, json: bool) -> Result<()> {
    let at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    if json {
        let mut value = serde_json::to_value(health)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("event".into(), "state".into());
            map.insert("at".into(), at.into());
            if let Some(summary) = summary {
                map.insert("summary".into(), summary.into());
            }
        }
        writeln!(out, "{value}")?;
    } else if let Some(summary) = summary {
        writeln!(out, "{at}  {summary}")?;
    } else {
        let disk = health
            .disk_used_percent
            .map(|d| format!(" — disk {d}% used"))
            .unwrap_or_default();
        writeln!(out, "{at}  {}{disk}", health.state.describe())?;
    }
    out.flush()?;
    Ok(())
}

fn print_action(action: &Action, json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let line = match (action, json) {
        (
            Action::Show {
                kind, id, title, ..
            },
            true,
        ) => serde_json::json!({
            "event": "notification", "action": "show", "kind": kind.word(), "id": id, "title": title
        })
        .to_string(),
        (Action::Withdraw { kind, id }, true) => serde_json::json!({
            "event": "notification", "action": "withdraw", "kind": kind.word(), "id": id
        })
        .to_string(),
        (Action::Show { title, .. }, false) => format!("notification: {title}"),
        (Action::Withdraw { kind, .. }, false) => {
            format!("notification withdrawn: {}", kind.word())
        }
    };
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

pub fn run(args: Args) -> Result<()> {
    let paths = Paths::from_env()?;
    let settings = load_settings(&paths)?;
    let config = monitor_config(&paths, &settings, &args.probe)?;
    let notifier = builderbar::notify::backend::spawn_thread(DesktopNotifier::new);
    let json = args.json;
    let mut failed = None;
    runtime()?.block_on(health::observe(
        config,
        &settings,
        !args.no_builds,
        notifier,
        |seen| {
            let printed = match &seen {
                Observation::Health(health) => print_health(health, json),
                Observation::Notification(action) => print_action(action, json),
                Observation::Build(report) if json => {
                    println!(
                        "{}",
                        serde_json::json!({
                            "event": "build", "name": report.name,
                            "failed": matches!(report.outcome, builds::BuildOutcome::Failed { .. }),
                            "log": report.log_path,
                        })
                    );
                    Ok(())
                }
                Observation::Build(_) => Ok(()),
            };
            if let Err(err) = printed {
                failed.get_or_insert(err);
            }
        },
    ))?;
    failed.map_or(Ok(()), Err)
}

/// `status --watch`: every state change until Ctrl-C.
pub fn watch(args: &ProbeArgs, json: bool) -> Result<()> {
    let paths = Paths::from_env()?;
    let settings = load_settings(&paths)?;
    let config = monitor_config(&paths, &settings, args)?;
    runtime()?.block_on(async move {
        let mut states = health::spawn(config)?;
        loop {
            let health = states.borrow_and_update().clone();
            // The one state the core decides, from this monitor's word.
            let summary = builderbar::actions::status_view(&paths, Some(&health))
                .map(|view| view.builder.summary)
                .ok();
            print_state(&health, summary.as_deref(), json)?;
            states
                .changed()
                .await
                .context("the health monitor stopped")?;
        }
    })
}
