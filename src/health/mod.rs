//! Health: what the builder really is (observed, not assumed), published as
//! it changes. `state` is the pure rule, `probe` the SSH check with the
//! pinned host key over a reused session (`greeting`: reaching sshd as soon
//! as the guest listens), `monitor` the task that watches
//! the supervisor's status file and polls SSH with backoff, `published`
//! its word kept for processes that run no monitor, and `view` the one
//! state every front door shows.

pub(crate) mod greeting;
pub mod monitor;
pub mod observe;
pub mod probe;
pub mod published;
pub mod ready;
pub mod setup;
pub mod state;
pub mod view;

pub use monitor::{Intervals, MonitorConfig, MonitorError, spawn};
pub use observe::{Observation, ObserveError, observe};
pub use probe::{ProbeConfig, ProbeOutcome, StoreCheck};
pub use setup::{ProbeChoices, SetupError, monitor_config};
pub use state::{BuilderState, Health, Problem, ProblemKind};
pub use view::{BuilderView, Resources, StateWord, ViewInputs, view};
