//! Waiting for Ready the way the app and `status --watch` do: the health
//! monitor's own state ("Ready" = SSH answered with the pinned host key and
//! the store answered), on a small runtime of its own, with a timeout.

use std::time::{Duration, Instant};

use super::Event;
use crate::health::{self, BuilderState, MonitorConfig};

/// Waits until the monitor says Ready; reports the state every second.
/// Gives up at once on a state that waiting cannot fix (Failed).
pub(super) fn wait(
    config: MonitorConfig,
    timeout: Duration,
    on: &mut dyn FnMut(Event),
) -> Result<Duration, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot run the health monitor: {e}"))?;
    runtime.block_on(async move {
        let mut states = health::spawn(config).map_err(|e| e.to_string())?;
        let began = Instant::now();
        loop {
            let state = states.borrow_and_update().state.clone();
            on(Event::Waiting {
                state: state.describe(),
                elapsed_secs: began.elapsed().as_secs(),
                timeout_secs: timeout.as_secs(),
            });
            match &state {
                BuilderState::Ready => return Ok(began.elapsed()),
                // A VM that stopped, crashes or shows the wrong host key
                // will not become Ready by waiting.
                BuilderState::Failed(p) => return Err(p.detail.clone()),
                _ => {}
            }
            let left = timeout.saturating_sub(began.elapsed());
            if left.is_zero() {
                return Err(format!(
                    "the builder did not become Ready within {} s (last seen: {})",
                    timeout.as_secs(),
                    state.describe()
                ));
            }
            // Wake at least every second so the elapsed time moves on.
            let tick = left.min(Duration::from_secs(1));
            if let Ok(Err(_)) = tokio::time::timeout(tick, states.changed()).await {
                return Err("the health monitor stopped".to_owned());
            }
        }
    })
}
