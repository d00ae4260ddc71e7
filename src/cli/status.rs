//! `builderbar status`: the one state the core decides (`health::view`):
//! the supervisor's status file checked against the live processes, and a
//! running health monitor's word for this run of the VM.

use anyhow::Result;
use builderbar::actions;
use builderbar::paths::Paths;

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
    let view = actions::status_view(&paths, None)?;
    if args.json {
        println!("{}", serde_json::to_string(&view)?);
        return Ok(());
    }
    println!("{}", view.builder.summary);
    let status = view.status;
    let report = status.vm;
    if let (Some(port), Some(uptime)) = (report.port, report.uptime_secs) {
        println!("SSH on 127.0.0.1:{port}, up {}", human_duration(uptime));
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
