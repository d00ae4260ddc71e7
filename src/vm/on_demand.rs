//! On-demand start: the supervisor holds the builder's port while the VM
//! sleeps ([`Activation`]), boots the VM when a connection wants it, hands
//! the held connections to the guest once its sshd greets on QEMU's private
//! forward, and powers the VM down after the idle time with no connection
//! open. A remote build holds its SSH session for the whole build (Nix's
//! `build-remote` keeps the `ssh-ng://` store open until the outputs are
//! copied back), so an open connection is a build in progress and is never
//! cut off.
//!
//! Event-driven: the supervisor blocks on one channel (stop signals,
//! QEMU's exit, connections coming and going, the guest answering). Asleep
//! it wakes for nothing; awake and unused it wakes once, when the idle
//! time is up.
//!
//! A VM that cannot boot (QEMU exits before sshd greets, or sshd is silent
//! for [`BOOT_LIMIT`]) closes the held connections at once and ends the
//! run with the reason, as an always-on start that fails does: the status
//! file reports it once, and launchd's restart holds the port again.

use std::net::{SocketAddr, TcpListener};
use std::process::ExitStatus;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::vm::activation::{Activation, ActivationError};
use crate::vm::exit::SupervisorError;
use crate::vm::status::{ExitKind, LastExit, StatusFile, VmState};
use crate::vm::supervisor::{Event, StopProgress, Stopped, Vm, describe_exit};

/// How long a boot may take before a guest whose sshd never greets counts
/// as failed: a first boot under emulation (no hvf, no KVM) takes minutes.
const BOOT_LIMIT: Duration = Duration::from_secs(600);
/// How often power-down progress (the repeated power button, `quit`) is
/// looked at.
const STOP_TICK: Duration = Duration::from_millis(200);

/// Runs the on-demand loop until a stop is asked for.
pub(crate) fn run(
    vm: &Vm<'_>,
    idle: Duration,
    events: &mpsc::Sender<Event>,
    inbox: &mpsc::Receiver<Event>,
    status: &mut StatusFile,
) -> Result<Stopped, SupervisorError> {
    let activation = hold_port(vm.config.port)?;
    let hook = events.clone();
    activation.on_change(move || {
        let _ = hook.send(Event::Activity);
    });
    tracing::info!(
        port = vm.config.port,
        idle_secs = idle.as_secs(),
        "on-demand: the builder sleeps until a build needs it"
    );
    loop {
        sleep(vm, status)?;
        if !activation.wants_vm() && wait_for_demand(&activation, inbox)? == Wake::Stop {
            return Ok(Stopped::Requested);
        }
        let forward = match private_port() {
            Ok(port) => port,
            Err(err) => return Err(cannot_boot(&activation, err)),
        };
        tracing::info!(
            waiting = activation.open_connections(),
            "on-demand: a connection wants the builder; booting it"
        );
        let booted = match vm.boot(forward, events, status) {
            Ok(booted) => booted,
            Err(err) => return Err(cannot_boot(&activation, err)),
        };
        let outcome = awake(
            vm,
            &activation,
            idle,
            forward,
            booted.pid,
            events,
            inbox,
            status,
        );
        activation.set_upstream(None);
        booted.join();
        match outcome {
            Ok(Awake::Stopped) => return Ok(Stopped::Requested),
            Ok(Awake::Slept) => {}
            Err(err) => return Err(cannot_boot(&activation, err)),
        }
    }
}

/// The VM could not serve: the held connections are closed now (Nix then
/// says the builder is unreachable) rather than left to time out.
fn cannot_boot(activation: &Activation, err: SupervisorError) -> SupervisorError {
    activation.close_waiting();
    err
}

/// The builder's port on 127.0.0.1, held by this process.
fn hold_port(port: u16) -> Result<Activation, SupervisorError> {
    Activation::bind(port).map_err(|err| match err {
        ActivationError::PortInUse(port) => SupervisorError::PortTaken {
            port,
            holder: crate::settings::port::port_holder(port),
        },
        other => SupervisorError::Start(other.to_string()),
    })
}

/// The status file says: asleep, holding the port.
fn sleep(vm: &Vm<'_>, status: &mut StatusFile) -> Result<(), SupervisorError> {
    // First, so that whoever reads "sleeping" finds no pid file left.
    let _ = std::fs::remove_file(&vm.paths.pid_file);
    status.state = VmState::Sleeping;
    status.pid = None;
    status.forward_port = None;
    // When it began to sleep: what tells a start that this run is up.
    status.started_at = Some(OffsetDateTime::now_utc());
    status.write(&vm.paths.status_file)
}

#[derive(Debug, PartialEq, Eq)]
enum Wake {
    Demand,
    Stop,
}

fn wait_for_demand(
    activation: &Activation,
    inbox: &mpsc::Receiver<Event>,
) -> Result<Wake, SupervisorError> {
    loop {
        match inbox.recv().map_err(|_| lost())? {
            Event::StopRequested => return Ok(Wake::Stop),
            Event::Activity if activation.wants_vm() => return Ok(Wake::Demand),
            // A connection that gave up, a QEMU that exited in an earlier
            // round, a guest's answer that came too late: nothing to do.
            _ => {}
        }
    }
}

enum Awake {
    /// Powered down for idleness (or QEMU ended while unused): sleep again.
    Slept,
    /// A stop was asked for: the VM is down, the supervisor ends.
    Stopped,
}

/// From boot to power-down: hands the connections over once the guest
/// answers, then waits for the idle time with no connection open.
#[allow(clippy::too_many_arguments)]
fn awake(
    vm: &Vm<'_>,
    activation: &Activation,
    idle: Duration,
    forward: u16,
    pid: u32,
    events: &mpsc::Sender<Event>,
    inbox: &mpsc::Receiver<Event>,
    status: &mut StatusFile,
) -> Result<Awake, SupervisorError> {
    let greeting = crate::vm::sshd_wait::spawn(forward, events.clone());
    let boot_deadline = Instant::now() + BOOT_LIMIT;
    let mut answered = false;
    loop {
        let timeout = if answered {
            activation
                .idle_for()
                .map(|so_far| idle.saturating_sub(so_far))
        } else {
            Some(boot_deadline.saturating_duration_since(Instant::now()))
        };
        let event = match timeout {
            Some(left) => match inbox.recv_timeout(left) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout) if !answered => {
                    greeting.cancel();
                    activation.close_waiting();
                    power_down(vm, pid, inbox, status, "silent")?;
                    return Err(SupervisorError::VmDied(format!(
                        "the builder booted but its SSH did not answer within {} minutes; see `builderbar logs`",
                        BOOT_LIMIT.as_secs() / 60
                    )));
                }
                Err(RecvTimeoutError::Timeout) => {
                    if activation.release_if_idle(idle) {
                        break;
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return Err(lost()),
            },
            None => inbox.recv().map_err(|_| lost())?,
        };
        match event {
            Event::GuestAnswered if !answered => {
                answered = true;
                // Logged first: a login served at once may end before a
                // line written after the handover.
                tracing::info!(
                    waiting = activation.open_connections(),
                    "on-demand: the guest answers; held connections handed over"
                );
                activation.set_upstream(Some(SocketAddr::from(([127, 0, 0, 1], forward))));
            }
            Event::GuestAnswered | Event::Activity => {}
            Event::StopRequested => {
                greeting.cancel();
                activation.set_upstream(None);
                power_down(vm, pid, inbox, status, "stop requested")?;
                return Ok(Awake::Stopped);
            }
            Event::Exited(exit) => {
                greeting.cancel();
                return ended_by_itself(answered, exit, status);
            }
        }
    }
    tracing::info!(
        idle_secs = idle.as_secs(),
        "on-demand: nothing used the builder; powering it down"
    );
    match power_down(vm, pid, inbox, status, "idle")? {
        true => Ok(Awake::Stopped),
        false => Ok(Awake::Slept),
    }
}

/// QEMU ended without being asked. The guest powered itself off: the
/// builder sleeps again and the next connection boots it. Anything else
/// (killed, crashed) is a failure, as without on-demand, whether or not a
/// build was using it: a session's end races QEMU's, so "was it in use"
/// cannot be told reliably, and a VM that dies is worth telling anyway.
fn ended_by_itself(
    answered: bool,
    exit: ExitStatus,
    status: &mut StatusFile,
) -> Result<Awake, SupervisorError> {
    let mut last_exit = LastExit {
        code: exit.code(),
        signal: std::os::unix::process::ExitStatusExt::signal(&exit),
        kind: ExitKind::Unknown,
        reason: String::new(),
        at: OffsetDateTime::now_utc(),
    };
    if !(answered && exit.success()) {
        // The supervisor's end names the kind and the reason; the code and
        // signal are QEMU's.
        status.last_exit = Some(last_exit);
        return Err(SupervisorError::VmDied(describe_exit(exit)));
    }
    last_exit.kind = ExitKind::GuestPoweroff;
    last_exit.reason = "the guest powered itself off".into();
    tracing::info!("on-demand: the guest powered itself off; it sleeps until the next build");
    status.last_exit = Some(last_exit);
    Ok(Awake::Slept)
}

/// Presses the power button and waits for QEMU to exit (then `quit`, then
/// SIGKILL, as a stop does). True when a stop was asked for meanwhile.
fn power_down(
    vm: &Vm<'_>,
    pid: u32,
    inbox: &mpsc::Receiver<Event>,
    status: &mut StatusFile,
    why: &str,
) -> Result<bool, SupervisorError> {
    status.state = VmState::Stopping;
    status.write(&vm.paths.status_file)?;
    let mut progress = StopProgress::begin(vm.paths);
    let mut stop_asked = why == "stop requested";
    loop {
        match inbox.recv_timeout(STOP_TICK) {
            Ok(Event::Exited(_)) => {
                tracing::info!(why, how = progress.how(), "on-demand: the VM stopped");
                return Ok(stop_asked);
            }
            Ok(Event::StopRequested) => stop_asked = true,
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => progress.advance(vm.config, vm.paths, pid),
            Err(RecvTimeoutError::Disconnected) => return Err(lost()),
        }
    }
}

/// A free port on 127.0.0.1 for QEMU's forward. The kernel picks it; QEMU
/// binds it a moment later (a port taken in between fails the boot, which
/// the log says).
fn private_port() -> Result<u16, SupervisorError> {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|err| SupervisorError::Start(format!("no free loopback port for the VM: {err}")))
}

fn lost() -> SupervisorError {
    SupervisorError::Start("lost track of the VM process".into())
}
