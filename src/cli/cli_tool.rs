//! `builderbar cli-tool install [--dir DIR] | uninstall | status`: the
//! menu's "Install Command-Line Tool…", a link to `builderbar` on the PATH.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use builderbar::actions;
use builderbar::cli_tool::{CliTool, CliToolError};
use builderbar::hint::Hint;
use builderbar::paths::Paths;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Link `builderbar` into a folder on your PATH (asks for the
    /// administrator password only if the folder needs it)
    Install {
        /// The folder (default: /usr/local/bin on macOS, ~/.local/bin elsewhere)
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Remove the link (only if it is still BuilderBar's)
    Uninstall,
    /// Say where the link is, or would go
    Status {
        /// The folder to ask about
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

pub fn run(command: Command) -> Result<()> {
    let paths = Paths::from_env()?;
    match command {
        Command::Install { dir } => {
            let tool = actions::install_cli_tool(&paths, dir.as_deref()).map_err(explain)?;
            println!(
                "{} now runs {}; open a new Terminal window to use it.",
                tool.link.display(),
                tool.target.display()
            );
        }
        Command::Uninstall => match actions::uninstall_cli_tool(&paths).map_err(explain)? {
            true => println!("The command-line tool's link is removed."),
            false => println!("The command-line tool was not installed: nothing to remove."),
        },
        Command::Status { dir } => {
            describe(&actions::cli_tool_status(&paths, dir.as_deref()).map_err(explain)?)
        }
    }
    Ok(())
}

fn describe(tool: &CliTool) {
    if tool.installed {
        println!(
            "installed: {} → {}",
            tool.link.display(),
            tool.target.display()
        );
    } else {
        let admin = if tool.needs_admin {
            " (with the administrator password)"
        } else {
            ""
        };
        println!(
            "not installed: `builderbar cli-tool install` would link {} → {}{admin}",
            tool.link.display(),
            tool.target.display()
        );
    }
}

fn explain(err: CliToolError) -> anyhow::Error {
    match err.hint() {
        Some(hint) => anyhow!("{err}\n  hint: {hint}"),
        None => anyhow!("{err}"),
    }
}
