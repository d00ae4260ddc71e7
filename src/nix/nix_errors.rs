//! What a failed `nix-build` said, sorted into what the user can act on.
//!
//! When Nix cannot use a remote builder it only ends with "Failed to find a
//! machine for remote build!" and "unable to start any build": the real
//! cause (ssh refused the host key, the connection was refused, the key was
//! rejected) is in the lines above. When the builder ran and failed, Nix
//! prints the builder's last log lines prefixed with `> `.

/// The line Nix 2.x prints when no machine could take a build.
pub const NO_MACHINE: &str = "Failed to find a machine for remote build!";

/// A failed build's output, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No builder could be used; the lines that say why.
    NoMachine { cause: Vec<String> },
    /// The builder ran the build and it failed: the last log lines.
    BuildFailed { log_tail: Vec<String> },
    /// Anything else: the last lines Nix printed.
    Other { last_lines: Vec<String> },
}

/// Lines that only say what Nix is about to do, never why it failed.
fn is_progress(line: &str) -> bool {
    let line = line.trim();
    line.is_empty()
        || line.starts_with("building '")
        || line.starts_with("these ")
        || line.starts_with("this derivation")
        || line.starts_with("copying ")
        || line.starts_with("waiting for ")
        || (line.starts_with('/') && !line.contains(' '))
        || line.starts_with("warning: you don't have Internet access")
}

/// Sorts what `nix-build` printed on stderr.
pub fn classify(stderr: &str) -> Failure {
    let lines: Vec<&str> = stderr.lines().collect();
    if let Some(at) = lines.iter().rposition(|l| l.trim() == NO_MACHINE) {
        return Failure::NoMachine {
            cause: no_machine_cause(&lines[..at], &lines[at + 1..]),
        };
    }
    if let Some(tail) = builder_log_tail(&lines) {
        return Failure::BuildFailed { log_tail: tail };
    }
    if lines
        .iter()
        .any(|l| l.contains("unable to start any build"))
    {
        // max-jobs = 0 and no builders listed at all: Nix tried nothing.
        return Failure::NoMachine {
            cause: vec![
                "the host's Nix lists no remote builder (no machines entry is in use)".into(),
            ],
        };
    }
    Failure::Other {
        last_lines: last_meaningful(&lines, 10),
    }
}

/// The cause of "Failed to find a machine": what Nix said above it (each
/// builder it tried and why that failed); when it tried none, the lines
/// below it that compare the derivation's system with the machines'.
fn no_machine_cause(above: &[&str], below: &[&str]) -> Vec<String> {
    let mut cause: Vec<String> = above
        .iter()
        .filter(|l| !is_progress(l))
        .map(|l| l.trim().to_owned())
        .collect();
    // Only the lines since the last progress line belong to this attempt.
    if let Some(last) = above
        .iter()
        .rposition(|l| is_progress(l) && !l.trim().is_empty())
    {
        let recent: Vec<String> = above[last + 1..]
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_owned())
            .collect();
        if !recent.is_empty() {
            cause = recent;
        }
    }
    if cause.is_empty() {
        cause = below
            .iter()
            .take_while(|l| !l.trim_start().starts_with("error:"))
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_owned())
            .collect();
    }
    if cause.is_empty() {
        cause.push("Nix gave no reason".into());
    }
    cause
}

/// The `> ` lines Nix 2.4+ prints under "builder for '…' failed", after
/// the last "builder for '…' failed" line as the headline.
fn builder_log_tail(lines: &[&str]) -> Option<Vec<String>> {
    let failed = |l: &&str| l.contains("builder for '") && l.contains("failed");
    let first = lines.iter().position(failed)?;
    let last = lines.iter().rposition(failed)?;
    let mut tail: Vec<String> = lines[first + 1..]
        .iter()
        .map(|l| l.trim_start())
        .filter_map(|l| l.strip_prefix('>'))
        .map(|l| l.strip_prefix(' ').unwrap_or(l).to_owned())
        .collect();
    if tail.is_empty() {
        // Without the `> ` lines (log-lines = 0): what the builder printed
        // before Nix's verdict.
        tail = last_meaningful(&lines[..first], 10);
    }
    let headline = lines[last].trim();
    let headline = headline.strip_prefix("error: ").unwrap_or(headline);
    tail.insert(0, headline.trim_end_matches(';').to_owned());
    Some(tail)
}

/// The last `n` lines that are not progress.
pub fn last_meaningful(lines: &[&str], n: usize) -> Vec<String> {
    let kept: Vec<String> = lines
        .iter()
        .filter(|l| !is_progress(l))
        .map(|l| l.trim_end().to_owned())
        .collect();
    kept[kept.len().saturating_sub(n)..].to_vec()
}

#[cfg(test)]
#[path = "nix_errors_tests.rs"]
mod tests;
