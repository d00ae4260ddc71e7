//! `builderbar monitor`: the health monitor, the build watcher and the
//! notifications in the foreground (for Linux users and tests; the app
//! embeds the same core). Also the shared setup of `status --watch`.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use builderbar::health::{self, Health, MonitorConfig, ProbeConfig, StoreCheck};
use builderbar::keys::{KeyringStore, SecretStore};
use builderbar::notify::{Action, DesktopNotifier, Event, Policy};
use builderbar::paths::Paths;
use builderbar::settings::{Settings, SettingsStore};
use builderbar::{builds, vm};
use tokio::sync::watch;

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
    let runner = vm::config::runner_source(paths);
    let dev_vm = runner == vm::RunnerSource::DevVm;
    let private = match &args.identity {
        Some(path) => zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the key {}", path.display()))?,
        ),
        None => KeyringStore::platform()
            .get(&paths.keychain_account())?
            .context("there is no builder key yet; run `builderbar keys show` to make one")?,
    };
    let host_key = match &args.host_key {
        Some(text) if std::path::Path::new(text).is_file() => std::fs::read_to_string(text)?,
        Some(text) => text.clone(),
        None if dev_vm => devvm::ensure_built(&devvm::default_cache_dir())?.host_key,
        None => bail!("pass the builder's pinned host key with --host-key"),
    };
    let store_check = match args.store_check.as_deref() {
        Some("nix") => StoreCheck::NixStore,
        Some("dir") => StoreCheck::StoreDirWritable,
        Some(other) => bail!("--store-check takes `nix` or `dir`, not {other:?}"),
        None if dev_vm => StoreCheck::StoreDirWritable,
        None => StoreCheck::NixStore,
    };
    let probe = ProbeConfig::from_text(
        settings.ssh_port,
        &args.user,
        &private,
        &host_key,
        store_check,
    )?;
    Ok(MonitorConfig {
        paths: paths.clone(),
        probe,
        boot_timeout: Duration::from_secs(180),
        intervals: health::Intervals::default(),
    })
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// One line per state: a timestamp and the state, or JSON.
pub fn print_health(health: &Health, json: bool) -> Result<()> {
    let at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut out = std::io::stdout().lock();
    if json {
        let mut value = serde_json::to_value(health)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("event".into(), "state".into());
            map.insert("at".into(), at.into());
        }
        writeln!(out, "{value}")?;
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
    let mut policy = Policy::new(settings.notifications.clone());
    runtime()?.block_on(async move {
        let mut states: watch::Receiver<Health> = health::spawn(config)?;
        let mut builds = (!args.no_builds)
            .then(|| builds::spawn(builds::WatchConfig::for_host(settings.systems.clone())));
        let mut handle = |event: Event| -> Result<()> {
            for action in policy.on_event(&event, Instant::now()) {
                print_action(&action, args.json)?;
                notifier
                    .send(action)
                    .context("the notification thread stopped")?;
            }
            Ok(())
        };
        let first = states.borrow_and_update().clone();
        print_health(&first, args.json)?;
        handle(Event::Health(first))?;
        loop {
            tokio::select! {
                changed = states.changed() => {
                    changed.context("the health monitor stopped")?;
                    let health = states.borrow_and_update().clone();
                    print_health(&health, args.json)?;
                    handle(Event::Health(health))?;
                }
                report = async {
                    match builds.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    let Some(report) = report else {
                        builds = None;
                        continue;
                    };
                    if args.json {
                        println!("{}", serde_json::json!({
                            "event": "build", "name": report.name,
                            "failed": matches!(report.outcome, builds::BuildOutcome::Failed { .. }),
                            "log": report.log_path,
                        }));
                    }
                    handle(Event::Build(report))?;
                }
            }
        }
    })
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
            print_health(&health, json)?;
            states
                .changed()
                .await
                .context("the health monitor stopped")?;
        }
    })
}
