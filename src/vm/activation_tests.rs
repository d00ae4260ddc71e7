use super::*;
use std::io::{Read, Write};

/// An echo server on a free loopback port, answering each connection
/// with what it sends.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            std::thread::spawn(move || {
                let mut reader = stream.try_clone().unwrap();
                let _ = io::copy(&mut reader, &mut stream);
            });
        }
    });
    addr
}

fn roundtrip(addr: SocketAddr, text: &[u8]) -> Vec<u8> {
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client.write_all(text).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).unwrap();
    answer
}

#[test]
fn a_connection_made_while_asleep_is_held_and_answered_once_the_guest_is_up() {
    let activation = Activation::bind(0).unwrap();
    let addr = activation.local_addr();
    let client = std::thread::spawn(move || roundtrip(addr, b"SSH-2.0-hello\r\n"));
    assert!(
        activation.wait_for_demand(Duration::from_secs(10)),
        "the connection asks for the VM"
    );
    assert_eq!(activation.idle_for(), None, "a held connection is not idle");
    activation.set_upstream(Some(echo_server()));
    assert_eq!(client.join().unwrap(), b"SSH-2.0-hello\r\n");
    assert!(!activation.wait_for_demand(Duration::from_millis(50)));
}

#[test]
fn idle_time_counts_from_the_end_of_the_last_connection() {
    let activation = Activation::bind(0).unwrap();
    activation.set_upstream(Some(echo_server()));
    let addr = activation.local_addr();
    let mut open = TcpStream::connect(addr).unwrap();
    open.write_all(b"x").unwrap();
    let mut byte = [0; 1];
    open.read_exact(&mut byte).unwrap();
    assert_eq!(activation.idle_for(), None, "an open session is not idle");
    drop(open);
    let idle = wait(|| activation.idle_for());
    assert!(idle < Duration::from_secs(5), "{idle:?}");
    assert_eq!(activation.accepted(), 1);
}

#[test]
fn a_connection_during_power_down_waits_for_the_next_boot() {
    let activation = Activation::bind(0).unwrap();
    // The guest was up at this address and is gone: nothing listens.
    let gone = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    activation.set_upstream(Some(gone));
    let addr = activation.local_addr();
    let client = std::thread::spawn(move || roundtrip(addr, b"again"));
    wait(|| (activation.accepted() == 1).then_some(()));
    activation.set_upstream(None);
    assert!(activation.wait_for_demand(Duration::from_secs(10)));
    activation.set_upstream(Some(echo_server()));
    assert_eq!(client.join().unwrap(), b"again");
}

#[test]
fn two_connections_at_once_both_get_through() {
    let activation = Activation::bind(0).unwrap();
    let addr = activation.local_addr();
    let a = std::thread::spawn(move || roundtrip(addr, b"first"));
    let b = std::thread::spawn(move || roundtrip(addr, b"second"));
    wait(|| (activation.accepted() == 2).then_some(()));
    activation.set_upstream(Some(echo_server()));
    assert_eq!(a.join().unwrap(), b"first");
    assert_eq!(b.join().unwrap(), b"second");
}

#[test]
fn a_vm_that_cannot_boot_closes_the_held_connections_at_once_and_the_next_one_waits() {
    let activation = Activation::bind(0).unwrap();
    let addr = activation.local_addr();
    let held = std::thread::spawn(move || {
        // What the client sees: the end of the stream, or a reset (the
        // bytes it sent were never read) — within its 10 s read timeout.
        let mut client = TcpStream::connect(addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        client.write_all(b"SSH-2.0-x\r\n").unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).map(|_| answer)
    });
    assert!(activation.wait_for_demand(Duration::from_secs(10)));
    activation.close_waiting();
    match held.join().unwrap() {
        Ok(answer) => assert!(answer.is_empty(), "closed, not served: {answer:?}"),
        Err(err) => assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}"),
    }
    wait(|| activation.idle_for());

    // A connection after the failure asks for a boot again, and is
    // served when the VM comes up.
    let next = std::thread::spawn(move || roundtrip(addr, b"again"));
    assert!(activation.wait_for_demand(Duration::from_secs(10)));
    activation.set_upstream(Some(echo_server()));
    assert_eq!(next.join().unwrap(), b"again");
}

#[test]
fn the_supervisor_hears_of_every_connection_and_idleness_releases_the_guest() {
    let activation = Activation::bind(0).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    activation.on_change(move || {
        let _ = tx.send(());
    });
    let addr = activation.local_addr();
    let client = std::thread::spawn(move || roundtrip(addr, b"ping"));
    rx.recv_timeout(Duration::from_secs(10))
        .expect("told of the held connection");
    assert!(activation.wants_vm());
    assert_eq!(activation.open_connections(), 1);
    assert!(!activation.release_if_idle(Duration::ZERO), "one is held");

    activation.set_upstream(Some(echo_server()));
    assert_eq!(client.join().unwrap(), b"ping");
    wait(|| (activation.open_connections() == 0).then_some(()));
    assert!(
        rx.try_iter().count() >= 2,
        "told it was handed over and ended"
    );
    assert!(!activation.wants_vm());
    assert!(!activation.release_if_idle(Duration::from_secs(3600)));
    assert!(activation.release_if_idle(Duration::ZERO));

    // Released: the next connection waits for a new boot.
    let next = std::thread::spawn(move || roundtrip(addr, b"again"));
    assert!(activation.wait_for_demand(Duration::from_secs(10)));
    activation.set_upstream(Some(echo_server()));
    assert_eq!(next.join().unwrap(), b"again");
}

#[test]
fn only_the_loopback_is_listened_on() {
    let activation = Activation::bind(0).unwrap();
    assert_eq!(activation.local_addr().ip().to_string(), "127.0.0.1");
    let everywhere = TcpListener::bind("0.0.0.0:0").unwrap();
    assert!(matches!(
        Activation::from_listener(everywhere),
        Err(ActivationError::NotLoopback(_))
    ));
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    assert!(matches!(
        Activation::bind(port),
        Err(ActivationError::PortInUse(p)) if p == port
    ));
}

/// Polls `check` every 10 ms for up to 10 s.
fn wait<T>(mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(10));
    }
}
