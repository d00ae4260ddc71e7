//! Measures the on-demand activation proxy against a direct connection, on
//! loopback, with an echo server standing in for the guest's sshd: what
//! holding the port costs each connection, how fast a held connection is
//! handed over once the guest answers, the throughput through the splice,
//! and how often the process wakes while it only holds the port.
//! Run by `scripts/bench-activation.py` (`make bench`), which records the
//! numbers in docs/BENCHMARKS.md; it prints one JSON object.

// A benchmark fails by panicking, like a test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use builderbar::vm::activation::Activation;

fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut reader = stream.try_clone().unwrap();
                let _ = io::copy(&mut reader, &mut stream);
            });
        }
    });
    addr
}

/// Connect, send one byte, read it back, close: microseconds each.
fn connect_roundtrips(addr: SocketAddr, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let started = Instant::now();
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_nodelay(true).unwrap();
            s.write_all(b"x").unwrap();
            let mut byte = [0; 1];
            s.read_exact(&mut byte).unwrap();
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect()
}

/// MiB/s of `mib` MiB sent and echoed back through one connection.
fn throughput(addr: SocketAddr, mib: usize) -> f64 {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut reader = s.try_clone().unwrap();
    let started = Instant::now();
    let sink = std::thread::spawn(move || {
        let mut total = 0usize;
        let mut buf = vec![0; 1 << 16];
        loop {
            match reader.read(&mut buf).unwrap() {
                0 => return total,
                n => total += n,
            }
        }
    });
    let chunk = vec![7u8; 1 << 20];
    for _ in 0..mib {
        s.write_all(&chunk).unwrap();
    }
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(sink.join().unwrap(), mib << 20);
    mib as f64 / started.elapsed().as_secs_f64()
}

/// Milliseconds from "the guest answers" to the held client's first byte.
fn hand_over_ms() -> f64 {
    let activation = Activation::bind(0).unwrap();
    let addr = activation.local_addr();
    let client = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"x").unwrap();
        let mut byte = [0; 1];
        s.read_exact(&mut byte).unwrap();
        Instant::now()
    });
    assert!(activation.wait_for_demand(Duration::from_secs(10)));
    let upstream = echo_server();
    let up = Instant::now();
    activation.set_upstream(Some(upstream));
    let answered = client.join().unwrap();
    (answered - up).as_secs_f64() * 1e3
}

/// Context switches of this process over `secs` while it only holds the port.
fn wakeups_while_asleep(secs: u64) -> u64 {
    let activation = Activation::bind(0).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let before = switches();
    std::thread::sleep(Duration::from_secs(secs));
    let after = switches();
    drop(activation);
    // This thread's own sleep is one switch; the rest are the listener's.
    after.saturating_sub(before).saturating_sub(1)
}

/// Voluntary and involuntary context switches of every thread but this one.
fn switches() -> u64 {
    let me = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let task = task.unwrap();
        if Some(task.file_name().to_string_lossy().into_owned()) == me {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(n) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += n.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn p99(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[(v.len() * 99) / 100]
}

fn main() {
    let upstream = echo_server();
    let activation = Activation::bind(0).unwrap();
    activation.set_upstream(Some(upstream));
    let proxied = activation.local_addr();
    let n = 500;
    connect_roundtrips(upstream, 50);
    connect_roundtrips(proxied, 50);
    let direct = connect_roundtrips(upstream, n);
    let through = connect_roundtrips(proxied, n);
    let hand_over: Vec<f64> = (0..20).map(|_| hand_over_ms()).collect();
    let result = serde_json::json!({
        "connect_roundtrip_us_direct_median": median(direct.clone()),
        "connect_roundtrip_us_direct_p99": p99(direct),
        "connect_roundtrip_us_proxied_median": median(through.clone()),
        "connect_roundtrip_us_proxied_p99": p99(through),
        "hand_over_ms_median": median(hand_over.clone()),
        "hand_over_ms_max": hand_over.iter().copied().fold(0.0, f64::max),
        "throughput_mib_s_direct": throughput(upstream, 256),
        "throughput_mib_s_proxied": throughput(proxied, 256),
        "wakeups_per_minute_asleep": wakeups_while_asleep(10) * 6,
        "samples": n,
    });
    println!("{result}");
}
