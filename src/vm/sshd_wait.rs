//! Waiting for the guest's sshd on QEMU's private forward, for on-demand
//! start: the health probe's attempts (`health::greeting`: a fresh one
//! while QEMU holds the first for the guest's ARP answer, patience once
//! the guest answers), on a thread of their own, reported once as
//! [`Event::GuestAnswered`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::health::greeting::{Greeter, NotYet};
use crate::vm::supervisor::Event;

/// How long one attempt waits for sshd's greeting.
const ATTEMPT_WAIT: Duration = Duration::from_secs(4);
/// How often a cancel is looked at, and the wait while QEMU has not opened
/// the forward yet.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// Stops the attempts when cancelled or dropped.
pub(crate) struct Waiting {
    done: Arc<AtomicBool>,
}

impl Waiting {
    pub fn cancel(&self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Sends [`Event::GuestAnswered`] once sshd greets on 127.0.0.1:`port`.
pub(crate) fn spawn(port: u16, events: mpsc::Sender<Event>) -> Waiting {
    let done = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&done);
    let spawned = std::thread::Builder::new()
        .name("sshd-wait".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    tracing::warn!("could not wait for the guest's SSH: {err}");
                    return;
                }
            };
            runtime.block_on(async move {
                let mut greeter = Greeter::new(port, ATTEMPT_WAIT);
                while !stop.load(Ordering::SeqCst) {
                    match greeter.greeted(CHECK_EVERY).await {
                        Ok(_greeted) => {
                            if !stop.swap(true, Ordering::SeqCst) {
                                let _ = events.send(Event::GuestAnswered);
                            }
                            return;
                        }
                        // QEMU has not opened the forward yet.
                        Err(NotYet::NoListener(_)) => tokio::time::sleep(CHECK_EVERY).await,
                        Err(NotYet::NotListening | NotYet::Silent(_)) => {}
                    }
                }
            });
        });
    if let Err(err) = spawned {
        tracing::warn!("could not wait for the guest's SSH: {err}");
    }
    Waiting { done }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    #[test]
    fn a_greeting_is_reported_once_and_silence_or_a_closed_port_is_not() {
        let (tx, rx) = mpsc::channel();
        // Nothing listens yet, then a listener that accepts and says nothing.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let waiting = spawn(closed_port, tx.clone());
        assert!(rx.recv_timeout(Duration::from_millis(600)).is_err());
        drop(waiting);
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let waiting = spawn(silent.local_addr().unwrap().port(), tx.clone());
        assert!(rx.recv_timeout(Duration::from_millis(800)).is_err());
        drop(waiting);

        let sshd = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = sshd.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in sshd.incoming() {
                let _ = stream.unwrap().write_all(b"SSH-2.0-test\r\n");
            }
        });
        let _waiting = spawn(port, tx);
        assert!(matches!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok(Event::GuestAnswered)
        ));
        assert!(rx.recv_timeout(Duration::from_millis(600)).is_err());
    }
}
