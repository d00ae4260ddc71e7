//! Which OS this is: the macOS version on a Mac (13 or later is needed);
//! elsewhere the distribution's name, said to be development.

use serde::Serialize;

/// darwin.linux-builder and the app need macOS 13 (Ventura) or later.
const MIN_MACOS_MAJOR: u32 = 13;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OsInfo {
    /// "macOS 14.5", or on Linux the distribution's own name.
    pub name: String,
    pub supported: bool,
    pub note: Option<String>,
}

pub(super) fn os_info() -> OsInfo {
    if cfg!(target_os = "macos") {
        let version = std::process::Command::new("sw_vers")
            .arg("-productVersion")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let major: u32 = version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        OsInfo {
            name: format!("macOS {version}"),
            supported: major >= MIN_MACOS_MAJOR,
            note: None,
        }
    } else {
        let pretty = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
            .unwrap_or_else(|| std::env::consts::OS.to_owned());
        OsInfo {
            name: pretty,
            supported: true,
            note: Some(
                "not macOS: development, with the dev VM standing in for the builder".into(),
            ),
        }
    }
}
