//! The VM job's plist, from any paths and environment: either refused, or
//! an XML plist that reads back (with the `plist` crate) as exactly the
//! job, with exactly the keys the template has and no character an XML
//! reader (launchd's included) would refuse or rewrite.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::time::Duration;

use launchd::{Job, VmJobInputs, vm_job};
use plist::Value;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;

use crate::strategies::{hostile, text};

fn path() -> impl Strategy<Value = PathBuf> {
    prop_oneof![
        4 => "/[A-Za-z0-9 ._-]{1,12}(/[A-Za-z0-9 ._-]{1,12}){0,3}".prop_map(PathBuf::from),
        3 => (hostile(), hostile()).prop_map(|(a, b)| PathBuf::from(format!("/Users/{a}/{b}"))),
        1 => text().prop_map(PathBuf::from),
        1 => vec(any::<u8>(), 1..12).prop_map(|b| {
            let mut bytes = b"/x/".to_vec();
            bytes.extend(b);
            PathBuf::from(OsString::from_vec(bytes))
        }),
        1 => Just(PathBuf::from("/Applications/BuilderBar.app/Contents/MacOS/builderbar")),
    ]
}

fn inputs() -> impl Strategy<Value = VmJobInputs> {
    let env_key = prop_oneof![
        3 => select(&["PATH", "BUILDERBAR_HOME", "BUILDERBAR_LOG", "BUILDERBAR_DEVVM_CACHE"][..])
            .prop_map(str::to_owned),
        1 => text(),
    ];
    let env_value = prop_oneof![3 => hostile(), 1 => text()];
    (
        (path(), path(), path(), path()),
        btree_map(env_key, env_value, 0..4),
        prop_oneof![
            3 => (0u64..600, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
            1 => any::<u64>().prop_map(Duration::from_secs),
        ],
        (path(), path()),
    )
        .prop_map(
            |((binary, state_dir, stdout_log, stderr_log), environment, wait, (wp, wpath))| {
                VmJobInputs {
                    binary,
                    state_dir,
                    stdout_log,
                    stderr_log,
                    environment,
                    power_down_wait: wait,
                    wait_program: wp,
                    wait_path: wpath,
                }
            },
        )
}

/// Characters XML 1.0 cannot carry, and `\r`, which every XML reader
/// turns into `\n` unless written as a reference (`&#13;`, which is fine).
fn unfaithful(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' | '\r')
}

fn string(v: &Value) -> &str {
    v.as_string().unwrap()
}

fn check_plist(job: &Job, xml: &[u8]) -> Result<(), TestCaseError> {
    let text = std::str::from_utf8(xml).unwrap();
    prop_assert!(!text.contains(unfaithful), "{:?}", text);
    for reference in text.split("&#").skip(1) {
        let number = reference.split(';').next().unwrap();
        let code = match number.strip_prefix('x') {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => number.parse(),
        };
        let c = char::from_u32(code.unwrap()).unwrap();
        prop_assert!(
            c == '\r' || !unfaithful(c),
            "a reference to {:?}: {}",
            c,
            text
        );
    }
    // The same job, read back.
    prop_assert_eq!(&Job::from_plist_bytes(xml).unwrap(), job);
    // Exactly the template's keys.
    let value = Value::from_reader_xml(xml).unwrap();
    let dict = value.as_dictionary().unwrap();
    let mut keys: Vec<&str> = dict.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = vec![
        "ExitTimeOut",
        "KeepAlive",
        "Label",
        "ProcessType",
        "ProgramArguments",
        "RunAtLoad",
        "StandardErrorPath",
        "StandardOutPath",
        "ThrottleInterval",
        "WorkingDirectory",
        "AssociatedBundleIdentifiers",
    ];
    if !job.environment_variables.is_empty() {
        expected.push("EnvironmentVariables");
    }
    expected.sort_unstable();
    prop_assert_eq!(&keys, &expected);
    let keep_alive: Vec<&String> = dict["KeepAlive"].as_dictionary().unwrap().keys().collect();
    prop_assert_eq!(keep_alive, vec!["SuccessfulExit"]);
    let args: Vec<&str> = dict["ProgramArguments"]
        .as_array()
        .unwrap()
        .iter()
        .map(string)
        .collect();
    prop_assert_eq!(
        args,
        job.program_arguments
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    if let Some(env) = dict.get("EnvironmentVariables") {
        let env: BTreeMap<String, String> = env
            .as_dictionary()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), string(v).to_owned()))
            .collect();
        prop_assert_eq!(&env, &job.environment_variables);
    }
    // No value became a key of its own (a value may hold "<key>INJECTED</key>"
    // or a line break: it stays inside its <string>).
    let key_count = expected.len() + 1 + job.environment_variables.len();
    prop_assert_eq!(text.matches("<key>").count(), key_count, "{}", text);
    // As many lines as the template, plus the line breaks values hold.
    let mut template = job.clone();
    let value_breaks: usize = strings(job).iter().map(|s| s.matches('\n').count()).sum();
    template.program_arguments = template
        .program_arguments
        .iter()
        .map(|_| "/x".into())
        .collect();
    template.environment_variables = (0..job.environment_variables.len())
        .map(|i| (format!("K{i}"), "v".to_owned()))
        .collect();
    for p in [
        &mut template.working_directory,
        &mut template.standard_out_path,
        &mut template.standard_error_path,
    ]
    .into_iter()
    .flatten()
    {
        *p = PathBuf::from("/x");
    }
    let template_lines = template
        .to_plist_xml()
        .unwrap()
        .iter()
        .filter(|b| **b == b'\n')
        .count();
    prop_assert_eq!(text.matches('\n').count(), template_lines + value_breaks);
    Ok(())
}

fn strings(job: &Job) -> Vec<String> {
    let mut all: Vec<String> = job.program_arguments.clone();
    for (k, v) in &job.environment_variables {
        all.push(k.clone());
        all.push(v.clone());
    }
    for p in [
        &job.working_directory,
        &job.standard_out_path,
        &job.standard_error_path,
    ]
    .into_iter()
    .flatten()
    {
        all.push(p.to_string_lossy().into_owned());
    }
    all.push(job.label.clone());
    all
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn the_vm_job_plist(inputs in inputs()) {
        let Ok(job) = vm_job(&inputs) else {
            return Ok(());
        };
        prop_assert!(job.exit_time_out.unwrap() >= 1);
        prop_assert_eq!(job.program_arguments.len(), 11);
        prop_assert_eq!(&job.program_arguments[6], inputs.binary.to_str().unwrap());
        match job.to_plist_xml() {
            Ok(xml) => check_plist(&job, &xml)?,
            Err(e) => {
                // Refused only for what a plist cannot carry.
                prop_assert!(strings(&job).iter().any(|s| s.contains(unfaithful)), "{}", e);
            }
        }
    }

    #[test]
    fn any_job_plist(label in text(), args in vec(text(), 0..3), env in btree_map(text(), text(), 0..3)) {
        let mut job = Job::new(label, args);
        job.environment_variables = env;
        if let Ok(xml) = job.to_plist_xml() {
            prop_assert_eq!(Job::from_plist_bytes(&xml).unwrap(), job.clone());
            let text = String::from_utf8(xml).unwrap();
            prop_assert!(!text.contains(unfaithful), "{:?}", text);
        }
    }
}
