//! The state a running health monitor publishes for the processes that run
//! none — plain `builderbar status`, which must answer in milliseconds and
//! must not read the Keychain (the probe logs in with the builder's private
//! key, and macOS asks before a binary other than the one that made the
//! item reads it).
//!
//! The monitor holding `state/monitor.lock` writes `state/health.json` at
//! every change, naming the VM run it observed (the status file's
//! `started_at`). A reader uses it only while that lock is held (the monitor
//! lives: the kernel drops the lock when it dies) and for the same run;
//! otherwise it falls back to the service's view.

use std::fs::File;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::state::Health;
use crate::fsutil;
use crate::paths::Paths;

/// What is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Published {
    health: Health,
    /// The run of the VM it was observed on.
    #[serde(with = "time::serde::rfc3339::option")]
    vm_started_at: Option<OffsetDateTime>,
}

fn file(paths: &Paths) -> PathBuf {
    paths.state_dir().join("health.json")
}

fn lock_file(paths: &Paths) -> PathBuf {
    paths.state_dir().join("monitor.lock")
}

/// The right to publish, held by one monitor at a time (the first to
/// start: the app's or `builderbar monitor`'s); dropped with the monitor.
pub struct Publisher {
    _lock: File,
    path: PathBuf,
}

impl Publisher {
    /// `None` when another monitor publishes already.
    pub fn take(paths: &Paths) -> Option<Publisher> {
        let lock = lock_file(paths);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .ok()?;
        // A reader's check holds the free lock for an instant: try a few
        // times before taking it as another monitor's.
        let taken = (0..5).any(|attempt| {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            file.try_lock().is_ok()
        });
        if !taken {
            return None;
        }
        Some(Publisher {
            _lock: file,
            path: self::file(paths),
        })
    }

    /// Writes the monitor's word (atomically; a failure is logged, never
    /// fatal: the monitor's own subscribers have it anyway).
    pub fn publish(&self, health: &Health, vm_started_at: Option<OffsetDateTime>) {
        let published = Published {
            health: health.clone(),
            vm_started_at,
        };
        let written = serde_json::to_vec(&published)
            .map_err(std::io::Error::other)
            .and_then(|json| fsutil::write_atomic(&self.path, &json, 0o644));
        if let Err(err) = written {
            tracing::warn!(
                "could not publish the builder's health to {}: {err}",
                self.path.display()
            );
        }
    }
}

/// The published word for the VM run that started at `vm_started_at`,
/// while its monitor lives.
pub fn read(paths: &Paths, vm_started_at: Option<OffsetDateTime>) -> Option<Health> {
    if !fsutil::is_locked(&lock_file(paths)).unwrap_or(false) {
        return None;
    }
    let text = std::fs::read(file(paths)).ok()?;
    let published: Published = serde_json::from_slice(&text).ok()?;
    (published.vm_started_at == vm_started_at && vm_started_at.is_some())
        .then_some(published.health)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::BuilderState;

    fn ready() -> Health {
        Health {
            state: BuilderState::Ready,
            disk_used_percent: Some(12),
            switching: None,
        }
    }

    #[test]
    fn the_word_is_read_only_while_its_monitor_lives_and_for_its_run() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::with_root(dir.path());
        std::fs::create_dir_all(paths.state_dir()).unwrap();
        let run = Some(OffsetDateTime::UNIX_EPOCH);
        let publisher = Publisher::take(&paths).unwrap();
        assert!(Publisher::take(&paths).is_none(), "one publisher at a time");
        publisher.publish(&ready(), run);
        assert_eq!(read(&paths, run), Some(ready()));
        let later = Some(OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(5));
        assert_eq!(read(&paths, later), None, "another run of the VM");
        drop(publisher);
        assert_eq!(read(&paths, run), None, "its monitor is gone");
    }
}
