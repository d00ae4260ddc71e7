//! Authorized keys: OpenSSH public key lines a user allows into the
//! builder, checked strictly. A refused input is never echoed back (it may
//! be a private key pasted by mistake); messages name the line number only.

use std::io::Read;
use std::path::Path;

use serde::Serialize;
use ssh_key::{HashAlg, PublicKey, public::KeyData};

use crate::settings::Problem;

/// The most text `keys add` reads: far more than any real set of keys.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;
/// The longest key line accepted (a 16384-bit RSA key is about 2.8 KB).
pub const MAX_LINE_BYTES: usize = 8 * 1024;
/// The smallest RSA key accepted.
pub const MIN_RSA_BITS: usize = 2048;

/// One accepted key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizedKey {
    /// The algorithm, e.g. `ssh-ed25519`.
    pub algorithm: String,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The comment after the key (often user@host), maybe empty.
    pub comment: String,
    /// The line as stored: re-encoded by ssh-key, so nothing else rides along.
    pub line: String,
}

/// Why a key input was refused. Never carries the input itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyInputError {
    #[error("the input is larger than {} KiB, which no set of public keys is", MAX_INPUT_BYTES / 1024)]
    TooLarge,
    #[error("the input is not text")]
    NotText,
    #[error("the input has no key in it")]
    Empty,
    #[error("{} is too long to be a public key", at(*.0))]
    LineTooLong(usize),
    #[error("{} contains a line break or another control character", at(*.0))]
    ControlCharacter(usize),
    #[error("{} starts with key options (such as command= or from=), which are not allowed", at(*.0))]
    Options(usize),
    #[error("{} is a private key, which must never be shared", at(*.0))]
    PrivateKey(usize),
    #[error("{} is not an OpenSSH public key", at(*.0))]
    NotAKey(usize),
    #[error("{} is a DSA key, which is too weak and no longer accepted by OpenSSH", at(*.0))]
    Dsa(usize),
    #[error("{} is a {bits}-bit RSA key, which is too weak", at(*line))]
    RsaTooShort { line: usize, bits: usize },
    #[error("{} uses the {algorithm} algorithm, which the builder does not accept", at(*line))]
    Unsupported { line: usize, algorithm: String },
    #[error("the key {0} is already authorized")]
    Duplicate(String),
    #[error("the key {0} appears twice in the input")]
    DuplicateInInput(String),
}

fn at(line: usize) -> String {
    if line == 0 {
        "the key".into()
    } else {
        format!("line {line}")
    }
}

impl KeyInputError {
    /// As a settings [`Problem`] on `authorized_keys`.
    pub fn to_problem(&self) -> Problem {
        Problem::new("authorized_keys", self.to_string(), self.what_to_do())
    }
}

impl crate::hint::Hint for KeyInputError {
    /// What to do about it.
    fn hint(&self) -> Option<String> {
        Some(String::from(self.what_to_do()))
    }
}

impl KeyInputError {
    /// The fix, always known for this error.
    pub(crate) fn what_to_do(&self) -> &'static str {
        use KeyInputError::*;
        match self {
            TooLarge | NotText | Empty | LineTooLong(_) | NotAKey(_) | ControlCharacter(_) => {
                "give the contents of a .pub file, one key per line, like `ssh-ed25519 AAAAC3Nz… you@laptop`"
            }
            Options(_) => {
                "remove everything before the key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-…)"
            }
            PrivateKey(_) => {
                "give the public half instead (the file ending in .pub); if you shared this key anywhere, make a new one"
            }
            Dsa(_) | RsaTooShort { .. } | Unsupported { .. } => {
                "make a new key with `ssh-keygen -t ed25519` and add its .pub file"
            }
            Duplicate(_) | DuplicateInInput(_) => {
                "nothing to do for this key; `builderbar keys list` shows the authorized keys"
            }
        }
    }
}

const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// Parses one key line (line number 0: a single key, not from a file).
pub fn parse_line(line: &str) -> Result<AuthorizedKey, KeyInputError> {
    parse_numbered(line, 0)
}

fn parse_numbered(line: &str, n: usize) -> Result<AuthorizedKey, KeyInputError> {
    if line.len() > MAX_LINE_BYTES {
        return Err(KeyInputError::LineTooLong(n));
    }
    // U+2028 and U+2029 are not control characters, but editors, terminals
    // and JavaScript break lines at them.
    if line
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        return Err(KeyInputError::ControlCharacter(n));
    }
    let line = line.trim_matches(' ');
    if line.is_empty() {
        return Err(KeyInputError::Empty);
    }
    if line.contains("PRIVATE KEY") {
        return Err(KeyInputError::PrivateKey(n));
    }
    let first = line.split(' ').next().unwrap_or_default();
    if !KEY_TYPES.contains(&first) {
        let looks_like_options = first.contains('=')
            || first.contains('"')
            || line
                .split(' ')
                .skip(1)
                .any(|word| KEY_TYPES.contains(&word));
        return Err(if looks_like_options {
            KeyInputError::Options(n)
        } else {
            KeyInputError::NotAKey(n)
        });
    }
    let key = PublicKey::from_openssh(line).map_err(|_| KeyInputError::NotAKey(n))?;
    match key.key_data() {
        KeyData::Dsa(_) => return Err(KeyInputError::Dsa(n)),
        KeyData::Rsa(rsa) => {
            let bits = mpint_bits(rsa.n.as_positive_bytes().unwrap_or_default());
            if bits < MIN_RSA_BITS {
                return Err(KeyInputError::RsaTooShort { line: n, bits });
            }
        }
        KeyData::Ed25519(_)
        | KeyData::Ecdsa(_)
        | KeyData::SkEd25519(_)
        | KeyData::SkEcdsaSha2NistP256(_) => {}
        _ => {
            return Err(KeyInputError::Unsupported {
                line: n,
                algorithm: key.algorithm().as_str().to_owned(),
            });
        }
    }
    let encoded = key.to_openssh().map_err(|_| KeyInputError::NotAKey(n))?;
    Ok(AuthorizedKey {
        algorithm: key.algorithm().as_str().to_owned(),
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        comment: key.comment().to_owned(),
        line: encoded,
    })
}

fn mpint_bits(bytes: &[u8]) -> usize {
    let bytes: &[u8] = {
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        bytes.get(skip..).unwrap_or_default()
    };
    match bytes.first() {
        None => 0,
        Some(top) => (bytes.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

/// Parses text holding one or more keys, one per line (blank lines and
/// `#` comments are skipped, a trailing `\r` is tolerated). All or
/// nothing: one bad line refuses the whole input.
pub fn parse_keys(text: &str) -> Result<Vec<AuthorizedKey>, KeyInputError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(KeyInputError::TooLarge);
    }
    let mut keys: Vec<AuthorizedKey> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let key = parse_numbered(line, i + 1)?;
        if keys.iter().any(|k| k.fingerprint == key.fingerprint) {
            return Err(KeyInputError::DuplicateInInput(key.fingerprint));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(KeyInputError::Empty);
    }
    Ok(keys)
}

/// Parses raw bytes (a file's or stdin's), refusing non-text and oversize input.
pub fn parse_key_bytes(bytes: &[u8]) -> Result<Vec<AuthorizedKey>, KeyInputError> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(KeyInputError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| KeyInputError::NotText)?;
    parse_keys(text)
}

/// Reads key input from a file, or from stdin when `source` is `-`, never
/// more than [`MAX_INPUT_BYTES`] + 1 bytes.
pub fn read_source(source: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let limit = (MAX_INPUT_BYTES + 1) as u64;
    if source.as_os_str() == "-" {
        std::io::stdin()
            .lock()
            .take(limit)
            .read_to_end(&mut bytes)?;
    } else {
        std::fs::File::open(source)?
            .take(limit)
            .read_to_end(&mut bytes)?;
    }
    Ok(bytes)
}

/// Fingerprints match with or without the `SHA256:` prefix.
pub fn same_fingerprint(a: &str, b: &str) -> bool {
    let strip = |s: &str| {
        s.trim()
            .strip_prefix("SHA256:")
            .unwrap_or(s.trim())
            .to_owned()
    };
    !strip(a).is_empty() && strip(a) == strip(b)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub fn ed25519_line(comment: &str) -> String {
        let mut key =
            ssh_key::PrivateKey::random(&mut rand_core::OsRng, ssh_key::Algorithm::Ed25519)
                .unwrap();
        key.set_comment(comment);
        key.public_key().to_openssh().unwrap()
    }

    #[test]
    fn accepts_a_plain_key_and_reencodes_it() {
        let line = ed25519_line("me@laptop");
        let key = parse_line(&format!("  {line}  ")).unwrap();
        assert_eq!(key.algorithm, "ssh-ed25519");
        assert_eq!(key.comment, "me@laptop");
        assert!(key.fingerprint.starts_with("SHA256:"));
        assert_eq!(key.line, line);
    }

    #[test]
    fn refuses_hostile_inputs() {
        let line = ed25519_line("x");
        let cases = [
            format!("{line}\ncommand=\"rm -rf /\" {line}"),
            format!("command=\"/bin/sh\" {line}"),
            format!("no-pty,from=\"*\" {line}"),
            format!("{line}\r\nssh-ed25519"),
            format!("{line}\u{7}"),
            format!("{line}\u{0}"),
            format!("{line} a\u{2028}b"),
            "-----BEGIN OPENSSH PRIVATE KEY-----".into(),
            "ssh-ed25519 AAAAnotbase64!!".into(),
            "hello world".into(),
            "ssh-dss AAAAB3NzaC1kc3MAAACBAP".into(),
            "x".repeat(MAX_LINE_BYTES + 1),
        ];
        for case in cases {
            let err = parse_line(&case).unwrap_err();
            assert!(!err.to_string().contains(&line), "{err}");
        }
        assert!(matches!(
            parse_line(&format!("command=\"x\" {line}")),
            Err(KeyInputError::Options(0))
        ));
    }

    #[test]
    fn many_lines_are_all_or_nothing() {
        let a = ed25519_line("a");
        let b = ed25519_line("b");
        assert_eq!(
            parse_keys(&format!("# mine\n{a}\r\n\n{b}\n"))
                .unwrap()
                .len(),
            2
        );
        assert!(matches!(
            parse_keys(&format!("{a}\ncommand=\"x\" {b}\n")),
            Err(KeyInputError::Options(2))
        ));
        assert!(matches!(
            parse_keys(&format!("{a}\n{a}\n")),
            Err(KeyInputError::DuplicateInInput(_))
        ));
        assert_eq!(parse_keys("\n# nothing\n"), Err(KeyInputError::Empty));
        assert_eq!(
            parse_key_bytes(&vec![b'A'; 10 << 20]),
            Err(KeyInputError::TooLarge)
        );
        assert_eq!(parse_key_bytes(&[0xff, 0xfe]), Err(KeyInputError::NotText));
    }

    #[test]
    fn counts_rsa_bits() {
        assert_eq!(mpint_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(mpint_bits(&[0x01]), 1);
        assert_eq!(mpint_bits(&[]), 0);
    }

    #[test]
    fn fingerprints_match_with_or_without_prefix() {
        assert!(same_fingerprint("SHA256:abc", "abc"));
        assert!(!same_fingerprint("SHA256:", ""));
    }
}
