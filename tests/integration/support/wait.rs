//! Waiting for conditions, never for a fixed time.

use std::time::{Duration, Instant};

/// Checks `condition` every `interval` until it returns `Some`, or gives up
/// after `timeout` and returns `None`.
pub fn until<T>(
    timeout: Duration,
    interval: Duration,
    mut condition: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = condition() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(interval.min(deadline.saturating_duration_since(Instant::now())));
    }
}
