//! Starting the runner under its contract with nixpkgs' `run-nixos-vm`
//! (docs/MACOS.md §1): the disk, the per-boot temporary folder, the keys
//! folder, memory and cores through `QEMU_OPTS` (after the built-in ones,
//! so they win), the one SSH forward through `QEMU_NET_OPTS` (the runner
//! bakes none in: `virtualisation.forwardPorts = [ ]`, so a port change
//! rebuilds nothing), and the host's CA bundle for `useHostCerts`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use execfile::Spawn;

use crate::vm::config::{RunnerSource, VmConfig, VmPaths};
use crate::vm::exit::SupervisorError;
use crate::vm::preflight;

/// The runner to start: the given script, or the dev VM's current
/// generation (made on the first start).
pub(crate) fn resolve(config: &VmConfig, paths: &VmPaths) -> Result<PathBuf, SupervisorError> {
    match &config.runner {
        RunnerSource::Path(path) => {
            preflight::runner_is_executable(path, "run the builder setup again to rebuild it")?;
            Ok(path.clone())
        }
        RunnerSource::DevVm => {
            let store = crate::generations::Store::at(&paths.generations_dir);
            let generation = crate::generations::dev::adopt(
                &store,
                &devvm::default_cache_dir(),
                config.disk_bytes >> 20,
            )
            .map_err(|err| SupervisorError::Start(err.to_string()))?;
            tracing::info!(
                generation = generation.number,
                built_from = %generation.built_from,
                "the builder's runner generation"
            );
            preflight::runner_is_executable(
                &generation.runner,
                "run `builderbar dev-runner` to rebuild the dev VM",
            )?;
            Ok(generation.runner)
        }
    }
}

/// Starts the runner with its output piped (the supervisor copies it into
/// the log).
pub(crate) fn start(
    config: &VmConfig,
    paths: &VmPaths,
    runner: &PathBuf,
    disk: &Path,
    forward_port: u16,
) -> Result<Child, SupervisorError> {
    let qemu_opts = format!(
        "-qmp unix:{},server=on,wait=off -m {} -smp {}",
        paths.qmp_socket.display(),
        config.memory_mib,
        config.cores
    );
    tracing::info!(runner = %runner.display(), %qemu_opts, "starting the VM");
    let mut command = Command::new(runner);
    // nixpkgs' builder takes its CA certificates from the host
    // (virtualisation.useHostCerts): the runner copies NIX_SSL_CERT_FILE into
    // the guest's /etc/ssl/certs. A launchd job has no such variable, so
    // the supervisor names the bundle; without one, downloads on the builder
    // fail their TLS checks.
    match host_ca_bundle() {
        Some(bundle) => {
            command.env("NIX_SSL_CERT_FILE", bundle);
        }
        None => tracing::warn!(
            "no CA certificate bundle found on this machine: downloads on the builder will fail"
        ),
    }
    command
        .current_dir(&paths.state_dir)
        // The builder's disk, or a switch's trial overlay over it.
        .env("NIX_DISK_IMAGE", disk)
        .env("KEYS", &paths.keys_dir)
        .env("TMPDIR", &paths.tmp_dir)
        .env("USE_TMPDIR", "1")
        .env("QEMU_OPTS", qemu_opts)
        // Appended to `-netdev user,id=user.0,` (nixpkgs' qemu-vm.nix): the
        // guest's SSH on the loopback only, never on the LAN; nothing else.
        // Always on, that is the builder's port; on-demand, a private port
        // the supervisor hands held connections to.
        .env("QEMU_NET_OPTS", ssh_forward(forward_port))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // The runner may have just been written by another process (the
        // dev runner by `builderbar dev-runner`, a test's stand-in): a
        // sibling fork there can make it busy for an instant.
        .spawn_retrying()
        .map_err(|err| SupervisorError::Start(format!("{}: {err}", runner.display())))
}

/// The one forward: the host's 127.0.0.1:`port` to the guest's SSH.
pub(crate) fn ssh_forward(port: u16) -> String {
    format!("hostfwd=tcp:127.0.0.1:{port}-:22")
}

/// The host's CA bundle for the guest: the caller's `NIX_SSL_CERT_FILE`,
/// else the Nix installer's bundle, macOS's, or Debian's.
fn host_ca_bundle() -> Option<PathBuf> {
    let from_env = std::env::var_os("NIX_SSL_CERT_FILE").map(PathBuf::from);
    from_env
        .into_iter()
        .chain(
            [
                "/nix/var/nix/profiles/default/etc/ssl/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
                "/etc/ssl/certs/ca-certificates.crt",
            ]
            .map(PathBuf::from),
        )
        .find(|path| path.is_file())
}
