//! Building the runner on macOS: `nix build` of [`super::expr::runner_expression`],
//! linked at `<root>/runner` (a GC root), so that
//! `<root>/runner/bin/run-nixos-vm` is what the supervisor starts.
//!
//! The build is cached by a hash of what changes the runner script: the
//! recipe and the nixpkgs pin. Memory and cores travel in QEMU_OPTS and
//! the SSH forward in QEMU_NET_OPTS at every start, and the disk is made
//! by the supervisor, so changing them never rebuilds. Untested off macOS: nothing here can
//! fetch nixpkgs or build darwin.linux-builder on Linux.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use super::NixError;
use super::expr::{RECIPE_VERSION, RunnerInputs, runner_expression};
pub use super::internal_json::Progress;
use super::internal_json::{Parsed, ProgressParser};
use crate::fsutil;
use crate::generations::{Candidate, Generation, GenerationError, Store};
use crate::paths::Paths;

/// A built runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runner {
    /// `<root>/runner/bin/run-nixos-vm`.
    pub script: PathBuf,
    /// The store path `<root>/runner` links to.
    pub out_path: PathBuf,
    /// Whether this call built it (false: it was cached).
    pub built: bool,
}

/// The cache key: a hash of the recipe and the pin.
pub fn cache_key(inputs: &RunnerInputs) -> String {
    let mut hash = Sha256::new();
    hash.update(format!(
        "recipe {RECIPE_VERSION}\npin {}\n",
        inputs.pin.url()
    ));
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A successor's identity: the runner's cache key, and the user's module
/// when there is one (without one, the same runner as a first one built
/// from the same pin).
pub fn successor_identity(inputs: &RunnerInputs, module: Option<&super::module::Module>) -> String {
    match module {
        Some(module) => format!("{} module {}", cache_key(inputs), module.sha256),
        None => cache_key(inputs),
    }
}

/// ", with your module 0123abcd" for people, or nothing.
pub fn module_words(module: Option<&super::module::Module>) -> String {
    module
        .map(|m| format!(", with your module {}", &m.sha256[..m.sha256.len().min(12)]))
        .unwrap_or_default()
}

/// `nix` on PATH, else the default profile's.
pub fn find_nix() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("nix"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        [
            "/nix/var/nix/profiles/default/bin/nix",
            "/run/current-system/sw/bin/nix",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
    })
}

/// The linked runner, when it was built from what `inputs` need (its key
/// matches and its script is there).
pub fn cached(paths: &Paths, inputs: &RunnerInputs) -> Option<Runner> {
    let key = std::fs::read_to_string(paths.runner_key_file()).ok()?;
    let script = paths.runner_script();
    if key.trim() != cache_key(inputs) || !script.is_file() {
        return None;
    }
    let out_path = std::fs::read_link(paths.runner_link()).ok()?;
    Some(Runner {
        script,
        out_path,
        built: false,
    })
}

/// Returns the runner for `inputs`, building it first when the pin or the
/// recipe changed, and records it as the current generation.
/// `progress` hears about the download.
pub fn ensure_runner(
    paths: &Paths,
    inputs: &RunnerInputs,
    progress: &mut dyn FnMut(Progress),
) -> Result<Runner, NixError> {
    let nix = find_nix();
    let runner = match cached(paths, inputs) {
        Some(runner) => runner,
        None => {
            let nix = nix.as_deref().ok_or_else(|| NixError::Command {
                program: "nix".into(),
                message:
                    "Nix is not installed (no `nix` on PATH or in /nix/var/nix/profiles/default/bin)"
                        .into(),
            })?;
            build_runner(nix, paths, inputs, progress)?
        }
    };
    // The runner works whatever the bookkeeping says: a generation that
    // cannot be recorded is logged, not fatal.
    match nix
        .as_deref()
        .map(|nix| record_generation(nix, paths, inputs, &runner))
    {
        Some(Ok(generation)) => tracing::info!(
            generation = generation.number,
            "the runner is the builder's current generation"
        ),
        Some(Err(err)) => tracing::warn!("could not record the runner's generation: {err}"),
        None => tracing::warn!("no `nix-store` to root the runner's generation"),
    }
    Ok(runner)
}

/// Records `runner` as the current generation: its own GC root at
/// `<generation>/runner` (through `nix-store --add-root`, beside `nix`), so
/// that it stays in the store as the previous generation once a newer one
/// is built, until the next one after that.
pub fn record_generation(
    nix: &Path,
    paths: &Paths,
    inputs: &RunnerInputs,
    runner: &Runner,
) -> Result<Generation, GenerationError> {
    let nix_store = nix.with_file_name("nix-store");
    Store::new(paths).adopt(Candidate {
        nixpkgs: Some(inputs.pin.url().to_owned()),
        identity: cache_key(inputs),
        built_from: format!("nixpkgs {}, recipe {RECIPE_VERSION}", inputs.pin.url()),
        make: &mut |dir| {
            let link = dir.join("runner");
            add_root(&nix_store, &runner.out_path, &link)
                .map_err(|err| GenerationError::Make(err.to_string()))?;
            Ok(link.join("bin/run-nixos-vm"))
        },
    })
}

/// Keeps a successor built through the builder (`out_path`, from `expr`)
/// as a generation not tried yet: its own GC root `<N>/runner` and the
/// expression it was built from, `<N>/runner.nix`. The same runner as a
/// generation kept already is that generation.
pub fn record_successor(
    nix: &Path,
    paths: &Paths,
    inputs: &RunnerInputs,
    module: Option<&super::module::Module>,
    expr: &str,
    out_path: &Path,
) -> Result<Generation, GenerationError> {
    let nix_store = nix.with_file_name("nix-store");
    Store::new(paths).add(Candidate {
        nixpkgs: Some(inputs.pin.url().to_owned()),
        identity: successor_identity(inputs, module),
        built_from: format!(
            "nixpkgs {}, recipe {RECIPE_VERSION}{}, built through the builder",
            inputs.pin.url(),
            module_words(module)
        ),
        make: &mut |dir| {
            let expr_file = dir.join("runner.nix");
            fsutil::write_atomic(&expr_file, expr.as_bytes(), 0o644)
                .map_err(|e| GenerationError::Make(format!("{}: {e}", expr_file.display())))?;
            let link = dir.join("runner");
            add_root(&nix_store, out_path, &link)
                .map_err(|err| GenerationError::Make(err.to_string()))?;
            Ok(link.join("bin/run-nixos-vm"))
        },
    })
}

/// Points `<root>/runner` — what the service starts — at a kept
/// generation's build (a switch, or going back after one): its own GC root
/// `<N>/runner` names the store path, `nix-store --add-root` replaces the
/// link atomically, and `runner.key` then takes the generation's identity,
/// so the next setup knows which runner is linked. A failure leaves the
/// link as it was.
pub fn link_generation(nix: &Path, paths: &Paths, generation: &Generation) -> Result<(), NixError> {
    let rooted = Store::new(paths)
        .generation_dir(generation.number)
        .join("runner");
    let out_path = std::fs::read_link(&rooted).map_err(|e| NixError::Command {
        program: "the generation's runner".into(),
        message: format!("{}: {e}", rooted.display()),
    })?;
    add_root(
        &nix.with_file_name("nix-store"),
        &out_path,
        &paths.runner_link(),
    )?;
    let key = paths.runner_key_file();
    fsutil::write_atomic(&key, generation.identity.as_bytes(), 0o644).map_err(|e| {
        NixError::Command {
            program: "the runner's key file".into(),
            message: format!("{}: {e}", key.display()),
        }
    })
}

/// `nix-store --realise OUT --add-root LINK --indirect`: LINK becomes a GC
/// root for OUT, replacing any link there atomically.
fn add_root(nix_store: &Path, out_path: &Path, link: &Path) -> Result<(), NixError> {
    let output = Command::new(nix_store)
        .arg("--realise")
        .arg(out_path)
        .arg("--add-root")
        .arg(link)
        .arg("--indirect")
        .output()
        .map_err(|e| NixError::Command {
            program: nix_store.display().to_string(),
            message: e.to_string(),
        })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(NixError::Command {
            program: "nix-store --add-root".into(),
            message: add_root_failure(&output),
        })
    }
}

/// Builds the runner with `nix` (and the `nix-store` beside it) and links
/// it. The runner in place keeps working until the new one is built and
/// rooted, whatever fails or is killed in between: the expression is built
/// from a file of its own, `nix-store --add-root` replaces the link
/// atomically (Nix's `IndirectRootStore::makeSymlink` makes a temporary
/// link and renames it over the old, src/libstore/indirect-root-store.cc),
/// and only then do the expression and the key take the new one's.
pub fn build_runner(
    nix: &Path,
    paths: &Paths,
    inputs: &RunnerInputs,
    progress: &mut dyn FnMut(Progress),
) -> Result<Runner, NixError> {
    let link = paths.runner_link();
    let expr_file = paths.runner_expr_file();
    let staged = expr_file.with_extension("nix.next");
    let expr = runner_expression(inputs)?;
    fsutil::write_atomic(&staged, expr.as_bytes(), 0o644)
        .map_err(NixError::io("write", &staged))?;
    let out_path = nix_build(nix, &staged, progress)?;
    // The link is a GC root, so the runner survives `nix-collect-garbage`.
    add_root(&nix.with_file_name("nix-store"), &out_path, &link)?;
    fsutil::write_atomic(&expr_file, expr.as_bytes(), 0o644)
        .map_err(NixError::io("write", &expr_file))?;
    let _ = std::fs::remove_file(&staged);
    let key_file = paths.runner_key_file();
    fsutil::write_atomic(
        &key_file,
        format!("{}\n", cache_key(inputs)).as_bytes(),
        0o644,
    )
    .map_err(NixError::io("write", &key_file))?;
    Ok(Runner {
        script: paths.runner_script(),
        out_path,
        built: true,
    })
}

/// What `nix-store` said, or how it ended when it said nothing.
fn add_root_failure(output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    if !stderr.is_empty() {
        return stderr;
    }
    match std::os::unix::process::ExitStatusExt::signal(&output.status) {
        Some(signal) => format!("it was killed by signal {signal}"),
        None => format!("it failed ({})", output.status),
    }
}

fn nix_build(
    nix: &Path,
    expr_file: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<PathBuf, NixError> {
    let mut child = Command::new(nix)
        .args([
            "--extra-experimental-features",
            "nix-command",
            "build",
            "--no-link",
            "--print-out-paths",
            "--log-format",
            "internal-json",
            "-f",
        ])
        .arg(expr_file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NixError::Command {
            program: nix.display().to_string(),
            message: e.to_string(),
        })?;
    let mut errors = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        let mut parser = ProgressParser::default();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            match parser.line(&line) {
                Parsed::Progress(p) => progress(p),
                Parsed::Message(m) => errors.push(m),
                Parsed::BuildLine(_) | Parsed::BuildStarted(_) | Parsed::Nothing => {}
            }
        }
    }
    let output = child.wait_with_output().map_err(|e| NixError::Command {
        program: nix.display().to_string(),
        message: e.to_string(),
    })?;
    if !output.status.success() {
        let tail = errors[errors.len().saturating_sub(10)..].join("\n");
        return Err(NixError::Command {
            program: "nix build (the runner)".into(),
            message: tail,
        });
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .rfind(|l| l.starts_with('/'))
        .map(PathBuf::from)
        .ok_or_else(|| NixError::Command {
            program: "nix build (the runner)".into(),
            message: "it printed no store path".into(),
        })
}

#[cfg(test)]
#[path = "runner_build_tests.rs"]
mod replace_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nix::expr::Pin;

    fn inputs(pin: &str, memory_mib: u64) -> RunnerInputs {
        RunnerInputs {
            pin: Pin::parse(pin).unwrap(),
            memory_mib,
            disk_mib: 20480,
            cores: 4,
        }
    }

    /// Memory, cores and the port travel at every start: only the pin
    /// (and the recipe) rebuild the runner.
    #[test]
    fn only_the_pin_rebuilds() {
        let stock = "nixpkgs-25.05-darwin";
        assert_eq!(
            cache_key(&inputs(stock, 3072)),
            cache_key(&inputs(stock, 8192))
        );
        assert_ne!(
            cache_key(&inputs(stock, 3072)),
            cache_key(&inputs("nixpkgs-unstable", 3072))
        );
    }
}
