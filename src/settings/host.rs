//! Facts about the host that defaults and validation depend on.

use serde::Serialize;

/// What validation needs to know about the machine. Detected by
/// [`HostFacts::detect`]; tests pass their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HostFacts {
    /// Logical CPUs.
    pub cpus: u32,
    /// Physical memory in bytes.
    pub memory_bytes: u64,
}

/// The host's memory size could not be read.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot tell how much memory this machine has ({0}); BuilderBar needs it to check the memory setting"
)]
pub struct HostError(String);

impl HostFacts {
    /// Reads the CPU count and memory size of this machine.
    pub fn detect() -> Result<Self, HostError> {
        let cpus = std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
            .unwrap_or(1);
        Ok(Self {
            cpus,
            memory_bytes: memory_bytes()?,
        })
    }

    /// Memory in MiB.
    pub fn memory_mib(&self) -> u64 {
        self.memory_bytes / (1024 * 1024)
    }
}

/// The Linux system a builder on this host runs: `aarch64-linux` on Apple
/// Silicon (and other aarch64 hosts), `x86_64-linux` on Intel.
pub fn linux_twin() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "aarch64-linux"
    } else {
        "x86_64-linux"
    }
}

#[cfg(target_os = "linux")]
fn memory_bytes() -> Result<u64, HostError> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").map_err(|e| HostError(e.to_string()))?;
    parse_meminfo(&meminfo).ok_or_else(|| HostError("no MemTotal in /proc/meminfo".into()))
}

#[cfg(not(target_os = "linux"))]
fn memory_bytes() -> Result<u64, HostError> {
    let out = std::process::Command::new("/usr/sbin/sysctl")
        .args(["-n", "hw.memsize"])
        .output()
        .map_err(|e| HostError(format!("sysctl: {e}")))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| HostError("sysctl hw.memsize gave no number".into()))
}

/// `MemTotal:  16318508 kB` → bytes.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_meminfo(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

#[cfg(test)]
impl HostFacts {
    /// An 8-core, 16 GiB Mac, for unit tests.
    pub fn sample() -> HostFacts {
        HostFacts {
            cpus: 8,
            memory_bytes: 16 << 30,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_meminfo() {
        assert_eq!(
            parse_meminfo("MemFree: 1 kB\nMemTotal:       16318508 kB\n"),
            Some(16318508 * 1024)
        );
        assert_eq!(parse_meminfo("nothing"), None);
    }

    #[test]
    fn detects_this_host() {
        let facts = HostFacts::detect();
        assert!(matches!(facts, Ok(f) if f.cpus >= 1 && f.memory_bytes > 0));
    }
}
