//! Authorized keys: whatever a user pastes, an accepted key is one clean
//! line holding a public key and nothing else, and a refused one is never
//! echoed back.

use builderbar::keys::authorized::{
    AuthorizedKey, KeyInputError, parse_key_bytes, parse_keys, parse_line,
};
use builderbar::keys::keys_folder;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use crate::strategies::{key_input, key_line, text};
use crate::{is_one_clean_line, no_line_starts_with_sentinel};
use builderbar::hint::Hint;

const ACCEPTED: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// What every accepted key must be.
fn check_accepted(key: &AuthorizedKey) -> Result<(), TestCaseError> {
    prop_assert!(is_one_clean_line(&key.line), "{:?}", key.line);
    prop_assert!(is_one_clean_line(&key.comment), "{:?}", key.comment);
    prop_assert!(ACCEPTED.contains(&key.algorithm.as_str()), "{key:?}");
    // The algorithm comes first: no options ride along.
    let mut fields = key.line.splitn(3, ' ');
    prop_assert_eq!(fields.next(), Some(key.algorithm.as_str()));
    let blob = fields.next().unwrap_or_default();
    prop_assert!(
        !blob.is_empty()
            && blob
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
    );
    prop_assert_eq!(fields.next().unwrap_or_default(), key.comment.as_str());
    prop_assert!(key.fingerprint.starts_with("SHA256:"));
    prop_assert!(no_line_starts_with_sentinel(&key.line));
    // Parsing the stored line again gives the same key.
    let again = parse_line(&key.line);
    prop_assert_eq!(again.as_ref(), Ok(key));
    Ok(())
}

/// A refusal never carries the key material it was given.
fn check_refused(input: &str, err: &KeyInputError) -> Result<(), TestCaseError> {
    let message = err.to_string();
    prop_assert!(is_one_clean_line(&message), "{message:?}");
    prop_assert!(is_one_clean_line(&err.hint().unwrap_or_default()));
    for word in input.split([' ', '\n', '\r', '\t']) {
        if word.len() >= 16 && !matches!(err, KeyInputError::Unsupported { .. }) {
            prop_assert!(!message.contains(word), "{message:?} echoes {word:?}");
        }
    }
    Ok(())
}

/// Several lines of keys, comments and blanks, with `\n` or `\r\n`.
fn key_file() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        6 => key_line(),
        1 => Just(String::new()),
        1 => Just("   ".to_owned()),
        1 => "# [ -~]{0,20}",
    ];
    (vec(line, 0..5), select(&["\n", "\r\n"][..]), any::<bool>()).prop_map(
        |(lines, eol, final_eol)| {
            let mut text = lines.join(eol);
            if final_eol {
                text.push_str(eol);
            }
            text
        },
    )
}

proptest! {
    #![proptest_config(crate::config())]

    #[test]
    fn one_key_line(input in key_input()) {
        match parse_line(&input) {
            Ok(key) => check_accepted(&key)?,
            Err(err) => check_refused(&input, &err)?,
        }
    }

    #[test]
    fn a_file_of_keys_is_all_or_nothing(text in key_file()) {
        match parse_keys(&text) {
            Ok(keys) => {
                // One key per line that is not blank or a comment (a
                // trailing `\r` tolerated), each that line's own key.
                let meant: Vec<&str> = text
                    .split('\n')
                    .map(|l| l.strip_suffix('\r').unwrap_or(l))
                    .filter(|l| !l.trim_matches(' ').is_empty() && !l.trim_matches(' ').starts_with('#'))
                    .collect();
                prop_assert_eq!(keys.len(), meant.len());
                for (key, line) in keys.iter().zip(meant) {
                    check_accepted(key)?;
                    prop_assert_eq!(&parse_line(line).unwrap(), key);
                }
            }
            Err(err) => check_refused(&text, &err)?,
        }
    }

    #[test]
    fn any_bytes(bytes in vec(any::<u8>(), 0..300)) {
        if let Ok(keys) = parse_key_bytes(&bytes) {
            for key in &keys {
                check_accepted(key)?;
            }
        }
    }

    /// The VM's authorized keys file: the builder key, then one line per
    /// accepted key, whatever the settings hold.
    #[test]
    fn the_keys_folder_file(lines in vec(prop_oneof![3 => key_line(), 1 => text()], 0..4)) {
        let builder = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJBWcxb/Blaqt1auOtE+F8QUWrUotiC5qBJ+UuEWdVCb builderbar";
        let rendered = keys_folder::render(Some(builder), &lines);
        let accepted: Vec<AuthorizedKey> = lines.iter().filter_map(|l| parse_line(l).ok()).collect();
        prop_assert!(rendered.ends_with('\n'));
        let out: Vec<&str> = rendered.split('\n').collect();
        prop_assert_eq!(out.len(), accepted.len() + 2, "{:?}", rendered);
        prop_assert_eq!(out[0], builder);
        for (line, key) in out[1..].iter().zip(&accepted) {
            prop_assert!(is_one_clean_line(line));
            prop_assert_eq!(*line, key.line.as_str());
        }
        prop_assert!(no_line_starts_with_sentinel(&rendered));
    }

    #[test]
    fn error_messages_for_any_text(input in text()) {
        if let Err(err) = parse_line(&input) {
            check_refused(&input, &err)?;
        }
    }
}
