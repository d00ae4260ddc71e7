//! `builderbar install [--dry-run] [--sysroot DIR]` and `builderbar
//! uninstall [--sysroot DIR]`: the Nix wiring as one plan, applied (or
//! undone) in one elevation, plus the service that keeps the builder running.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use builderbar::keys::Keys;
use builderbar::nix::apply::{Job, Manifest, Outcome};
use builderbar::nix::detect;
use builderbar::nix::elevate::Elevation;
use builderbar::nix::expr::RunnerInputs;
use builderbar::nix::plan::{self, DaemonKind, Layout, WiringInputs};
use builderbar::paths::Paths;
use builderbar::service::{Service, installed_binary};
use builderbar::settings::SettingsStore;

use super::nix::{build_runner, explain};

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// Print the plan in plain words and change nothing
    #[arg(long)]
    dry_run: bool,
    /// Make every path relative to DIR (tests); the service is left alone
    #[arg(long, value_name = "DIR")]
    sysroot: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// Make every path relative to DIR (tests); the service is left alone
    #[arg(long, value_name = "DIR")]
    sysroot: Option<PathBuf>,
}

/// Where the manifest of what was there before lives.
pub fn state_dir(paths: &Paths) -> PathBuf {
    paths.root().join("nix-wiring")
}

pub fn install(args: InstallArgs) -> Result<()> {
    let paths = Paths::from_env()?;
    let store = SettingsStore::open(&paths)?;
    let settings = store.load()?.settings;
    let layout = Layout::new(sysroot(args.sysroot.as_deref())?);
    if cfg!(target_os = "macos") && args.sysroot.is_none() && !args.dry_run {
        let inputs = RunnerInputs::from_settings(&settings).map_err(explain)?;
        build_runner(&paths, &inputs)?;
    }
    let host_key = builderbar::nix::builder_host_key().map_err(explain)?;
    let inputs = WiringInputs::from_settings(&settings, &host_key).map_err(explain)?;
    let detected = detect::detect(&layout, inputs.port);
    let state = state_dir(&paths);
    if args.dry_run {
        let plan = plan::compute(&inputs, &detected, &layout, &state, None).map_err(explain)?;
        println!("builderbar install would, as root:");
        print!("{}", plan.describe());
        return Ok(());
    }
    // Refuse before the key is ever written out.
    plan::compute(&inputs, &detected, &layout, &state, None).map_err(explain)?;
    let keys = Keys::with_platform_keychain(store);
    keys.builder_public().map_err(keys_explain)?;
    let key_copy = paths.state_dir().join("builder_ed25519.for-root");
    keys.write_private_key_file(&key_copy)
        .map_err(keys_explain)?;
    let result = (|| {
        let plan =
            plan::compute(&inputs, &detected, &layout, &state, Some(&key_copy)).map_err(explain)?;
        println!("Applying, as root:");
        print!("{}", plan.describe());
        let elevation = Elevation::for_platform().map_err(explain)?;
        elevation
            .run(&Job::Apply(plan), &binary(&paths)?, &paths.state_dir())
            .map_err(explain)
    })();
    let _ = std::fs::remove_file(&key_copy);
    report(&result?);
    if args.sysroot.is_none() {
        Service::for_platform(&paths).install()?;
        println!("The builder's service is installed; `builderbar start` starts it.");
    }
    Ok(())
}

pub fn uninstall(args: UninstallArgs) -> Result<()> {
    let paths = Paths::from_env()?;
    let settings = SettingsStore::open(&paths)?.load()?.settings;
    let layout = Layout::new(sysroot(args.sysroot.as_deref())?);
    if args.sysroot.is_none() {
        Service::for_platform(&paths).uninstall()?;
        println!("The builder is stopped and its service removed.");
    }
    let state = state_dir(&paths);
    let Some(manifest) = Manifest::load(&state).map_err(explain)? else {
        println!("The Nix wiring is not installed: nothing to undo.");
        return Ok(());
    };
    println!("Undoing the Nix wiring, as root:");
    print!("{}", manifest.describe_undo());
    let flavor = detect::detect(&layout, settings.ssh_port).flavor;
    let job = Job::Uninstall {
        state_dir: state,
        daemon: Some(DaemonKind::for_flavor(flavor)),
    };
    let outcome = Elevation::for_platform()
        .map_err(explain)?
        .run(&job, &binary(&paths)?, &paths.state_dir())
        .map_err(explain)?;
    report(&outcome);
    Ok(())
}

fn sysroot(dir: Option<&Path>) -> Result<PathBuf> {
    match dir {
        None => Ok(PathBuf::from("/")),
        Some(dir) => {
            if !dir.is_dir() {
                bail!("the sysroot {} is not a folder", dir.display());
            }
            Ok(std::path::absolute(dir)?)
        }
    }
}

/// The installed binary (the one launchd runs) when there is one, else this one.
fn binary(paths: &Paths) -> Result<PathBuf> {
    let installed = installed_binary(paths);
    if installed.is_file() {
        Ok(installed)
    } else {
        Ok(std::env::current_exe()?)
    }
}

fn keys_explain(err: builderbar::keys::KeysError) -> anyhow::Error {
    match err.hint() {
        Some(hint) => anyhow::anyhow!("{err}\n  hint: {hint}"),
        None => anyhow::anyhow!("{err}"),
    }
}

fn report(outcome: &Outcome) {
    if outcome.changed.is_empty() {
        println!("Nothing changed: everything was already in place.");
    }
    for path in &outcome.changed {
        println!("changed {}", path.display());
    }
    if let Some(kind) = outcome.reloaded {
        println!("reloaded nix-daemon ({})", kind.command().join(" "));
    }
    for note in &outcome.skipped {
        println!("{note}");
    }
}
