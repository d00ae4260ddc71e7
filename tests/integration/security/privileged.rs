//! The privileged step builds no shell string from a setting. On macOS it
//! is `osascript -e <constant script> <binary> <job file>`; the script
//! quotes its two argv items itself (`quoted form of`) and the job file is
//! typed JSON. Here an osascript that does what macOS's does with that
//! script — records its arguments, then runs `do shell script` of the
//! items in `quoted form of` (single quotes; a quote inside as '\'') with
//! /bin/sh — takes its place, since there is no osascript on Linux.

use std::path::Path;
use std::process::{Command, Output};

use builderbar::nix::elevate::APPLESCRIPT;
use builderbar::nix::plan::DaemonKind;

use crate::support::home::BIN;

const OSASCRIPT: &str = r#"#!/bin/sh
set -eu
printf '%s\0' "$@" > "$BB_RECORD"
cp "$8" "$BB_RECORD.job"
quoted() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
cd "$BB_CWD"
exec /bin/sh -c "$(quoted "$7") nix apply-plan $(quoted "$8")"
"#;

/// Values a setting may be given that would do harm if pasted into a
/// shell, an ssh config or a machines line.
const HOSTILE: &[(&str, &str)] = &[
    ("port", "31022; touch INJECTED"),
    ("port", "$(touch INJECTED)"),
    ("port", "22 && touch INJECTED"),
    ("port", "2222\n"),
    ("systems", "x86_64-linux'; touch INJECTED; '"),
    ("systems", "$(touch INJECTED)"),
    ("systems", "`touch INJECTED`"),
    ("systems", "x86_64-linux\"; touch INJECTED"),
    (
        "systems",
        "x86_64-linux\nHost *\n  ProxyCommand touch INJECTED",
    ),
    ("systems", " x86_64-linux , aarch64-linux "),
    ("max-jobs", "4;touch INJECTED"),
    ("max-jobs", "$((1+1))"),
    ("max-jobs", " 3 "),
    ("memory", "1GiB\"$(touch INJECTED)"),
    ("cores", "1 && touch INJECTED"),
    ("disk", "30GiB; touch INJECTED"),
    ("ephemeral", "on; touch INJECTED"),
    ("disk-low-threshold", "80|touch INJECTED"),
];

const SHELL_SYNTAX: &[char] = &[
    '\'', '"', '$', '`', ';', '&', '|', '\n', '(', ')', '<', '>', '\\', ' ',
];

fn builderbar(home: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("BUILDERBAR_HOME", home)
        .env_remove("BUILDERBAR_RUNNER")
        .output()
        .unwrap()
}

fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// In a BuilderBar folder whose own path is hostile (quotes, `$(…)`, `;`,
/// backquotes, spaces): hostile values are refused by the validator and
/// change nothing, or are stored cleaned (a trimmed number, a system
/// name); a hostile value written into the file by hand stops `install`
/// before any elevation; and the elevation itself is the constant script,
/// byte for byte, with the binary and the job file as its only two
/// arguments — which reach the shell quoted: nothing injected runs, and
/// the plan is applied. The job holds typed operations, no command line,
/// and no key; the daemon reload is a fixed argv.
#[test]
fn the_privileged_step_is_a_constant_script_and_settings_travel_as_data() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir
        .path()
        .join("bb 'q' $(touch INJECTED) ; x\"y `touch INJECTED` \\");
    let cwd = dir.path().join("cwd");
    std::fs::create_dir_all(&cwd).unwrap();
    let settings = home.join("settings.toml");
    let out = builderbar(&home, &["settings", "set", "cores", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut accepted = Vec::new();
    for (key, value) in HOSTILE {
        let before = std::fs::read(&settings).unwrap();
        let out = builderbar(&home, &["settings", "set", key, value]);
        if out.status.success() {
            accepted.push(*key);
        } else {
            assert_eq!(std::fs::read(&settings).unwrap(), before, "{key} {value:?}");
        }
    }
    let stored: serde_json::Value =
        serde_json::from_slice(&builderbar(&home, &["settings", "show", "--json"]).stdout).unwrap();
    let mut values = Vec::new();
    strings(&stored, &mut values);
    for value in &values {
        assert!(!value.contains(SHELL_SYNTAX), "stored as is: {value:?}");
    }
    println!(
        "{} of {} hostile values refused; accepted cleaned: {accepted:?}",
        HOSTILE.len() - accepted.len(),
        HOSTILE.len()
    );
    assert!(accepted.len() <= 3, "{accepted:?}");

    let sysroot = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(sysroot.path().join("etc/nix")).unwrap();
    std::fs::write(sysroot.path().join("etc/nix/nix.conf"), "max-jobs = auto\n").unwrap();
    let osascript = dir.path().join("osascript");
    crate::support::write_executable(&osascript, OSASCRIPT);
    let record = dir.path().join("record");
    let install = || {
        Command::new(BIN)
            .args(["install", "--sysroot"])
            .arg(sysroot.path())
            .env("BUILDERBAR_HOME", &home)
            .env("BUILDERBAR_OSASCRIPT", &osascript)
            .env("BB_RECORD", &record)
            .env("BB_CWD", &cwd)
            .output()
            .unwrap()
    };

    let text = std::fs::read_to_string(&settings).unwrap();
    let mut table: toml::Table = text.parse().unwrap();
    table.insert(
        "systems".into(),
        toml::Value::Array(vec!["x86_64-linux; touch INJECTED".into()]),
    );
    std::fs::write(&settings, toml::to_string(&table).unwrap()).unwrap();
    let out = install();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("systems"));
    assert!(!record.exists(), "refused before any elevation");
    std::fs::write(&settings, text).unwrap();

    let out = install();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recorded = std::fs::read(&record).unwrap();
    let args: Vec<String> = recorded
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8(a.to_vec()).unwrap())
        .collect();
    let script: Vec<&str> = APPLESCRIPT.iter().flat_map(|line| ["-e", line]).collect();
    assert_eq!(args[..6], script[..], "the script is the constant");
    assert_eq!(args.len(), 8, "{args:?}");
    // The CLI's copy the service runs (never the app, which has no
    // `nix apply-plan`), made from this build.
    let copy = home.join("bin/builderbar");
    assert_eq!(args[6], copy.to_str().unwrap());
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(BIN).unwrap());
    assert!(
        args[7].starts_with(&format!("{}/state/nix-job-", home.display())),
        "{}",
        args[7]
    );
    let leftovers: Vec<_> = std::fs::read_dir(&cwd).unwrap().collect();
    assert!(
        leftovers.is_empty(),
        "something injected ran: {leftovers:?}"
    );
    assert!(
        sysroot.path().join("etc/nix/builderbar_ed25519").is_file(),
        "the plan was applied"
    );

    let job_text = std::fs::read_to_string(record.with_extension("job")).unwrap();
    assert!(
        !job_text.contains("PRIVATE KEY"),
        "the job never carries the key"
    );
    let job: serde_json::Value = serde_json::from_str(&job_text).unwrap();
    assert_eq!(job["job"], "apply");
    for op in job["operations"].as_array().unwrap() {
        let kind = op["op"].as_str().unwrap();
        assert!(
            [
                "write-file",
                "edit-between-markers",
                "install-key-file",
                "remove-file",
                "reload-daemon"
            ]
            .contains(&kind),
            "{op}"
        );
    }
    let mut all = Vec::new();
    strings(&job, &mut all);
    assert!(
        all.iter()
            .all(|s| !s.contains("sh -c") && !s.starts_with("/bin/sh")),
        "{job:#}"
    );
    for kind in [
        DaemonKind::Upstream,
        DaemonKind::Determinate,
        DaemonKind::Systemd,
    ] {
        for word in kind.command() {
            assert!(!word.contains(SHELL_SYNTAX), "{kind:?}: {word:?}");
        }
    }
}
