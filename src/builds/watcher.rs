//! The build watcher. Since Nix 2.7 (NixOS/nix#6029) a build done on an
//! ssh-ng remote builder streams its log into the host's own
//! `<log dir>/drvs/`, so the host sees every build the builder runs for it.
//!
//! The signal: a log file appears (inotify / FSEvents through `notify`);
//! the build is over when Nix *closes* the log, which for the default
//! bzip2 logs is visible as a complete bzip2 stream (Nix writes the end
//! marker only when the build goal finishes) — sharper than "the log stopped
//! growing", which a quiet build also does. Only derivations whose `system`
//! the builder serves are kept (the `.drv` is in the host store). Then the
//! outputs decide: for a remote build, `build-remote` copies the outputs
//! back before it exits, so a success is already valid in the host store
//! when the log closes; outputs still invalid after a short grace mean the
//! build failed, and the log's last lines say why.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ::notify::Watcher;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::drv;
use super::logs::{self, drv_base_name, drv_name, last_lines};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildOutcome {
    Succeeded,
    Failed { last_lines: Vec<String> },
}

/// One finished build on the builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildReport {
    /// The derivation's name (`hello-2.12`).
    pub name: String,
    pub drv_path: PathBuf,
    pub system: String,
    pub log_path: PathBuf,
    pub outcome: BuildOutcome,
}

#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Nix's log folder (the one holding `drvs/`).
    pub log_dir: PathBuf,
    /// Nix's store folder, where the `.drv` files are.
    pub store_dir: PathBuf,
    /// The systems the builder builds for (settings `systems`).
    pub systems: Vec<String>,
    /// An uncompressed log counts as closed after this long unchanged.
    pub settle: Duration,
    /// How long outputs may take to become valid after the log closed.
    pub grace: Duration,
}

impl WatchConfig {
    /// Nix's own folders (from `NIX_LOG_DIR`/`NIX_STORE_DIR` when set).
    pub fn for_host(systems: Vec<String>) -> WatchConfig {
        WatchConfig {
            log_dir: logs::log_dir(),
            store_dir: logs::store_dir(),
            systems,
            settle: Duration::from_secs(2),
            grace: Duration::from_secs(5),
        }
    }
}

struct Pending {
    last_change: Instant,
    closed: Option<(Instant, String)>,
}

/// Starts the watcher on the current tokio runtime; reports come out of the
/// returned channel. It waits for `<log dir>/drvs` to exist if it does not.
pub fn spawn(config: WatchConfig) -> mpsc::UnboundedReceiver<BuildReport> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move { run(config, tx).await });
    rx
}

async fn run(config: WatchConfig, tx: mpsc::UnboundedSender<BuildReport>) {
    let drvs = config.log_dir.join("drvs");
    let (events_tx, mut events) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher =
        match ::notify::recommended_watcher(move |event: ::notify::Result<::notify::Event>| {
            if let Ok(event) = event
                && !matches!(
                    event.kind,
                    ::notify::EventKind::Access(_) | ::notify::EventKind::Remove(_)
                )
            {
                for path in event.paths {
                    let _ = events_tx.send(path);
                }
            }
        }) {
            Ok(w) => w,
            Err(err) => {
                tracing::warn!("the build watcher cannot watch files: {err}");
                return;
            }
        };
    // Nix creates `drvs` with its first log; until then, look every 5 s.
    loop {
        if drvs.is_dir()
            && watcher
                .watch(&drvs, ::notify::RecursiveMode::Recursive)
                .is_ok()
        {
            break;
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    tracing::debug!(dir = %drvs.display(), "watching build logs");
    let mut pending: HashMap<PathBuf, Pending> = HashMap::new();
    let tick = Duration::from_millis(250);
    loop {
        let wait = if pending.is_empty() {
            Duration::from_secs(3600)
        } else {
            tick
        };
        tokio::select! {
            _ = tx.closed() => return,
            got = events.recv() => {
                let Some(path) = got else { return };
                note(&mut pending, path);
                while let Ok(path) = events.try_recv() {
                    note(&mut pending, path);
                }
            }
            _ = tokio::time::sleep(wait) => {}
        }
        let now = Instant::now();
        let mut done = Vec::new();
        for (path, entry) in pending.iter_mut() {
            match decide(&config, path, entry, now).await {
                Decision::Wait => {}
                Decision::Drop => done.push(path.clone()),
                Decision::Report(report) => {
                    done.push(path.clone());
                    let _ = tx.send(report);
                }
            }
        }
        for path in done {
            pending.remove(&path);
        }
    }
}

fn note(pending: &mut HashMap<PathBuf, Pending>, path: PathBuf) {
    if drv_base_name(&path).is_none() {
        return;
    }
    pending.insert(
        path,
        Pending {
            last_change: Instant::now(),
            closed: None,
        },
    );
}

enum Decision {
    Wait,
    Drop,
    Report(BuildReport),
}

async fn decide(config: &WatchConfig, path: &Path, entry: &mut Pending, now: Instant) -> Decision {
    let Some(base) = drv_base_name(path) else {
        return Decision::Drop;
    };
    if entry.closed.is_none() {
        let compressed = path.extension().is_some_and(|e| e == "bz2");
        let quiet = now.saturating_duration_since(entry.last_change);
        if quiet < Duration::from_millis(200) || (!compressed && quiet < config.settle) {
            return Decision::Wait;
        }
        match logs::read_log(path) {
            Ok(Some(text)) => entry.closed = Some((now, text)),
            Ok(None) => return Decision::Wait,
            Err(_) => return Decision::Drop,
        }
    }
    let Some((closed_at, text)) = &entry.closed else {
        return Decision::Wait;
    };
    let drv_path = config.store_dir.join(&base);
    let Ok(drv_text) = std::fs::read_to_string(&drv_path) else {
        tracing::debug!(drv = %drv_path.display(), "a build log without its derivation");
        return Decision::Drop;
    };
    let Ok(derivation) = drv::parse(&drv_text) else {
        return Decision::Drop;
    };
    if !config.systems.contains(&derivation.system) {
        return Decision::Drop;
    }
    let report = |outcome| BuildReport {
        name: drv_name(&base).to_owned(),
        drv_path: drv_path.clone(),
        system: derivation.system.clone(),
        log_path: path.to_path_buf(),
        outcome,
    };
    let outputs: Vec<&str> = derivation
        .outputs
        .iter()
        .map(|(_, p)| p.as_str())
        .filter(|p| !p.is_empty())
        .collect();
    if outputs_valid(&outputs).await {
        return Decision::Report(report(BuildOutcome::Succeeded));
    }
    if now.saturating_duration_since(*closed_at) >= config.grace {
        return Decision::Report(report(BuildOutcome::Failed {
            last_lines: last_lines(text, 10),
        }));
    }
    Decision::Wait
}

/// `nix-store --check-validity` on the outputs (the host's Nix, with the
/// environment it was given); where there is no `nix-store`, whether the
/// paths exist.
async fn outputs_valid(outputs: &[&str]) -> bool {
    if outputs.is_empty() {
        return false;
    }
    let status = tokio::process::Command::new("nix-store")
        .arg("--check-validity")
        .args(outputs)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await;
    match status {
        Ok(status) => status.success(),
        Err(_) => outputs.iter().all(|p| Path::new(p).exists()),
    }
}
