//! `launchctl-double`: a TEST DOUBLE of macOS's `launchctl` + `launchd`, for
//! running BuilderBar's launchd code on Linux. It is not shipped.
//!
//! What it does, like launchd:
//! - `bootstrap <domain> <plist>`: reads the plist (the `launchd::Job` keys),
//!   records the job under `$LAUNCHCTL_DOUBLE_STATE` (required), and starts a
//!   detached per-job supervisor (this program, re-run as `__supervise`).
//!   The supervisor runs `ProgramArguments` with a clean environment
//!   (launchd's default `PATH`, `HOME`/`USER`/`LOGNAME`/`SHELL`/`TMPDIR`
//!   inherited from the caller, `XPC_SERVICE_NAME`, then
//!   `EnvironmentVariables`), `WorkingDirectory` (default `/`), stdin from
//!   /dev/null and stdout/stderr appended to `StandardOutPath` /
//!   `StandardErrorPath` (default /dev/null), in a process group of its own.
//!   It starts the job at load when `RunAtLoad` (or `KeepAlive = true`) says
//!   so, restarts it as `KeepAlive` says (`{ SuccessfulExit = false }`:
//!   after a non-zero exit or a signal only), never sooner than
//!   `ThrottleInterval` (default 10 s) after the previous start, and counts
//!   runs, pid and the last exit code or signal. After the main process
//!   exits, the rest of its process group is SIGKILLed.
//! - `bootout <domain>/<label>` (or `bootout <domain> <plist>`): SIGTERM, then
//!   SIGKILL after `ExitTimeOut` (default 20 s; 0 = wait forever), then
//!   unloads; it returns once the job is gone.
//! - `kickstart [-k] <service>`, `kill <signal> <service>`,
//!   `enable`/`disable <service>` (a disabled job cannot be bootstrapped:
//!   119 "Service is disabled"), `print <service>` in launchd's layout.
//! - Errors use launchctl's words and exit statuses: 113 "Could not find
//!   service", "Bootstrap failed: 5: Input/output error" for an already loaded
//!   job or an invalid plist, "Boot-out failed: 3: No such process".
//! - With `LAUNCHCTL_DOUBLE_DRAIN_MS=N`, a label stays registered for N ms
//!   after its bootout, and a bootstrap meanwhile fails with 5, as real
//!   launchd does while it tears a job down (a retry then succeeds).
//!
//! What it does NOT emulate: domains other than `gui/<uid>` and `system` (any
//! uid is accepted, nothing is checked against the caller), the `user/`,
//! `login/`, `pid/` domains, domain-wide `print`, Mach/XPC (MachServices,
//! Sockets, LaunchEvents), on-demand launch, StartInterval /
//! StartCalendarInterval, WatchPaths / QueueDirectories, KeepAlive keys other
//! than `SuccessfulExit` (PathState, NetworkState, Crashed, OtherJobEnabled…),
//! `Program` without `ProgramArguments`, UserName/GroupName, resource limits,
//! ProcessType's effect (it is only printed), jetsam, login/logout (nothing is
//! loaded from ~/Library/LaunchAgents by itself), plist ownership and
//! permission checks, legacy `load`/`unload`/`list`. Signal numbers are
//! Linux's. Concurrent commands on one job are not serialised (one pending
//! request at a time). If the machine reboots, the state folder is stale.
//! `kickstart -k` here stops with SIGTERM then SIGKILL after ExitTimeOut.

#[path = "../double/mod.rs"]
mod double;

fn main() -> std::process::ExitCode {
    double::main()
}
