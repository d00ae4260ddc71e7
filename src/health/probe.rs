//! The SSH probe: one russh session to the builder, kept open across ticks
//! (no process per tick), the host key pinned. A key other than the pinned
//! one is its own outcome, and the probe never authenticates past it.
//!
//! Each tick runs one command in the guest that reports the disk use of the
//! store's filesystem and whether the store answers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};

use super::greeting::Greeter;

/// How the probe asks whether the store answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreCheck {
    /// `nix-store --version` over the builder's login shell: the guest has Nix
    /// (nixpkgs' linux-builder).
    NixStore,
    /// `/nix/store` exists and is writable: the dev VM, which has no Nix yet.
    /// Says only that the store's filesystem is there, not that Nix answers.
    StoreDirWritable,
}

impl StoreCheck {
    fn shell(&self) -> &'static str {
        match self {
            StoreCheck::NixStore => "nix-store --version >/dev/null 2>&1",
            StoreCheck::StoreDirWritable => "test -d /nix/store -a -w /nix/store",
        }
    }
}

/// Where and as whom the probe connects.
#[derive(Clone)]
pub struct ProbeConfig {
    pub port: u16,
    pub user: String,
    /// The client key (the builder key).
    pub key: Arc<PrivateKey>,
    /// The builder's pinned host key.
    pub host_key: PublicKey,
    pub store_check: StoreCheck,
    /// One connect or command may take this long.
    pub timeout: Duration,
}

impl std::fmt::Debug for ProbeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeConfig")
            .field("port", &self.port)
            .field("user", &self.user)
            .field(
                "host_key",
                &self.host_key.fingerprint(HashAlg::Sha256).to_string(),
            )
            .field("store_check", &self.store_check)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeSetupError {
    #[error("the client key cannot be read: {0}; pass an OpenSSH private key file")]
    ClientKey(String),
    #[error(
        "the pinned host key cannot be read: {0}; give an OpenSSH public key line such as `ssh-ed25519 AAAA…`"
    )]
    HostKey(String),
}

impl ProbeConfig {
    /// Reads the client key (OpenSSH private key text) and the pinned host
    /// key (an OpenSSH public key line, optionally after a known_hosts
    /// host pattern).
    pub fn from_text(
        port: u16,
        user: &str,
        private_key: &str,
        host_key_line: &str,
        store_check: StoreCheck,
    ) -> Result<ProbeConfig, ProbeSetupError> {
        let key = russh::keys::decode_secret_key(private_key, None)
            .map_err(|e| ProbeSetupError::ClientKey(e.to_string()))?;
        Ok(ProbeConfig {
            port,
            user: user.to_owned(),
            key: Arc::new(key),
            host_key: parse_host_key(host_key_line)?,
            store_check,
            timeout: Duration::from_secs(5),
        })
    }
}

/// An OpenSSH public key line, or a known_hosts line (`[host]:port key…`).
pub fn parse_host_key(line: &str) -> Result<PublicKey, ProbeSetupError> {
    let line = line.trim();
    let start = line.find("ssh-").or_else(|| line.find("ecdsa-"));
    let text = start.map_or(line, |i| &line[i..]);
    PublicKey::from_openssh(text).map_err(|e| ProbeSetupError::HostKey(e.to_string()))
}

/// One probe's findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    Answered {
        store_ok: bool,
        store_detail: String,
        disk_used_percent: Option<u8>,
    },
    /// The builder presented this key (SHA256 fingerprint) instead of the
    /// pinned one. Nothing was sent past the key exchange.
    HostKeyMismatch {
        presented: String,
    },
    Unreachable(String),
}

struct Pinned {
    pinned: PublicKey,
    /// The fingerprint of a key that did not match, set by the handler.
    mismatch: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let presented = match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key,
            PublicKeyOrCertificate::Certificate(cert) => {
                if let Ok(mut seen) = self.mismatch.lock() {
                    *seen = Some(format!("a certificate ({})", cert.public_key().algorithm()));
                }
                return Ok(false);
            }
        };
        if presented.key_data() == self.pinned.key_data() {
            return Ok(true);
        }
        if let Ok(mut seen) = self.mismatch.lock() {
            *seen = Some(presented.fingerprint(HashAlg::Sha256).to_string());
        }
        Ok(false)
    }
}

/// A probe waits at most this long for sshd's greeting, so that the monitor
/// looks at the VM's processes in between; the attempts carry on meanwhile.
const GREETING_BUDGET: Duration = Duration::from_secs(1);

/// The probe: owns the session between ticks and reconnects when it broke.
pub struct Probe {
    config: ProbeConfig,
    session: Option<client::Handle<Pinned>>,
    /// Connection attempts not yet greeted by sshd (see `greeting`).
    greeter: Greeter,
}

impl Probe {
    pub fn new(config: ProbeConfig) -> Probe {
        Probe {
            greeter: Greeter::new(config.port, config.timeout),
            config,
            session: None,
        }
    }

    /// Drops the session and every connection attempt (the VM stopped, or
    /// a new run began).
    pub async fn disconnect(&mut self) {
        self.greeter.reset();
        if let Some(session) = self.session.take() {
            let _ = session
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
        }
    }

    /// Whether a session is open now.
    pub fn connected(&self) -> bool {
        self.session.as_ref().is_some_and(|s| !s.is_closed())
    }

    /// Probes once, connecting first if there is no live session. Cancel-safe
    /// while it waits for sshd's greeting (the attempts are kept).
    pub async fn probe(&mut self) -> ProbeOutcome {
        if !self.connected() {
            self.session = None;
            match self.connect().await {
                Ok(session) => self.session = Some(session),
                Err(outcome) => return outcome,
            }
        }
        let Some(session) = self.session.as_ref() else {
            return ProbeOutcome::Unreachable("no session".into());
        };
        let command = format!(
            "df -P /nix/store 2>/dev/null; if {}; then echo store-ok; else echo store-failed; fi",
            self.config.store_check.shell()
        );
        let began = std::time::Instant::now();
        match tokio::time::timeout(self.config.timeout, exec(session, &command)).await {
            Ok(Ok((0, output))) => {
                tracing::debug!(took = ?began.elapsed(), "health check answered");
                parse_output(&output)
            }
            Ok(Ok((code, output))) => {
                self.session = None;
                ProbeOutcome::Unreachable(format!(
                    "the health check exited {code}: {}",
                    output.trim()
                ))
            }
            Ok(Err(err)) => {
                self.session = None;
                ProbeOutcome::Unreachable(format!("the SSH session broke: {err}"))
            }
            Err(_) => {
                self.session = None;
                ProbeOutcome::Unreachable(format!(
                    "the health check did not answer within {:?}",
                    self.config.timeout
                ))
            }
        }
    }

    /// Runs `command` on the builder over the probe's session (connecting
    /// first when there is none): its exit code and standard output.
    pub async fn run(&mut self, command: &str, timeout: Duration) -> Result<(u32, String), String> {
        if !self.connected() {
            self.session = None;
            match self.connect().await {
                Ok(session) => self.session = Some(session),
                Err(ProbeOutcome::Unreachable(why)) => return Err(why),
                Err(ProbeOutcome::HostKeyMismatch { .. }) => {
                    return Err("the builder presented another host key".into());
                }
                Err(ProbeOutcome::Answered { .. }) => return Err("no session".into()),
            }
        }
        let Some(session) = self.session.as_ref() else {
            return Err("no session".into());
        };
        match tokio::time::timeout(timeout, exec(session, command)).await {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(err)) => Err(format!("the SSH session broke: {err}")),
            Err(_) => Err(format!("it did not finish within {} s", timeout.as_secs())),
        }
    }

    async fn connect(&mut self) -> Result<client::Handle<Pinned>, ProbeOutcome> {
        let stream = self
            .greeter
            .greeted(GREETING_BUDGET)
            .await
            .map_err(|why| ProbeOutcome::Unreachable(why.to_string()))?;
        let greeted = std::time::Instant::now();
        tracing::debug!("sshd greeted");
        let mismatch = Arc::new(Mutex::new(None));
        let handler = Pinned {
            pinned: self.config.host_key.clone(),
            mismatch: mismatch.clone(),
        };
        let ssh_config = Arc::new(client::Config {
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 3,
            nodelay: true,
            ..Default::default()
        });
        let connected = tokio::time::timeout(
            self.config.timeout,
            client::connect_stream(ssh_config, stream, handler),
        )
        .await;
        let seen = mismatch.lock().ok().and_then(|s| s.clone());
        if let Some(presented) = seen {
            return Err(ProbeOutcome::HostKeyMismatch { presented });
        }
        let mut session = match connected {
            Err(_) => {
                return Err(ProbeOutcome::Unreachable(format!(
                    "SSH did not answer within {:?}",
                    self.config.timeout
                )));
            }
            Ok(Err(err)) => return Err(ProbeOutcome::Unreachable(format!("SSH: {err}"))),
            Ok(Ok(session)) => session,
        };
        let key = PrivateKeyWithHashAlg::new(self.config.key.clone(), None);
        let auth = tokio::time::timeout(
            self.config.timeout,
            session.authenticate_publickey(self.config.user.clone(), key),
        )
        .await;
        match auth {
            Ok(Ok(result)) if result.success() => {
                tracing::debug!(took = ?greeted.elapsed(), "logged in");
                Ok(session)
            }
            Ok(Ok(_)) => Err(ProbeOutcome::Unreachable(format!(
                "the builder refused the builder key for user {}",
                self.config.user
            ))),
            Ok(Err(err)) => Err(ProbeOutcome::Unreachable(format!("SSH login: {err}"))),
            Err(_) => Err(ProbeOutcome::Unreachable("SSH login timed out".into())),
        }
    }
}

async fn exec(
    session: &client::Handle<Pinned>,
    command: &str,
) -> Result<(u32, String), russh::Error> {
    let mut channel = session.channel_open_session().await?;
    channel.exec(true, command).await?;
    let mut output = Vec::new();
    let mut code = None;
    while let Some(msg) = channel.wait().await {
        match msg {
            russh::ChannelMsg::Data { data } => output.extend_from_slice(&data),
            russh::ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status),
            russh::ChannelMsg::Close => break,
            _ => {}
        }
    }
    let _ = channel.close().await;
    Ok((
        code.unwrap_or(255),
        String::from_utf8_lossy(&output).into_owned(),
    ))
}

/// Reads the probe command's output: `df -P` (its header, then the line of
/// the store's filesystem), then `store-ok` or `store-failed`.
pub fn parse_output(output: &str) -> ProbeOutcome {
    let mut disk = None;
    let mut store_ok = false;
    for line in output.lines() {
        let line = line.trim();
        if line == "store-ok" {
            store_ok = true;
        } else if line != "store-failed" {
            disk = disk.or_else(|| df_percent(line));
        }
    }
    ProbeOutcome::Answered {
        store_ok,
        store_detail: if store_ok {
            String::new()
        } else {
            "the store check failed in the guest".into()
        },
        disk_used_percent: disk,
    }
}

/// The capacity column (`NN%`) of a `df -P` data line.
fn df_percent(line: &str) -> Option<u8> {
    line.split_whitespace()
        .find_map(|field| field.strip_suffix('%'))
        .and_then(|p| p.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_df_and_store_lines() {
        let out = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 2031440 1200000 800000 60% /\nstore-ok\n";
        assert_eq!(
            parse_output(out),
            ProbeOutcome::Answered {
                store_ok: true,
                store_detail: String::new(),
                disk_used_percent: Some(60)
            }
        );
        match parse_output("store-failed\n") {
            ProbeOutcome::Answered {
                store_ok,
                disk_used_percent,
                ..
            } => {
                assert!(!store_ok);
                assert_eq!(disk_used_percent, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn host_keys_parse_from_known_hosts_lines() {
        let line =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJb1Lw0d7p1mmEo3gjRWGnI6i0cTMfDHKlx3Ld1t0h3 x";
        assert!(parse_host_key(line).is_ok());
        assert!(parse_host_key(&format!("[127.0.0.1]:22 {line}")).is_ok());
        assert!(parse_host_key("nonsense").is_err());
    }
}
