//! launchd, the one owner of the VM's lifecycle on macOS.
//!
//! This crate holds the typed job model (written as a plist), BuilderBar's VM
//! job, the `launchctl` client and the parser of `launchctl print`. It compiles
//! on every OS: nothing here links against macOS; the client shells out to a
//! configurable `launchctl`, so tests run it against a faithful double (the
//! `launchctl-double` binary of this crate).

pub mod job;
pub mod launchctl;
pub mod print;
pub mod vm_job;

pub use job::{
    DEFAULT_EXIT_TIMEOUT, DEFAULT_THROTTLE_INTERVAL, Job, JobError, KeepAlive, KeepAliveConditions,
    ProcessType, Termination,
};
pub use launchctl::{Launchctl, LaunchctlError, SYSTEM_LAUNCHCTL};
pub use print::{LastExit, PrintParseError, ServiceState, ServiceStatus, parse_print};
pub use vm_job::{NIX_STORE, VmJobInputs, WAIT4PATH, launch_agent_plist_path, vm_job};

/// The label of BuilderBar's VM job, in launchd's reverse-DNS style.
pub const VM_JOB_LABEL: &str = "dev.builderbar.vm";

/// The menu-bar app's bundle identifier (`identifier` in
/// src-tauri/tauri.conf.json): macOS names the VM job after it in Login
/// Items and attributes notifications to it.
pub const APP_BUNDLE_ID: &str = "dev.builderbar.BuilderBar";

/// The launchd domain a per-user agent lives in: `gui/<uid>`.
pub fn gui_domain(uid: u32) -> String {
    format!("gui/{uid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gui_domain_names_the_user() {
        assert_eq!(gui_domain(501), "gui/501");
    }
}
