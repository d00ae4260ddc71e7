use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

const TIMEOUT: Duration = Duration::from_secs(5);

#[test]
fn until_the_guest_answers_a_fresh_attempt_comes_within_qemus_arp_wait() {
    let t0 = Instant::now();
    let mut schedule = Schedule::new(TIMEOUT);
    assert_eq!(schedule.next_start(t0), t0);
    let mut at = t0;
    for _ in 0..10 {
        schedule.started(at);
        let next = schedule.next_start(at);
        assert!(next - at < ARP_WAIT, "{:?}", next - at);
        at = next;
    }
}

#[test]
fn after_a_refusal_the_next_attempt_comes_soon() {
    let t0 = Instant::now();
    let mut schedule = Schedule::new(TIMEOUT);
    let first = schedule.started(t0);
    let refused = t0 + Duration::from_millis(30);
    schedule.refused(first, refused);
    assert_eq!(schedule.next_start(refused), refused + AFTER_REFUSAL);
}

#[test]
fn once_the_guest_answered_a_silent_sshd_is_waited_for_longer_each_time() {
    let t0 = Instant::now();
    let mut schedule = Schedule::new(TIMEOUT);
    let first = schedule.started(t0);
    schedule.refused(first, t0);
    let mut at = schedule.next_start(t0);
    schedule.started(at);
    let mut waits = Vec::new();
    for _ in 0..5 {
        let next = schedule.next_start(at);
        waits.push((next - at).as_secs());
        schedule.started(next);
        at = next;
    }
    assert_eq!(waits, [1, 2, 4, 5, 5]);
}

#[test]
fn a_refusal_of_an_older_attempt_does_not_hurry_the_next() {
    let t0 = Instant::now();
    let mut schedule = Schedule::new(TIMEOUT);
    let old = schedule.started(t0);
    let newer_at = t0 + FRESH_EVERY;
    schedule.started(newer_at);
    schedule.refused(old, newer_at + Duration::from_millis(10));
    assert_eq!(
        schedule.next_start(newer_at),
        newer_at + Duration::from_secs(1)
    );
}

#[test]
fn after_a_greeting_the_next_connection_starts_at_once() {
    let t0 = Instant::now();
    let mut schedule = Schedule::new(TIMEOUT);
    schedule.started(t0);
    schedule.greeted();
    let later = t0 + Duration::from_secs(30);
    assert_eq!(schedule.next_start(later), later);
    schedule.started(later);
    assert_eq!(
        schedule.next_start(later),
        later + Duration::from_secs(1),
        "patience starts over"
    );
}

/// What a stand-in for the forwarded port does with each connection, by
/// its order of arrival.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Accepted and never answered: QEMU holding a SYN it could not deliver.
    HoldSilent,
    /// Closed at once: the guest refusing (nothing listens on port 22 yet).
    Refuse,
    /// Greeted after this long: sshd.
    GreetAfter(Duration),
}

struct Port {
    port: u16,
    accepted: Arc<Mutex<usize>>,
}

/// A TCP listener on the loopback that treats connection `n` as
/// `behaviour(n)`.
async fn forwarded_port(behaviour: impl Fn(usize) -> Behaviour + Send + 'static) -> Port {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(Mutex::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let n = {
                let mut count = count.lock().unwrap();
                *count += 1;
                *count - 1
            };
            match behaviour(n) {
                Behaviour::HoldSilent => held.push(stream),
                Behaviour::Refuse => drop(stream),
                Behaviour::GreetAfter(wait) => {
                    tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        let _ = stream.write_all(b"SSH-2.0-stand-in\r\n").await;
                        let mut rest = Vec::new();
                        let _ = stream.read_to_end(&mut rest).await;
                    });
                }
            }
        }
    });
    Port { port, accepted }
}

async fn greeting_of(greeter: &mut Greeter, calls: usize) -> (TcpStream, Vec<NotYet>) {
    let mut why = Vec::new();
    for _ in 0..calls {
        match greeter.greeted(Duration::from_secs(1)).await {
            Ok(stream) => return (stream, why),
            Err(not_yet) => why.push(not_yet),
        }
    }
    panic!("never greeted: {why:?}");
}

async fn read_greeting(stream: &mut TcpStream) -> String {
    let mut buf = [0u8; 18];
    stream.read_exact(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn connections_made_before_the_guest_listens_are_not_waited_on() {
    // The first three connections are the ones QEMU could not deliver; a
    // greeter that waited on any of them would never be greeted.
    let port = forwarded_port(|n| {
        if n < 3 {
            Behaviour::HoldSilent
        } else {
            Behaviour::GreetAfter(Duration::ZERO)
        }
    })
    .await;
    let mut greeter = Greeter::new(port.port, TIMEOUT);
    let (mut stream, _) = greeting_of(&mut greeter, 10).await;
    assert_eq!(read_greeting(&mut stream).await, "SSH-2.0-stand-in\r\n");
    assert_eq!(*port.accepted.lock().unwrap(), 4);
    assert_eq!(greeter.in_flight(), 0, "the silent ones are closed");
}

#[tokio::test]
async fn a_slow_sshd_after_a_refusal_still_gets_in_without_a_pile_of_connections() {
    let port = forwarded_port(|n| {
        if n == 0 {
            Behaviour::Refuse
        } else {
            Behaviour::GreetAfter(Duration::from_millis(1500))
        }
    })
    .await;
    let mut greeter = Greeter::new(port.port, TIMEOUT);
    let (mut stream, why) = greeting_of(&mut greeter, 10).await;
    assert_eq!(why[0], NotYet::NotListening);
    assert_eq!(read_greeting(&mut stream).await, "SSH-2.0-stand-in\r\n");
    let accepted = *port.accepted.lock().unwrap();
    assert!(
        accepted <= 3,
        "{accepted} connections for one slow greeting"
    );
}

#[tokio::test]
async fn nothing_listening_on_the_host_is_said_at_once() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut greeter = Greeter::new(port, TIMEOUT);
    match greeter.greeted(Duration::from_secs(60)).await {
        Err(NotYet::NoListener(_)) => {}
        other => panic!("{:?}", other.map(|_| "a stream")),
    }
}

#[tokio::test]
async fn attempts_made_in_one_call_can_be_greeted_in_the_next() {
    let port = forwarded_port(|_| Behaviour::GreetAfter(Duration::from_millis(400))).await;
    let mut greeter = Greeter::new(port.port, TIMEOUT);
    let first = greeter.greeted(Duration::from_millis(100)).await;
    assert!(matches!(first, Err(NotYet::Silent(_))));
    let (mut stream, _) = greeting_of(&mut greeter, 5).await;
    assert_eq!(read_greeting(&mut stream).await, "SSH-2.0-stand-in\r\n");
    assert_eq!(*port.accepted.lock().unwrap(), 1, "the first attempt won");
}
