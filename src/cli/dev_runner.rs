//! `builderbar dev-runner`: Linux development scaffolding. Builds the dev VM
//! if needed and writes its runner (which, like nixpkgs' runner from
//! BuilderBar's expression, forwards nothing by itself: the port goes in
//! `QEMU_NET_OPTS`); with `--boot`, also boots it in the foreground on
//! `--port` with a login key of its own.

use std::os::unix::process::CommandExt;
use std::path::Path;

use anyhow::{Context, Result};
use ssh_key::{Algorithm, LineEnding, PrivateKey};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The host port to forward (from 127.0.0.1 only) to the guest's SSH:
    /// `--boot` uses it, `--json` prints the `QEMU_NET_OPTS` for it.
    #[arg(long, default_value_t = 31022)]
    port: u16,
    /// Print `{"runner": …, "host_key": …, "qemu_net_opts": …}` for scripts.
    #[arg(long)]
    json: bool,
    /// Boot the VM in the foreground afterwards (Ctrl-C stops it).
    #[arg(long, conflicts_with = "json")]
    boot: bool,
}

pub fn run(args: Args) -> Result<()> {
    let cache = devvm::default_cache_dir();
    let vm = devvm::ensure_built(&cache).context("could not build the dev VM")?;
    let runner = devvm::write_runner(&vm, devvm::RunnerOptions::default())
        .context("could not write the dev VM's runner")?;
    if args.json {
        let out = serde_json::json!({
            "runner": runner,
            "host_key": vm.host_key,
            "qemu_net_opts": devvm::ssh_forward(args.port),
        });
        println!("{out}");
        return Ok(());
    }
    if !args.boot {
        println!("runner:   {}", runner.display());
        println!("host key: {}", vm.host_key);
        return Ok(());
    }
    boot(
        &cache.join(format!("session-{}", args.port)),
        &runner,
        &vm.host_key,
        args.port,
    )
}

/// Boots the runner from a session folder that keeps the disk, a login key
/// and a pinned known_hosts file between runs.
fn boot(session: &Path, runner: &Path, host_key: &str, port: u16) -> Result<()> {
    let keys = session.join("keys");
    fs_err::create_dir_all(&keys)?;
    let tmp = session.join("tmp");
    fs_err::create_dir_all(&tmp)?;
    let login_key = session.join("id_ed25519");
    let public = login_public_key(&login_key)?;
    fs_err::write(keys.join("builder_ed25519.pub"), format!("{public}\n"))?;
    let known_hosts = session.join("known_hosts");
    fs_err::write(&known_hosts, format!("[127.0.0.1]:{port} {host_key}\n"))?;

    println!("Booting the dev VM (Ctrl-C stops it). Log in with:");
    println!(
        "  ssh -F /dev/null -o StrictHostKeyChecking=yes -o UserKnownHostsFile={} -o IdentitiesOnly=yes -i {} -p {port} builder@127.0.0.1",
        known_hosts.display(),
        login_key.display()
    );
    let err = std::process::Command::new(runner)
        .env("NIX_DISK_IMAGE", session.join("builder.qcow2"))
        .env("KEYS", &keys)
        .env("TMPDIR", &tmp)
        .env("USE_TMPDIR", "1")
        .env("QEMU_NET_OPTS", devvm::ssh_forward(port))
        .exec();
    Err(err).with_context(|| format!("could not start {}", runner.display()))
}

/// The session's login key, made on first use, as an OpenSSH public line.
fn login_public_key(path: &Path) -> Result<String> {
    if !path.exists() {
        let key = PrivateKey::random(&mut rand_core::OsRng, Algorithm::Ed25519)?;
        key.write_openssh_file(path, LineEnding::LF)?;
    }
    let key = PrivateKey::read_openssh_file(path)?;
    Ok(key.public_key().to_openssh()?)
}
