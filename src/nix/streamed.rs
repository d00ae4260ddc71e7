//! Running a Nix command with `--log-format internal-json` and hearing
//! its stderr line by line while it runs (a successor's build shows the
//! build's own lines as they come), bounded by a deadline.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::internal_json::{Parsed, ProgressParser};

/// How a streamed command ended.
#[derive(Debug, Default)]
pub struct Streamed {
    pub ok: bool,
    pub stdout: String,
    /// What Nix said for people and what the builds printed, in order, as
    /// plain stderr would have shown it (for telling failures apart).
    pub transcript: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("could not run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} did not finish within {} s", .timeout.as_secs())]
    Timeout { program: String, timeout: Duration },
}

/// Runs `command` (which must ask for `--log-format internal-json`) with
/// stdin closed; `on` hears every line parsed from its stderr. Killed
/// after `timeout`.
pub fn run(
    mut command: Command,
    timeout: Duration,
    on: &mut dyn FnMut(&Parsed),
) -> Result<Streamed, StreamError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| StreamError::Spawn {
            program: program.clone(),
            source,
        })?;
    // Both pipes are drained on threads of their own, so neither can fill
    // up and stall Nix while the other is read.
    let stdout = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        })
    });
    let (lines_tx, lines) = mpsc::channel();
    if let Some(err) = child.stderr.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let deadline = Instant::now() + timeout;
    let mut parser = ProgressParser::default();
    let mut streamed = Streamed::default();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left.min(Duration::from_millis(200))) {
            Ok(line) => {
                let parsed = parser.line(&line);
                if let Parsed::BuildLine(text) | Parsed::Message(text) = &parsed {
                    streamed.transcript.push(text.clone());
                }
                on(&parsed);
            }
            // stderr closed: Nix is ending.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) if left.is_zero() => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(StreamError::Timeout { program, timeout });
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(StreamError::Timeout { program, timeout });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => break None,
        }
    };
    streamed.ok = status.is_some_and(|s| s.success());
    streamed.stdout = stdout
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    Ok(streamed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("/bin/sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn lines_are_heard_in_order_and_the_output_kept() {
        let mut heard = Vec::new();
        let streamed = run(
            sh(r#"echo '@nix {"action":"result","fields":["one"],"id":1,"type":101}' >&2; echo /nix/store/x-out; echo 'error: two' >&2"#),
            Duration::from_secs(10),
            &mut |parsed| heard.push(parsed.clone()),
        )
        .unwrap();
        assert!(streamed.ok);
        assert_eq!(streamed.stdout, "/nix/store/x-out\n");
        assert_eq!(
            heard,
            [
                Parsed::BuildLine("one".into()),
                Parsed::Message("error: two".into())
            ]
        );
        assert_eq!(streamed.transcript, ["one", "error: two"]);
    }

    #[test]
    fn a_failure_and_a_hang_are_told_apart() {
        let failed = run(sh("exit 3"), Duration::from_secs(10), &mut |_| {}).unwrap();
        assert!(!failed.ok);
        let hung = run(sh("sleep 30"), Duration::from_millis(300), &mut |_| {});
        assert!(matches!(hung, Err(StreamError::Timeout { .. })), "{hung:?}");
    }
}
