//! Building the builder's successor with the host's Nix while the builder
//! runs, so that the Linux parts go to it.
//!
//! - macOS: `nix build` of [`super::expr::successor_expression`] (the
//!   toplevel guard lifted) through the host's nix-daemon, whose
//!   `builders` name BuilderBar's builder: whatever the binary cache lacks
//!   for `aarch64-linux` is built there. Not run on a Mac yet: the command
//!   is rendered and tested as text, the expression is instantiated here
//!   against a stand-in nixpkgs, and its log is read by the parser that
//!   reads Debian's Nix here.
//! - Linux (development): the dev VM stands in. The host's Nix (the
//!   private daemon over the wiring's sysroot) builds the generation's
//!   Linux part — a file saying what it was built from — on the running
//!   dev VM with `max-jobs = 0`, and that file goes into the next dev VM
//!   build (`generations::dev::add_layered`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::NixError;
use super::internal_json::Parsed;
use super::streamed::{self, StreamError};
use super::test_build::{HostNix, TestBuildError};

/// What a successor's build says while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildLine {
    /// A derivation's build began, and where.
    Started(String),
    /// A line the build printed.
    Output(String),
    /// A message from Nix (errors and warnings).
    Nix(String),
}

impl BuildLine {
    fn from_parsed(parsed: &Parsed) -> Option<BuildLine> {
        match parsed {
            Parsed::BuildStarted(text) => Some(BuildLine::Started(text.clone())),
            Parsed::BuildLine(text) => Some(BuildLine::Output(text.clone())),
            Parsed::Message(text) => Some(BuildLine::Nix(text.clone())),
            Parsed::Progress(_) | Parsed::Nothing => None,
        }
    }
}

/// The macOS command: `nix build` of `expr_file` through the daemon,
/// printing its out path, logging as internal JSON.
pub fn mac_command(nix: &Path, expr_file: &Path) -> Command {
    let mut command = Command::new(nix);
    command
        .args([
            "--extra-experimental-features",
            "nix-command",
            "build",
            "--no-link",
            "--print-out-paths",
            "--log-format",
            "internal-json",
            "-f",
        ])
        .arg(expr_file)
        // The host's Nix goes through its daemon: the daemon holds the
        // `builders` BuilderBar's wiring wrote, and the key to reach it.
        .env("NIX_REMOTE", "daemon");
    command
}

/// macOS: builds the successor's runner from `expr_file`; its out path.
pub fn build_on_mac(
    nix: &Path,
    expr_file: &Path,
    timeout: Duration,
    on: &mut dyn FnMut(BuildLine),
) -> Result<PathBuf, NixError> {
    let streamed = streamed::run(mac_command(nix, expr_file), timeout, &mut |parsed| {
        if let Some(line) = BuildLine::from_parsed(parsed) {
            on(line)
        }
    })
    .map_err(|err| NixError::Command {
        program: "nix build (the successor)".into(),
        message: err.to_string(),
    })?;
    if !streamed.ok {
        let tail = &streamed.transcript[streamed.transcript.len().saturating_sub(10)..];
        return Err(NixError::Command {
            program: "nix build (the successor)".into(),
            message: tail.join("\n"),
        });
    }
    out_path(&streamed.stdout).ok_or_else(|| NixError::Command {
        program: "nix build (the successor)".into(),
        message: "it printed no store path".into(),
    })
}

/// The last store path a build printed.
pub fn out_path(stdout: &str) -> Option<PathBuf> {
    stdout
        .lines()
        .rfind(|l| l.starts_with('/'))
        .map(PathBuf::from)
}

/// Linux: the generation's Linux part, built on the running dev VM by the
/// host's Nix (`max-jobs = 0`): a file saying what the generation was
/// built from (`about`) and where it was built. Returns the file's bytes.
pub fn build_on_dev_vm(
    host: &HostNix,
    system: &str,
    about: &str,
    timeout: Duration,
    on: &mut dyn FnMut(BuildLine),
) -> Result<Vec<u8>, TestBuildError> {
    let script = format!(
        "read -r host < /proc/sys/kernel/hostname\n\
         echo \"building the next builder generation on $host\"\n\
         printf '%s\\nbuilt on: %s\\n' {} \"$host\" > \"$out\"\n\
         cat \"$out\"",
        shell_word(about)
    );
    let built = host.build_streamed(system, "builderbar-generation", &script, timeout, on)?;
    std::fs::read(&built)
        .map_err(|e| super::test_build_host::HostError::io("read", &built)(e).into())
}

/// `text` as one single-quoted shell word.
fn shell_word(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

impl HostNix {
    /// Like [`HostNix::build_on_builder`], hearing the build's lines as
    /// they come (`--log-format internal-json`); the output's path.
    pub fn build_streamed(
        &self,
        system: &str,
        name: &str,
        script: &str,
        timeout: Duration,
        on: &mut dyn FnMut(BuildLine),
    ) -> Result<PathBuf, TestBuildError> {
        let (mut command, _dir, _daemon) = self.build_command(system, name, script)?;
        command.args(["--log-format", "internal-json"]);
        let streamed = streamed::run(command, timeout, &mut |parsed| {
            if let Some(line) = BuildLine::from_parsed(parsed) {
                on(line)
            }
        })
        .map_err(|err| match err {
            StreamError::Timeout { timeout, .. } => TestBuildError::Timeout(timeout),
            StreamError::Spawn { .. } => TestBuildError::NixMissing,
        })?;
        if !streamed.ok {
            return Err(super::test_build::failure(&streamed.transcript.join("\n")));
        }
        out_path(&streamed.stdout).ok_or_else(|| TestBuildError::Nix {
            last_lines: vec!["nix-build printed no output path".into()],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mac_command_builds_through_the_daemon_and_logs_as_json() {
        let command = mac_command(
            Path::new("/nix/var/nix/profiles/default/bin/nix"),
            Path::new("/Users/a b/Library/Application Support/BuilderBar/successor.nix"),
        );
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args.join(" "),
            "--extra-experimental-features nix-command build --no-link --print-out-paths \
             --log-format internal-json -f /Users/a b/Library/Application Support/BuilderBar/successor.nix"
        );
        assert_eq!(args.last().unwrap().matches('/').count(), 6, "one argument");
        let env: Vec<_> = command.get_envs().collect();
        assert_eq!(
            env,
            [(
                std::ffi::OsStr::new("NIX_REMOTE"),
                Some(std::ffi::OsStr::new("daemon"))
            )]
        );
    }

    #[test]
    fn words_are_quoted_for_the_builders_shell() {
        assert_eq!(shell_word("nixpkgs 'x' $y"), r#"'nixpkgs '\''x'\'' $y'"#);
    }

    #[test]
    fn the_out_path_is_the_last_store_path_printed() {
        assert_eq!(
            out_path("warning\n/nix/store/a-x\n/nix/store/b-vm\n"),
            Some(PathBuf::from("/nix/store/b-vm"))
        );
        assert_eq!(out_path("nothing\n"), None);
    }
}
