//! What the supervisor needs to know, as plain values: the caller (the CLI's
//! `vm run`) derives them from the settings and the platform.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the runner comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunnerSource {
    /// A runner script at this path: on macOS, nixpkgs' `run-nixos-vm`
    /// built by the Nix wiring.
    Path(PathBuf),
    /// Linux development: the dev VM, started by its current generation's
    /// runner (`generations::dev`).
    DevVm,
}

/// How the guest's filesystem relates to the disk image, which decides how
/// the disk is created and grown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskLayout {
    /// The guest makes ext4 on a blank disk and grows it at every boot (the
    /// dev VM): the host only creates and resizes the image.
    GuestManaged,
    /// A bare ext4 filesystem inside the qcow2, created once by the host and
    /// never grown by the guest (nixpkgs' builder): the host creates the
    /// filesystem and grows it with the VM stopped.
    BareExt4,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmConfig {
    pub port: u16,
    pub memory_mib: u64,
    pub cores: u32,
    pub disk_bytes: u64,
    /// Wipe the disk at every start.
    pub ephemeral: bool,
    pub runner: RunnerSource,
    pub disk_layout: DiskLayout,
    /// How long a stop waits for the guest to power down before `quit`.
    pub powerdown_timeout: Duration,
    /// On-demand start: the supervisor holds the port, boots the VM when a
    /// connection comes and powers it down after this long unused. None:
    /// always on, QEMU's forward on the port itself.
    pub on_demand: Option<Duration>,
}

impl VmConfig {
    /// The layout that goes with the runner: the dev VM manages its own
    /// filesystem, nixpkgs' builder does not.
    pub fn layout_for(runner: &RunnerSource) -> DiskLayout {
        match runner {
            RunnerSource::DevVm => DiskLayout::GuestManaged,
            RunnerSource::Path(_) => DiskLayout::BareExt4,
        }
    }
}

/// The supervisor's files, all under the state folder except the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmPaths {
    pub state_dir: PathBuf,
    pub disk: PathBuf,
    /// Shared with the guest at /var/keys: public keys only.
    pub keys_dir: PathBuf,
    /// QEMU's TMPDIR: under the state folder, never /tmp (macOS purges
    /// /tmp after three days).
    pub tmp_dir: PathBuf,
    pub qmp_socket: PathBuf,
    pub pid_file: PathBuf,
    pub status_file: PathBuf,
    /// Held by the running supervisor; the kernel releases it when the
    /// process dies, so a crash never leaves a start blocked.
    pub lock_file: PathBuf,
    pub log_file: PathBuf,
    /// Held by a runner switch while it runs; names the generation tried.
    pub switch_lock: PathBuf,
    /// A switch's trial boot writes here, over `disk` (`vm::trial`).
    pub trial_disk: PathBuf,
    /// The generation `trial_disk` was made for.
    pub trial_disk_owner: PathBuf,
    /// The runner generations (`generations::Store`): the dev VM's runner
    /// is its current generation's.
    pub generations_dir: PathBuf,
}

impl VmPaths {
    pub fn new(
        state_dir: &Path,
        keys_dir: &Path,
        log_file: &Path,
        generations_dir: &Path,
    ) -> VmPaths {
        VmPaths {
            state_dir: state_dir.to_path_buf(),
            disk: state_dir.join("disk.qcow2"),
            keys_dir: keys_dir.to_path_buf(),
            tmp_dir: state_dir.join("tmp"),
            qmp_socket: state_dir.join("qmp.sock"),
            pid_file: state_dir.join("vm.pid"),
            status_file: state_dir.join("status.json"),
            lock_file: state_dir.join("supervisor.lock"),
            log_file: log_file.to_path_buf(),
            switch_lock: state_dir.join("switch.lock"),
            trial_disk: state_dir.join("disk.trial.qcow2"),
            trial_disk_owner: state_dir.join("disk.trial.generation"),
            generations_dir: generations_dir.to_path_buf(),
        }
    }
}

/// The supervisor's files under BuilderBar's root.
pub fn vm_paths(paths: &crate::paths::Paths) -> VmPaths {
    VmPaths::new(
        &paths.state_dir(),
        &paths.vm_keys_dir(),
        &paths.logs_dir().join("vm.log"),
        &paths.generations_dir(),
    )
}

/// The environment variable naming a runner to use instead of the default.
pub const RUNNER_ENV: &str = "BUILDERBAR_RUNNER";

/// The runner to start: `BUILDERBAR_RUNNER` when set; else on macOS the
/// `run-nixos-vm` that the Nix wiring links at `<root>/runner`; else (Linux
/// development) the dev VM.
pub fn runner_source(paths: &crate::paths::Paths) -> RunnerSource {
    if let Some(path) = std::env::var_os(RUNNER_ENV).filter(|p| !p.is_empty()) {
        return RunnerSource::Path(PathBuf::from(path));
    }
    if cfg!(target_os = "macos") {
        RunnerSource::Path(paths.runner_script())
    } else {
        RunnerSource::DevVm
    }
}

impl VmConfig {
    /// The VM as the settings describe it.
    pub fn from_settings(
        settings: &crate::settings::Settings,
        runner: RunnerSource,
        powerdown_timeout: Duration,
    ) -> VmConfig {
        VmConfig {
            port: settings.ssh_port,
            memory_mib: settings.memory_mib,
            cores: settings.cores,
            disk_bytes: settings.disk_mib.saturating_mul(1 << 20),
            ephemeral: settings.ephemeral,
            disk_layout: VmConfig::layout_for(&runner),
            runner,
            powerdown_timeout,
            on_demand: settings
                .on_demand
                .then(|| Duration::from_secs(u64::from(settings.idle_minutes) * 60)),
        }
    }
}
