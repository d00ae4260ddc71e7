//! Spawning a file that another process may have just written.

use std::io;
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

/// How long a spawn refused with ETXTBSY is retried. The refusal lasts from
/// another process's fork to its `exec` — microseconds, or a few
/// milliseconds on a loaded machine — so this bound is only ever reached
/// when something really keeps the file open for writing (a writer that
/// has not finished), and then the error is returned as it is.
pub const BUSY_RETRY_LIMIT: Duration = Duration::from_secs(2);

/// The first pause between attempts; it doubles up to `MAX_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_millis(1);
const MAX_PAUSE: Duration = Duration::from_millis(50);

/// Whether `err` is "Text file busy".
pub fn is_busy(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::ExecutableFileBusy
}

/// [`Command`]'s `spawn`, `output` and `status`, retried while the program
/// is busy (ETXTBSY) for up to [`BUSY_RETRY_LIMIT`].
pub trait Spawn {
    fn spawn_retrying(&mut self) -> io::Result<Child>;
    fn output_retrying(&mut self) -> io::Result<Output>;
    fn status_retrying(&mut self) -> io::Result<ExitStatus>;
}

impl Spawn for Command {
    fn spawn_retrying(&mut self) -> io::Result<Child> {
        retry_busy(|| self.spawn())
    }

    fn output_retrying(&mut self) -> io::Result<Output> {
        retry_busy(|| self.output())
    }

    fn status_retrying(&mut self) -> io::Result<ExitStatus> {
        retry_busy(|| self.status())
    }
}

fn retry_busy<T>(mut attempt: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let deadline = Instant::now() + BUSY_RETRY_LIMIT;
    let mut pause = FIRST_PAUSE;
    loop {
        match attempt() {
            Err(err) if is_busy(&err) && Instant::now() + pause < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(MAX_PAUSE);
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::cell::Cell;

    #[test]
    fn a_busy_refusal_is_retried_until_it_clears() {
        let tries = Cell::new(0);
        let result = retry_busy(|| {
            tries.set(tries.get() + 1);
            if tries.get() < 4 {
                Err(io::Error::from(io::ErrorKind::ExecutableFileBusy))
            } else {
                Ok(7)
            }
        });
        assert_eq!(result.unwrap(), 7);
        assert_eq!(tries.get(), 4);
    }

    #[test]
    fn other_errors_are_returned_at_once() {
        let tries = Cell::new(0);
        let result: io::Result<()> = retry_busy(|| {
            tries.set(tries.get() + 1);
            Err(io::Error::from(io::ErrorKind::NotFound))
        });
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(tries.get(), 1);
    }

    #[test]
    fn a_file_busy_for_good_gives_up_within_the_limit() {
        let started = Instant::now();
        let result: io::Result<()> =
            retry_busy(|| Err(io::Error::from(io::ErrorKind::ExecutableFileBusy)));
        assert!(is_busy(&result.unwrap_err()));
        let waited = started.elapsed();
        assert!(waited < BUSY_RETRY_LIMIT * 2, "{waited:?}");
    }
}
