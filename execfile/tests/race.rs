//! The race behind "Text file busy", provoked on purpose: threads fork
//! children in a loop while another thread writes a script and runs it.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use execfile::Spawn;

/// How many scripts each test writes and runs.
const ROUNDS: usize = 200;

/// Lines of comment in each script (100 KiB).
const PADDING_LINES: usize = 10_000;

/// Threads that fork (and exec `true`) as fast as they can until dropped.
struct Forkers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Forkers {
    fn start(count: usize) -> Forkers {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..count)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let _ = Command::new("/bin/true")
                            .stdin(Stdio::null())
                            .stdout(Stdio::null())
                            .stderr(Stdio::null())
                            .status();
                    }
                })
            })
            .collect();
        Forkers { stop, threads }
    }
}

impl Drop for Forkers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// A script with a long comment: the longer the write, the wider the
/// window in which a sibling fork inherits the write descriptor.
fn script(round: usize) -> String {
    let padding = "# padding\n".repeat(PADDING_LINES);
    format!("#!/bin/sh\n{padding}exit {}\n", round % 100)
}

/// Writes and runs `ROUNDS` scripts under forking threads; returns how many
/// runs were refused with ETXTBSY. Any other failure fails the test.
fn busy_runs(write: impl Fn(&Path, &str), run: impl Fn(&Path) -> io::Result<i32>) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let _forkers = Forkers::start(3);
    let mut busy = 0;
    for round in 0..ROUNDS {
        let path = dir.path().join(format!("script-{round}"));
        write(&path, &script(round));
        match run(&path) {
            Ok(code) => assert_eq!(code, (round % 100) as i32),
            Err(err) if execfile::is_busy(&err) => busy += 1,
            Err(err) => panic!("running {}: {err}", path.display()),
        }
    }
    busy
}

fn plain_run(path: &Path) -> io::Result<i32> {
    Ok(Command::new(path).status()?.code().unwrap_or(-1))
}

fn plain_write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The fix: written by a child process, the script is never busy.
#[test]
fn a_script_written_by_execfile_runs_at_once_while_other_threads_fork() {
    let started = Instant::now();
    let busy = busy_runs(
        |path, text| execfile::write(path, text.as_bytes(), 0o755).unwrap(),
        plain_run,
    );
    assert_eq!(busy, 0, "{busy} of {ROUNDS} runs were refused as busy");
    eprintln!("{ROUNDS} written and run in {:?}", started.elapsed());
}

/// The bound, where another process did the write: the plain write below
/// does make the file busy at times; the retried spawn never reports it.
#[test]
fn a_retried_spawn_runs_a_plainly_written_script_every_time() {
    let busy = busy_runs(plain_write, |path| {
        Ok(Command::new(path).status_retrying()?.code().unwrap_or(-1))
    });
    assert_eq!(busy, 0, "{busy} of {ROUNDS} runs were refused as busy");
}

/// The evidence that the two tests above provoke the race: without either
/// fix, the same loop is refused with ETXTBSY. A race is a matter of
/// chance, so this asks for one refusal within a generous time.
#[test]
fn without_the_fix_the_same_loop_meets_text_file_busy() {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut total = 0;
    while Instant::now() < deadline {
        total += busy_runs(plain_write, plain_run);
        if total > 0 {
            eprintln!("refused as busy {total} times");
            return;
        }
    }
    panic!("{ROUNDS}-run loops for 60 s never met ETXTBSY: the test no longer provokes the race");
}
