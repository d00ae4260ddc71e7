//! Generators: hostile text, real-looking key lines and their mutations.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use ssh_key::public::{Ed25519PublicKey, KeyData, SkEd25519};
use ssh_key::{Algorithm, AlgorithmName, PublicKey};

/// Pieces that break parsers: line breaks of every kind, quotes, Nix and
/// shell syntax, XML, ssh_config tokens, odd Unicode, and the sentinel.
pub const PIECES: &[&str] = &[
    "\n",
    "\r",
    "\r\n",
    "\0",
    "\t",
    "\u{0B}",
    "\u{0C}",
    "\u{2028}",
    "\u{2029}",
    "\u{85}",
    "\u{1b}[2K",
    "\u{7f}",
    "\"",
    "'",
    "''",
    "''$",
    "'''",
    "${",
    "$${",
    "\\${",
    "$",
    "\\",
    "\\\"",
    "`",
    "#",
    "=",
    "{",
    "}",
    ";",
    ",",
    ":",
    " ",
    "  ",
    "INJECTED",
    "\nINJECTED",
    "\rINJECTED",
    "\r\nINJECTED",
    "\u{2028}INJECTED",
    "\u{85}INJECTED",
    "\n  INJECTED yes",
    "</string><key>INJECTED</key><string>",
    "<![CDATA[",
    "]]>",
    "<!--",
    "&",
    "&#10;",
    "&lt;",
    "%h",
    "%%",
    "\u{feff}",
    "\u{200b}",
    "\u{202e}",
    "é",
    "日本",
    "🦀",
    "\u{fffd}",
    "\u{ffff}",
    "..",
    "/",
    "~",
    "*",
    "?",
    "-",
    ".app",
    "=>",
    " = ",
    " = {",
    "command=\"",
    "no-pty,",
    "ssh-ed25519",
    "ssh-rsa ",
    "AAAA",
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "1",
    "0",
    "-1",
];

/// One hostile piece, plain word or any character.
pub fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(PIECES).prop_map(str::to_owned),
        3 => "[a-zA-Z0-9._/+@-]{0,8}",
        1 => any::<char>().prop_map(String::from),
    ]
}

/// Text built from hostile pieces.
pub fn hostile() -> impl Strategy<Value = String> {
    vec(piece(), 0..6).prop_map(|parts| parts.concat())
}

/// Hostile text, or any string at all.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![3 => hostile(), 1 => any::<String>(), 1 => ".{0,30}"]
}

/// A small edit of some text.
#[derive(Debug, Clone)]
pub enum Mutation {
    Insert(Index, String),
    Delete(Index, usize),
    Replace(Index, char),
    Truncate(Index),
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), piece()).prop_map(|(i, p)| Mutation::Insert(i, p)),
        1 => (any::<Index>(), 1usize..4).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => (any::<Index>(), any::<char>()).prop_map(|(i, c)| Mutation::Replace(i, c)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

/// Up to `max` mutations, none half the time.
pub fn mutations(max: usize) -> impl Strategy<Value = Vec<Mutation>> {
    prop_oneof![1 => Just(Vec::new()), 1 => vec(mutation(), 1..=max)]
}

/// Applies the edits at character positions.
pub fn mutate(text: &str, edits: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        match edit {
            Mutation::Insert(at, piece) => {
                let i = at.index(chars.len() + 1);
                chars.splice(i..i, piece.chars());
            }
            Mutation::Delete(at, n) if !chars.is_empty() => {
                let i = at.index(chars.len());
                chars.drain(i..(i + n).min(chars.len()));
            }
            Mutation::Replace(at, c) if !chars.is_empty() => {
                let i = at.index(chars.len());
                chars[i] = *c;
            }
            Mutation::Truncate(at) => chars.truncate(at.index(chars.len() + 1)),
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// Real public keys of the other algorithms (made with ssh-keygen).
pub const FIXED_KEYS: &[&str] = &[
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCGJzmxZZ66jajn8R23TxLPobQHbibwLPd1pPxjX6ReQRSSs5KF3pYo+sXBHB1bNlxndXi1hVVApSfbYccwjbq45NcSDIvZ5EWMbzzvkKVb0oDOVRXO0TEMSqMU2Bi1D0csfmTJNyOfFu5IJ3iJcc6ObQjW9SfB0yCC1nB/sk8VkJJvTvUoJAHjbtlirO4nTxgGvxMJhcTFNof9RIuJJZwLcRtbu1QG4rTMeVYVpP0hgQZvHMqN6Szo1BLftflLFQsU4bcFhEQLtGMeostVmps52Wsm8giZZ3TV1gGXZJx0jsRp40KOLF1C4PZsBUBdU1gnPgJI2g9Hr46z3HiK9Eud",
    // 1024 bits: too short.
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC1MQe/evVB2n3OGsKE5KbrtGkty/Pd9OGz7DzCRCF7LUWxkMA6oRghcGOCs2OIpjk22SNY3cYpuAswSEKQhi20feJHU3f2r3mEx11JPdW6hn707G8H9sgn+ZNckeeQhe6Q5ryrC/anNA2V7H9nPUS/QCYaIpvpn9Tran1YO0bohQ==",
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJlDuQW83Myx1iTn3bLz6ld03fhmJ19gYq4jsX8N8VmeKcP0zpoXXP5yGDvnT3CQrgIPqG4aLftVLQ40g9Rc1bg=",
    "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBFUDeT8melG/Ln4ZQ69C732rg60pc8qEmw03AEUPkC6tZQ45zN/qpol8ZX/YwF7c5neRGxEfz92g4y6bd6pLUYWcYrkpPi7Qe3viMxA8GdQv9dm8vG9Vvc2ktXb46Kng7Q==",
    "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAEEa+ymk97v72miQb1iDGX2IUrIfiFZ5SoPhW/WyXeXZMDcTxmWPNRB0kLB3FRm9vtBvzPIkPoCQ8mM7D1rx5YGYQFkNJ7lsxCfj5boytBiOUBkm+hncCo0oSuXZM7uXHZ+/pACBxjA3qpSJox38cGcsQ56/tNDMJMEK8v5pRuVgeOqOQ==",
    "ssh-dss AAAAB3NzaC1kc3MAAACBAMur1zMWJrF2te7oeXgLHrdysir1Mi0s8c2J5JALY6pabE2F90cwEj4bcTtqeGass5zaDTvs9sXnypvNZ3yC9fKmRbGiNuK5VvEjyWLfKzttGOMbY/VY2CWqNIbIhWNgxAD7/U/VPYi7okDeQqJB2IatpJqv2rx+iJBiCdFUvjLjAAAAFQCTOAmF305Wku3z4sZGPWQN0sqwpQAAAIAju7wFYHDGC78hMcAUzxyYq+z3nCWt7H1Ei3LbRJ5rB5CP44+FPOFpUFPHd7uCkmoxh6i/qyHhj0JjTpxzid8BH1wvHfX0YJdk3Pe4DSR5oO4Y9UFcoE0ckaz3pIGBoWPPeAEilBUnIt/XZKSSlWqouUoEUj350d3GV5+ZQrz5mQAAAIEAoPWS9h8kpDOR/ySe011MsLLPbwSC4MloiABGe/xoqugN71uKlxGuYSA1/vf0gP1OFd1biTqqzxsI9UksKI++vB05cTQVv6VD/Yw+IfklfDqaQp4Rb7nfUhQ8Pc3wu+vJ8YRGZvOHe+72pSYlkt8TqtY64vzFo7il5VBFB6FMcds=",
];

/// `algorithm base64`, no comment: ed25519 and sk-ed25519 keys from any
/// bytes (any application string), an algorithm ssh-key does not know
/// (with a hostile name), or one of [`FIXED_KEYS`].
pub fn key_body() -> impl Strategy<Value = String> {
    let ed = any::<[u8; 32]>().prop_map(|b| encode(KeyData::Ed25519(Ed25519PublicKey(b))));
    let sk = (any::<[u8; 32]>(), hostile())
        .prop_map(|(b, app)| encode(KeyData::SkEd25519(SkEd25519::new(Ed25519PublicKey(b), app))));
    let other = (hostile(), vec(any::<u8>(), 0..40)).prop_map(|(name, bytes)| {
        let name = format!("{name}@x");
        match AlgorithmName::new(name) {
            Ok(name) => encode(KeyData::Other(ssh_key::public::OpaquePublicKey::new(
                bytes,
                Algorithm::Other(name),
            ))),
            Err(_) => "unknown@x AAAA".to_owned(),
        }
    });
    prop_oneof![
        6 => ed,
        1 => sk,
        1 => other,
        2 => select(FIXED_KEYS).prop_map(str::to_owned),
    ]
}

fn encode(data: KeyData) -> String {
    PublicKey::new(data, "").to_openssh().unwrap()
}

/// A real-looking authorized_keys line: maybe options before it, a hostile
/// comment, spaces around it, and sometimes a few random edits.
pub fn key_line() -> impl Strategy<Value = String> {
    let options = prop_oneof![
        4 => Just(""),
        1 => select(&["command=\"/bin/sh\" ", "no-pty ", "from=\"*\",no-agent-forwarding ",
            "restrict ", "environment=\"A=B\" "][..]),
    ];
    let comment = prop_oneof![
        2 => Just(String::new()),
        2 => "[a-z]{1,8}@[a-z]{1,8}",
        3 => hostile(),
    ];
    (
        options,
        key_body(),
        comment,
        " {0,2}",
        " {0,2}",
        mutations(2),
    )
        .prop_map(|(options, body, comment, lead, trail, edits)| {
            let sep = if comment.is_empty() { "" } else { " " };
            mutate(
                &format!("{lead}{options}{body}{sep}{comment}{trail}"),
                &edits,
            )
        })
}

/// A key line, or any text.
pub fn key_input() -> impl Strategy<Value = String> {
    prop_oneof![4 => key_line(), 1 => text()]
}
