//! The runner's Nix expression: `darwin.linux-builder` from a pinned
//! nixpkgs with only host-side options overridden, rendered with every
//! interpolated value escaped (strings) or typed (numbers).

use super::NixError;

/// The default nixpkgs: the Darwin release branch, on which
/// `darwin.linux-builder` is in the binary cache.
pub const DEFAULT_NIXPKGS: &str = "nixpkgs-25.05-darwin";

/// Bumped when the expression's shape changes, so cached runners rebuild.
pub const RECIPE_VERSION: u32 = 3;

/// A validated nixpkgs pin: an https tarball URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    url: String,
}

impl Pin {
    /// Parses a pin: a branch or tag name (`nixpkgs-25.05-darwin`), a 40-hex
    /// commit, or an `https://…tar.gz` URL. Anything else is refused.
    pub fn parse(text: &str) -> Result<Pin, NixError> {
        let refuse = |why: &str| NixError::bad("nixpkgs", why.to_owned());
        if text.is_empty() || text.len() > 300 {
            return Err(refuse("it must be 1 to 300 characters"));
        }
        if let Some(rest) = text.strip_prefix("https://") {
            let ok = rest.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '~' | '%' | '+')
            }) && rest.contains('/')
                && !rest.contains("..")
                && (rest.ends_with(".tar.gz") || rest.ends_with(".tar.xz"));
            if !ok {
                return Err(refuse(
                    "a URL must be https://HOST/PATH.tar.gz with letters, digits and . - _ / ~ % + only",
                ));
            }
            return Ok(Pin {
                url: text.to_owned(),
            });
        }
        let first_ok = text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        let ok = first_ok
            && !text.contains("..")
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            return Err(refuse(
                "give a nixpkgs branch or tag (letters, digits, . - _), a 40-hex commit, or an https tarball URL",
            ));
        }
        Ok(Pin {
            url: format!("https://github.com/NixOS/nixpkgs/archive/{text}.tar.gz"),
        })
    }

    /// The pin from the settings, or the default.
    pub fn from_settings(settings: &crate::settings::Settings) -> Result<Pin, NixError> {
        Pin::parse(settings.nixpkgs.as_deref().unwrap_or(DEFAULT_NIXPKGS))
    }

    /// The tarball URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// A Nix string literal for `text`: `"…"` with `\`, `"` and `${` escaped and
/// newlines, tabs and carriage returns written as escapes. Other control
/// characters have no escape in Nix and are refused.
pub fn nix_string(text: &str) -> Result<String, NixError> {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                return Err(NixError::bad(
                    "nixpkgs",
                    format!("it contains the control character U+{:04X}", c as u32),
                ));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    Ok(out)
}

/// What the runner is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerInputs {
    pub pin: Pin,
    pub memory_mib: u64,
    pub disk_mib: u64,
    pub cores: u32,
}

impl RunnerInputs {
    /// The inputs the settings describe.
    pub fn from_settings(settings: &crate::settings::Settings) -> Result<RunnerInputs, NixError> {
        Ok(RunnerInputs {
            pin: Pin::from_settings(settings)?,
            memory_mib: settings.memory_mib,
            disk_mib: settings.disk_mib,
            cores: settings.cores,
        })
    }
}

/// Whether the guest may differ from nixpkgs' own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// The first runner, built with no Linux builder to hand: evaluation
    /// stops if the guest's toplevel is not nixpkgs' own (which the binary
    /// cache has).
    Stock,
    /// A successor, built by the host's Nix through its daemon while the
    /// builder runs: the Linux parts that are not in the cache are built
    /// on it, so the guest may differ.
    ThroughBuilder,
}

/// The expression whose value is the builder VM (`system.build.vm`, which
/// holds `bin/run-nixos-vm`). Only host-side options are set, so nothing
/// Linux has to be built: the guest comes from the binary cache.
pub fn runner_expression(inputs: &RunnerInputs) -> Result<String, NixError> {
    expression(inputs, Guard::Stock, None)
}

/// The expression for a successor built through the running builder
/// ([`Guard::ThroughBuilder`]), with the user's own module (the copy
/// BuilderBar keeps, `nix::module`) imported after BuilderBar's.
pub fn successor_expression(
    inputs: &RunnerInputs,
    module: Option<&std::path::Path>,
) -> Result<String, NixError> {
    expression(inputs, Guard::ThroughBuilder, module)
}

fn expression(
    inputs: &RunnerInputs,
    guard: Guard,
    module: Option<&std::path::Path>,
) -> Result<String, NixError> {
    let url = nix_string(inputs.pin.url())?;
    let RunnerInputs {
        memory_mib,
        disk_mib,
        cores,
        ..
    } = inputs;
    // Nix's integers are 64-bit signed: a larger one does not parse.
    for (field, value) in [("memory_mib", *memory_mib), ("disk_mib", *disk_mib)] {
        if i64::try_from(value).is_err() {
            return Err(NixError::bad(
                field,
                "it is larger than Nix's largest integer",
            ));
        }
    }
    let user_module = match module {
        Some(path) => format!(
            "      # The user's own module (`builderbar runner module set`), after BuilderBar's.\n      (/. + {})\n",
            nix_string(&path.to_string_lossy())?
        ),
        None => String::new(),
    };
    let (about, value) = match guard {
        Guard::Stock => (STOCK_ABOUT, STOCK_VALUE),
        Guard::ThroughBuilder => (SUCCESSOR_ABOUT, SUCCESSOR_VALUE),
    };
    Ok(format!(
        r#"# Generated by BuilderBar (recipe {RECIPE_VERSION}); `builderbar nix expr` prints it.
{about}
# `system` and `nixpkgs` may be given (--argstr / --arg) to check the
# recipe for another Mac or against a local nixpkgs checkout.
{{
  system ? builtins.currentSystem,
  nixpkgs ? builtins.fetchTarball {{ url = {url}; }},
}}:
let
  pkgs = import nixpkgs {{ inherit system; }};
  stock = pkgs.darwin.linux-builder;
  builder = stock.override {{
    modules = [
      ({{ lib, ... }}: {{
        virtualisation.darwin-builder.memorySize = {memory_mib};
        virtualisation.darwin-builder.diskSize = {disk_mib};
        virtualisation.cores = {cores};
        # No forward is baked in (nixpkgs' would listen on every interface):
        # BuilderBar's supervisor passes the one SSH forward at every start,
        # on 127.0.0.1 only, in QEMU_NET_OPTS. A port change rebuilds nothing.
        virtualisation.forwardPorts = lib.mkForce [ ];
      }})
{user_module}    ];
  }};
{value}"#
    ))
}

const STOCK_ABOUT: &str = "# nixpkgs' darwin.linux-builder with host-side options only: the guest
# itself is unchanged, so it comes from the binary cache and nothing Linux
# is built on a Mac that has no Linux builder yet. The guard below proves
# that at evaluation time: if an option here ever changed the guest's
# toplevel derivation, evaluation stops with the reason instead.";

const STOCK_VALUE: &str = r#"  toplevel = b: b.passthru.nixosConfig.system.build.toplevel.drvPath;
  ours = toplevel builder;
  theirs = toplevel stock;
in
if ours == theirs then
  builder.passthru.nixosConfig.system.build.vm
else
  throw ("BuilderBar: these settings would change the builder's Linux system ("
    + ours + " instead of nixpkgs' " + theirs
    + "), which this Mac cannot build without a Linux builder. Report this with `builderbar doctor`; changing the nixpkgs setting back to the default avoids it.")
"#;

const SUCCESSOR_ABOUT: &str =
    "# The running builder's successor: nixpkgs' darwin.linux-builder, built by
# this Mac's Nix through its daemon while BuilderBar's builder runs, so any
# Linux part the binary cache lacks is built on that builder. The guest
# may therefore differ from nixpkgs' own: no guard.";

const SUCCESSOR_VALUE: &str = r#"in
builder.passthru.nixosConfig.system.build.vm
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(nix_string("a").unwrap(), "\"a\"");
        assert_eq!(
            nix_string("q\"b\\${x}$y\n").unwrap(),
            r#""q\"b\\\${x}$y\n""#
        );
        assert!(nix_string("bell\u{7}").is_err());
    }

    #[test]
    fn sizes_beyond_nix_integers_are_refused() {
        let inputs = RunnerInputs {
            pin: Pin::parse(DEFAULT_NIXPKGS).unwrap(),
            memory_mib: 3072,
            disk_mib: 1 << 63,
            cores: 1,
        };
        assert!(runner_expression(&inputs).is_err());
        let fits = RunnerInputs {
            disk_mib: i64::MAX as u64,
            ..inputs
        };
        assert!(runner_expression(&fits).is_ok());
    }

    #[test]
    fn pins_are_strict() {
        assert_eq!(
            Pin::parse("nixpkgs-25.05-darwin").unwrap().url(),
            "https://github.com/NixOS/nixpkgs/archive/nixpkgs-25.05-darwin.tar.gz"
        );
        assert!(Pin::parse("https://example.org/n/x.tar.gz").is_ok());
        for bad in [
            "",
            "a\"b",
            "${x}",
            "a b",
            "../x",
            "-x",
            "http://example.org/x.tar.gz",
            "https://example.org/x.tar.gz\"",
            "https://example.org/x",
            "a\nb",
        ] {
            assert!(Pin::parse(bad).is_err(), "{bad:?}");
        }
    }
}
