//! Running the host tools the build needs, with failures turned into errors
//! that name the command and carry what it printed.

use std::ffi::OsStr;
use std::process::{Command, Output};

use crate::error::{Error, Result};

/// Runs `program args…` and returns its output when it exits 0.
pub(crate) fn run<P, I, S>(program: P, args: I) -> Result<Output>
where
    P: AsRef<OsStr>,
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(program);
    command.args(args);
    run_command(&mut command)
}

pub(crate) fn run_command(command: &mut Command) -> Result<Output> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command.output().map_err(|err| {
        if err.kind() == std::io::ErrorKind::NotFound {
            Error::ToolMissing {
                program: program.clone(),
            }
        } else {
            Error::ToolFailed {
                command: describe(command),
                status: "could not start".into(),
                stderr: err.to_string(),
            }
        }
    })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(Error::ToolFailed {
            command: describe(command),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}
