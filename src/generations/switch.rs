//! Switching the builder to another kept generation, proved by use: stop
//! the builder cleanly, make the generation current and point the service
//! at its runner, start it, and wait until the health monitor says Ready
//! (an on-demand builder is woken for it). A generation that never gets
//! there — its runner exits, the supervisor crash-loops, or the wait runs
//! out — is marked failed with the reason and its last log lines, and the
//! builder goes back to the generation it replaced and is proved Ready
//! again.
//!
//! While it runs it holds `state/switch.lock`, naming the generation
//! tried: one switch at a time, and the health monitor marks what it sees
//! as the switch's (`Health::switching`), so the builder's stops, starts
//! and the new generation's failure raise no notifications of their own;
//! a switch that goes back shows one, saying why.
//!
//! The wait is bounded by [`SwitchOptions::ready_timeout`], five minutes
//! by default: a new NixOS system's first boot on an existing disk is
//! under a minute with hardware virtualisation, but the health monitor
//! itself only calls a silent VM unreachable after three minutes
//! (`health::monitor_config`'s boot timeout), and a builder of another
//! architecture under emulation boots in minutes, not seconds. The way
//! back is given at least that default, whatever the new generation was
//! given: the generation gone back to was serving, and a shorter wait
//! would only turn a slow boot into a second failure.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Generation, GenerationError, Store};
use crate::health::{self, BuilderState, ProbeChoices};
use crate::paths::Paths;
use crate::service::{Service, ServiceError};
use crate::settings::{Settings, SettingsError, SettingsStore};
use crate::vm::RunnerSource;

/// How many of the log's last lines a failed generation keeps.
const LOG_LINES_KEPT: usize = 20;

#[derive(Debug, Clone)]
pub struct SwitchOptions {
    /// How long the new generation may take to become Ready.
    pub ready_timeout: Duration,
}

impl Default for SwitchOptions {
    fn default() -> Self {
        SwitchOptions {
            ready_timeout: Duration::from_secs(300),
        }
    }
}

/// A step of the switch, as the CLI and the window show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchEvent {
    Stopping,
    Starting {
        number: u32,
    },
    Waiting {
        state: String,
        elapsed: Duration,
    },
    /// Ready: Nix's database on the builder is checked for paths gone.
    CheckingStore,
    GoingBack {
        number: u32,
        reason: String,
    },
}

/// A switch that ended with the generation serving builds.
#[derive(Debug, Clone)]
pub struct Switched {
    pub generation: Generation,
    /// The generation current before (now the previous one).
    pub replaced: Option<Generation>,
    /// From the start to Ready.
    pub ready_after: Duration,
    /// `nix-store --verify` on the builder; `None` when it could not run
    /// (logged: the generation serves builds all the same).
    pub store_check: Option<super::store_check::StoreChecked>,
}

#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    #[error(transparent)]
    Generations(#[from] GenerationError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(
        "the builder's runner is given by BUILDERBAR_RUNNER ({0}); generations apply only to the runner BuilderBar makes: unset it first"
    )]
    RunnerGiven(String),
    #[error("generation {0} is already the builder's current one")]
    AlreadyCurrent(u32),
    #[error(
        "there is no previous generation to go back to; `builderbar runner list` shows the generations kept"
    )]
    NoPrevious,
    #[error("another runner switch is under way; wait until it ends")]
    Busy,
    #[error("could not take {}: {source}", .path.display())]
    Lock {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not stop the builder, so nothing was switched: {0}")]
    Stop(ServiceError),
    #[error("could not point the builder at generation {number}'s runner: {reason}")]
    Point { number: u32, reason: String },
    #[error(
        "generation {number} failed: {reason}. The builder went back to generation {back_to}, which is Ready; `builderbar runner list` shows the failed generation's last log lines"
    )]
    WentBack {
        number: u32,
        reason: String,
        back_to: u32,
    },
    #[error(
        "generation {number} failed: {reason}. There is no generation to go back to; `builderbar logs` shows what it did"
    )]
    NothingToGoBackTo { number: u32, reason: String },
    #[error(
        "generation {number} failed: {reason}. Going back to generation {back_to} failed too: {again}. `builderbar logs` shows what each did; `builderbar runner switch {back_to}` tries again"
    )]
    GoingBackFailed {
        number: u32,
        reason: String,
        back_to: u32,
        again: String,
    },
}

/// Switches the builder to the kept generation `number` and proves it
/// Ready, or goes back to the one it replaced.
pub fn switch(
    paths: &Paths,
    number: u32,
    options: &SwitchOptions,
    on: &mut dyn FnMut(SwitchEvent),
) -> Result<Switched, SwitchError> {
    let store = Store::new(paths);
    let source = crate::vm::config::runner_source(paths);
    if let RunnerSource::Path(path) = &source
        && *path != paths.runner_script()
    {
        return Err(SwitchError::RunnerGiven(path.display().to_string()));
    }
    let _switching = Switching::begin(paths, number)?;
    // Holding the lock, any generation still on trial was left by a switch
    // that is gone: given up first, so its disk writes are not kept.
    let orphaned = store.trial()?;
    let target = store.get(number)?.ok_or(GenerationError::NoSuch(number))?;
    if target.state == super::GenerationState::Current && orphaned.is_none() {
        return Err(SwitchError::AlreadyCurrent(number));
    }
    give_up_orphaned_trial(paths, &store)?;
    let settings = SettingsStore::open(paths)?.load()?.settings;
    let service = Service::for_platform(paths);

    on(SwitchEvent::Stopping);
    service.stop().map_err(SwitchError::Stop)?;
    let selected = store.select(number)?;
    let replaced = selected.replaced.clone();
    let tried = point(paths, &source, &selected.generation)
        .and_then(|()| start_and_wait(paths, &settings, &service, number, options, on));
    let reason = match tried {
        Ok(ready_after) => {
            on(SwitchEvent::CheckingStore);
            let store_check = super::store_check::check_builder_store(paths, &settings)
                .inspect_err(|why| tracing::warn!("could not check the builder's store: {why}"))
                .ok();
            // Proved: its trial writes to the disk are kept.
            store.accept(number)?;
            follow_nixpkgs(paths, &selected.generation);
            return Ok(Switched {
                generation: selected.generation,
                replaced: selected.replaced,
                ready_after,
                store_check,
            });
        }
        Err(reason) => reason,
    };

    // Back to the generation it replaced.
    tracing::info!(generation = number, %reason, "the new generation failed: going back");
    let last_log = last_log_lines(&crate::vm::config::vm_paths(paths).log_file);
    // Stopped whatever state it is in (a crash loop, a VM that never
    // answered): launchd must not go on restarting the failed runner.
    let _ = service.stop();
    let back = store.fail_back(number, &reason, last_log, replaced.map(|g| g.number))?;
    let Some(back) = back else {
        notify_switch_failed(&settings, number, &reason, None, false);
        return Err(SwitchError::NothingToGoBackTo { number, reason });
    };
    on(SwitchEvent::GoingBack {
        number,
        reason: reason.clone(),
    });
    // The generation going back was serving: it gets the time any boot
    // may need, whatever the caller gave the new one to prove itself.
    let going_back = SwitchOptions {
        ready_timeout: options
            .ready_timeout
            .max(SwitchOptions::default().ready_timeout),
    };
    let again = point(paths, &source, &back)
        .and_then(|()| start_and_wait(paths, &settings, &service, back.number, &going_back, on));
    notify_switch_failed(&settings, number, &reason, Some(back.number), again.is_ok());
    match again {
        Ok(_) => Err(SwitchError::WentBack {
            number,
            reason,
            back_to: back.number,
        }),
        Err(again) => Err(SwitchError::GoingBackFailed {
            number,
            reason,
            back_to: back.number,
            again,
        }),
    }
}

/// The settings' nixpkgs becomes the proved generation's, so that what
/// the settings say is what runs, and a later setup builds nothing new.
/// A failure is logged: the generation serves builds all the same.
fn follow_nixpkgs(paths: &Paths, generation: &Generation) {
    let Some(url) = generation.nixpkgs.clone() else {
        return;
    };
    let result = SettingsStore::open(paths).and_then(|settings| {
        settings.update(|s| {
            let same = crate::nix::expr::Pin::from_settings(s).is_ok_and(|pin| pin.url() == url);
            if !same {
                s.nixpkgs = Some(url.clone());
            }
            Ok(())
        })
    });
    if let Err(err) = result {
        tracing::warn!(
            "could not set the settings' nixpkgs to generation {}'s: {err}",
            generation.number
        );
    }
}

/// Switches the builder back to the previous generation, the one the
/// current one replaced (`builderbar runner rollback`), the same way.
pub fn roll_back(
    paths: &Paths,
    options: &SwitchOptions,
    on: &mut dyn FnMut(SwitchEvent),
) -> Result<Switched, SwitchError> {
    let previous = Store::new(paths)
        .list()?
        .into_iter()
        .find(|g| g.state == super::GenerationState::Previous)
        .ok_or(SwitchError::NoPrevious)?;
    switch(paths, previous.number, options, on)
}

/// Makes the service start `generation`: on macOS `<root>/runner` is
/// linked to its build; the dev VM's supervisor starts the store's current
/// generation itself.
fn point(paths: &Paths, source: &RunnerSource, generation: &Generation) -> Result<(), String> {
    match source {
        RunnerSource::DevVm => Ok(()),
        RunnerSource::Path(_) => {
            let nix = crate::nix::runner_build::find_nix()
                .ok_or_else(|| "Nix is not installed (no `nix` on PATH)".to_owned())?;
            crate::nix::runner_build::link_generation(&nix, paths, generation)
                .map_err(|err| err.to_string())
        }
    }
}

/// Starts the builder and waits until it is Ready; the reason it is not.
fn start_and_wait(
    paths: &Paths,
    settings: &Settings,
    service: &Service,
    number: u32,
    options: &SwitchOptions,
    on: &mut dyn FnMut(SwitchEvent),
) -> Result<Duration, String> {
    on(SwitchEvent::Starting { number });
    service.start().map_err(|err| err.to_string())?;
    let config = health::monitor_config(paths, settings, &ProbeChoices::default())
        .map_err(|err| err.to_string())?;
    health::ready::wait_ready_waking(
        config,
        settings.ssh_port,
        options.ready_timeout,
        &mut |state: &BuilderState, elapsed| {
            on(SwitchEvent::Waiting {
                state: state.describe(),
                elapsed,
            })
        },
    )
    .map_err(|err| err.to_string())
}

/// The builder log's last lines (its end only: the log may be large).
fn last_log_lines(log: &Path) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL_BYTES: u64 = 16 * 1024;
    let Ok(mut file) = std::fs::File::open(log) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(LOG_LINES_KEPT)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

/// The switch's one notification, when it failed (as the user chose for
/// the builder's failures).
fn notify_switch_failed(
    settings: &Settings,
    number: u32,
    reason: &str,
    back_to: Option<u32>,
    ready_again: bool,
) {
    use crate::notify::backend::{DesktopNotifier, Notifier};
    if !settings.notifications.vm_failures {
        return;
    }
    let (title, body) =
        crate::notify::policy::switch_failed_text(number, reason, back_to, ready_again);
    let id = crate::notify::policy::Kind::SwitchFailed.word();
    if let Err(err) = DesktopNotifier::new().show(id, &title, &body) {
        tracing::warn!("{err}");
    }
}

/// Held while a switch runs: `state/switch.lock`, locked, naming the
/// generation tried.
struct Switching {
    file: File,
}

impl Switching {
    fn begin(paths: &Paths, number: u32) -> Result<Switching, SwitchError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = crate::vm::config::vm_paths(paths).switch_lock;
        let lock_error = |source| SwitchError::Lock {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(lock_error)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(lock_error)?;
        // A reader (`switching`) holds the free lock for an instant: only
        // a lock still busy after a few tries is another switch's.
        let began = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock)
                    if began.elapsed() < Duration::from_millis(200) =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(std::fs::TryLockError::WouldBlock) => return Err(SwitchError::Busy),
                Err(std::fs::TryLockError::Error(err)) => return Err(lock_error(err)),
            }
        }
        file.set_len(0)
            .and_then(|()| file.write_all(number.to_string().as_bytes()))
            .map_err(lock_error)?;
        Ok(Switching { file })
    }
}

impl Drop for Switching {
    fn drop(&mut self) {
        // Unlocked first, then emptied: the write wakes the health monitor,
        // which then finds no switch under way.
        let _ = self.file.unlock();
        let _ = self.file.set_len(0);
    }
}

/// The generation a runner switch is trying now, if one runs.
pub fn switching(paths: &Paths) -> Option<u32> {
    switching_at(&crate::vm::config::vm_paths(paths).switch_lock)
}

/// [`switching`], given the switch's lock file.
pub fn switching_at(lock: &Path) -> Option<u32> {
    let number = std::fs::read_to_string(lock).ok()?.trim().parse().ok()?;
    crate::fsutil::is_locked(lock)
        .unwrap_or(false)
        .then_some(number)
}

/// Before the supervisor starts: a generation left on trial by a switch
/// that is gone (killed before it saw the generation Ready or went back)
/// is given up as a failed one, and the one it replaced is current again,
/// so the service starts a runner that was proved, on the disk as it was.
pub fn settle_interrupted(paths: &Paths) -> Result<(), SwitchError> {
    if switching(paths).is_some() {
        // A live switch owns the trial (it gave up any orphan first).
        return Ok(());
    }
    give_up_orphaned_trial(paths, &Store::new(paths))
}

/// Gives up the generation on trial, if any, as failed: the one before it
/// is current again and the service is pointed at it.
fn give_up_orphaned_trial(paths: &Paths, store: &Store) -> Result<(), SwitchError> {
    let Some(number) = store.trial()? else {
        return Ok(());
    };
    let reason = "the switch trying it was interrupted before it was Ready";
    tracing::warn!(generation = number, "{reason}: going back");
    if let Some(back) = store.fail_trial(reason)? {
        let source = crate::vm::config::runner_source(paths);
        point(paths, &source, &back).map_err(|reason| SwitchError::Point {
            number: back.number,
            reason,
        })?;
    }
    Ok(())
}
