//! launchd, the one owner of the VM's lifecycle on macOS.
//!
//! This crate will hold the typed job model (written as a plist), the
//! `launchctl` client and the parser of `launchctl print`. It compiles on every
//! OS: nothing here links against macOS; the client shells out to a
//! configurable `launchctl`, so tests run it against a faithful double.

/// The label of BuilderBar's VM job, in launchd's reverse-DNS style.
pub const VM_JOB_LABEL: &str = "dev.builderbar.vm";

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
