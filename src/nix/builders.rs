//! Whether Nix really uses BuilderBar's builder, judged from Nix's own
//! resolved configuration rather than from the files BuilderBar wrote.
//!
//! Nix's `builders` setting defaults to `@<conf dir>/machines`; an explicit
//! value (`builders = ssh://…` in nix.conf — the nixpkgs manual teaches one
//! —, in an `include`d file, in Determinate's nix.custom.conf, in
//! nix-darwin's generated nix.conf) replaces that default, and then the
//! machines file BuilderBar writes is never read. So Nix is asked
//! (`nix config show builders`, or `nix show-config` on Nix before 2.20)
//! as the nix-daemon would read it: root's configuration folder, without
//! the user's own `~/.config/nix/nix.conf` or `NIX_CONFIG`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::plan::Layout;
use super::render::checked_path;
use super::{ALIAS, NixError};

/// The setting's value as Nix resolved it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Resolved {
    pub value: String,
}

/// How the resolved value reaches BuilderBar's machines entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Through `@<machines file>`, the file BuilderBar edits.
    MachinesFile,
    /// Through entries of the user's that name BuilderBar's alias or port.
    Named(Vec<String>),
    /// Not at all: Nix never uses the builder.
    No,
}

impl Resolved {
    /// The value for a sentence.
    pub fn words(&self) -> String {
        if self.value.trim().is_empty() {
            "empty (`builders =`)".into()
        } else {
            format!("`{}`", self.value)
        }
    }

    /// The entries, split as Nix splits them (at `;` and newlines, `#`
    /// starting a comment), trimmed, empty ones dropped.
    pub fn entries(&self) -> Vec<&str> {
        self.value
            .split([';', '\n'])
            .map(|entry| entry.split('#').next().unwrap_or("").trim())
            .filter(|entry| !entry.is_empty())
            .collect()
    }

    /// Whether it reaches the machines file under `layout`, or names
    /// BuilderBar's builder directly.
    pub fn reach(&self, layout: &Layout, port: u16) -> Reach {
        let machines = layout.machines();
        let entries = self.entries();
        let through_file = entries
            .iter()
            .filter_map(|entry| entry.strip_prefix('@'))
            .any(|file| same_file(Path::new(file.trim()), &machines));
        if through_file {
            return Reach::MachinesFile;
        }
        let named: Vec<String> = entries
            .iter()
            .filter(|entry| !entry.starts_with('@') && names_ours(entry, port))
            .map(|entry| (*entry).to_owned())
            .collect();
        if named.is_empty() {
            Reach::No
        } else {
            Reach::Named(named)
        }
    }

    /// The value that keeps every builder of this one and adds the
    /// machines file under `layout` in front.
    pub fn with_machines_file(&self, layout: &Layout) -> Result<String, NixError> {
        let file = format!("@{}", checked_path(&layout.machines())?);
        let theirs = self.value.trim();
        if theirs.contains(['\n', '#']) {
            // Nix printed it from one line of a file, so this never
            // happens; a value that could end our line early is refused.
            return Err(NixError::Conflict(format!(
                "Nix's builders setting ({}) cannot be kept on one line: edit it into one line without `#`, then run `builderbar install` again",
                crate::settings::parse::printable(theirs)
            )));
        }
        Ok(if theirs.is_empty() {
            file
        } else {
            format!("{file} ; {theirs}")
        })
    }
}

/// What the wiring does about Nix's `builders` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wiring {
    /// Nothing: Nix reads the machines file (its default, or a list of the
    /// user's that names it).
    Reaches,
    /// Put `builders = value` between BuilderBar's marks; `why` says so in
    /// plain words, for the plan.
    Line { value: String, why: String },
    /// The user's own entries already name BuilderBar's builder: reported,
    /// not duplicated.
    AlreadyNamed(Vec<String>),
    /// Nix could not be asked; the words say why.
    Unknown(String),
}

/// Decides it from what Nix resolved and the value BuilderBar's block
/// already holds (`ours`): a resolved value equal to ours is ours at work,
/// and is kept, so that installing again never drops the line.
pub fn wiring(
    view: &super::detect::BuildersView,
    ours: Option<&str>,
    layout: &Layout,
    port: u16,
) -> Result<Wiring, NixError> {
    use super::detect::BuildersView;
    let resolved = match view {
        BuildersView::Resolved(resolved) => resolved,
        BuildersView::NoNix => {
            return Ok(Wiring::Unknown(
                "there is no `nix` program to ask which builders Nix uses".into(),
            ));
        }
        BuildersView::Unreadable { reason } => return Ok(Wiring::Unknown(reason.clone())),
    };
    let machines = layout.machines();
    if ours == Some(resolved.value.as_str()) {
        return Ok(Wiring::Line {
            value: resolved.value.clone(),
            why: format!(
                "Nix uses the builders line BuilderBar added between its marks ({}), which keeps the builders you had and adds {}; it stays",
                resolved.value,
                machines.display()
            ),
        });
    }
    match resolved.reach(layout, port) {
        Reach::MachinesFile => Ok(Wiring::Reaches),
        Reach::Named(entries) => Ok(Wiring::AlreadyNamed(entries)),
        Reach::No => Ok(Wiring::Line {
            value: resolved.with_machines_file(layout)?,
            why: format!(
                "Nix's builders setting is {}, set in your Nix configuration; it replaces the default @{}, so Nix would never use BuilderBar's builder. BuilderBar adds a builders line between its marks that keeps every builder you had and adds its own",
                resolved.words(),
                machines.display()
            ),
        }),
    }
}

/// The nix-darwin setting that gives Nix `value` as its builders, for a
/// nix.conf BuilderBar must not edit: `nix.settings.builders = "…";`.
pub fn nix_darwin_setting(value: &str) -> Result<String, NixError> {
    Ok(format!(
        "nix.settings.builders = {};",
        super::expr::nix_string(value)?
    ))
}

/// Whether a machine entry names BuilderBar's alias, or a host on this
/// machine at BuilderBar's port (`localhost:31022`, `127.0.0.1:31022`).
fn names_ours(entry: &str, port: u16) -> bool {
    let Some(host) = machine_host(entry) else {
        return false;
    };
    if host == ALIAS {
        return true;
    }
    let local_with_port = |name: &str| {
        host.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|p| p.parse() == Ok(port))
    };
    ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .any(|name| local_with_port(name))
}

/// The host of a machine entry (`ssh-ng://builder@host?x 8 …` → `host`,
/// with a port if it names one), as in /etc/nix/machines and `builders`.
pub fn machine_host(entry: &str) -> Option<&str> {
    let uri = entry.split_whitespace().next()?;
    let host = uri
        .split_once("://")
        .map_or(uri, |(_, rest)| rest)
        .rsplit('@')
        .next()
        .unwrap_or("");
    host.split(['?', '/']).next()
}

fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    matches!(
        (std::fs::canonicalize(a), std::fs::canonicalize(b)),
        (Ok(x), Ok(y)) if x == y
    )
}

/// Asks Nix for its resolved `builders`, as the nix-daemon under `layout`
/// reads it. `Ok(None)` when there is no `nix` to ask.
pub fn resolve(layout: &Layout) -> Result<Option<Resolved>, NixError> {
    let Some(nix) = super::runner_build::find_nix() else {
        return Ok(None);
    };
    resolve_with(&nix, &layout.path("/etc/nix")).map(Some)
}

/// `nix config show builders`, falling back to `nix show-config` (Nix
/// before 2.20 has no `config` command), with `conf_dir` as Nix's
/// configuration folder and none of the user's own settings.
pub fn resolve_with(nix: &Path, conf_dir: &Path) -> Result<Resolved, NixError> {
    let modern = ask(nix, conf_dir, &["config", "show", "builders"])?;
    if modern.status.success() {
        return Ok(Resolved {
            value: parse_config_show(&String::from_utf8_lossy(&modern.stdout)),
        });
    }
    let older = ask(nix, conf_dir, &["show-config"])?;
    let text = String::from_utf8_lossy(&older.stdout);
    match parse_show_config(&text) {
        Some(value) if older.status.success() => Ok(Resolved { value }),
        _ => Err(NixError::Command {
            program: format!("{} config show builders", nix.display()),
            message: format!(
                "Nix did not say which builders it uses: {} {}",
                String::from_utf8_lossy(&modern.stderr).trim(),
                String::from_utf8_lossy(&older.stderr).trim()
            ),
        }),
    }
}

fn ask(nix: &Path, conf_dir: &Path, args: &[&str]) -> Result<std::process::Output, NixError> {
    Command::new(nix)
        .args(["--extra-experimental-features", "nix-command"])
        .args(args)
        .env("NIX_CONF_DIR", conf_dir)
        // An empty list: none of the user's own nix.conf files.
        .env("NIX_USER_CONF_FILES", "")
        .env_remove("NIX_CONFIG")
        .stdin(Stdio::null())
        .output()
        .map_err(NixError::io("run", PathBuf::from(nix)))
}

/// `nix config show builders` prints the value alone on one line.
pub fn parse_config_show(stdout: &str) -> String {
    stdout.trim_end_matches('\n').trim().to_owned()
}

/// `nix show-config` prints every setting as `name = value`, one per line.
pub fn parse_show_config(stdout: &str) -> Option<String> {
    stdout.lines().find_map(|line| {
        let (name, value) = line.split_once(" = ").or_else(|| {
            // An empty value is printed as `builders = ` and may lose its
            // trailing space.
            line.strip_suffix(" =").map(|name| (name, ""))
        })?;
        (name == "builders").then(|| value.trim().to_owned())
    })
}

/// The `builders` value inside BuilderBar's marked block of `conf`, if it
/// sets one.
pub fn ours_in(conf: &str) -> Option<String> {
    let (start, end) = super::block::block_range(conf)?;
    conf[start..end].lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        (name.trim() == "builders").then(|| value.trim().to_owned())
    })
}

#[cfg(test)]
#[path = "builders_tests.rs"]
mod tests;
