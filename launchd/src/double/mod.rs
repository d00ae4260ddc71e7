//! The launchctl double's commands. See the binary's header for its scope.

mod render;
mod state;
mod supervise;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use launchd::Job;

use state::{Domain, JobDir, Request, Store};

/// A failure, printed on stderr with launchctl's words; `code` is the exit status.
pub struct Fail {
    code: u8,
    message: String,
}

impl Fail {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Fail {
            code,
            message: message.into(),
        }
    }

    fn usage(message: impl Into<String>) -> Self {
        Fail::new(64, message)
    }

    fn not_found(domain: &Domain, label: &str) -> Self {
        Fail::new(
            113,
            format!(
                "Could not find service \"{label}\" in domain for {}",
                domain.describe()
            ),
        )
    }

    fn internal(what: impl std::fmt::Display) -> Self {
        Fail::new(70, format!("launchctl-double: {what}"))
    }
}

type Res<T> = Result<T, Fail>;

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(fail) => {
            eprintln!("{}", fail.message);
            ExitCode::from(fail.code)
        }
    }
}

fn run(args: &[String]) -> Res<String> {
    let [sub, rest @ ..] = args else {
        return Err(Fail::usage(
            "Usage: launchctl <subcommand> ... | help [subcommand]",
        ));
    };
    if sub == "__supervise" {
        let [dir] = rest else {
            return Err(Fail::usage(
                "usage: launchctl-double __supervise <job folder>",
            ));
        };
        supervise::run(JobDir::at(PathBuf::from(dir))).map_err(Fail::internal)?;
        return Ok(String::new());
    }
    let store = Store::from_env()?;
    match (sub.as_str(), rest) {
        ("bootstrap", [domain, plists @ ..]) if !plists.is_empty() => {
            let domain = Domain::parse(domain)?;
            for plist in plists {
                bootstrap(&store, &domain, Path::new(plist))?;
            }
            Ok(String::new())
        }
        ("bootout", [target]) => {
            let (domain, label) = Domain::parse_service(target)?;
            bootout(&store, &domain, &label, 3).map(|()| String::new())
        }
        ("bootout", [domain, plist]) => {
            let domain = Domain::parse(domain)?;
            let label = Job::read_from(Path::new(plist))
                .map(|j| j.label)
                .map_err(|_| Fail::new(5, "Boot-out failed: 5: Input/output error"))?;
            bootout(&store, &domain, &label, 5).map(|()| String::new())
        }
        ("enable" | "disable", [target]) => {
            let (domain, label) = Domain::parse_service(target)?;
            store
                .set_disabled(&domain, &label, sub == "disable")
                .map_err(Fail::internal)?;
            Ok(String::new())
        }
        ("kickstart", [flags @ .., target]) => {
            let kill = flags.iter().any(|f| f == "-k");
            if let Some(bad) = flags
                .iter()
                .find(|f| !matches!(f.as_str(), "-k" | "-p" | "-s"))
            {
                return Err(Fail::usage(format!("Unrecognized option: {bad}")));
            }
            let (domain, label) = Domain::parse_service(target)?;
            let dir = store
                .loaded(&domain, &label)
                .ok_or_else(|| Fail::not_found(&domain, &label))?;
            let request = if kill {
                Request::KickstartKill
            } else {
                Request::Kickstart
            };
            send(&dir, &request, Duration::from_secs(30))?;
            let status = dir.read_status().map_err(Fail::internal)?;
            Ok(if flags.iter().any(|f| f == "-p") {
                status
                    .pid
                    .map(|p| format!("service spawned with pid: {p}\n"))
                    .unwrap_or_default()
            } else {
                String::new()
            })
        }
        ("kill", [signal, target]) => {
            let signal = state::parse_signal(signal)
                .ok_or_else(|| Fail::usage(format!("Unrecognized signal: {signal}")))?;
            let (domain, label) = Domain::parse_service(target)?;
            let dir = store
                .loaded(&domain, &label)
                .ok_or_else(|| Fail::not_found(&domain, &label))?;
            send(&dir, &Request::Signal(signal), Duration::from_secs(10))?;
            Ok(String::new())
        }
        ("print", [target]) => {
            let (domain, label) = Domain::parse_service(target)?;
            let Some(dir) = store.loaded(&domain, &label) else {
                let fail = Fail::not_found(&domain, &label);
                return Err(Fail::new(
                    fail.code,
                    format!("Bad request.\n{}", fail.message),
                ));
            };
            let job = dir.job().map_err(Fail::internal)?;
            let status = dir.read_status().map_err(Fail::internal)?;
            Ok(render::print(&domain, &job, &status, &dir.source()))
        }
        (other, _) => Err(Fail::usage(format!(
            "launchctl-double: `{other}` with these arguments is not emulated (see its header)"
        ))),
    }
}

fn bootstrap(store: &Store, domain: &Domain, plist: &Path) -> Res<()> {
    let bytes = std::fs::read(plist).map_err(|e| {
        let errno = e.raw_os_error().unwrap_or(5);
        let code = u8::try_from(errno).unwrap_or(5);
        Fail::new(
            code,
            format!("Bootstrap failed: {errno}: {}", state::strerror(&e)),
        )
    })?;
    let io_error = || {
        Fail::new(
            5,
            "Bootstrap failed: 5: Input/output error\nTry re-running the command as root for richer errors.",
        )
    };
    let job = Job::from_plist_bytes(&bytes).map_err(|_| io_error())?;
    job.validate().map_err(|_| io_error())?;
    if store.is_disabled(domain, &job.label) {
        return Err(Fail::new(119, "Bootstrap failed: 119: Service is disabled"));
    }
    if store.is_draining(domain, &job.label) {
        return Err(io_error());
    }
    let dir = store.claim(domain, &job.label).map_err(|_| io_error())?;
    let plist_path = std::fs::canonicalize(plist).unwrap_or_else(|_| plist.to_owned());
    dir.install(&bytes, &plist_path).map_err(Fail::internal)?;
    supervise::spawn_detached(&dir).map_err(|e| {
        let _ = std::fs::remove_dir_all(dir.path());
        Fail::internal(e)
    })?;
    Ok(())
}

fn bootout(store: &Store, domain: &Domain, label: &str, absent_code: u8) -> Res<()> {
    let Some(dir) = store.loaded(domain, label) else {
        return Err(if absent_code == 3 {
            Fail::new(3, "Boot-out failed: 3: No such process")
        } else {
            Fail::new(5, "Boot-out failed: 5: Input/output error")
        });
    };
    let job = dir.job().map_err(Fail::internal)?;
    let exit_timeout = match job.exit_timeout_secs() {
        0 => Duration::from_secs(600),
        s => Duration::from_secs(u64::from(s)),
    };
    dir.write_request(&Request::Stop).map_err(Fail::internal)?;
    let deadline = Instant::now() + exit_timeout + Duration::from_secs(10);
    while dir.path().exists() {
        if !dir.supervisor_alive() {
            // The supervisor is gone (killed, machine restarted): clean up.
            let _ = std::fs::remove_dir_all(dir.path());
            break;
        }
        if Instant::now() > deadline {
            return Err(Fail::new(
                60,
                "Boot-out failed: 60: Operation timed out (the double's supervisor did not finish)",
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    store.start_drain(domain, label).map_err(Fail::internal)?;
    Ok(())
}

/// Hands a request to the job's supervisor and waits until it has acted on it.
fn send(dir: &JobDir, request: &Request, extra: Duration) -> Res<()> {
    let job = dir.job().map_err(Fail::internal)?;
    dir.write_request(request).map_err(Fail::internal)?;
    let deadline = Instant::now() + Duration::from_secs(u64::from(job.exit_timeout_secs())) + extra;
    while dir.request_pending() {
        if !dir.supervisor_alive() {
            return Err(Fail::internal("the job's supervisor is gone"));
        }
        if Instant::now() > deadline {
            return Err(Fail::internal(
                "the job's supervisor did not answer in time",
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
