//! The health monitor: a tokio task that owns the observed state and
//! publishes every change on a `watch` channel that the app and the CLI
//! subscribe to, and (the first monitor to run) in `state/health.json` for
//! processes that run none (`super::published`).
//!
//! Event-driven where the source allows: the supervisor's status file and
//! the service's stop marker are watched (inotify / FSEvents through the
//! `notify` crate), so a VM that dies is seen as soon as the supervisor
//! writes it down. A killed supervisor writes nothing, so the processes the
//! file names are checked every second (one `kill(pid, 0)` each, no I/O).
//! SSH is polled over one reused session with backoff: while the VM boots,
//! as often as the probe's connection attempts allow (`greeting`); every
//! 10 s when Ready; every 60 s after a host key mismatch; nothing at all
//! while the VM is stopped.

use std::path::PathBuf;
use std::time::Duration;

use ::notify::Watcher;
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::probe::{Probe, ProbeConfig, ProbeOutcome};
use super::state::{self, BuilderState, Health, Inputs, ProbeResult, ProbeView};
use crate::paths::Paths;
use crate::vm::VmState;
use crate::vm::status::{self, StatusFile};

/// How often each source is looked at.
#[derive(Debug, Clone)]
pub struct Intervals {
    /// Between probes while the VM boots and SSH has not answered yet:
    /// short, because the time from SSH up to Ready is added to every start.
    /// The probe paces its own connection attempts (`greeting`) and keeps
    /// them between probes; this only bounds how late it hears of one.
    pub booting: Duration,
    /// SSH after it answered once but the builder is not usable (degraded).
    pub starting: Duration,
    /// SSH while Ready.
    pub ready: Duration,
    /// SSH after a host key mismatch: the monitor never connects past it,
    /// it only looks again whether the key changed back.
    pub mismatch: Duration,
    /// Whether the processes in the status file still live.
    pub processes: Duration,
    /// Re-read everything even without a file event (a missed event, or a
    /// file system that has none).
    pub idle: Duration,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            booting: Duration::from_millis(50),
            starting: Duration::from_secs(1),
            ready: Duration::from_secs(10),
            mismatch: Duration::from_secs(60),
            processes: Duration::from_secs(1),
            idle: Duration::from_secs(60),
        }
    }
}

pub struct MonitorConfig {
    pub paths: Paths,
    pub probe: ProbeConfig,
    /// How long a boot may take before a silent VM counts as unreachable.
    pub boot_timeout: Duration,
    pub intervals: Intervals,
}

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("cannot watch {}: {source}; check that the folder is readable", .path.display())]
    Watch {
        path: PathBuf,
        #[source]
        source: ::notify::Error,
    },
    #[error("cannot create {}: {source}", .path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The service's marker for "the user stopped the builder" (see
/// `crate::service`): present until the next start.
fn stopped_marker(paths: &Paths) -> PathBuf {
    paths.state_dir().join("stopped-by-user")
}

/// Starts the monitor on the current tokio runtime. The task ends when every
/// receiver is dropped.
pub fn spawn(config: MonitorConfig) -> Result<watch::Receiver<Health>, MonitorError> {
    let state_dir = config.paths.state_dir();
    std::fs::create_dir_all(&state_dir).map_err(|source| MonitorError::Create {
        path: state_dir.clone(),
        source,
    })?;
    let (wake, woken) = mpsc::unbounded_channel();
    // Only changes to the status file, the stop marker and a runner
    // switch's lock matter. Reading
    // the status file is itself an (access) event, and the folder also holds
    // the VM's disk, written at every guest write: waking on those kept the
    // monitor reading in a loop (a whole core while the VM ran).
    let watched = [
        crate::vm::config::vm_paths(&config.paths).status_file,
        stopped_marker(&config.paths),
        crate::vm::config::vm_paths(&config.paths).switch_lock,
    ]
    .map(|path| path.file_name().map(ToOwned::to_owned));
    let mut watcher =
        ::notify::recommended_watcher(move |event: ::notify::Result<::notify::Event>| {
            let Ok(event) = event else { return };
            if matches!(event.kind, ::notify::EventKind::Access(_)) {
                return;
            }
            let concerns_us = event.paths.iter().any(|path| {
                let name = path.file_name();
                watched.iter().any(|w| w.as_deref() == name)
            });
            if concerns_us {
                let _ = wake.send(());
            }
        })
        .map_err(|source| MonitorError::Watch {
            path: state_dir.clone(),
            source,
        })?;
    watcher
        .watch(&state_dir, ::notify::RecursiveMode::NonRecursive)
        .map_err(|source| MonitorError::Watch {
            path: state_dir.clone(),
            source,
        })?;
    let (tx, rx) = watch::channel(Health {
        state: BuilderState::Starting,
        disk_used_percent: None,
        switching: None,
    });
    // The first value is a placeholder until the first observation.
    tx.send_replace(observe_without_probe(&config));
    let publisher = super::published::Publisher::take(&config.paths);
    tokio::spawn(async move {
        let _watcher = watcher;
        run(config, tx, woken, publisher).await;
    });
    Ok(rx)
}

fn observe_without_probe(config: &MonitorConfig) -> Health {
    let status_file = crate::vm::config::vm_paths(&config.paths).status_file;
    let file = StatusFile::read(&status_file);
    let report = status::report(&status_file);
    let probe = ProbeView::default();
    Health {
        state: state::derive(&Inputs {
            report: &report,
            file: file.as_ref(),
            stopped_by_user: stopped_marker(&config.paths).exists(),
            probe: &probe,
            running_for: running_for(file.as_ref()),
            boot_timeout: config.boot_timeout,
            previous: &BuilderState::Stopped,
        }),
        disk_used_percent: None,
        switching: crate::generations::switch::switching(&config.paths),
    }
}

fn running_for(file: Option<&StatusFile>) -> Option<Duration> {
    let started = file?.started_at?;
    let age = OffsetDateTime::now_utc() - started;
    Some(Duration::from_secs(
        age.whole_seconds().max(0).unsigned_abs(),
    ))
}

/// Takes one probe's outcome into the view; returns when to probe next.
async fn note(
    outcome: ProbeOutcome,
    view: &mut ProbeView,
    disk: &mut Option<u8>,
    probe: &mut Probe,
    intervals: &Intervals,
) -> Duration {
    let (result, wait) = match outcome {
        ProbeOutcome::Answered {
            store_ok,
            store_detail,
            disk_used_percent,
        } => {
            view.answered_this_run = true;
            view.failures_in_a_row = 0;
            *disk = disk_used_percent;
            let wait = if store_ok {
                intervals.ready
            } else {
                intervals.starting
            };
            (
                ProbeResult::Answered {
                    store_ok,
                    store_detail,
                },
                wait,
            )
        }
        ProbeOutcome::HostKeyMismatch { presented } => {
            probe.disconnect().await;
            *disk = None;
            (
                ProbeResult::HostKeyMismatch { presented },
                intervals.mismatch,
            )
        }
        ProbeOutcome::Unreachable(why) => {
            view.failures_in_a_row = view.failures_in_a_row.saturating_add(1);
            let wait = if view.answered_this_run {
                intervals.starting
            } else {
                intervals.booting
            };
            (ProbeResult::Unreachable(why), wait)
        }
    };
    view.last = Some(result);
    wait
}

async fn run(
    config: MonitorConfig,
    tx: watch::Sender<Health>,
    mut woken: mpsc::UnboundedReceiver<()>,
    publisher: Option<super::published::Publisher>,
) {
    let status_file = crate::vm::config::vm_paths(&config.paths).status_file;
    let marker = stopped_marker(&config.paths);
    let mut probe = Probe::new(config.probe.clone());
    let mut view = ProbeView::default();
    let mut run_started = None;
    let mut disk = None;
    let mut next_probe = Instant::now();
    let intervals = &config.intervals;
    loop {
        let file = StatusFile::read(&status_file);
        let report = status::report(&status_file);
        let previous = tx.borrow().state.clone();
        if report.state == VmState::Running {
            let started = file.as_ref().and_then(|f| f.started_at);
            if started != run_started {
                run_started = started;
                view = ProbeView::default();
                next_probe = Instant::now();
                // Connection attempts made during an earlier run mean nothing now.
                probe.disconnect().await;
                // On-demand, the builder's port is the supervisor's: a probe
                // there would wake a sleeping builder and keep an awake one
                // from ever being idle. It goes to QEMU's private forward.
                let port = file
                    .as_ref()
                    .and_then(|f| f.forward_port)
                    .unwrap_or(config.probe.port);
                probe = Probe::new(ProbeConfig {
                    port,
                    ..config.probe.clone()
                });
            }
            if Instant::now() >= next_probe {
                // A change of the status file (the VM stopping, say) is
                // looked at at once, not after the probe, which may wait a
                // second for sshd (its attempts are kept for the next one).
                let outcome = tokio::select! {
                    outcome = probe.probe() => Some(outcome),
                    got = woken.recv() => {
                        if got.is_none() {
                            break;
                        }
                        while woken.try_recv().is_ok() {}
                        None
                    }
                    _ = tx.closed() => break,
                };
                if let Some(outcome) = outcome {
                    let wait = note(outcome, &mut view, &mut disk, &mut probe, intervals).await;
                    next_probe = Instant::now() + wait;
                }
            }
        } else {
            // The session and any attempts still waiting for sshd.
            probe.disconnect().await;
            run_started = None;
            view = ProbeView::default();
            disk = None;
        }
        // The VM may have changed while the probe ran: look again.
        let file = StatusFile::read(&status_file);
        let report = status::report(&status_file);
        let state = state::derive(&Inputs {
            report: &report,
            file: file.as_ref(),
            stopped_by_user: marker.exists(),
            probe: &view,
            running_for: running_for(file.as_ref()),
            boot_timeout: config.boot_timeout,
            previous: &previous,
        });
        let disk_used_percent = match state {
            BuilderState::Ready | BuilderState::Degraded(_) => disk,
            _ => None,
        };
        let health = Health {
            state,
            disk_used_percent,
            switching: crate::generations::switch::switching(&config.paths),
        };
        if let Some(publisher) = &publisher
            && *tx.borrow() != health
        {
            publisher.publish(&health, file.as_ref().and_then(|f| f.started_at));
        }
        tx.send_if_modified(|current| {
            if *current == health {
                false
            } else {
                *current = health;
                true
            }
        });

        let running = report.state == VmState::Running;
        let mut deadline = Instant::now()
            + if matches!(
                report.state,
                VmState::Running | VmState::Starting | VmState::Stopping
            ) {
                intervals.processes
            } else {
                intervals.idle
            };
        if running {
            deadline = deadline.min(next_probe);
        }
        tokio::select! {
            _ = tx.closed() => break,
            got = woken.recv() => {
                if got.is_none() {
                    break;
                }
                // One look for a burst of events.
                while woken.try_recv().is_ok() {}
            }
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
    probe.disconnect().await;
}
