//! Health: what the builder really is (observed, not assumed), published as
//! it changes. `state` is the pure rule, `probe` the SSH check with the
//! pinned host key over a reused session (`greeting`: reaching sshd as soon
//! as the guest listens), `monitor` the task that watches
//! the supervisor's status file and polls SSH with backoff.

mod greeting;
pub mod monitor;
pub mod observe;
pub mod probe;
pub mod setup;
pub mod state;

pub use monitor::{Intervals, MonitorConfig, MonitorError, spawn};
pub use observe::{Observation, ObserveError, observe};
pub use probe::{ProbeConfig, ProbeOutcome, StoreCheck};
pub use setup::{ProbeChoices, SetupError, monitor_config};
pub use state::{BuilderState, Health, Problem, ProblemKind};
