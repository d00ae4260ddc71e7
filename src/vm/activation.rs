//! On-demand activation: the builder's SSH port, held by the supervisor
//! while the VM sleeps. A connection is accepted at once and held (nothing
//! is read from it) until the guest's sshd answers on QEMU's private
//! forward; then it is spliced to it byte for byte. A connection that
//! arrives while the VM powers down waits for the next boot. The
//! supervisor learns from [`Activation`] when a connection wants the VM and
//! how long nothing has used it, and closes the held connections at once
//! when the VM cannot boot ([`Activation::close_waiting`]).
//!
//! The listening socket is loopback-only: [`Activation::bind`] binds
//! 127.0.0.1, and [`Activation::from_listener`] (a socket made elsewhere)
//! refuses any other address.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a held connection waits for the VM before it is dropped (a
/// VM that cannot boot must not pile up connections forever).
pub const HOLD_LIMIT: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    #[error("the builder's port {0} is already in use; choose another port in the settings")]
    PortInUse(u16),
    #[error(
        "the socket given for the builder's port listens on {0}, not on 127.0.0.1; BuilderBar listens on the loopback only"
    )]
    NotLoopback(SocketAddr),
    #[error("cannot listen on the builder's port: {0}")]
    Io(#[from] io::Error),
}

/// What the connections and the supervisor share.
#[derive(Debug)]
struct State {
    /// Where the guest's sshd answers (QEMU's private forward), while the
    /// VM is up and has answered.
    upstream: Option<SocketAddr>,
    /// Connections accepted and not yet handed to the guest.
    waiting: usize,
    /// Connections spliced to the guest right now.
    active: usize,
    /// When the last connection ended (or activation began).
    last_used: Instant,
    /// Connections accepted since the start, for the logs and tests.
    accepted: u64,
    /// Times the held connections were closed because the VM could not
    /// boot: a connection held before the last one gives up.
    closings: u64,
}

/// Called from the connection threads whenever a connection comes or goes.
type Hook = Box<dyn Fn() + Send + Sync>;

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    hook: Mutex<Option<Hook>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Wakes whoever waits on the state: the connection threads, and the
    /// supervisor through its hook.
    fn notify(&self) {
        self.changed.notify_all();
        if let Some(hook) = self.hook.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            hook();
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking connection thread cannot leave the counters half
        // written: every update is a single assignment.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The held port and its connections.
#[derive(Debug, Clone)]
pub struct Activation {
    shared: Arc<Shared>,
    local: SocketAddr,
}

impl Activation {
    /// Listens on 127.0.0.1:`port` and starts accepting.
    pub fn bind(port: u16) -> Result<Activation, ActivationError> {
        let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
            if e.kind() == io::ErrorKind::AddrInUse {
                ActivationError::PortInUse(port)
            } else {
                ActivationError::Io(e)
            }
        })?;
        Activation::from_listener(listener)
    }

    /// Takes a listening socket made elsewhere and starts accepting; a
    /// socket not on 127.0.0.1 is refused.
    pub fn from_listener(listener: TcpListener) -> Result<Activation, ActivationError> {
        let local = listener.local_addr()?;
        if !local.ip().is_loopback() || local.is_ipv6() {
            return Err(ActivationError::NotLoopback(local));
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                upstream: None,
                waiting: 0,
                active: 0,
                last_used: Instant::now(),
                accepted: 0,
                closings: 0,
            }),
            changed: Condvar::new(),
            hook: Mutex::new(None),
        });
        let accepting = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("activation-accept".into())
            .spawn(move || accept_loop(&listener, &accepting))?;
        Ok(Activation { shared, local })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The guest answers at `addr` (Some) or is going away (None): held
    /// connections are handed over, new ones wait.
    pub fn set_upstream(&self, addr: Option<SocketAddr>) {
        self.shared.lock().upstream = addr;
        self.shared.changed.notify_all();
    }

    /// Calls `hook` (from a connection thread) whenever a connection comes
    /// or goes, so that the supervisor waits on its own events only and
    /// wakes for nothing while the VM sleeps.
    pub fn on_change(&self, hook: impl Fn() + Send + Sync + 'static) {
        *self.shared.hook.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(hook));
    }

    /// A connection is held and nothing answers it: the VM is wanted.
    pub fn wants_vm(&self) -> bool {
        let state = self.shared.lock();
        state.waiting > 0 && state.upstream.is_none()
    }

    /// Connections held or spliced right now.
    pub fn open_connections(&self) -> usize {
        let state = self.shared.lock();
        state.waiting + state.active
    }

    /// Waits until a connection is held for a VM that is not up, or
    /// `timeout` passes. True: the VM is wanted.
    pub fn wait_for_demand(&self, timeout: Duration) -> bool {
        let guard = self.shared.lock();
        let (guard, _) = self
            .shared
            .changed
            .wait_timeout_while(guard, timeout, |s| s.waiting == 0 || s.upstream.is_some())
            .unwrap_or_else(|p| p.into_inner());
        guard.waiting > 0 && guard.upstream.is_none()
    }

    /// How long no connection has been open or held; None while one is.
    pub fn idle_for(&self) -> Option<Duration> {
        let state = self.shared.lock();
        (state.waiting == 0 && state.active == 0).then(|| state.last_used.elapsed())
    }

    /// If no connection has been open or held for `idle`, new ones wait
    /// for the next boot from now on (true): checked and done under one
    /// lock, so no connection is handed to a VM about to power down.
    pub fn release_if_idle(&self, idle: Duration) -> bool {
        let mut state = self.shared.lock();
        let unused = state.waiting == 0 && state.active == 0 && state.last_used.elapsed() >= idle;
        if unused {
            state.upstream = None;
        }
        unused
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.lock().accepted
    }

    /// The VM could not boot: every connection held now is closed at once
    /// (Nix then reports the builder unreachable and tries its next one)
    /// instead of waiting [`HOLD_LIMIT`] for a boot that is not coming. A
    /// connection made afterwards is held again: it asks for a new boot.
    pub fn close_waiting(&self) {
        self.shared.lock().closings += 1;
        self.shared.changed.notify_all();
    }
}

/// Why a held connection was closed without reaching the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotServed {
    /// The VM did not come up within [`HOLD_LIMIT`].
    TimedOut,
    /// The supervisor said the VM cannot boot (it reports why itself).
    BootFailed,
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        let Ok(client) = stream else {
            // EMFILE and the like: back off instead of spinning.
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        // The closings seen when it was accepted, under the same lock that
        // counts it as waiting: a close that follows is never missed.
        let closings = {
            let mut state = shared.lock();
            state.waiting += 1;
            state.accepted += 1;
            state.closings
        };
        shared.notify();
        let shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("activation-conn".into())
            .spawn(move || serve(client, &shared, closings));
        if let Err(err) = spawned {
            tracing::warn!("could not serve a connection to the builder: {err}");
        }
    }
}

/// Holds `client` until the guest answers, then splices the two.
fn serve(client: TcpStream, shared: &Shared, closings: u64) {
    let upstream = hand_over(shared, closings);
    {
        let mut state = shared.lock();
        state.waiting -= 1;
        if upstream.is_ok() {
            state.active += 1;
        } else {
            state.last_used = Instant::now();
        }
    }
    shared.notify();
    let upstream = match upstream {
        Ok(upstream) => upstream,
        Err(NotServed::TimedOut) => {
            tracing::warn!(
                "a connection to the builder waited {HOLD_LIMIT:?} for it and was closed"
            );
            return;
        }
        Err(NotServed::BootFailed) => {
            tracing::debug!("a held connection was closed: the builder could not start");
            return;
        }
    };
    splice(client, upstream);
    {
        let mut state = shared.lock();
        state.active -= 1;
        state.last_used = Instant::now();
    }
    shared.notify();
}

/// A connection to the guest, once there is one to make: a refused connect
/// (the VM went down in between) waits for the next boot.
fn hand_over(shared: &Shared, closings: u64) -> Result<TcpStream, NotServed> {
    let deadline = Instant::now() + HOLD_LIMIT;
    loop {
        let addr = {
            let guard = shared.lock();
            let left = deadline.saturating_duration_since(Instant::now());
            let (guard, _) = shared
                .changed
                .wait_timeout_while(guard, left, |s| {
                    s.upstream.is_none() && s.closings == closings
                })
                .unwrap_or_else(|p| p.into_inner());
            if guard.closings != closings {
                return Err(NotServed::BootFailed);
            }
            guard.upstream.ok_or(NotServed::TimedOut)?
        };
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(stream) => return Ok(stream),
            Err(_) if Instant::now() < deadline => {
                // The guest is going down: wait for the supervisor to say so
                // (or to hand a new address) rather than retrying at once.
                let guard = shared.lock();
                let _ = shared
                    .changed
                    .wait_timeout_while(guard, Duration::from_millis(200), |s| {
                        s.upstream == Some(addr) && s.closings == closings
                    });
            }
            Err(_) => return Err(NotServed::TimedOut),
        }
    }
}

/// Copies both ways until both sides are done; a half-close is passed on.
fn splice(client: TcpStream, upstream: TcpStream) {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (Ok(client_in), Ok(upstream_in)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let outbound = std::thread::spawn(move || copy_then_close(client_in, upstream));
    copy_then_close(upstream_in, client);
    let _ = outbound.join();
}

fn copy_then_close(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

#[cfg(test)]
#[path = "activation_tests.rs"]
mod tests;
