//! Golden files: the plists we write, and `launchctl print` outputs we parse.
//! Set `UPDATE_GOLDEN=1` to rewrite the plist goldens after a deliberate change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use launchd::{
    Job, KeepAlive, LastExit, ProcessType, ServiceState, VmJobInputs, parse_print, vm_job,
};

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn check_plist(name: &str, job: &Job) {
    let xml = job.to_plist_xml().unwrap();
    let path = golden(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &xml).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        String::from_utf8(xml).unwrap(),
        expected,
        "golden {name} differs"
    );
    // Parse the golden back: the same job.
    assert_eq!(&Job::from_plist_bytes(expected.as_bytes()).unwrap(), job);
    assert_eq!(&Job::read_from(&path).unwrap(), job);
}

fn vm_inputs() -> VmJobInputs {
    VmJobInputs {
        binary: "/Users/ann/Library/Application Support/BuilderBar/bin/builderbar".into(),
        state_dir: "/Users/ann/Library/Application Support/BuilderBar/vm".into(),
        stdout_log: "/Users/ann/Library/Logs/BuilderBar/vm.out.log".into(),
        stderr_log: "/Users/ann/Library/Logs/BuilderBar/vm.err.log".into(),
        environment: BTreeMap::from([("BUILDERBAR_LOG".to_owned(), "info".to_owned())]),
        power_down_wait: Duration::from_secs(30),
        wait_program: launchd::WAIT4PATH.into(),
        wait_path: launchd::NIX_STORE.into(),
    }
}

#[test]
fn vm_job_plist_matches_golden() {
    check_plist("vm_job.plist", &vm_job(&vm_inputs()).unwrap());
}

#[test]
fn full_job_plist_matches_golden() {
    let mut job = Job::new(
        "com.example.all-keys",
        vec!["/usr/bin/env".into(), "it's \"quoted\" & <odd>".into()],
    );
    job.environment_variables.insert("A".into(), "1".into());
    job.working_directory = Some("/tmp".into());
    job.keep_alive = Some(KeepAlive::Always(true));
    job.run_at_load = Some(false);
    job.throttle_interval = Some(1);
    job.exit_time_out = Some(5);
    job.process_type = Some(ProcessType::Background);
    job.standard_out_path = Some("/tmp/out.log".into());
    job.standard_error_path = Some("/tmp/err.log".into());
    check_plist("all_keys.plist", &job);
}

#[test]
fn minimal_job_plist_matches_golden() {
    check_plist(
        "minimal.plist",
        &Job::new("com.example.min", vec!["/bin/true".into()]),
    );
}

#[test]
fn unknown_keys_are_ignored_when_reading() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>Label</key><string>x</string>
<key>ProgramArguments</key><array><string>/bin/true</string></array>
<key>MachServices</key><dict><key>x.port</key><true/></dict>
<key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
</dict></plist>"#;
    let job = Job::from_plist_bytes(xml.as_bytes()).unwrap();
    assert_eq!(job.keep_alive, Some(KeepAlive::on_failure()));
}

#[test]
fn invalid_jobs_are_refused() {
    assert!(
        Job::new("", vec!["/bin/true".into()])
            .to_plist_xml()
            .is_err()
    );
    assert!(
        Job::new("a/b", vec!["/bin/true".into()])
            .to_plist_xml()
            .is_err()
    );
    assert!(Job::new("x", vec![]).to_plist_xml().is_err());
    assert!(Job::new("x", vec!["true".into()]).to_plist_xml().is_err());
    let mut job = Job::new("x", vec!["/bin/true".into()]);
    job.environment_variables.insert("A=B".into(), "1".into());
    assert!(job.to_plist_xml().is_err());
}

#[test]
fn vm_job_program_arguments_are_exact() {
    let job = vm_job(&vm_inputs()).unwrap();
    assert_eq!(
        job.program_arguments,
        [
            "/bin/sh",
            "-c",
            "\"$1\" \"$2\" && shift 2 && exec \"$@\"",
            "builderbar-vm-wait",
            "/bin/wait4path",
            "/nix/store",
            "/Users/ann/Library/Application Support/BuilderBar/bin/builderbar",
            "vm",
            "run",
            "--powerdown-timeout",
            "30",
        ]
    );
}

fn parse_fixture(name: &str) -> launchd::ServiceStatus {
    parse_print(&std::fs::read_to_string(golden(name)).unwrap()).unwrap()
}

#[test]
fn print_running() {
    let s = parse_fixture("print_running.txt");
    assert_eq!(s.state, ServiceState::Running);
    assert_eq!(s.pid, Some(48213));
    assert_eq!(s.runs, 1);
    assert_eq!(s.last_exit, None);
}

#[test]
fn print_killed_and_throttled() {
    let s = parse_fixture("print_killed.txt");
    assert_eq!(s.state, ServiceState::SpawnScheduled);
    assert_eq!(s.pid, None);
    assert_eq!(s.runs, 4);
    assert_eq!(
        s.last_exit,
        Some(LastExit::Signal {
            number: 9,
            name: "Killed".into()
        })
    );
}

#[test]
fn print_ex_config() {
    let s = parse_fixture("print_ex_config.txt");
    assert_eq!(s.state, ServiceState::NotRunning);
    assert_eq!(s.last_exit, Some(LastExit::Code(78)));
    assert_eq!(s.runs, 2);
}

#[test]
fn print_exit_code_ignores_nested_lookalikes() {
    let s = parse_fixture("print_exit_code.txt");
    assert_eq!(s.state, ServiceState::NotRunning);
    assert_eq!(s.last_exit, Some(LastExit::Code(1)));
    assert_eq!(s.runs, 12);
}

#[test]
fn print_not_found_is_an_error() {
    let text = std::fs::read_to_string(golden("print_not_found.txt")).unwrap();
    assert!(parse_print(&text).is_err());
}

/// A tiny deterministic generator, so the garbage test needs no dependency.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn parser_never_panics_on_garbage() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let pieces: Vec<String> = [
        "print_running.txt",
        "print_killed.txt",
        "print_exit_code.txt",
    ]
    .iter()
    .map(|n| std::fs::read_to_string(golden(n)).unwrap())
    .collect();
    let alphabet = b"{}= \t\n:-0123456789abcdefstate pid runs last exit code signal()\xff\xfe";
    for i in 0..20_000 {
        let text = if i % 2 == 0 {
            // Random bytes from a launchd-flavoured alphabet, lossily decoded.
            let len = (rng.next() % 300) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            // A real shape, cut and spliced at random char boundaries.
            let base = &pieces[(rng.next() % pieces.len() as u64) as usize];
            let chars: Vec<char> = base.chars().collect();
            let a = (rng.next() % chars.len() as u64) as usize;
            let b = (rng.next() % chars.len() as u64) as usize;
            let (a, b) = (a.min(b), a.max(b));
            let mut s: String = chars[..a].iter().collect();
            s.extend(chars[b..].iter());
            s.push_str(&"}\n{".repeat((rng.next() % 3) as usize));
            s
        };
        let _ = parse_print(&text);
    }
}
