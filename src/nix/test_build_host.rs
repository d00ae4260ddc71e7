//! The host's Nix, as the test build reaches it.
//!
//! Without a sysroot: the machine's own `nix-build` through its nix-daemon
//! (`NIX_REMOTE=daemon`) and the real /etc/nix files — what a Mac does.
//!
//! With a sysroot (Linux development and tests): a private nix-daemon that
//! reads exactly the files `builderbar install --sysroot` wrote there. It
//! runs in a private mount namespace (`unshare --mount`, root only) in which
//! the sysroot's `/etc/ssh/ssh_config.d` (and `/etc/nix`, where the host has
//! one) is bind-mounted over the real one, so the daemon's ssh meets the
//! generated alias, key and known host and nothing of the machine's own
//! wiring; `NIX_CONF_DIR` points it at the sysroot's nix.conf and machines
//! file. Its state and logs live in `<sysroot>/nix/var`; its store is the
//! dev VM's shared store path ([`devvm::NIX_STORE_DIR`]), which the guest
//! mounts at the same path. `nix-build` talks to it over its socket
//! (`NIX_REMOTE=daemon`), as on a Mac. Every program is started with its
//! arguments as separate words: no shell line is built from a path.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::test_build::{Built, TestBuildError, expression, failure, unique_marker};
use super::test_build_daemon::PrivateDaemon;

/// Why the host's Nix could not be prepared for the test build.
#[derive(thiserror::Error, Debug)]
pub enum HostError {
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{} is missing: run `builderbar install --sysroot {}` first (doctor checks: machines, alias)",
        missing.display(), sysroot.display()
    )]
    NotInstalled { sysroot: PathBuf, missing: PathBuf },
    #[error(
        "a test build under a sysroot needs {0} (it runs Nix in a private mount namespace); run it as root on Linux"
    )]
    Unsupported(String),
    #[error("the private nix-daemon did not start: {0}")]
    Daemon(String),
    #[error("the test derivation could not be written: {0}")]
    Expression(#[from] super::NixError),
}

impl HostError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| HostError::Io {
            action,
            path,
            source,
        }
    }
}

/// How to reach the host's Nix.
#[derive(Debug, Clone)]
pub enum HostNix {
    /// The machine's nix-daemon.
    System { nix_build: PathBuf },
    /// A private nix-daemon over the sysroot's files (started per build).
    Sysroot { sysroot: PathBuf },
}

impl HostNix {
    /// The machine's Nix (`None`), or a private daemon over the files
    /// under `sysroot`.
    pub fn for_sysroot(sysroot: Option<&Path>) -> Result<HostNix, TestBuildError> {
        match sysroot {
            Some(dir) => {
                let sysroot = std::path::absolute(dir).map_err(HostError::io("find", dir))?;
                for needed in ["etc/nix/machines", "etc/ssh/ssh_config.d"] {
                    let path = sysroot.join(needed);
                    if !path.exists() {
                        return Err(HostError::NotInstalled {
                            sysroot,
                            missing: path,
                        }
                        .into());
                    }
                }
                Ok(HostNix::Sysroot { sysroot })
            }
            None => {
                let nix = super::runner_build::find_nix().ok_or(TestBuildError::NixMissing)?;
                let nix_build = nix.with_file_name("nix-build");
                if !nix_build.is_file() {
                    return Err(TestBuildError::NixMissing);
                }
                Ok(HostNix::System { nix_build })
            }
        }
    }

    /// The environment that points Nix's own commands at this store
    /// (`nix-store --check-validity`, the build watcher): empty for the
    /// machine's Nix.
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        match self {
            HostNix::System { .. } => Vec::new(),
            HostNix::Sysroot { sysroot } => sysroot_env(sysroot),
        }
    }

    /// Builds a derivation running `script` for `system` that only a
    /// remote builder may build (`max-jobs = 0`); unique per call.
    pub fn build_on_builder(
        &self,
        system: &str,
        name: &str,
        script: &str,
        timeout: Duration,
    ) -> Result<Built, TestBuildError> {
        let built = self.build_all_on_builder(
            &[BuildSpec {
                system,
                name,
                script,
            }],
            timeout,
        )?;
        let output = built.outputs.into_iter().next().ok_or_else(no_output)?;
        Ok(Built {
            output,
            log_tail: built.log_tail,
        })
    }

    /// Builds every one of `builds` in one `nix-build`, so that Nix hands
    /// them to the builder side by side (as many at once as the machines
    /// entry's maxJobs allows); the outputs come back in the same order.
    pub fn build_all_on_builder(
        &self,
        builds: &[BuildSpec<'_>],
        timeout: Duration,
    ) -> Result<BuiltAll, TestBuildError> {
        let (command, dir, _daemon) = self.command_for(builds)?;
        let (ok, stdout, stderr) = run_with_timeout(command, dir.path(), timeout)?;
        if !ok {
            return Err(failure(&stderr));
        }
        let outputs: Vec<PathBuf> = stdout
            .lines()
            .filter(|l| l.starts_with('/'))
            .map(PathBuf::from)
            .collect();
        if outputs.len() != builds.len() {
            return Err(no_output());
        }
        let lines: Vec<&str> = stderr.lines().collect();
        Ok(BuiltAll {
            outputs,
            log_tail: super::nix_errors::last_meaningful(&lines, 10),
        })
    }
}

impl HostNix {
    /// The `nix-build` of one derivation running `script` for `system`
    /// that only a remote builder may build, with what it needs while it
    /// runs: the folder holding its expression and, under a sysroot, the
    /// private daemon (both go when dropped).
    pub(crate) fn build_command(
        &self,
        system: &str,
        name: &str,
        script: &str,
    ) -> Result<(Command, ScratchDir, Option<PrivateDaemon>), TestBuildError> {
        self.command_for(&[BuildSpec {
            system,
            name,
            script,
        }])
    }

    fn command_for(
        &self,
        builds: &[BuildSpec<'_>],
    ) -> Result<(Command, ScratchDir, Option<PrivateDaemon>), TestBuildError> {
        let marker = unique_marker();
        let dir = ScratchDir::create(&format!("builderbar-test-build-{marker}"))?;
        let file = dir.path().join("test-build.nix");
        let mut expr = String::from("[\n");
        for build in builds {
            let one = expression(build.name, build.system, build.script, &marker)
                .map_err(HostError::from)?;
            expr.push_str(&format!("({})\n", one.trim_end()));
        }
        expr.push_str("]\n");
        std::fs::write(&file, expr).map_err(HostError::io("write", &file))?;
        let (nix_build, daemon) = match self {
            HostNix::System { nix_build } => (nix_build.clone(), None),
            HostNix::Sysroot { sysroot } => {
                (program("nix-build")?, Some(PrivateDaemon::start(sysroot)?))
            }
        };
        let mut command = Command::new(nix_build);
        command
            .arg(&file)
            .args(["--no-out-link", "--max-jobs", "0"])
            .env("NIX_REMOTE", "daemon");
        for (key, value) in self.env() {
            command.env(key, value);
        }
        Ok((command, dir, daemon))
    }
}

/// One derivation of [`HostNix::build_all_on_builder`].
#[derive(Debug, Clone, Copy)]
pub struct BuildSpec<'a> {
    pub system: &'a str,
    pub name: &'a str,
    pub script: &'a str,
}

/// The outputs of several builds made together, in the order asked for.
#[derive(Debug)]
pub struct BuiltAll {
    pub outputs: Vec<PathBuf>,
    pub log_tail: Vec<String>,
}

fn no_output() -> TestBuildError {
    TestBuildError::Nix {
        last_lines: vec!["nix-build printed no output path".into()],
    }
}

impl HostNix {
    /// What ssh itself says when it meets the builder as Nix does (Nix 2.8
    /// only reports "unexpected end-of-file" for ssh-ng): the key and the
    /// pinned host key of our machines entry, the ssh alias. Empty when the
    /// entry or its key cannot be read here.
    pub fn ssh_cause(&self) -> Vec<String> {
        let (machines, config) = match self {
            HostNix::System { .. } => (super::plan::Layout::new("/").machines(), None),
            HostNix::Sysroot { sysroot } => {
                let layout = super::plan::Layout::new(sysroot);
                (layout.machines(), Some(layout.ssh_config()))
            }
        };
        let text = std::fs::read_to_string(machines).unwrap_or_default();
        let prefix = format!("ssh-ng://{}@{} ", super::BUILDER_USER, super::ALIAS);
        let Some(fields) = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(&prefix))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
        else {
            return Vec::new();
        };
        let (Some(key), Some(host_key)) = (fields.get(2), fields.get(7)) else {
            return Vec::new();
        };
        use base64::Engine;
        let Ok(host_key) = base64::engine::general_purpose::STANDARD.decode(host_key) else {
            return vec!["the machines entry's host key is not valid base64".into()];
        };
        if std::fs::File::open(key).is_err() {
            return Vec::new();
        }
        let Ok(dir) = ScratchDir::create(&format!("builderbar-ssh-probe-{}", unique_marker()))
        else {
            return Vec::new();
        };
        let known = dir.path().join("known_hosts");
        let line = format!(
            "{} {}\n",
            super::ALIAS,
            String::from_utf8_lossy(&host_key).trim()
        );
        if std::fs::write(&known, line).is_err() {
            return Vec::new();
        }
        let mut command = Command::new("ssh");
        if let Some(config) = config {
            command.arg("-F").arg(config);
        }
        let mut known_option = OsString::from("UserKnownHostsFile=");
        known_option.push(&known);
        let out = command
            .arg("-o")
            .arg(known_option)
            .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-i"])
            .arg(key)
            .arg(format!("{}@{}", super::BUILDER_USER, super::ALIAS))
            .arg("true")
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(out) if out.status.success() => vec![
                "ssh to the builder works now with the same key and host key (was it still starting?)"
                    .into(),
            ],
            Ok(out) => ssh_words(&String::from_utf8_lossy(&out.stderr)),
            Err(e) => vec![format!("ssh could not run: {e}")],
        }
    }
}

/// ssh's verdict, without its advice about the probe's temporary
/// known_hosts file: the last line ("Host key verification failed.",
/// "Connection refused", "Permission denied (publickey).") and, before it,
/// the line naming a changed host key.
fn ssh_words(stderr: &str) -> Vec<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut words: Vec<String> = lines
        .iter()
        .filter(|l| l.starts_with("Host key for "))
        .map(|l| format!("ssh says: {l}"))
        .collect();
    if let Some(last) = lines.last().filter(|l| !l.starts_with("Host key for ")) {
        words.push(format!("ssh says: {last}"));
    }
    words
}

/// The variables that point Nix at the sysroot's store, state, logs and
/// configuration: what the private daemon runs with, and what the build
/// watcher and `nix-store` need to see the same store.
pub fn sysroot_env(sysroot: &Path) -> Vec<(&'static str, OsString)> {
    vec![
        ("NIX_STORE_DIR", devvm::NIX_STORE_DIR.into()),
        ("NIX_STATE_DIR", sysroot.join("nix/var/nix").into()),
        ("NIX_LOG_DIR", sysroot.join("nix/var/log/nix").into()),
        ("NIX_CONF_DIR", sysroot.join("etc/nix").into()),
    ]
}

/// A folder of our own under the temporary folder, removed when dropped.
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    fn create(name: &str) -> Result<ScratchDir, HostError> {
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir(&dir).map_err(HostError::io("create", &dir))?;
        Ok(ScratchDir(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A program on PATH (then the usual system folders).
pub(crate) fn program(name: &str) -> Result<PathBuf, HostError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| HostError::Unsupported(format!("`{name}`")))
}

/// Runs `command` with its output in files under `dir`; kills it after
/// `timeout`. Returns (success, stdout, stderr).
fn run_with_timeout(
    mut command: Command,
    dir: &Path,
    timeout: Duration,
) -> Result<(bool, String, String), TestBuildError> {
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let out = std::fs::File::create(&out_path).map_err(HostError::io("create", &out_path))?;
    let err = std::fs::File::create(&err_path).map_err(HostError::io("create", &err_path))?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => TestBuildError::NixMissing,
            _ => HostError::Io {
                action: "run",
                path: PathBuf::from(command.get_program()),
                source: e,
            }
            .into(),
        })?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(TestBuildError::Timeout(timeout));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(HostError::io("wait for", "nix-build")(e).into()),
        }
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    Ok((status.success(), read(&out_path), read(&err_path)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ssh_words_keep_the_verdict_not_the_advice() {
        let stderr = "@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nOffending ED25519 key in /tmp/p/known_hosts:1\n  remove with:\n  ssh-keygen -f \"/tmp/p/known_hosts\" -R \"a\"\nHost key for a has changed and you have requested strict checking.\nHost key verification failed.\n";
        assert_eq!(
            super::ssh_words(stderr),
            [
                "ssh says: Host key for a has changed and you have requested strict checking.",
                "ssh says: Host key verification failed."
            ]
        );
        assert_eq!(
            super::ssh_words("ssh: connect to host 127.0.0.1 port 1: Connection refused\n"),
            ["ssh says: ssh: connect to host 127.0.0.1 port 1: Connection refused"]
        );
    }
}
