//! `builderbar status`: the VM's state from the supervisor's status file,
//! checked against the live processes.

use anyhow::Result;
use builderbar::actions;
use builderbar::paths::Paths;
use builderbar::vm::VmState;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
    /// Keep watching: print each change of the builder's observed state
    /// (SSH with the pinned host key, the store, disk use) as it happens,
    /// until Ctrl-C.
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    probe: super::monitor::ProbeArgs,
}

pub fn run(args: Args) -> Result<()> {
    if args.watch {
        return super::monitor::watch(&args.probe, args.json);
    }
    let paths = Paths::from_env()?;
    let status = actions::status(&paths)?;
    if args.json {
        println!("{}", serde_json::to_string(&status)?);
        return Ok(());
    }
    let report = status.vm;
    let state = match report.state {
        VmState::Starting => "Starting",
        VmState::Running => "Running",
        VmState::Stopping => "Stopping",
        VmState::Stopped => "Stopped",
        VmState::Failed => "Failed",
    };
    match (report.port, report.uptime_secs) {
        (Some(port), Some(uptime)) => println!(
            "{state} — SSH on 127.0.0.1:{port}, up {}",
            human_duration(uptime)
        ),
        _ => println!("{state}"),
    }
    if report.crash_loop {
        println!(
            "The builder keeps failing as it starts; launchd retries every few seconds. See `builderbar logs`."
        );
    }
    if let Some(error) = report.last_error {
        println!("Last error: {error}");
    }
    if status.service.stopped_by_user {
        println!("Stopped by you: it stays stopped until `builderbar start`.");
    }
    Ok(())
}

fn human_duration(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}
