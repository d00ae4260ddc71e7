//! What the wiring writes, from any settings the validator accepts (and
//! any inputs the renderers accept): the runner's Nix expression, the
//! machines line, the ssh config and the known host. Each output parses as
//! its reader would, has exactly the template's lines, and carries every
//! value exactly once, where it belongs.

use base64::Engine;
use builderbar::nix::expr::{Pin, RunnerInputs, nix_string, runner_expression};
use builderbar::nix::plan::Layout;
use builderbar::nix::render::{WiringInputs, known_hosts, machines_line, ssh_config};
use builderbar::nix::{ALIAS, BUILDER_USER};
use builderbar::settings::validate;
use proptest::prelude::*;
use rnix::SyntaxKind;
use rnix::ast::{self, AstNode, InterpolPart};

use crate::settings::{HOST, settings};
use crate::strategies::{key_body, mutate, mutations, text};
use crate::{SENTINEL, breaks_line, is_one_clean_line, no_line_starts_with_sentinel};

/// The expression's string literals and integer literals, as Nix reads
/// them; panics on a parse error or an interpolation.
pub fn nix_literals(expr: &str) -> (Vec<String>, Vec<String>) {
    let parse = rnix::Root::parse(expr);
    assert!(parse.errors().is_empty(), "{:?}\n{expr}", parse.errors());
    let root = parse.syntax();
    let strings = root
        .descendants()
        .filter_map(cast::<ast::Str>)
        .map(|s| {
            s.normalized_parts()
                .into_iter()
                .map(|part| match part {
                    InterpolPart::Literal(text) => text,
                    InterpolPart::Interpolation(_) => panic!("an interpolation in {expr}"),
                })
                .collect()
        })
        .collect();
    let integers = root
        .descendants_with_tokens()
        .filter_map(|e| e.into_token())
        .filter(|t| t.kind() == SyntaxKind::TOKEN_INTEGER)
        .map(|t| t.text().to_owned())
        .collect();
    (strings, integers)
}

/// rowan's `cast`, reached through rnix's own `AstNode`.
fn cast<N: AstNode>(node: rnix::SyntaxNode) -> Option<N> {
    N::cast(node)
}

fn template_lines() -> usize {
    let inputs = RunnerInputs {
        pin: Pin::parse("nixpkgs-25.05-darwin").unwrap(),
        memory_mib: 3072,
        disk_mib: 20480,
        cores: 4,
    };
    runner_expression(&inputs).unwrap().split('\n').count()
}

/// The runner's expression holds the pin as its one string and the
/// numbers as integers, in the template's lines.
pub fn check_expression(expr: &str, inputs: &RunnerInputs) -> Result<(), TestCaseError> {
    prop_assert_eq!(expr.split('\n').count(), template_lines());
    let stray = ['\r', '\0', '\u{2028}', '\u{2029}', '\u{85}'];
    prop_assert!(!expr.contains(stray), "{:?}", expr);
    let (strings, integers) = nix_literals(expr);
    prop_assert_eq!(
        strings,
        vec![
            inputs.pin.url().to_owned(),
            // The guard's constant message, around the two derivation paths.
            "BuilderBar: these settings would change the builder's Linux system (".into(),
            " instead of nixpkgs' ".into(),
            "), which this Mac cannot build without a Linux builder. Report this with `builderbar doctor`; changing the nixpkgs setting back to the default avoids it.".into(),
        ]
    );
    let numbers = [
        inputs.memory_mib.to_string(),
        inputs.disk_mib.to_string(),
        inputs.cores.to_string(),
    ];
    prop_assert_eq!(integers, numbers.to_vec());
    prop_assert!(no_line_starts_with_sentinel(expr));
    Ok(())
}

/// The machines line: one line of 8 fields, each where Nix reads it.
fn check_machines(line: &str, inputs: &WiringInputs, key_file: &str) -> Result<(), TestCaseError> {
    prop_assert!(is_one_clean_line(line), "{:?}", line);
    let fields: Vec<&str> = line.split(' ').collect();
    prop_assert_eq!(fields.len(), 8, "{:?}", line);
    for field in &fields {
        prop_assert!(
            !field.is_empty() && !field.contains(char::is_whitespace),
            "{:?}",
            line
        );
    }
    prop_assert_eq!(fields[0], format!("ssh-ng://{BUILDER_USER}@{ALIAS}"));
    prop_assert_eq!(fields[1], inputs.systems.join(","));
    prop_assert_eq!(fields[2], key_file);
    prop_assert_eq!(fields[3], inputs.max_jobs.to_string());
    prop_assert_eq!(&fields[4..7], &["1", "big-parallel", "-"]);
    let host_key = base64::engine::general_purpose::STANDARD
        .decode(fields[7])
        .unwrap();
    prop_assert_eq!(
        String::from_utf8(host_key).unwrap(),
        inputs.host_key.clone()
    );
    Ok(())
}

/// The ssh config: the template's lines, one `Key value` each.
fn check_ssh_config(
    text: &str,
    inputs: &WiringInputs,
    layout: &Layout,
) -> Result<(), TestCaseError> {
    let expected = [
        ("Host", ALIAS.to_owned()),
        ("Hostname", "127.0.0.1".into()),
        ("Port", inputs.port.to_string()),
        ("User", BUILDER_USER.into()),
        ("HostKeyAlias", ALIAS.into()),
        (
            "UserKnownHostsFile",
            layout.known_hosts().display().to_string(),
        ),
        ("StrictHostKeyChecking", "yes".into()),
        ("IdentityFile", layout.key_file().display().to_string()),
        ("IdentitiesOnly", "yes".into()),
    ];
    prop_assert!(text.ends_with('\n'));
    prop_assert!(!text.contains(|c: char| c != '\n' && (breaks_line(c) || c.is_control())));
    let lines: Vec<&str> = text.trim_end_matches('\n').split('\n').collect();
    prop_assert_eq!(lines.len(), expected.len() + 1, "{}", text);
    prop_assert!(lines[0].starts_with("# "));
    for (line, (key, value)) in lines[1..].iter().zip(&expected) {
        let words: Vec<&str> = line.split_whitespace().collect();
        prop_assert_eq!(words, vec![*key, value.as_str()], "{}", text);
    }
    prop_assert!(no_line_starts_with_sentinel(text));
    Ok(())
}

/// Renders everything a validated settings value feeds and checks it.
fn check_wiring(inputs: &WiringInputs, sysroot: &str) -> Result<(), TestCaseError> {
    prop_assert!(is_one_clean_line(&inputs.host_key));
    let layout = Layout::new(sysroot);
    let key_file = layout.key_file();
    match machines_line(inputs, &key_file) {
        Ok(line) => check_machines(&line, inputs, &key_file.display().to_string())?,
        Err(_) => prop_assert!(!clean_path(sysroot)),
    }
    match ssh_config(inputs, &layout) {
        Ok(text) => check_ssh_config(&text, inputs, &layout)?,
        Err(_) => prop_assert!(!clean_path(sysroot)),
    }
    let known = known_hosts(inputs);
    let fields: Vec<&str> = known.strip_suffix('\n').unwrap().split(' ').collect();
    prop_assert_eq!(fields.len(), 3, "{:?}", known);
    prop_assert_eq!(fields[0], ALIAS);
    prop_assert!(
        is_one_clean_line(fields[1]) && is_one_clean_line(fields[2]),
        "{:?}",
        known
    );
    prop_assert!(!known.contains(SENTINEL) || fields[1].contains(SENTINEL));
    Ok(())
}

/// A sysroot the renderers must accept: absolute, a safe alphabet.
fn clean_path(sysroot: &str) -> bool {
    sysroot.starts_with('/')
        && sysroot
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._+-".contains(c))
}

fn sysroot() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just("/".to_owned()),
        2 => "/[a-zA-Z0-9._+-]{1,10}(/[a-zA-Z0-9._+-]{1,10}){0,2}",
        1 => text().prop_map(|t| format!("/{t}")),
        1 => text(),
    ]
}

proptest! {
    #![proptest_config(crate::config())]

    /// For settings the validator accepts, every renderer succeeds.
    #[test]
    fn validated_settings_render_cleanly(s in settings(), host_key in key_body(), root in sysroot()) {
        // The keys feed none of these files (the keys folder has its own
        // property); without them, most generated settings are accepted.
        let mut s = s;
        s.authorized_keys.clear();
        if !validate(&s, None, &HOST).is_empty() {
            return Ok(());
        }
        let runner = RunnerInputs::from_settings(&s);
        prop_assert!(runner.is_ok(), "{:?} refused {:?}", s, runner);
        let runner = runner.unwrap();
        check_expression(&runner_expression(&runner).unwrap(), &runner)?;
        if let Ok(inputs) = WiringInputs::from_settings(&s, &host_key) {
            check_wiring(&inputs, &root)?;
        } else {
            prop_assert!(WiringInputs::from_settings(&s, builderbar::nix::NIXPKGS_BUILDER_HOST_KEY).is_ok());
        }
    }

    /// The renderers' own checks hold for inputs that skip the validator.
    #[test]
    fn any_wiring_inputs(port in any::<u16>(), systems in proptest::collection::vec(text(), 0..3),
                         jobs in any::<u32>(), host_key in prop_oneof![key_body(), text()],
                         edits in mutations(2), root in sysroot()) {
        let host_key = mutate(&host_key, &edits);
        if let Ok(inputs) = WiringInputs::new(port, &systems, jobs, &host_key) {
            check_wiring(&inputs, &root)?;
        }
    }

    #[test]
    fn any_runner_inputs(pin in crate::settings::pin(), memory_mib in any::<u64>(),
                         disk_mib in any::<u64>(), cores in any::<u32>()) {
        if let Ok(pin) = Pin::parse(&pin) {
            let inputs = RunnerInputs { pin, memory_mib, disk_mib, cores };
            if let Ok(expr) = runner_expression(&inputs) {
                check_expression(&expr, &inputs)?;
                // Nix's integers are 64-bit signed.
                prop_assert!(i64::try_from(memory_mib).is_ok() && i64::try_from(disk_mib).is_ok());
            }
        }
    }

    /// Any string becomes one Nix string literal that reads back as itself.
    #[test]
    fn nix_strings(value in text()) {
        if let Ok(literal) = nix_string(&value) {
            // Nix reads the file as bytes: only its own line breaks matter.
            prop_assert!(!literal.contains(|c: char| c.is_control()), "{:?}", literal);
            let (strings, _) = nix_literals(&format!("{{ value = {literal}; }}"));
            prop_assert_eq!(strings, vec![value]);
        } else {
            prop_assert!(value.chars().any(|c| c.is_control() && !"\n\r\t".contains(c)));
        }
    }
}

/// A host key of an algorithm ssh-key does not know, whose name holds a
/// line break, never reaches the known host file.
#[test]
fn an_algorithm_name_with_a_line_break_is_refused() {
    use ssh_key::public::{KeyData, OpaquePublicKey};
    use ssh_key::{Algorithm, AlgorithmName, PublicKey};
    for name in ["a\nINJECTED@x", "a\rb@x", "a b@x", "a\tb@x", "a\0b@x"] {
        let algorithm = Algorithm::Other(AlgorithmName::new(name).unwrap());
        let key = PublicKey::new(
            KeyData::Other(OpaquePublicKey::new(vec![1, 2], algorithm)),
            "",
        );
        let line = key.to_openssh().unwrap();
        let systems = ["aarch64-linux".to_owned()];
        if let Ok(inputs) = WiringInputs::new(31022, &systems, 1, &line) {
            let known = known_hosts(&inputs);
            assert_eq!(known.lines().count(), 1, "{name:?}: {known:?}");
            assert!(is_one_clean_line(known.trim_end()), "{name:?}: {known:?}");
            assert_eq!(
                known.trim_end().split(' ').count(),
                3,
                "{name:?}: {known:?}"
            );
        }
    }
}
