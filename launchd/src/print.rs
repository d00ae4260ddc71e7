//! Parser of `launchctl print <domain>/<label>` output.
//!
//! Apple says this output is not API, so the parser is lenient: it reads only
//! the top-level `key = value` lines it knows (`state`, `pid`, `runs`,
//! `last exit code`, `last terminating signal`, with `job state` as a fallback
//! for `state`), skips nested blocks (`arguments = { … }`, `environment`,
//! `properties`…) and unknown lines, and never panics on any input.

/// What launchd says about a loaded service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceStatus {
    /// `state = …`.
    pub state: ServiceState,
    /// `pid = …`, present while a process runs.
    pub pid: Option<u32>,
    /// How the previous process ended; `None` when it never exited.
    pub last_exit: Option<LastExit>,
    /// `runs = …`: how many times launchd started the job since it was loaded.
    pub runs: u64,
}

/// `state = …` of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceState {
    /// `running`: a process exists.
    Running,
    /// `not running`: loaded, no process (stopped, finished, or never started).
    NotRunning,
    /// `spawn scheduled`: waiting out the throttle before the next start.
    SpawnScheduled,
    /// `waiting`: waiting for an event (on-demand job).
    Waiting,
    /// Anything else launchd may print, kept verbatim.
    Other(String),
}

/// How the last process of a service ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastExit {
    /// `last exit code = N` (optionally `N: NAME`).
    Code(i32),
    /// `last terminating signal = Name: N`.
    Signal {
        /// The signal number as launchd printed it.
        number: i32,
        /// The description before the number, e.g. `Terminated`.
        name: String,
    },
}

/// The output was not the `print` of a service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`launchctl print` output has no `state = …` line; is this the output for a service?")]
pub struct PrintParseError;

impl ServiceState {
    fn parse(value: &str) -> Self {
        match value {
            "running" => ServiceState::Running,
            "not running" => ServiceState::NotRunning,
            "spawn scheduled" => ServiceState::SpawnScheduled,
            "waiting" => ServiceState::Waiting,
            other => ServiceState::Other(other.to_owned()),
        }
    }

    /// The text launchd prints for this state.
    pub fn as_str(&self) -> &str {
        match self {
            ServiceState::Running => "running",
            ServiceState::NotRunning => "not running",
            ServiceState::SpawnScheduled => "spawn scheduled",
            ServiceState::Waiting => "waiting",
            ServiceState::Other(s) => s,
        }
    }
}

/// Parses `launchctl print <domain>/<label>` output.
pub fn parse_print(text: &str) -> Result<ServiceStatus, PrintParseError> {
    let mut state = None;
    let mut job_state = None;
    let mut pid = None;
    let mut runs = 0;
    let mut code = None;
    let mut signal = None;
    // Depth of `{` blocks: 1 is the service's own block; 0 tolerates output
    // without the `<service> = {` header.
    let mut depth: usize = 0;
    for raw in text.lines() {
        let line = raw.trim();
        // Blocks open with `name = {` and close with `}` alone: a value
        // inside a block (an argument, an environment entry) that merely
        // starts with `}` or ends with `{` is not a delimiter.
        if line == "}" {
            depth = depth.saturating_sub(1);
            continue;
        }
        let opens = line.ends_with(" = {");
        if depth <= 1
            && !opens
            && let Some((key, value)) = line.split_once(" = ")
        {
            let value = value.trim();
            match key.trim() {
                "state" => state = Some(ServiceState::parse(value)),
                "job state" => job_state = Some(ServiceState::parse(value)),
                "pid" => pid = value.parse::<u32>().ok(),
                "runs" => runs = value.parse::<u64>().unwrap_or(0),
                "last exit code" => code = leading_int(value).map(LastExit::Code),
                "last terminating signal" => signal = parse_signal(value),
                _ => {}
            }
        }
        if opens {
            depth = depth.saturating_add(1);
        }
    }
    let state = state.or(job_state).ok_or(PrintParseError)?;
    Ok(ServiceStatus {
        state,
        pid,
        last_exit: signal.or(code),
        runs,
    })
}

/// `78: EX_CONFIG` → 78; `(never exited)` → None.
fn leading_int(value: &str) -> Option<i32> {
    let head = value.split(':').next().unwrap_or("").trim();
    head.parse().ok()
}

/// `Terminated: 15` → (15, "Terminated").
fn parse_signal(value: &str) -> Option<LastExit> {
    let (name, number) = match value.rsplit_once(':') {
        Some((name, number)) => (name.trim(), number.trim()),
        None => ("", value.trim()),
    };
    let number = number.parse().ok()?;
    Some(LastExit::Signal {
        number,
        name: name.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exit_code_with_a_name() {
        let s = parse_print("x = {\n\tstate = not running\n\tlast exit code = 78: EX_CONFIG\n}\n")
            .unwrap();
        assert_eq!(s.last_exit, Some(LastExit::Code(78)));
        assert_eq!(s.state, ServiceState::NotRunning);
    }

    #[test]
    fn never_exited_is_none() {
        let s = parse_print("state = running\npid = 4\nlast exit code = (never exited)\n").unwrap();
        assert_eq!(s.last_exit, None);
        assert_eq!(s.pid, Some(4));
    }

    #[test]
    fn nested_state_lines_are_ignored() {
        let text =
            "svc = {\n\tstate = running\n\tinner = {\n\t\tstate = bogus\n\t\tpid = 9\n\t}\n}\n";
        let s = parse_print(text).unwrap();
        assert_eq!(s.state, ServiceState::Running);
        assert_eq!(s.pid, None);
    }

    #[test]
    fn values_ending_in_a_brace_are_not_blocks() {
        let text = "svc = {\n\tstate = running\n\tenvironment = {\n\t\tHOME => /x{\n\t\tA => }\n\t}\n\tpid = 7\n}\n";
        let s = parse_print(text).unwrap();
        assert_eq!(s.pid, Some(7));
    }

    #[test]
    fn no_state_is_an_error() {
        assert_eq!(parse_print("Bad request.\n"), Err(PrintParseError));
    }
}
