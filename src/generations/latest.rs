//! Which nixpkgs is the newest a builder can be updated to without
//! building the world: the commit a channel points at. A channel on
//! channels.nixos.org moves only once Hydra has built that commit, so its
//! builds are in the binary cache; `<channel>/git-revision` names it.
//!
//! It needs the network, so it sits behind [`LatestNixpkgs`]: the update
//! takes one, tests give a double, and `--nixpkgs PIN` never asks.

use std::process::Command;
use std::time::Duration;

use crate::nix::expr::Pin;

/// Where the newest cached nixpkgs comes from.
pub trait LatestNixpkgs {
    /// The newest cached commit of `channel` (e.g. `nixpkgs-25.05-darwin`).
    fn latest(&self, channel: &str) -> Result<Pin, LatestError>;
}

#[derive(Debug, thiserror::Error)]
pub enum LatestError {
    #[error(
        "could not ask {url} for the newest cached nixpkgs: {reason}. Check the network, or give a nixpkgs yourself (`builderbar runner update --nixpkgs BRANCH-OR-COMMIT`)"
    )]
    Unreachable { url: String, reason: String },
    #[error(
        "{url} did not name a commit (it said {said:?}); give a nixpkgs yourself with --nixpkgs"
    )]
    NotACommit { url: String, said: String },
}

/// channels.nixos.org (or another server with the same layout), asked
/// with the system's `curl`, which macOS ships.
#[derive(Debug, Clone)]
pub struct ChannelRevision {
    pub base_url: String,
    pub timeout: Duration,
}

/// The environment variable that points the lookup at another server.
pub const CHANNELS_URL_ENV: &str = "BUILDERBAR_CHANNELS_URL";

impl ChannelRevision {
    /// channels.nixos.org, or `BUILDERBAR_CHANNELS_URL`.
    pub fn from_env() -> ChannelRevision {
        ChannelRevision {
            base_url: std::env::var(CHANNELS_URL_ENV)
                .ok()
                .filter(|url| !url.is_empty())
                .unwrap_or_else(|| "https://channels.nixos.org".into()),
            timeout: Duration::from_secs(30),
        }
    }

    fn url(&self, channel: &str) -> String {
        format!(
            "{}/{channel}/git-revision",
            self.base_url.trim_end_matches('/')
        )
    }
}

impl LatestNixpkgs for ChannelRevision {
    fn latest(&self, channel: &str) -> Result<Pin, LatestError> {
        let url = self.url(channel);
        let unreachable = |reason: String| LatestError::Unreachable {
            url: url.clone(),
            reason,
        };
        // The channel name was validated as a pin (letters, digits, . - _).
        Pin::parse(channel).map_err(|err| unreachable(err.to_string()))?;
        let output = Command::new("curl")
            .args(["--fail", "--silent", "--show-error", "--location"])
            .arg("--max-time")
            .arg(self.timeout.as_secs().max(1).to_string())
            .arg(&url)
            .output()
            .map_err(|err| unreachable(format!("curl: {err}")))?;
        if !output.status.success() {
            return Err(unreachable(
                String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            ));
        }
        let said = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !is_commit(&said) {
            let said: String = said.chars().take(80).collect();
            return Err(LatestError::NotACommit { url, said });
        }
        Pin::parse(&said).map_err(|err| unreachable(err.to_string()))
    }
}

/// The channel an update follows: the settings' nixpkgs when it is a
/// branch name, else the default one.
pub fn channel_of(setting: Option<&str>) -> &str {
    match setting {
        Some(name) if !(name.starts_with("https://") || is_commit(name)) => name,
        _ => crate::nix::expr::DEFAULT_NIXPKGS,
    }
}

fn is_commit(text: &str) -> bool {
    text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_branch_is_followed_and_a_commit_or_url_follows_the_default() {
        assert_eq!(channel_of(Some("nixpkgs-unstable")), "nixpkgs-unstable");
        assert_eq!(
            channel_of(Some("0123456789abcdef0123456789abcdef01234567")),
            crate::nix::expr::DEFAULT_NIXPKGS
        );
        assert_eq!(
            channel_of(Some("https://example.org/n.tar.gz")),
            crate::nix::expr::DEFAULT_NIXPKGS
        );
        assert_eq!(channel_of(None), crate::nix::expr::DEFAULT_NIXPKGS);
    }

    #[test]
    fn the_revision_is_read_from_a_real_server() {
        let dir = tempfile::tempdir().unwrap();
        let channel = dir.path().join("nixpkgs-25.05-darwin");
        std::fs::create_dir(&channel).unwrap();
        let commit = "0123456789abcdef0123456789abcdef01234567";
        std::fs::write(channel.join("git-revision"), commit).unwrap();
        std::fs::create_dir(dir.path().join("broken")).unwrap();
        std::fs::write(dir.path().join("broken/git-revision"), "<html>").unwrap();
        let server = Server::start(dir.path());
        let source = ChannelRevision {
            base_url: server.url.clone(),
            timeout: Duration::from_secs(10),
        };
        let pin = source.latest("nixpkgs-25.05-darwin").unwrap();
        assert_eq!(
            pin.url(),
            format!("https://github.com/NixOS/nixpkgs/archive/{commit}.tar.gz")
        );
        assert!(matches!(
            source.latest("broken"),
            Err(LatestError::NotACommit { .. })
        ));
        let missing = source.latest("nixos-00.00").unwrap_err().to_string();
        assert!(missing.contains("--nixpkgs"), "{missing}");
    }

    /// Python's http.server on a free local port, stopped when dropped.
    struct Server {
        child: std::process::Child,
        url: String,
    }

    impl Server {
        fn start(dir: &std::path::Path) -> Server {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new("python3")
                .args(["-m", "http.server", "--bind", "127.0.0.1"])
                .arg(port.to_string())
                .current_dir(dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(std::time::Instant::now() < deadline, "no http.server");
                std::thread::sleep(Duration::from_millis(50));
            }
            Server {
                child,
                url: format!("http://127.0.0.1:{port}"),
            }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
