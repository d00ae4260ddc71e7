//! The per-job supervisor: launchd's part of the double. One detached process
//! per loaded job runs, restarts and stops the job and records its status.

use std::fs::{File, OpenOptions};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use execfile::Spawn as _;
use launchd::{Job, KeepAlive, Termination};
use rustix::process::{Pid, Signal, kill_process, kill_process_group};

use super::state::{JobDir, Request, Status};

const TICK: Duration = Duration::from_millis(10);
/// launchd's exit status for a job it could not spawn (EX_CONFIG).
const EX_CONFIG: i32 = 78;

/// Starts `launchctl-double __supervise <dir>` detached, and waits until it
/// has recorded itself.
pub fn spawn_detached(dir: &JobDir) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
    let log = File::create(dir.path().join("supervisor.log"))
        .map_err(|e| format!("supervisor log: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("__supervise")
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .process_group(0);
    // This double was just built by cargo, another process: retried while
    // that file is busy (ETXTBSY).
    let child = cmd
        .spawn_retrying()
        .map_err(|e| format!("cannot start the supervisor: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if dir
            .read_status()
            .map(|s| s.supervisor.is_some())
            .unwrap_or(false)
        {
            // The supervisor lives on, re-parented; it is never waited for here.
            drop(child);
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("the supervisor did not start".into());
        }
        std::thread::sleep(TICK);
    }
}

struct Supervisor {
    dir: JobDir,
    job: Job,
    status: Status,
    last_start: Option<Instant>,
}

/// The supervisor's main loop; returns when the job is booted out.
pub fn run(dir: JobDir) -> Result<(), String> {
    let job = dir.job().map_err(|e| e.to_string())?;
    let mut sup = Supervisor {
        status: Status {
            state: "not running".into(),
            supervisor: Some(std::process::id()),
            ..Status::default()
        },
        dir,
        job,
        last_start: None,
    };
    sup.save()?;
    let keep_alive = sup.job.keep_alive.unwrap_or(KeepAlive::Always(false));
    let mut want_run =
        sup.job.run_at_load.unwrap_or(false) || keep_alive == KeepAlive::Always(true);
    loop {
        if !want_run {
            sup.set_state("not running", None)?;
            match sup.wait_for_request() {
                Request::Stop => return sup.finish(),
                Request::Kickstart | Request::KickstartKill => {
                    sup.last_start = None;
                    want_run = true;
                }
                Request::Signal(_) => sup.dir.done_request(),
            }
            continue;
        }
        if !sup.wait_out_throttle()? {
            return sup.finish();
        }
        let started = sup.start()?;
        // A kickstart is answered once the new instance is started.
        if matches!(
            sup.dir.peek_request(),
            Some(Request::Kickstart | Request::KickstartKill)
        ) {
            sup.dir.done_request();
        }
        let Some(mut child) = started else {
            want_run = keep_alive.restarts_after(Termination::Exited(EX_CONFIG));
            continue;
        };
        match sup.watch(&mut child)? {
            Ended::Exited(how) => want_run = keep_alive.restarts_after(how),
            Ended::Restart => {
                sup.last_start = None;
                want_run = true;
            }
            Ended::Stopped => return sup.finish(),
        }
    }
}

enum Ended {
    Exited(Termination),
    Restart,
    Stopped,
}

impl Supervisor {
    fn save(&self) -> Result<(), String> {
        self.dir
            .write_status(&self.status)
            .map_err(|e| format!("cannot write status: {e}"))
    }

    fn set_state(&mut self, state: &str, pid: Option<u32>) -> Result<(), String> {
        self.status.state = state.into();
        self.status.pid = pid;
        self.save()
    }

    fn wait_for_request(&self) -> Request {
        loop {
            if let Some(r) = self.dir.peek_request() {
                return r;
            }
            std::thread::sleep(TICK);
        }
    }

    /// Waits until ThrottleInterval has passed since the previous start.
    /// Returns false when a stop was requested meanwhile.
    fn wait_out_throttle(&mut self) -> Result<bool, String> {
        let Some(last) = self.last_start else {
            return Ok(true);
        };
        let next = last + Duration::from_secs(u64::from(self.job.throttle_secs()));
        if Instant::now() < next {
            self.set_state("spawn scheduled", None)?;
        }
        while Instant::now() < next {
            match self.dir.peek_request() {
                Some(Request::Stop) => return Ok(false),
                Some(Request::Kickstart | Request::KickstartKill) => break,
                Some(Request::Signal(_)) => self.dir.done_request(),
                None => {}
            }
            std::thread::sleep(TICK);
        }
        Ok(true)
    }

    /// Starts the program; `None` if it could not be spawned (recorded as EX_CONFIG).
    fn start(&mut self) -> Result<Option<Child>, String> {
        self.last_start = Some(Instant::now());
        self.status.runs += 1;
        match self
            .command()
            .and_then(|mut c| c.spawn_retrying().map_err(|e| e.to_string()))
        {
            Ok(child) => {
                self.set_state("running", Some(child.id()))?;
                Ok(Some(child))
            }
            Err(e) => {
                eprintln!("launchctl-double: cannot spawn {}: {e}", self.job.label);
                self.status.last_exit = Some(Termination::Exited(EX_CONFIG));
                self.set_state("not running", None)?;
                Ok(None)
            }
        }
    }

    /// The job's program was written by another process (the CLI's installed
    /// copy), so its start is retried while that file is busy (ETXTBSY).
    fn command(&self) -> Result<Command, String> {
        let job = &self.job;
        let (program, args) = job
            .program_arguments
            .split_first()
            .ok_or("empty ProgramArguments")?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin");
        for key in ["HOME", "USER", "LOGNAME", "SHELL", "TMPDIR"] {
            if let Some(value) = std::env::var_os(key) {
                cmd.env(key, value);
            }
        }
        cmd.env("XPC_SERVICE_NAME", &job.label);
        cmd.envs(&job.environment_variables);
        cmd.current_dir(job.working_directory.as_deref().unwrap_or(Path::new("/")));
        cmd.stdin(Stdio::null());
        cmd.stdout(output(job.standard_out_path.as_deref())?);
        cmd.stderr(output(job.standard_error_path.as_deref())?);
        cmd.process_group(0);
        Ok(cmd)
    }

    /// Watches a running child, serving requests, until it ends.
    fn watch(&mut self, child: &mut Child) -> Result<Ended, String> {
        loop {
            if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
                self.record_exit(child, st)?;
                return Ok(Ended::Exited(termination(st)));
            }
            match self.dir.peek_request() {
                Some(Request::Stop) => {
                    let st = self.terminate(child)?;
                    self.record_exit(child, st)?;
                    return Ok(Ended::Stopped);
                }
                Some(Request::KickstartKill) => {
                    let st = self.terminate(child)?;
                    self.record_exit(child, st)?;
                    // Acknowledged once the new instance runs.
                    return Ok(Ended::Restart);
                }
                Some(Request::Kickstart) => self.dir.done_request(), // already running
                Some(Request::Signal(n)) => {
                    if let (Some(pid), Some(sig)) = (pid_of(child), Signal::from_named_raw(n)) {
                        let _ = kill_process(pid, sig);
                    }
                    self.dir.done_request();
                }
                None => {}
            }
            std::thread::sleep(TICK);
        }
    }

    /// SIGTERM, then SIGKILL after ExitTimeOut (0: wait forever).
    fn terminate(&self, child: &mut Child) -> Result<ExitStatus, String> {
        if let Some(pid) = pid_of(child) {
            let _ = kill_process(pid, Signal::TERM);
        }
        let deadline = match self.job.exit_timeout_secs() {
            0 => None,
            s => Some(Instant::now() + Duration::from_secs(u64::from(s))),
        };
        loop {
            if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
                return Ok(st);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                if let Some(pid) = pid_of(child) {
                    let _ = kill_process(pid, Signal::KILL);
                }
                return child.wait().map_err(|e| e.to_string());
            }
            std::thread::sleep(TICK);
        }
    }

    /// Records how the child ended and kills what is left of its process group.
    fn record_exit(&mut self, child: &Child, st: ExitStatus) -> Result<(), String> {
        if let Some(pid) = pid_of(child) {
            let _ = kill_process_group(pid, Signal::KILL);
        }
        self.status.last_exit = Some(termination(st));
        self.set_state("not running", None)
    }

    fn finish(mut self) -> Result<(), String> {
        self.set_state("not running", None)?;
        std::fs::remove_dir_all(self.dir.path()).map_err(|e| format!("cannot unload: {e}"))
    }
}

fn output(path: Option<&Path>) -> Result<Stdio, String> {
    match path {
        None => Ok(Stdio::null()),
        Some(path) => OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(Stdio::from)
            .map_err(|e| format!("cannot open {}: {e}", path.display())),
    }
}

fn pid_of(child: &Child) -> Option<Pid> {
    i32::try_from(child.id()).ok().and_then(Pid::from_raw)
}

fn termination(st: ExitStatus) -> Termination {
    match (st.code(), st.signal()) {
        (Some(code), _) => Termination::Exited(code),
        (None, Some(sig)) => Termination::Signaled(sig),
        (None, None) => Termination::Exited(-1),
    }
}
