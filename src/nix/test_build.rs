//! The test build: a tiny derivation for the builder's system, built by the
//! host's Nix through its daemon, so it proves the whole chain — the
//! machines entry, the ssh alias, the root key, the pinned host key, the VM,
//! the build and the copy back.
//!
//! Only the builder may build it: the build runs with `max-jobs = 0`, so
//! the host's Nix builds nothing itself and must hand it to a remote
//! builder. On a Mac the host could not build a Linux derivation anyway; on
//! a Linux development machine the host is `x86_64-linux` like the dev VM,
//! and this is what keeps the test honest. A marker unique to each run means
//! the output is never already built, and the output records the machine
//! and host name it was built on, so a caller can tell it came from the
//! guest.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::nix_errors::{self, Failure};
pub use super::test_build_host::HostNix;

pub use super::test_build_host::HostError;

/// A passed test build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBuildReport {
    /// The output, valid in the host's store.
    pub output: PathBuf,
    /// The builder's system it was built for.
    pub system: String,
    pub elapsed: Duration,
    /// The last lines Nix printed (the build's own output among them).
    pub log_tail: Vec<String>,
    /// What the output says about where it was built (`machine: x86_64`,
    /// `host: builder`).
    pub built_on: Vec<String>,
}

/// Why the test build did not pass. Each message says what happened and
/// what to do, naming the doctor check (`builderbar doctor`) to look at.
#[derive(thiserror::Error, Debug)]
pub enum TestBuildError {
    #[error(
        "Nix is not installed here (no nix-build found); install Nix, then run `builderbar install` (doctor check: nix)"
    )]
    NixMissing,
    #[error("the settings could not be read: {0}")]
    Settings(#[from] crate::settings::SettingsError),
    #[error(
        "the settings name no builder system to test; set one with `builderbar settings set systems {}`",
        crate::settings::host::linux_twin()
    )]
    NoSystem,
    #[error(
        "Nix could not use the builder: {}. Start it (`builderbar start`), then see the `ssh`, `host-key` and `machines` checks of `builderbar doctor`",
        cause.join(" / ")
    )]
    NoMachine { cause: Vec<String> },
    #[error(
        "the test build ran on the builder and failed: {}. See `builderbar logs` and the `remote-store` check of `builderbar doctor`",
        log_tail.join(" / ")
    )]
    BuildFailed { log_tail: Vec<String> },
    #[error(
        "the test build passed but its output says it was not built on the builder ({}); check that `builderbar install` wired this Nix (doctor check: machines)",
        built_on.join(", ")
    )]
    NotOnBuilder { built_on: Vec<String> },
    #[error(
        "nix-build failed: {}. Run `builderbar doctor` to see which part of the wiring is wrong",
        last_lines.join(" / ")
    )]
    Nix { last_lines: Vec<String> },
    #[error("the test build did not finish within {} s; see `builderbar logs` (is the builder overloaded?)", .0.as_secs())]
    Timeout(Duration),
    #[error(transparent)]
    Host(#[from] HostError),
}

/// How long a test build may take: a trivial build under software
/// emulation takes about a second once the VM is warm.
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// The test build for the builder's first system (from the settings).
/// `sysroot`: see [`HostNix::for_sysroot`].
pub fn run(
    paths: &crate::paths::Paths,
    sysroot: Option<&Path>,
) -> Result<TestBuildReport, TestBuildError> {
    let settings = crate::settings::SettingsStore::open(paths)?
        .load()?
        .settings;
    let system = settings
        .systems
        .first()
        .cloned()
        .ok_or(TestBuildError::NoSystem)?;
    let host = HostNix::for_sysroot(sysroot)?;
    let started = Instant::now();
    let built = host
        .build_on_builder(&system, "builderbar-test-build", TEST_SCRIPT, TIMEOUT)
        .map_err(|err| with_ssh_cause(&host, err))?;
    let text = std::fs::read_to_string(&built.output).unwrap_or_default();
    let built_on: Vec<String> = text
        .lines()
        .filter(|l| {
            ["kernel:", "machine:", "host:"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(str::to_owned)
        .collect();
    let local = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    if !built_elsewhere(&text, local.as_deref()) {
        return Err(TestBuildError::NotOnBuilder { built_on });
    }
    Ok(TestBuildReport {
        output: built.output,
        system,
        elapsed: started.elapsed(),
        log_tail: built.log_tail,
        built_on,
    })
}

/// The test derivation's script: it records where it ran, with shell
/// builtins reading /proc where it can (Nix's sandbox on nixpkgs' builder
/// has only a minimal `/bin/sh`, and names its host "localhost").
const TEST_SCRIPT: &str = r#"read -r kernel < /proc/sys/kernel/ostype
read -r host < /proc/sys/kernel/hostname
machine=$(uname -m 2>/dev/null) || machine=unknown
echo "BuilderBar test build $marker"
printf 'BuilderBar test build %s\nkernel: %s\nmachine: %s\nhost: %s\n' "$marker" "$kernel" "$machine" "$host" > "$out"
cat "$out" 2>/dev/null || true"#;

/// Whether the output says it was built on a Linux machine that is not
/// this one: a Linux kernel, and (where this machine is Linux too) another
/// host name.
pub fn built_elsewhere(output_text: &str, local_hostname: Option<&str>) -> bool {
    let field = |key: &str| {
        output_text
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
    };
    let linux = field("kernel:") == Some("Linux");
    match (local_hostname.map(str::trim), field("host:")) {
        (Some(local), Some(remote)) => linux && local != remote,
        (None, _) => linux && !cfg!(target_os = "linux"),
        (Some(_), None) => false,
    }
}

/// A derivation built by the host's Nix.
#[derive(Debug, Clone)]
pub struct Built {
    pub output: PathBuf,
    pub log_tail: Vec<String>,
}

/// A plain derivation (no nixpkgs) running `script` with `/bin/sh` for
/// `system`; `marker` makes it unique. Every value is a Nix string literal.
pub fn expression(
    name: &str,
    system: &str,
    script: &str,
    marker: &str,
) -> Result<String, super::NixError> {
    use super::expr::nix_string;
    if !super::render::valid_system(system) {
        return Err(super::NixError::bad(
            "systems",
            format!(
                "{} is not a Nix system name",
                crate::settings::parse::printable(system)
            ),
        ));
    }
    Ok(format!(
        "derivation {{\n  name = {};\n  system = {};\n  builder = \"/bin/sh\";\n  args = [ \"-c\" {} ];\n  marker = {};\n}}\n",
        nix_string(name)?,
        nix_string(system)?,
        nix_string(script)?,
        nix_string(marker)?,
    ))
}

/// A marker no earlier build used: the time, this process and a count.
pub fn unique_marker() -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let count = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{now:x}-{:x}-{count}", std::process::id())
}

/// Adds what ssh itself says to a "no machine" error: Nix 2.8 hides it.
pub fn with_ssh_cause(host: &HostNix, err: TestBuildError) -> TestBuildError {
    match err {
        TestBuildError::NoMachine { mut cause } => {
            cause.extend(host.ssh_cause());
            TestBuildError::NoMachine { cause }
        }
        other => other,
    }
}

/// Turns a failed nix-build's stderr into the error the user sees.
pub(crate) fn failure(stderr: &str) -> TestBuildError {
    match nix_errors::classify(stderr) {
        Failure::NoMachine { cause } => TestBuildError::NoMachine { cause },
        Failure::BuildFailed { log_tail } => TestBuildError::BuildFailed { log_tail },
        Failure::Other { last_lines } => TestBuildError::Nix { last_lines },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expression_escapes_every_value() {
        let expr = expression("t", "x86_64-linux", "echo \"$out\" ${x}", "m").unwrap();
        assert!(expr.contains(r#"system = "x86_64-linux";"#), "{expr}");
        assert!(expr.contains(r#"\${x}"#), "{expr}");
        assert!(expression("t", "x86_64-linux\nx", "", "m").is_err());
    }

    #[test]
    fn only_another_linux_machine_counts() {
        let guest = "BuilderBar test build m\nkernel: Linux\nmachine: x86_64\nhost: builder\n";
        assert!(built_elsewhere(guest, Some("devbox\n")));
        assert!(!built_elsewhere(guest, Some("builder")));
        assert!(!built_elsewhere(
            "kernel: Darwin\nhost: x\n",
            Some("devbox")
        ));
        assert!(!built_elsewhere("", Some("devbox")));
    }

    #[test]
    fn markers_differ() {
        assert_ne!(unique_marker(), unique_marker());
    }
}
