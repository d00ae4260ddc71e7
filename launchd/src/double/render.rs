//! `print <service>` in launchd's layout (macOS 13–15 shape; the fields the
//! double cannot know, such as jetsam or endpoints, are left out or fixed).

use std::fmt::Write as _;

use launchd::{Job, KeepAlive, ProcessType, Termination};

use super::state::{Domain, Status, signal_name};

pub fn print(domain: &Domain, job: &Job, status: &Status, source: &str) -> String {
    let mut o = String::new();
    let running = status.state == "running";
    let _ = writeln!(o, "{domain}/{} = {{", job.label);
    let _ = writeln!(o, "\tactive count = {}", u8::from(running));
    let _ = writeln!(o, "\tpath = {source}");
    let _ = writeln!(
        o,
        "\ttype = {}",
        if domain.is_gui() {
            "LaunchAgent"
        } else {
            "LaunchDaemon"
        }
    );
    let _ = writeln!(o, "\tstate = {}", status.state);
    o.push('\n');
    if let Some(program) = job.program_arguments.first() {
        let _ = writeln!(o, "\tprogram = {program}");
    }
    o.push_str("\targuments = {\n");
    for arg in &job.program_arguments {
        let _ = writeln!(o, "\t\t{arg}");
    }
    o.push_str("\t}\n\n");
    if let Some(wd) = &job.working_directory {
        let _ = writeln!(o, "\tworking directory = {}\n", wd.display());
    }
    if let Some(p) = &job.standard_out_path {
        let _ = writeln!(o, "\tstdout path = {}", p.display());
    }
    if let Some(p) = &job.standard_error_path {
        let _ = writeln!(o, "\tstderr path = {}", p.display());
    }
    o.push_str("\tdefault environment = {\n\t\tPATH => /usr/bin:/bin:/usr/sbin:/sbin\n\t}\n\n");
    o.push_str("\tenvironment = {\n");
    for (k, v) in &job.environment_variables {
        let _ = writeln!(o, "\t\t{k} => {v}");
    }
    let _ = writeln!(o, "\t\tXPC_SERVICE_NAME => {}", job.label);
    o.push_str("\t}\n\n");
    let _ = writeln!(o, "\tdomain = {domain}");
    let _ = writeln!(o, "\tminimum runtime = {}", job.throttle_secs());
    let _ = writeln!(o, "\texit timeout = {}", job.exit_timeout_secs());
    let _ = writeln!(o, "\truns = {}", status.runs);
    if let (true, Some(pid)) = (running, status.pid) {
        let _ = writeln!(o, "\tpid = {pid}");
    }
    let _ = writeln!(o, "\tforks = 0");
    let _ = writeln!(o, "\texecs = {}", status.runs);
    match status.last_exit {
        None => o.push_str("\tlast exit code = (never exited)\n"),
        Some(Termination::Exited(78)) => o.push_str("\tlast exit code = 78: EX_CONFIG\n"),
        Some(Termination::Exited(code)) => {
            let _ = writeln!(o, "\tlast exit code = {code}");
        }
        Some(Termination::Signaled(sig)) => {
            let _ = writeln!(o, "\tlast terminating signal = {}", signal_name(sig));
        }
    }
    o.push('\n');
    let spawn = match job.process_type {
        Some(ProcessType::Interactive) => "interactive (4)",
        Some(ProcessType::Adaptive) => "adaptive (2)",
        Some(ProcessType::Background) => "background (1)",
        Some(ProcessType::Standard) | None => "daemon (3)",
    };
    let _ = writeln!(o, "\tspawn type = {spawn}");
    let mut props = Vec::new();
    if job
        .keep_alive
        .is_some_and(|k| k != KeepAlive::Always(false))
    {
        props.push("keepalive");
    }
    if job.run_at_load == Some(true) {
        props.push("runatload");
    }
    props.push("inferred program");
    let _ = writeln!(o, "\tproperties = {}", props.join(" | "));
    o.push_str("}\n");
    o
}
