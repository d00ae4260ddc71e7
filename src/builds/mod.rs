//! Builds on the builder, observed from the host's Nix logs: the watcher
//! reports each finished build (success or failure with the log's last
//! lines), `logs` finds and reads a build's log.

pub mod drv;
pub mod logs;
pub mod watcher;

pub use watcher::{BuildOutcome, BuildReport, WatchConfig, spawn};
