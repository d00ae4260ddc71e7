//! Waiting until the builder serves builds, as the app and `status --watch`
//! see it: the health monitor's own state (Ready = SSH answered with the
//! pinned host key and the store answered), on a small runtime of its own,
//! with a timeout. Setup waits here after starting the service; a runner
//! switch waits here for the new generation (waking it when it sleeps).
//!
//! An on-demand builder that sleeps serves builds too (the first one wakes
//! it), and the monitor never wakes it: the wait ends there with
//! [`Serving::Sleeping`], and the caller decides whether to wake it.

use std::time::{Duration, Instant};

use super::{BuilderState, MonitorConfig};

/// How the wait ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    Ready,
    /// On-demand, asleep with its port held: a build starts it.
    Sleeping,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadyError {
    #[error("cannot run the health monitor: {0}")]
    Monitor(String),
    /// A state waiting cannot fix (it stopped, crashes, or shows the wrong
    /// host key): the problem, in words.
    #[error("{0}")]
    Failed(String),
    #[error("the builder did not become Ready within {} s (last seen: {last})", .waited.as_secs())]
    TimedOut { waited: Duration, last: String },
    #[error("the health monitor stopped")]
    MonitorStopped,
}

/// Waits until the monitor says Ready (or Sleeping); tells `on` the state
/// at least every second. Gives up at once on Failed.
pub fn wait_serving(
    config: MonitorConfig,
    timeout: Duration,
    on: &mut dyn FnMut(&BuilderState, Duration),
) -> Result<(Serving, Duration), ReadyError> {
    wait(config, timeout, None, on)
}

/// Waits until the monitor says Ready. A builder found sleeping is woken
/// by a connection to its port (`port`, on the loopback), held until the
/// wait ends: what proves a new runner must boot it.
pub fn wait_ready_waking(
    config: MonitorConfig,
    port: u16,
    timeout: Duration,
    on: &mut dyn FnMut(&BuilderState, Duration),
) -> Result<Duration, ReadyError> {
    wait(config, timeout, Some(port), on).map(|(_, elapsed)| elapsed)
}

fn wait(
    config: MonitorConfig,
    timeout: Duration,
    wake_port: Option<u16>,
    on: &mut dyn FnMut(&BuilderState, Duration),
) -> Result<(Serving, Duration), ReadyError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ReadyError::Monitor(e.to_string()))?;
    runtime.block_on(async move {
        let mut states = super::spawn(config).map_err(|e| ReadyError::Monitor(e.to_string()))?;
        let began = Instant::now();
        // The connection that wakes a sleeping builder, open until the end.
        let mut _waking: Option<tokio::net::TcpStream> = None;
        loop {
            let state = states.borrow_and_update().state.clone();
            on(&state, began.elapsed());
            match (&state, wake_port) {
                (BuilderState::Ready, _) => return Ok((Serving::Ready, began.elapsed())),
                (BuilderState::Sleeping, None) => {
                    return Ok((Serving::Sleeping, began.elapsed()));
                }
                (BuilderState::Sleeping, Some(port)) => {
                    // Asleep again means the last one was let go (a wake
                    // that failed closes what it held); refused (between
                    // two runs of the supervisor), the next look tries again.
                    _waking = tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .ok();
                }
                (BuilderState::Failed(p), _) => return Err(ReadyError::Failed(p.detail.clone())),
                _ => {}
            }
            let left = timeout.saturating_sub(began.elapsed());
            if left.is_zero() {
                return Err(ReadyError::TimedOut {
                    waited: timeout,
                    last: state.describe(),
                });
            }
            // Wake at least every second so the elapsed time moves on.
            let tick = left.min(Duration::from_secs(1));
            if let Ok(Err(_)) = tokio::time::timeout(tick, states.changed()).await {
                return Err(ReadyError::MonitorStopped);
            }
        }
    })
}
