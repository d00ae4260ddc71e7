//! `builderbar vm run`: what launchd runs. Prepares the VM, runs the runner
//! in the foreground, keeps the status file current, and turns SIGTERM or
//! SIGINT into a clean guest power-down.
//!
//! Exit 0 after a stop that was asked for (launchd's `SuccessfulExit =
//! false` then leaves the job stopped); a distinct non-zero code, with the
//! reason in the log and the status file, when anything else happened.

use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::vm::config::{VmConfig, VmPaths};
use crate::vm::disk::{self, DiskAction, DiskTools};
use crate::vm::exit::SupervisorError;
use crate::vm::log::VmLog;
use crate::vm::preflight;
use crate::vm::qmp::Qmp;
use crate::vm::runner_launch;
use crate::vm::status::{ExitKind, LastExit, StatusFile, VmState, process_alive};
use crate::vm::trial;

/// A failed run that lasted this long starts a new count of failures.
const LASTING_RUN: Duration = Duration::from_secs(60);
/// After `quit`, how long QEMU gets before it is killed.
const QUIT_GRACE: Duration = Duration::from_secs(5);
/// ACPI presses made before the guest listens are lost: press again.
const POWER_BUTTON_REPEAT: Duration = Duration::from_secs(2);
const QMP_TIMEOUT: Duration = Duration::from_secs(2);

/// How a supervised run ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// SIGTERM/SIGINT: the guest was powered down (or, failing that, quit).
    Requested,
    /// The guest powered itself off.
    GuestPoweredOff,
}

pub(crate) enum Event {
    StopRequested,
    Exited(ExitStatus),
    /// On-demand: a connection to the builder's port came or went.
    Activity,
    /// On-demand: the guest's sshd greeted on QEMU's private forward.
    GuestAnswered,
}

/// Runs the VM until it stops. Blocks; installs SIGTERM/SIGINT handlers.
pub fn run(config: &VmConfig, paths: &VmPaths, log: &VmLog) -> Result<Stopped, SupervisorError> {
    std::fs::create_dir_all(&paths.state_dir)
        .map_err(SupervisorError::io("create", &paths.state_dir))?;
    let _lock = hold_lock(paths)?;
    let previous = StatusFile::read(&paths.status_file);
    let mut status = StatusFile {
        state: VmState::Starting,
        supervisor_pid: Some(std::process::id()),
        pid: None,
        port: Some(config.port),
        forward_port: None,
        started_at: None,
        last_exit: previous.as_ref().and_then(|old| old.last_exit.clone()),
        consecutive_failures: previous.map_or(0, |old| old.consecutive_failures),
    };
    status.write(&paths.status_file)?;
    let result = supervise(config, paths, log, &mut status);
    let (kind, reason, code, signal) = match &result {
        Ok(Stopped::Requested) => (
            ExitKind::Requested,
            "stopped as asked".to_string(),
            Some(0),
            None,
        ),
        Ok(Stopped::GuestPoweredOff) => (
            ExitKind::GuestPoweroff,
            "the guest powered itself off".into(),
            Some(0),
            None,
        ),
        Err(err) => {
            tracing::error!("{err}");
            let (code, signal) = match err {
                SupervisorError::VmDied(_) => (
                    status.last_exit.as_ref().and_then(|e| e.code),
                    status.last_exit.as_ref().and_then(|e| e.signal),
                ),
                _ => (Some(i32::from(err.exit_code())), None),
            };
            (err.kind(), err.to_string(), code, signal)
        }
    };
    status.state = if result.is_ok() {
        VmState::Stopped
    } else {
        VmState::Failed
    };
    let lasted = status
        .started_at
        .is_some_and(|started| OffsetDateTime::now_utc() - started >= LASTING_RUN);
    status.consecutive_failures = match (&result, lasted) {
        (Ok(_), _) => 0,
        (Err(_), true) => 1,
        (Err(_), false) => status.consecutive_failures.saturating_add(1),
    };
    status.pid = None;
    status.forward_port = None;
    status.last_exit = Some(LastExit {
        code,
        signal,
        kind,
        reason,
        at: OffsetDateTime::now_utc(),
    });
    // The VM's files go first: whoever reads the final word finds none.
    let _ = std::fs::remove_file(&paths.pid_file);
    let _ = std::fs::remove_file(&paths.qmp_socket);
    status.write(&paths.status_file)?;
    result
}

fn supervise(
    config: &VmConfig,
    paths: &VmPaths,
    log: &VmLog,
    status: &mut StatusFile,
) -> Result<Stopped, SupervisorError> {
    // Register before anything slow, so an early SIGTERM is not lost.
    let (events, inbox) = mpsc::channel();
    forward_stop_signals(events.clone())?;

    clear_stale_run(paths);
    let runner = runner_launch::resolve(config, paths)?;
    let tools = DiskTools::from_path()?;
    preflight::keys_are_readable(&paths.keys_dir)?;
    let vm = Vm {
        config,
        paths,
        log,
        runner: &runner,
        tools: &tools,
    };
    if let Some(idle) = config.on_demand {
        // The supervisor's own listener is the port check.
        return crate::vm::on_demand::run(&vm, idle, &events, &inbox, status);
    }
    preflight::port_is_free(config.port)?;
    let booted = vm.boot(config.port, &events, status)?;
    let outcome = wait_for_exit(config, paths, booted.pid, &inbox, status);
    booted.join();
    outcome
}

/// What one boot of the VM needs.
pub(crate) struct Vm<'a> {
    pub config: &'a VmConfig,
    pub paths: &'a VmPaths,
    pub log: &'a VmLog,
    pub runner: &'a PathBuf,
    pub tools: &'a DiskTools,
}

/// A running QEMU: its pid, and the threads copying its output.
pub(crate) struct Booted {
    pub pid: u32,
    pumps: Vec<JoinHandle<()>>,
}

impl Booted {
    /// Waits for the output to be copied to its end (QEMU has exited).
    pub fn join(self) {
        for pump in self.pumps {
            let _ = pump.join();
        }
    }
}

impl Vm<'_> {
    /// Prepares the disk and the temporary folder, then starts the runner
    /// with the guest's SSH forwarded from 127.0.0.1:`forward_port`. Its
    /// exit arrives as [`Event::Exited`].
    pub fn boot(
        &self,
        forward_port: u16,
        events: &mpsc::Sender<Event>,
        status: &mut StatusFile,
    ) -> Result<Booted, SupervisorError> {
        let (config, paths) = (self.config, self.paths);
        preflight::disk_not_in_use(&self.tools.qemu_img, &paths.disk)?;
        let settled = trial::settle(self.tools, paths, config.ephemeral)?;
        if config.ephemeral || !paths.disk.exists() {
            preflight::space_for_disk(&paths.disk, config.disk_bytes)?;
        }
        match disk::prepare(
            self.tools,
            &paths.disk,
            config.disk_bytes,
            config.disk_layout,
            config.ephemeral,
        )? {
            DiskAction::Created => {
                tracing::info!(disk = %paths.disk.display(), "created the builder's disk")
            }
            DiskAction::Grown { from } => {
                tracing::info!(from, to = config.disk_bytes, "grew the builder's disk")
            }
            DiskAction::Kept => {}
        }
        preflight::space_for_disk(&paths.disk, config.disk_bytes)?;
        reset_dir(&paths.tmp_dir)?;

        let image = trial::image_for_boot(self.tools, paths, settled)?;
        let mut child = runner_launch::start(config, paths, self.runner, &image, forward_port)?;
        let pumps = crate::vm::log::pump_output(&mut child, self.log);
        let pid = child.id();
        crate::fsutil::write_atomic(&paths.pid_file, format!("{pid}\n").as_bytes(), 0o644)
            .map_err(SupervisorError::io("write", &paths.pid_file))?;
        status.state = VmState::Running;
        status.pid = Some(pid);
        status.forward_port = (forward_port != config.port).then_some(forward_port);
        status.started_at = Some(OffsetDateTime::now_utc());
        status.write(&paths.status_file)?;
        tracing::info!(pid, port = config.port, forward_port, "the VM is running");

        let events = events.clone();
        std::thread::spawn(move || {
            if let Ok(exit) = child.wait() {
                let _ = events.send(Event::Exited(exit));
            }
        });
        Ok(Booted { pid, pumps })
    }
}

fn wait_for_exit(
    config: &VmConfig,
    paths: &VmPaths,
    pid: u32,
    inbox: &mpsc::Receiver<Event>,
    status: &mut StatusFile,
) -> Result<Stopped, SupervisorError> {
    let mut stop = None::<StopProgress>;
    loop {
        let event = match &stop {
            None => inbox
                .recv()
                .map_err(|_| SupervisorError::Start("lost track of the VM process".into()))?,
            Some(_) => match inbox.recv_timeout(Duration::from_millis(200)) {
                Ok(event) => event,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(progress) = stop.as_mut() {
                        progress.advance(config, paths, pid);
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(SupervisorError::Start(
                        "lost track of the VM process".into(),
                    ));
                }
            },
        };
        match event {
            Event::StopRequested if stop.is_none() => {
                tracing::info!("stop requested: pressing the guest's power button");
                status.state = VmState::Stopping;
                status.write(&paths.status_file)?;
                stop = Some(StopProgress::begin(paths));
            }
            Event::StopRequested | Event::Activity | Event::GuestAnswered => {}
            Event::Exited(exit) => {
                status.last_exit = Some(LastExit {
                    code: exit.code(),
                    signal: std::os::unix::process::ExitStatusExt::signal(&exit),
                    kind: ExitKind::Unknown,
                    reason: String::new(),
                    at: OffsetDateTime::now_utc(),
                });
                return match (stop, exit.success()) {
                    (Some(progress), _) => {
                        tracing::info!(how = progress.how(), "the VM stopped");
                        Ok(Stopped::Requested)
                    }
                    (None, true) => Ok(Stopped::GuestPoweredOff),
                    (None, false) => Err(SupervisorError::VmDied(describe_exit(exit))),
                };
            }
        }
    }
}

/// Power button (pressed again every few seconds), then `quit` after the
/// configured wait, then SIGKILL.
pub(crate) struct StopProgress {
    began: Instant,
    last_press: Instant,
    quit_sent: bool,
    killed: bool,
}

impl StopProgress {
    pub fn begin(paths: &VmPaths) -> StopProgress {
        press_power_button(paths);
        let now = Instant::now();
        StopProgress {
            began: now,
            last_press: now,
            quit_sent: false,
            killed: false,
        }
    }

    pub fn advance(&mut self, config: &VmConfig, paths: &VmPaths, pid: u32) {
        let elapsed = self.began.elapsed();
        if elapsed >= config.powerdown_timeout + QUIT_GRACE && !self.killed {
            tracing::warn!("QEMU did not quit: killing it");
            kill(pid, rustix::process::Signal::KILL);
            self.killed = true;
        } else if elapsed >= config.powerdown_timeout && !self.quit_sent {
            tracing::warn!(
                "the guest did not power down in {:?}: quitting QEMU",
                config.powerdown_timeout
            );
            if let Ok(mut qmp) = Qmp::connect(&paths.qmp_socket, QMP_TIMEOUT) {
                let _ = qmp.quit();
            }
            self.quit_sent = true;
        } else if !self.quit_sent && self.last_press.elapsed() >= POWER_BUTTON_REPEAT {
            press_power_button(paths);
            self.last_press = Instant::now();
        }
    }

    pub fn how(&self) -> &'static str {
        match (self.killed, self.quit_sent) {
            (true, _) => "killed",
            (false, true) => "quit",
            _ => "powered down",
        }
    }
}

fn press_power_button(paths: &VmPaths) {
    match Qmp::connect(&paths.qmp_socket, QMP_TIMEOUT).and_then(|mut qmp| qmp.system_powerdown()) {
        Ok(()) => {}
        Err(err) => tracing::warn!("could not press the power button: {err}"),
    }
}

pub(crate) fn describe_exit(exit: ExitStatus) -> String {
    match (
        exit.code(),
        std::os::unix::process::ExitStatusExt::signal(&exit),
    ) {
        (Some(code), _) => format!("QEMU exited with code {code}; the log has its last words"),
        (None, Some(signal)) => format!(
            "QEMU was killed by signal {signal} ({})",
            signal_name(signal)
        ),
        _ => "QEMU ended for an unknown reason".into(),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        9 => "SIGKILL",
        15 => "SIGTERM",
        2 => "SIGINT",
        6 => "SIGABRT",
        11 => "SIGSEGV",
        _ => "another signal",
    }
}

fn hold_lock(paths: &VmPaths) -> Result<std::fs::File, SupervisorError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&paths.lock_file)
        .map_err(SupervisorError::io("open", &paths.lock_file))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(SupervisorError::AlreadyRunning(paths.lock_file.clone()))
        }
        Err(std::fs::TryLockError::Error(err)) => {
            Err(SupervisorError::io("lock", &paths.lock_file)(err))
        }
    }
}

/// A supervisor killed with -9 (or a power loss) leaves its pid and socket
/// files, and perhaps an orphaned QEMU still holding the port and the disk.
/// We hold the lock, so whatever they name is stale: quit that QEMU through
/// its own socket, then clear the files.
fn clear_stale_run(paths: &VmPaths) {
    if let Ok(mut qmp) = Qmp::connect(&paths.qmp_socket, QMP_TIMEOUT) {
        tracing::warn!("a VM from an earlier run is still running: stopping it");
        let _ = qmp.quit();
    }
    if let Some(pid) = std::fs::read_to_string(&paths.pid_file)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
    {
        let deadline = Instant::now() + QUIT_GRACE;
        while process_alive(pid) && is_qemu(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if process_alive(pid) && is_qemu(pid) {
            kill(pid, rustix::process::Signal::KILL);
        }
    }
    let _ = std::fs::remove_file(&paths.qmp_socket);
    let _ = std::fs::remove_file(&paths.pid_file);
}

/// Only a QEMU is ever killed on the word of a stale pid file: pids are
/// reused.
fn is_qemu(pid: u32) -> bool {
    Command::new("ps")
        .args(["-o", "comm=", "-p", &pid.to_string()])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).contains("qemu"))
        .unwrap_or(false)
}

fn kill(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

fn reset_dir(dir: &std::path::Path) -> Result<(), SupervisorError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(SupervisorError::io("clear", dir))?;
    }
    std::fs::create_dir_all(dir).map_err(SupervisorError::io("create", dir))
}

fn forward_stop_signals(events: mpsc::Sender<Event>) -> Result<(), SupervisorError> {
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .map_err(|err| SupervisorError::Start(format!("could not listen for stop signals: {err}")))?;
    std::thread::spawn(move || {
        for _ in signals.forever() {
            if events.send(Event::StopRequested).is_err() {
                break;
            }
        }
    });
    Ok(())
}
