//! `launchctl print`: real-shaped output with what the job carries
//! (arguments, environment) and random unknown lines parses to exactly
//! what it says; any mutation of it, or any text at all, never panics.

use launchd::{LastExit, ServiceState, parse_print};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

use crate::strategies::{hostile, mutate, mutations, text};

/// What a generated output says.
#[derive(Debug, Clone)]
struct Said {
    state: ServiceState,
    pid: Option<u32>,
    runs: Option<u64>,
    last_exit: Option<LastExit>,
}

fn state() -> impl Strategy<Value = ServiceState> {
    prop_oneof![
        Just(ServiceState::Running),
        Just(ServiceState::NotRunning),
        Just(ServiceState::SpawnScheduled),
        Just(ServiceState::Waiting),
        "[a-z][a-z ]{0,12}[a-z]"
            .prop_filter("a known state", |s| {
                !["running", "not running", "spawn scheduled", "waiting"].contains(&s.as_str())
            })
            .prop_map(ServiceState::Other),
    ]
}

fn last_exit() -> impl Strategy<Value = LastExit> {
    prop_oneof![
        any::<i32>().prop_map(LastExit::Code),
        (any::<i32>(), "[A-Za-z][A-Za-z ]{0,12}[a-z]")
            .prop_map(|(number, name)| LastExit::Signal { number, name }),
    ]
}

fn said() -> impl Strategy<Value = Said> {
    (
        state(),
        option::of(any::<u32>()),
        option::of(any::<u64>()),
        option::of(last_exit()),
    )
        .prop_map(|(state, pid, runs, last_exit)| Said {
            state,
            pid,
            runs,
            last_exit,
        })
}

/// A line inside a nested block (an argument, an environment entry): any
/// one line except the block delimiters themselves (`}` alone, or a line
/// ending in ` = {`), which launchd's format cannot tell apart.
fn nested_line() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        hostile(),
        text(),
        "[a-z ]{1,10} = [a-z ]{0,10}",
        (hostile(), hostile()).prop_map(|(k, v)| format!("{k} => {v}")),
        select(
            &[
                "state = bogus",
                "pid = 9",
                "runs = 99",
                "last exit code = 3",
                "last terminating signal = Hangup: 1",
                "job state = exited",
                "{",
                "}x",
                "x = {}",
                "a {",
                "/Users/x{",
                "} =",
                "= {"
            ][..]
        )
        .prop_map(str::to_owned),
    ];
    line.prop_map(|l| {
        l.replace(
            [
                '\n', '\r', '\u{0B}', '\u{0C}', '\u{85}', '\u{2028}', '\u{2029}',
            ],
            " ",
        )
    })
    .prop_filter("a block delimiter", |l| {
        l.trim() != "}" && !l.trim_end().ends_with(" = {")
    })
}

/// Unknown top-level lines launchd may add in a later macOS.
fn unknown_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z ()]{0,15} = [ -~]{0,20}",
        select(
            &[
                "",
                "spawn type = daemon (3)",
                "properties = keepalive | runatload",
                "state reason = none",
                "last exit reason = (none)"
            ][..]
        )
        .prop_map(str::to_owned),
    ]
    .prop_filter("a known key", |l| {
        let key = l.split(" = ").next().unwrap_or("").trim();
        ![
            "state",
            "job state",
            "pid",
            "runs",
            "last exit code",
            "last terminating signal",
        ]
        .contains(&key)
            && !l.trim_end().ends_with('{')
            && !l.trim_start().starts_with('}')
    })
}

/// The output, in launchd's layout (macOS 13–15): the header, top-level
/// `key = value` lines, `arguments` and `environment` blocks.
fn render(said: &Said, args: &[String], env: &[String], unknown: &[String], eol: &str) -> String {
    let mut lines = vec![
        "gui/501/dev.builderbar.vm = {".to_owned(),
        "\tactive count = 1".into(),
    ];
    lines.push(format!("\tstate = {}", said.state.as_str()));
    lines.push("\targuments = {".into());
    lines.extend(args.iter().map(|a| format!("\t\t{a}")));
    lines.push("\t}".into());
    lines.extend(unknown.iter().map(|u| format!("\t{u}")));
    lines.push("\tenvironment = {".into());
    lines.extend(env.iter().map(|e| format!("\t\t{e}")));
    lines.push("\t}".into());
    if let Some(runs) = said.runs {
        lines.push(format!("\truns = {runs}"));
    }
    if let Some(pid) = said.pid {
        lines.push(format!("\tpid = {pid}"));
    }
    lines.push("\tsemaphores = {".into());
    lines.push("\t\tsuccessful exit => 0".into());
    lines.push("\t}".into());
    lines.push(match &said.last_exit {
        None => "\tlast exit code = (never exited)".into(),
        Some(LastExit::Code(code)) => format!("\tlast exit code = {code}: EX_SOMETHING"),
        Some(LastExit::Signal { number, name }) => {
            format!("\tlast terminating signal = {name}: {number}")
        }
    });
    lines.push("}".into());
    let mut text = lines.join(eol);
    text.push_str(eol);
    text
}

fn output() -> impl Strategy<Value = (Said, String)> {
    (
        said(),
        vec(nested_line(), 0..6),
        vec(nested_line(), 0..6),
        vec(unknown_line(), 0..4),
        select(&["\n", "\r\n"][..]),
    )
        .prop_map(|(said, args, env, unknown, eol)| {
            let text = render(&said, &args, &env, &unknown, eol);
            (said, text)
        })
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn real_shaped_output_says_what_it_says((said, text) in output()) {
        let status = parse_print(&text).unwrap();
        prop_assert_eq!(&status.state, &said.state, "{}", text);
        prop_assert_eq!(status.pid, said.pid, "{}", text);
        prop_assert_eq!(status.runs, said.runs.unwrap_or(0));
        prop_assert_eq!(&status.last_exit, &said.last_exit);
        prop_assert_eq!(status.state.as_str(), said.state.as_str());
    }

    #[test]
    fn mutated_output_never_panics((_, text) in output(), edits in mutations(4)) {
        let text = mutate(&text, &edits);
        if let Ok(status) = parse_print(&text) {
            // What it read is on one of the lines.
            let state = status.state.as_str();
            prop_assert!(text.lines().any(|l| l.contains(state)));
            if let Some(pid) = status.pid {
                prop_assert!(text.contains(&pid.to_string()));
            }
        }
    }

    #[test]
    fn any_text_never_panics(text in text()) {
        let _ = parse_print(&text);
    }

    #[test]
    fn any_lines_never_panic(lines in vec(prop_oneof![text(), nested_line(), unknown_line(),
        "[a-z ]{0,6}(=|= \\{|\\{|\\})?[ -~]{0,8}"], 0..12)) {
        let _ = parse_print(&lines.join("\n"));
    }
}
