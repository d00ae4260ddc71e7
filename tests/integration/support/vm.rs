//! Boots the real dev VM for a test: on a free port, from a work folder that
//! holds its disk, keys and a client key, and waits — by condition, with a
//! timeout — until real OpenSSH with the host key pinned runs a command.
//! Tears it down the way the supervisor will: QMP `system_powerdown`, then
//! `quit`, then kill.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use builderbar::vm::qmp::Qmp;
use tempfile::TempDir;

use super::ssh::{self, ClientKey};
use super::wait;

/// Two cores run at most two emulated VMs at a useful speed.
const MAX_VMS_AT_ONCE: usize = 2;
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
const POWERDOWN_TIMEOUT: Duration = Duration::from_secs(30);

static RUNNING: Mutex<usize> = Mutex::new(0);
static SLOT_FREED: Condvar = Condvar::new();

pub struct Slot;

impl Slot {
    pub fn take() -> Slot {
        let mut running = RUNNING.lock().unwrap();
        while *running >= MAX_VMS_AT_ONCE {
            running = SLOT_FREED.wait(running).unwrap();
        }
        *running += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut running) = RUNNING.lock() {
            *running -= 1;
        }
        SLOT_FREED.notify_one();
    }
}

/// The dev VM, built once per inputs (cached outside the repository): the
/// small flavour, since these boots need no Nix (and run in 256 MiB, where
/// the Nix flavour does not fit); its host key is the Nix flavour's too.
pub fn dev_vm() -> devvm::DevVm {
    devvm::ensure_flavour(&devvm::default_cache_dir(), devvm::Flavour::Small).unwrap()
}

/// A folder that outlives one boot: the disk, the keys folder shared with the
/// guest, QEMU's TMPDIR, a client key authorized in the keys folder, and a
/// known_hosts file.
pub struct Workdir {
    pub dir: TempDir,
    pub keys: PathBuf,
    pub disk: PathBuf,
    pub tmp: PathBuf,
    pub client: ClientKey,
    pub known_hosts: PathBuf,
}

impl Workdir {
    pub fn new() -> Workdir {
        let dir = tempfile::Builder::new()
            .prefix("builderbar-vm-")
            .tempdir()
            .unwrap();
        let keys = dir.path().join("keys");
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&keys).unwrap();
        std::fs::create_dir_all(&tmp).unwrap();
        let client = ClientKey::generate(&dir.path().join("id_ed25519"));
        let work = Workdir {
            disk: dir.path().join("disk.qcow2"),
            known_hosts: dir.path().join("known_hosts"),
            keys,
            tmp,
            client,
            dir,
        };
        std::fs::write(
            work.authorized_keys(),
            format!("{}\n", work.client.public_line),
        )
        .unwrap();
        work
    }

    pub fn authorized_keys(&self) -> PathBuf {
        self.keys.join("builder_ed25519.pub")
    }

    /// Adds a line to `builder_ed25519.pub`.
    pub fn authorize(&self, public_line: &str) {
        let mut text = std::fs::read_to_string(self.authorized_keys()).unwrap();
        text.push_str(public_line);
        text.push('\n');
        std::fs::write(self.authorized_keys(), text).unwrap();
    }

    /// Runs `qemu-img` (create, resize…) on the work folder's disk.
    pub fn qemu_img(&self, args: &[&str]) {
        let mut command = Command::new("qemu-img");
        command
            .arg(args[0])
            .args(["-q", "-f", "qcow2"])
            .arg(&self.disk)
            .args(&args[1..]);
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "qemu-img {args:?}: {}",
            ssh::stderr(&output)
        );
    }
}

#[derive(Debug, Default, Clone)]
pub struct BootOptions {
    /// Words added to `QEMU_OPTS` after the fixture's own (`-qmp`, `-m`).
    pub qemu_opts: Vec<String>,
    pub net_opts: Option<String>,
}

/// How a VM ended when the fixture stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    PoweredDown,
    Quit,
    Killed,
}

pub struct Vm<'w> {
    pub work: &'w Workdir,
    pub port: u16,
    pub host_key: String,
    pub qmp_socket: PathBuf,
    console: PathBuf,
    child: Child,
    _slot: Slot,
}

impl<'w> Vm<'w> {
    pub fn boot(work: &'w Workdir) -> Vm<'w> {
        Vm::boot_with(work, BootOptions::default())
    }

    pub fn boot_with(work: &'w Workdir, options: BootOptions) -> Vm<'w> {
        let dev_vm = dev_vm();
        let slot = Slot::take();
        let port = free_port();
        let runner = devvm::write_runner(&dev_vm, devvm::RunnerOptions::default()).unwrap();
        ssh::write_known_hosts(&work.known_hosts, port, &dev_vm.host_key);
        let qmp_socket = work.dir.path().join("qmp.sock");
        let console = work.dir.path().join(format!("console-{port}.log"));
        let mut qemu_opts = vec![
            "-qmp".to_string(),
            format!("unix:{},server=on,wait=off", qmp_socket.display()),
            "-m".into(),
            "256".into(),
        ];
        qemu_opts.extend(options.qemu_opts);
        let mut command = Command::new(&runner);
        command
            .env("NIX_DISK_IMAGE", &work.disk)
            .env("KEYS", &work.keys)
            .env("TMPDIR", &work.tmp)
            .env("USE_TMPDIR", "1")
            .env("QEMU_OPTS", qemu_opts.join(" "))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&console).unwrap())
            .stderr(std::fs::File::create(&console).unwrap());
        // The forward, as the supervisor passes it, then the test's own.
        let mut net_opts = devvm::ssh_forward(port);
        if let Some(extra) = &options.net_opts {
            net_opts = format!("{net_opts},{extra}");
        }
        command.env("QEMU_NET_OPTS", net_opts);
        let child = command.spawn().unwrap();
        let mut vm = Vm {
            work,
            port,
            host_key: dev_vm.host_key,
            qmp_socket,
            console,
            child,
            _slot: slot,
        };
        vm.wait_for_ssh();
        vm
    }

    fn wait_for_ssh(&mut self) {
        let ready = wait::until(BOOT_TIMEOUT, Duration::from_millis(250), || {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the VM exited ({status}) before SSH answered:\n{}",
                    self.console()
                );
            }
            self.ssh("true").status.success().then_some(())
        });
        if ready.is_none() {
            panic!(
                "SSH did not answer within {BOOT_TIMEOUT:?}:\n{}",
                self.console()
            );
        }
    }

    /// QEMU's process id (the runner execs QEMU).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the guest printed on its serial console so far.
    pub fn console(&self) -> String {
        std::fs::read_to_string(&self.console).unwrap_or_default()
    }

    /// Runs a command as `builder` with the work folder's key and pinning.
    pub fn ssh(&self, command: &str) -> Output {
        ssh::run(
            self.port,
            "builder",
            &self.work.client.path,
            &self.work.known_hosts,
            command,
        )
    }

    /// Runs a command that must succeed and returns its stdout.
    pub fn ssh_ok(&self, command: &str) -> String {
        let output = self.ssh(command);
        assert!(
            output.status.success(),
            "`{command}` failed: {}\n{}",
            ssh::stderr(&output),
            self.console()
        );
        ssh::stdout(&output)
    }

    /// Stops the VM: power button, then `quit`, then kill.
    pub fn power_off(mut self) -> (Ending, ExitStatus) {
        if let Ok(mut qmp) = Qmp::connect(&self.qmp_socket, Duration::from_secs(5)) {
            if qmp.system_powerdown().is_ok()
                && let Some(status) = self.wait_exit(POWERDOWN_TIMEOUT)
            {
                return (Ending::PoweredDown, status);
            }
            if qmp.quit().is_ok()
                && let Some(status) = self.wait_exit(Duration::from_secs(5))
            {
                return (Ending::Quit, status);
            }
        }
        let _ = self.child.kill();
        (Ending::Killed, self.child.wait().unwrap())
    }

    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait::until(timeout, Duration::from_millis(50), || {
            self.child.try_wait().unwrap()
        })
    }
}

impl Drop for Vm<'_> {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
