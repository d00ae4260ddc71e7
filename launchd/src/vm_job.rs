//! BuilderBar's VM job: a LaunchAgent in `gui/<uid>` that runs
//! `builderbar vm run` from a stable installed copy of the binary once
//! `/nix/store` is mounted.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::job::{Job, JobError, KeepAlive, ProcessType};
use crate::{APP_BUNDLE_ID, VM_JOB_LABEL};

/// The fixed shell script of the VM job: wait for a path with the waiting
/// program, then become the supervisor. It never contains a value from the
/// user or the machine: the waiting program, the path, the binary and its
/// arguments follow as separate argv elements (`$1`, `$2`, then `"$@"`), so
/// no path can be re-parsed by the shell.
pub const VM_JOB_SCRIPT: &str = "\"$1\" \"$2\" && shift 2 && exec \"$@\"";
/// macOS's own program that waits until a path exists.
pub const WAIT4PATH: &str = "/bin/wait4path";
/// The job waits for the Nix store to be mounted (an APFS volume that may
/// appear after login) before starting anything.
pub const NIX_STORE: &str = "/nix/store";
/// `$0` of the script: the name the waiting shell shows in `ps` and errors.
pub const VM_JOB_SHELL_NAME: &str = "builderbar-vm-wait";
/// Seconds launchd waits between two starts of a crashing VM job.
pub const VM_JOB_THROTTLE_SECS: u32 = 10;
/// Extra time launchd grants beyond the supervisor's own power-down wait
/// before it sends SIGKILL, so the supervisor can kill QEMU and exit cleanly.
pub const VM_JOB_EXIT_MARGIN: Duration = Duration::from_secs(10);

/// Plain inputs of the VM job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmJobInputs {
    /// The installed copy of the `builderbar` binary (under Application
    /// Support, refreshed on app update) — never a path inside the `.app`.
    pub binary: PathBuf,
    /// The supervisor's state folder: the job's working directory. The
    /// supervisor finds its files itself (its default folder, or
    /// `BUILDERBAR_HOME` if the caller passes it in `environment`).
    pub state_dir: PathBuf,
    /// Where launchd appends the job's stdout.
    pub stdout_log: PathBuf,
    /// Where launchd appends the job's stderr.
    pub stderr_log: PathBuf,
    /// Environment for the supervisor (e.g. `PATH`, `BUILDERBAR_LOG`,
    /// `BUILDERBAR_HOME` when the root is overridden).
    pub environment: BTreeMap<String, String>,
    /// How long the supervisor waits for the guest to power down on SIGTERM.
    pub power_down_wait: Duration,
    /// The program that waits for `wait_path` ([`WAIT4PATH`] on macOS;
    /// tests on Linux pass a stand-in).
    pub wait_program: PathBuf,
    /// What must exist before the supervisor starts ([`NIX_STORE`]).
    pub wait_path: PathBuf,
}

/// Builds the VM job's model from plain inputs.
///
/// `ProgramArguments` is `["/bin/sh", "-c", VM_JOB_SCRIPT, VM_JOB_SHELL_NAME,
/// <wait program>, <wait path>, <binary>, "vm", "run", "--powerdown-timeout",
/// <secs>]`: launchd has no "wait for a path" key, `/bin/wait4path` only
/// waits, so a shell runs both; the script is a constant and `exec` makes the
/// supervisor replace the shell, so launchd's SIGTERM reaches it directly and
/// its pid is the job's pid.
pub fn vm_job(inputs: &VmJobInputs) -> Result<Job, JobError> {
    check_binary(&inputs.binary)?;
    let binary = utf8(&inputs.binary, "the builderbar binary")?;
    utf8(&inputs.state_dir, "the state folder")?;
    let wait_program = utf8(&inputs.wait_program, "the waiting program")?;
    let wait_path = utf8(&inputs.wait_path, "the path to wait for")?;
    let wait_secs = inputs.power_down_wait.as_secs().max(1).to_string();
    let mut job = Job::new(
        VM_JOB_LABEL,
        vec![
            "/bin/sh".into(),
            "-c".into(),
            VM_JOB_SCRIPT.into(),
            VM_JOB_SHELL_NAME.into(),
            wait_program.into(),
            wait_path.into(),
            binary.into(),
            "vm".into(),
            "run".into(),
            "--powerdown-timeout".into(),
            wait_secs,
        ],
    );
    job.environment_variables = inputs.environment.clone();
    job.working_directory = Some(inputs.state_dir.clone());
    job.keep_alive = Some(KeepAlive::on_failure());
    job.run_at_load = Some(true);
    job.throttle_interval = Some(VM_JOB_THROTTLE_SECS);
    job.exit_time_out = Some(exit_timeout_secs(inputs.power_down_wait));
    // Builds are work the user waits on: no background CPU/IO throttling.
    job.process_type = Some(ProcessType::Interactive);
    // Login Items (macOS 13+) shows "BuilderBar", not a bare shell.
    job.associated_bundle_identifiers = vec![APP_BUNDLE_ID.to_owned()];
    job.standard_out_path = Some(inputs.stdout_log.clone());
    job.standard_error_path = Some(inputs.stderr_log.clone());
    job.validate()?;
    Ok(job)
}

/// Where a LaunchAgent's plist lives: `<home>/Library/LaunchAgents/<label>.plist`.
pub fn launch_agent_plist_path(home: &Path, label: &str) -> PathBuf {
    home.join("Library")
        .join("LaunchAgents")
        .join(format!("{label}.plist"))
}

/// `ExitTimeOut` for a power-down wait: the wait plus a margin, rounded up to
/// whole seconds, never 0 (which launchd reads as "wait forever").
pub fn exit_timeout_secs(power_down_wait: Duration) -> u32 {
    let total = power_down_wait.saturating_add(VM_JOB_EXIT_MARGIN);
    let secs = total
        .as_secs()
        .saturating_add(u64::from(total.subsec_nanos() > 0));
    u32::try_from(secs).unwrap_or(u32::MAX).max(1)
}

fn check_binary(binary: &Path) -> Result<(), JobError> {
    if !binary.is_absolute() {
        return Err(JobError::Invalid(format!(
            "the builderbar binary {} must be an absolute path",
            binary.display()
        )));
    }
    let in_bundle = binary.components().any(|c| match c {
        Component::Normal(name) => name.to_string_lossy().ends_with(".app"),
        _ => false,
    });
    if in_bundle {
        return Err(JobError::Invalid(format!(
            "the job must run an installed copy of builderbar, not {} inside the app bundle \
             (moving or updating the app would break the job)",
            binary.display()
        )));
    }
    Ok(())
}

fn utf8<'a>(path: &'a Path, what: &str) -> Result<&'a str, JobError> {
    path.to_str()
        .ok_or_else(|| JobError::Invalid(format!("{what} {} is not valid UTF-8", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> VmJobInputs {
        VmJobInputs {
            binary: "/Users/ann/Library/Application Support/BuilderBar/bin/builderbar".into(),
            state_dir: "/Users/ann/Library/Application Support/BuilderBar/vm".into(),
            stdout_log: "/Users/ann/Library/Logs/BuilderBar/vm.out.log".into(),
            stderr_log: "/Users/ann/Library/Logs/BuilderBar/vm.err.log".into(),
            environment: BTreeMap::new(),
            power_down_wait: Duration::from_secs(30),
            wait_program: WAIT4PATH.into(),
            wait_path: NIX_STORE.into(),
        }
    }

    #[test]
    fn binary_is_a_separate_argument() {
        let job = vm_job(&inputs()).unwrap();
        assert_eq!(job.program_arguments[2], VM_JOB_SCRIPT);
        assert_eq!(job.program_arguments[4], WAIT4PATH);
        assert_eq!(job.program_arguments[5], NIX_STORE);
        assert_eq!(job.program_arguments[6], inputs().binary.to_str().unwrap());
        assert_eq!(job.program_arguments[10], "30");
        assert_eq!(job.exit_time_out, Some(40));
        assert!(job.exit_time_out.unwrap() as u64 > inputs().power_down_wait.as_secs());
    }

    #[test]
    fn refuses_a_binary_inside_the_app_bundle() {
        let mut i = inputs();
        i.binary = "/Applications/BuilderBar.app/Contents/MacOS/builderbar".into();
        assert!(vm_job(&i).is_err());
        i.binary = "relative/builderbar".into();
        assert!(vm_job(&i).is_err());
    }

    #[test]
    fn exit_timeout_rounds_up_and_is_never_zero() {
        assert_eq!(exit_timeout_secs(Duration::from_millis(1500)), 12);
        assert_eq!(exit_timeout_secs(Duration::MAX), u32::MAX);
    }
}
