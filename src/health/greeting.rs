//! A TCP connection to the builder's SSH port that sshd has greeted, found
//! as soon as the guest listens.
//!
//! QEMU's user network accepts a connection on the forwarded port at once,
//! whatever the guest is doing, and sends the guest a SYN. Until the guest
//! has answered QEMU's ARP request for that packet, it holds the packet,
//! and after one second drops it: the connection then sits silent until a
//! TCP retransmission about six seconds later, long after sshd started.
//! Waiting on such a connection made starts slow and uneven; a fresh one is
//! answered as soon as the guest's network is up. So the attempts follow a
//! [`Schedule`]:
//!
//! - until the guest has answered anything this run, a fresh attempt starts
//!   every [`FRESH_EVERY`]: each new packet makes QEMU ask for the guest
//!   again, and one attempt is always younger than QEMU's one-second hold;
//! - a refusal (the network is up, sshd is not listening yet) is the guest's
//!   first sign of life: the next attempt follows [`AFTER_REFUSAL`] (a
//!   refusal costs the guest's kernel next to nothing);
//! - once the guest has answered, a silent connection means a slow sshd (a
//!   guest busy with builds): the next attempt waits for it, one second
//!   doubling up to the probe's timeout, so a slow guest is not buried
//!   under new connections.
//!
//! Earlier attempts stay open (each at most the probe's timeout) in case they
//! are only slow; the first greeted wins and the others are closed.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// QEMU's user network holds a packet for a guest that has not answered its
/// ARP request this long, then drops it.
const ARP_WAIT: Duration = Duration::from_secs(1);
/// A fresh attempt this often while the guest has not answered: well inside
/// [`ARP_WAIT`], so that a busy host still has one in time.
pub const FRESH_EVERY: Duration = Duration::from_millis(500);
/// After the guest refused a connection, the next one this soon: sshd is
/// about to listen.
pub const AFTER_REFUSAL: Duration = Duration::from_millis(50);
/// Once the guest answers, how long a silent connection is first waited
/// for before another is made (doubles up to the timeout).
const FIRST_PATIENCE: Duration = Duration::from_secs(1);

const _: () = assert!(FRESH_EVERY.as_millis() < ARP_WAIT.as_millis());

/// When to start the next attempt. Pure: it is told what happened and when.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The latest attempt: its number and when it started.
    latest: Option<(u64, Instant)>,
    /// The guest answered something (a greeting or a refusal) this run.
    answered: bool,
    /// The latest attempt was refused at this moment.
    refused_at: Option<Instant>,
    patience: Duration,
    max_patience: Duration,
}

impl Schedule {
    /// A schedule for a new run of the VM; no attempt waits longer than
    /// `max_patience` alone.
    pub fn new(max_patience: Duration) -> Schedule {
        Schedule {
            latest: None,
            answered: false,
            refused_at: None,
            patience: FIRST_PATIENCE.min(max_patience),
            max_patience,
        }
    }

    /// When the next attempt should start (at or before `now`: start it).
    pub fn next_start(&self, now: Instant) -> Instant {
        match (self.latest, self.refused_at) {
            (None, _) => now,
            (Some(_), Some(refused)) => refused + AFTER_REFUSAL,
            (Some((_, started)), None) if self.answered => started + self.patience,
            (Some((_, started)), None) => started + FRESH_EVERY,
        }
    }

    /// An attempt started; returns its number.
    pub fn started(&mut self, now: Instant) -> u64 {
        let number = match self.latest {
            Some((latest, _)) => {
                // The previous attempt is still silent though the guest
                // answers: sshd is slow, so wait longer for the next one.
                if self.answered && self.refused_at.is_none() {
                    self.patience = (self.patience * 2).min(self.max_patience);
                }
                latest + 1
            }
            None => 0,
        };
        self.latest = Some((number, now));
        self.refused_at = None;
        number
    }

    /// Attempt `number` was refused or closed by the other end.
    pub fn refused(&mut self, number: u64, now: Instant) {
        self.answered = true;
        if self.latest.is_some_and(|(latest, _)| latest == number) {
            self.refused_at = Some(now);
        }
    }

    /// sshd greeted: the next connection (after a broken session) starts at
    /// once and is waited for as patiently as the first.
    pub fn greeted(&mut self) {
        self.answered = true;
        self.latest = None;
        self.refused_at = None;
        self.patience = FIRST_PATIENCE.min(self.max_patience);
    }
}

/// Why no greeted connection came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotYet {
    /// Nothing listens on the port on the host (QEMU is not running).
    NoListener(String),
    /// The guest refused the connection: its network is up, sshd is not.
    NotListening,
    /// Nothing answered in the time given.
    Silent(Duration),
}

impl std::fmt::Display for NotYet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotYet::NoListener(err) => write!(f, "SSH: {err}"),
            NotYet::NotListening => {
                write!(f, "SSH is not listening yet (the builder is still booting)")
            }
            NotYet::Silent(waited) => write!(
                f,
                "SSH did not greet within {waited:?} (the builder is still booting)"
            ),
        }
    }
}

enum Answer {
    Greeted(TcpStream),
    Closed(u64),
    Silent,
}

/// The attempts in flight and their schedule; kept between probes, so an
/// attempt made during one probe can be greeted during the next.
pub struct Greeter {
    port: u16,
    /// How long one attempt may stay silent.
    timeout: Duration,
    schedule: Schedule,
    attempts: JoinSet<Answer>,
}

impl Greeter {
    pub fn new(port: u16, timeout: Duration) -> Greeter {
        Greeter {
            port,
            timeout,
            schedule: Schedule::new(timeout),
            attempts: JoinSet::new(),
        }
    }

    /// Forgets every attempt and what the guest answered (a new run).
    pub fn reset(&mut self) {
        self.close_all();
        self.schedule = Schedule::new(self.timeout);
    }

    /// Dropping the set aborts its tasks, which closes their connections.
    fn close_all(&mut self) {
        self.attempts = JoinSet::new();
    }

    /// Attempts in flight now.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.attempts.len()
    }

    /// A greeted connection, or why there is none yet: returns at the first
    /// greeting, at a refusal, or after `budget`. Cancel-safe: attempts in
    /// flight are kept for the next call.
    pub async fn greeted(&mut self, budget: Duration) -> Result<TcpStream, NotYet> {
        let deadline = Instant::now() + budget;
        loop {
            let now = Instant::now();
            let next = self.schedule.next_start(now);
            if next <= now {
                self.start().await?;
                continue;
            }
            tokio::select! {
                Some(joined) = self.attempts.join_next() => match joined {
                    Ok(Answer::Greeted(stream)) => {
                        // The others would only ever be greeted to be closed.
                        self.close_all();
                        self.schedule.greeted();
                        return Ok(stream);
                    }
                    Ok(Answer::Closed(number)) => {
                        self.schedule.refused(number, Instant::now());
                        return Err(NotYet::NotListening);
                    }
                    Ok(Answer::Silent) | Err(_) => {}
                },
                _ = tokio::time::sleep_until(next.min(deadline)) => {
                    if Instant::now() >= deadline {
                        return Err(NotYet::Silent(budget));
                    }
                }
            }
        }
    }

    async fn start(&mut self) -> Result<(), NotYet> {
        let addr = ("127.0.0.1", self.port);
        let stream = match tokio::time::timeout(self.timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => return Err(NotYet::NoListener(err.to_string())),
            Err(_) => return Err(NotYet::Silent(self.timeout)),
        };
        let number = self.schedule.started(Instant::now());
        let timeout = self.timeout;
        self.attempts.spawn(async move {
            let mut first = [0u8; 1];
            match tokio::time::timeout(timeout, stream.peek(&mut first)).await {
                Ok(Ok(n)) if n > 0 => Answer::Greeted(stream),
                Ok(_) => Answer::Closed(number),
                Err(_) => Answer::Silent,
            }
        });
        Ok(())
    }
}

#[cfg(test)]
#[path = "greeting_tests.rs"]
mod tests;
