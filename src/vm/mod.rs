//! The builder VM: its configuration and files, the disk, QMP, the status
//! file, and the supervisor (`builderbar vm run`) that launchd runs.

pub mod activation;
pub mod config;
pub mod disk;
pub mod exit;
pub mod log;
mod on_demand;
pub mod preflight;
pub mod qmp;
mod runner_launch;
mod sshd_wait;
pub mod status;
pub mod supervisor;
mod trial;

pub use config::{DiskLayout, RunnerSource, VmConfig, VmPaths};
pub use exit::SupervisorError;
pub use status::{StatusFile, VmState};
