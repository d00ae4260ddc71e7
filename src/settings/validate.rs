//! The one validation the CLI and the settings window both call. It never
//! panics, whatever the input, and every problem says what is wrong and
//! what to do in words a non-expert understands.

use std::fmt;

use serde::Serialize;

use super::host::HostFacts;
use super::model::{Settings, human_mib};
use super::parse::printable;

/// Something wrong with one setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The settings field, e.g. `ssh_port` or `notifications.disk_low_percent`.
    pub field: String,
    /// What is wrong, in plain words.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl Problem {
    /// A problem with `field`.
    pub fn new(field: &str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (hint: {})", self.message, self.hint)
    }
}

/// The smallest port a user process may use without privileges.
pub const MIN_PORT: u16 = 1024;
/// The least memory the builder boots and builds with.
pub const MIN_MEMORY_MIB: u64 = 1024;
/// The smallest disk the builder's system and a useful store fit on.
pub const MIN_DISK_MIB: u64 = 2048;
/// The largest disk we accept (16 TiB): beyond that is a typo.
pub const MAX_DISK_MIB: u64 = 16 << 20;
/// More jobs than this is a typo.
pub const MAX_JOBS: u32 = 256;
/// On-demand idle time: one minute to one day.
pub const IDLE_MINUTES: std::ops::RangeInclusive<u32> = 1..=1440;
/// The systems a builder can be asked to build for.
pub const KNOWN_SYSTEMS: &[&str] = &["aarch64-linux", "x86_64-linux"];

/// Memory the host keeps for itself: 2 GiB or an eighth of its RAM,
/// whichever is more.
pub fn host_memory_margin_mib(host: &HostFacts) -> u64 {
    (host.memory_mib() / 8).max(2048)
}

/// The most memory the builder may have on `host`.
pub fn max_memory_mib(host: &HostFacts) -> u64 {
    host.memory_mib()
        .saturating_sub(host_memory_margin_mib(host))
}

/// Checks `new` against the host and against `current` (the settings in
/// effect, for rules like "the disk only grows"). Returns every problem
/// found; an empty list means `new` may be saved. The port being free is
/// checked separately, when the change is applied ([`super::check_port_free`]).
pub fn validate(new: &Settings, current: Option<&Settings>, host: &HostFacts) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut add = |field: &str, message: String, hint: String| {
        problems.push(Problem::new(field, message, hint));
    };

    // Port.
    if new.ssh_port == 22 {
        add(
            "ssh_port",
            "Port 22 is the Mac's own SSH port; the builder cannot use it.".into(),
            "Pick a port between 1024 and 65535, such as 31022.".into(),
        );
    } else if new.ssh_port < MIN_PORT {
        add(
            "ssh_port",
            format!("Port {} is reserved for system services.", new.ssh_port),
            "Pick a port between 1024 and 65535, such as 31022.".into(),
        );
    }

    // Disk.
    if new.disk_mib < MIN_DISK_MIB {
        add(
            "disk_mib",
            format!(
                "A {} disk is too small for the builder.",
                human_mib(new.disk_mib)
            ),
            format!("Give it at least {}.", human_mib(MIN_DISK_MIB)),
        );
    } else if new.disk_mib > MAX_DISK_MIB {
        add(
            "disk_mib",
            format!(
                "A {} disk is more than BuilderBar supports.",
                human_mib(new.disk_mib)
            ),
            format!("Give it at most {}.", human_mib(MAX_DISK_MIB)),
        );
    } else if let Some(cur) = current
        && new.disk_mib < cur.disk_mib
    {
        add(
            "disk_mib",
            format!(
                "The disk can only grow: it is {} now and {} is smaller.",
                human_mib(cur.disk_mib),
                human_mib(new.disk_mib)
            ),
            "To get a smaller disk, the builder's disk must be recreated, which erases \
             everything stored on it (it is rebuilt or downloaded again when needed). \
             Or keep the current size."
                .into(),
        );
    }

    // Memory.
    let max_mem = max_memory_mib(host);
    if new.memory_mib < MIN_MEMORY_MIB {
        add(
            "memory_mib",
            format!(
                "{} of memory is too little for the builder.",
                human_mib(new.memory_mib)
            ),
            format!("Give it at least {}.", human_mib(MIN_MEMORY_MIB)),
        );
    } else if new.memory_mib > max_mem {
        add(
            "memory_mib",
            format!(
                "{} of memory would leave too little for this computer, which has {}.",
                human_mib(new.memory_mib),
                human_mib(host.memory_mib())
            ),
            if max_mem >= MIN_MEMORY_MIB {
                format!("Give the builder at most {}.", human_mib(max_mem))
            } else {
                "This computer has too little memory to run the builder.".into()
            },
        );
    }

    // Cores.
    if new.cores == 0 || new.cores > host.cpus {
        add(
            "cores",
            if new.cores == 0 {
                "The builder needs at least 1 core.".to_owned()
            } else {
                format!(
                    "This computer has {} cores; the builder cannot have {}.",
                    host.cpus, new.cores
                )
            },
            format!("Pick between 1 and {} cores.", host.cpus.max(1)),
        );
    }

    // Jobs.
    if new.max_jobs == 0 {
        add(
            "max_jobs",
            "Max jobs must be at least 1, or nothing would ever build.".into(),
            "Set it to the number of cores, for example.".into(),
        );
    } else if new.max_jobs > MAX_JOBS {
        add(
            "max_jobs",
            format!(
                "{} jobs at once is more than a builder can run.",
                new.max_jobs
            ),
            format!("Pick between 1 and {MAX_JOBS}; the number of cores is a good start."),
        );
    }

    // Systems.
    if new.systems.is_empty() {
        add(
            "systems",
            "The builder must build for at least one system.".into(),
            format!("Use {}.", super::host::linux_twin()),
        );
    }
    for (i, system) in new.systems.iter().enumerate() {
        if !KNOWN_SYSTEMS.contains(&system.as_str()) {
            add(
                "systems",
                format!(
                    "\"{}\" is not a system the builder can build for.",
                    printable(system)
                ),
                format!("Use one of: {}.", KNOWN_SYSTEMS.join(", ")),
            );
        } else if new.systems[..i].contains(system) {
            add(
                "systems",
                format!("{system} is listed twice."),
                "List each system once.".into(),
            );
        }
    }

    // On-demand: checked even while off, so turning it on never meets a
    // bad number saved earlier.
    if !IDLE_MINUTES.contains(&new.idle_minutes) {
        add(
            "idle_minutes",
            format!(
                "{} minutes is not an idle time the builder can wait.",
                new.idle_minutes
            ),
            "Pick between 1 minute and 1440 (one day); 30 is the default.".into(),
        );
    }

    // Notifications.
    let pct = new.notifications.disk_low_percent;
    if !(50..=99).contains(&pct) {
        add(
            "notifications.disk_low_percent",
            format!("A disk-low warning at {pct}% full would not be useful."),
            "Pick between 50% and 99%; 85% is the default.".into(),
        );
    }

    // nixpkgs: what the runner's expression accepts.
    if let Some(pin) = &new.nixpkgs
        && crate::nix::expr::Pin::parse(pin).is_err()
    {
        add(
            "nixpkgs",
            format!(
                "\"{}\" is not a nixpkgs version BuilderBar can build from.",
                printable(pin)
            ),
            "Give a branch or tag (like nixpkgs-25.05-darwin), a 40-hex commit, or an \
             https URL ending in .tar.gz; or remove the setting to use the default."
                .into(),
        );
    }

    // Authorized keys.
    let mut seen = Vec::new();
    for line in &new.authorized_keys {
        match crate::keys::authorized::parse_line(line) {
            Ok(key) => {
                if seen.contains(&key.fingerprint) {
                    add(
                        "authorized_keys",
                        format!("The key {} is listed twice.", key.fingerprint),
                        "Remove one of them.".into(),
                    );
                }
                seen.push(key.fingerprint);
            }
            Err(e) => add("authorized_keys", e.to_string(), e.what_to_do().into()),
        }
    }

    problems
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn host() -> HostFacts {
        HostFacts::sample()
    }

    fn fields(p: &[Problem]) -> Vec<&str> {
        p.iter().map(|p| p.field.as_str()).collect()
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::defaults_for(&host());
        assert_eq!(validate(&s, Some(&s), &host()), vec![]);
    }

    #[test]
    fn each_rule_names_its_field() {
        let base = Settings::defaults_for(&host());
        type Change = Box<dyn Fn(&mut Settings)>;
        let cases: Vec<(&str, Change)> = vec![
            ("ssh_port", Box::new(|s| s.ssh_port = 22)),
            ("ssh_port", Box::new(|s| s.ssh_port = 80)),
            ("disk_mib", Box::new(|s| s.disk_mib = 10 * 1024)),
            ("disk_mib", Box::new(|s| s.disk_mib = 100)),
            ("memory_mib", Box::new(|s| s.memory_mib = 512)),
            ("memory_mib", Box::new(|s| s.memory_mib = 15 * 1024)),
            ("cores", Box::new(|s| s.cores = 0)),
            ("cores", Box::new(|s| s.cores = 9)),
            ("max_jobs", Box::new(|s| s.max_jobs = 0)),
            ("systems", Box::new(|s| s.systems = vec![])),
            (
                "systems",
                Box::new(|s| s.systems = vec!["x86_64-darwin".into()]),
            ),
            (
                "notifications.disk_low_percent",
                Box::new(|s| s.notifications.disk_low_percent = 100),
            ),
            ("idle_minutes", Box::new(|s| s.idle_minutes = 0)),
            ("idle_minutes", Box::new(|s| s.idle_minutes = 1441)),
            (
                "authorized_keys",
                Box::new(|s| s.authorized_keys = vec!["not a key".into()]),
            ),
            (
                "nixpkgs",
                Box::new(|s| s.nixpkgs = Some("nixos\"; x = \"".into())),
            ),
        ];
        for (field, change) in cases {
            let mut s = base.clone();
            change(&mut s);
            let problems = validate(&s, Some(&base), &host());
            assert_eq!(fields(&problems), vec![field], "{problems:?}");
            assert!(!problems[0].hint.is_empty());
        }
    }

    #[test]
    fn shrinking_the_disk_explains_recreate() {
        let cur = Settings::defaults_for(&host());
        let mut new = cur.clone();
        new.disk_mib = 10 * 1024;
        let p = validate(&new, Some(&cur), &host());
        assert!(p[0].message.contains("only grow"), "{p:?}");
        assert!(p[0].hint.contains("recreate"), "{p:?}");
        // Without a current disk, any size in range is fine.
        assert!(validate(&new, None, &host()).is_empty());
    }

    #[test]
    fn memory_leaves_a_margin() {
        let h = host();
        let mut s = Settings::defaults_for(&h);
        s.memory_mib = max_memory_mib(&h);
        assert!(validate(&s, None, &h).is_empty());
        s.memory_mib += 1;
        assert_eq!(fields(&validate(&s, None, &h)), vec!["memory_mib"]);
    }
}
