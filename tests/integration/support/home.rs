//! A BuilderBar home (`BUILDERBAR_HOME`) in a temp folder, driven through the
//! real `builderbar` binary, with the supervisor run as launchd would run it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::ssh::{self, ClientKey};
use super::vm::{Slot, dev_vm};
use super::wait;

pub const BIN: &str = env!("CARGO_BIN_EXE_builderbar");
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Home {
    pub dir: TempDir,
    pub client: ClientKey,
    pub known_hosts: PathBuf,
    pub port: u16,
}

impl Home {
    /// A home whose settings use a free port and small resources, with a
    /// client key authorized to log in.
    pub fn new() -> Home {
        let dir = tempfile::Builder::new()
            .prefix("builderbar-home-")
            .tempdir()
            .unwrap();
        let client = ClientKey::generate(&dir.path().join("client_ed25519"));
        std::fs::write(dir.path().join("client_ed25519.pub"), &client.public_line).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let home = Home {
            known_hosts: dir.path().join("known_hosts"),
            client,
            port,
            dir,
        };
        ssh::write_known_hosts(&home.known_hosts, port, &dev_vm().host_key);
        home.set("port", &port.to_string());
        home.set("memory", "1GiB");
        home.set("cores", "1");
        home.write_setting_raw("disk_mib", "2048");
        let key = home.dir.path().join("client_ed25519.pub");
        home.cli_ok(&["keys", "add", key.to_str().unwrap()]);
        home
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(BIN);
        command
            .env("BUILDERBAR_HOME", self.root())
            .env_remove("BUILDERBAR_RUNNER");
        command
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "builderbar {args:?}: {}",
            ssh::stderr(&out)
        );
        ssh::stdout(&out)
    }

    pub fn set(&self, key: &str, value: &str) {
        self.cli_ok(&["settings", "set", key, value]);
    }

    /// Edits the settings file directly, bypassing validation (a file from
    /// another version, or a value set before a disk existed).
    pub fn write_setting_raw(&self, field: &str, value: &str) {
        let path = self.root().join("settings.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut table: toml::Table = text.parse().unwrap();
        table.insert(field.to_string(), value.parse::<toml::Value>().unwrap());
        std::fs::write(&path, toml::to_string(&table).unwrap()).unwrap();
    }

    pub fn status_file(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.root().join("state/status.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// The supervisor's state from its status file ("" before it wrote one).
    pub fn state(&self) -> String {
        std::fs::read_to_string(self.root().join("state/status.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|status| status["state"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root().join("logs/vm.log")).unwrap_or_default()
    }

    /// `builderbar vm run`, as launchd starts it.
    pub fn start_supervisor(&self) -> Supervisor<'_> {
        self.start_supervisor_with(&[])
    }

    /// `builderbar vm run` with extra environment (the idle time in
    /// seconds, say).
    pub fn start_supervisor_with(&self, env: &[(&str, &str)]) -> Supervisor<'_> {
        let slot = Slot::take();
        let output = self.root().join("supervisor.out");
        let child = self
            .command()
            .args(["vm", "run", "--powerdown-timeout", "10"])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&output).unwrap())
            .stderr(std::fs::File::create(&output).unwrap())
            .spawn()
            .unwrap();
        Supervisor {
            home: self,
            child,
            _slot: slot,
        }
    }

    pub fn ssh(&self, command: &str) -> Output {
        ssh::run(
            self.port,
            "builder",
            &self.client.path,
            &self.known_hosts,
            command,
        )
    }

    /// [`Home::ssh`], waiting up to `connect_secs` for sshd's greeting:
    /// as long as a sleeping builder takes to boot.
    pub fn ssh_waiting(&self, command: &str, connect_secs: u32) -> Output {
        ssh::run_waiting(
            self.port,
            "builder",
            &self.client.path,
            &self.known_hosts,
            command,
            connect_secs,
        )
    }

    pub fn ssh_ok(&self, command: &str) -> String {
        self.ok(command, self.ssh(command))
    }

    /// [`Home::ssh_waiting`] that must succeed; its stdout.
    pub fn ssh_waiting_ok(&self, command: &str, connect_secs: u32) -> String {
        self.ok(command, self.ssh_waiting(command, connect_secs))
    }

    fn ok(&self, command: &str, out: Output) -> String {
        assert!(
            out.status.success(),
            "`{command}`: {}\n{}",
            ssh::stderr(&out),
            self.log()
        );
        ssh::stdout(&out)
    }
}

pub struct Supervisor<'h> {
    home: &'h Home,
    pub child: Child,
    _slot: Slot,
}

impl Supervisor<'_> {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until SSH with the pinned host key answers.
    pub fn wait_ready(&mut self) {
        let ready = wait::until(BOOT_TIMEOUT, Duration::from_millis(250), || {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the supervisor exited ({status}) before SSH answered:\n{}",
                    self.home.log()
                );
            }
            self.home.ssh("true").status.success().then_some(())
        });
        assert!(ready.is_some(), "SSH did not answer:\n{}", self.home.log());
    }

    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait::until(timeout, Duration::from_millis(50), || {
            self.child.try_wait().unwrap()
        })
    }

    /// SIGTERM, as launchd stops it: the supervisor must exit 0 in time.
    pub fn stop_cleanly(&mut self) {
        self.signal(rustix::process::Signal::TERM);
        let exit = self
            .wait_exit(Duration::from_secs(10))
            .expect("stopped in time");
        assert_eq!(exit.code(), Some(0), "a stop that was asked for exits 0");
    }

    /// The QEMU process the supervisor started, from its pid file.
    pub fn qemu_pid(&self) -> u32 {
        let path = self.home.root().join("state/vm.pid");
        std::fs::read_to_string(path)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Supervisor<'_> {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // An orphaned QEMU (after a kill -9 of the supervisor) must not
        // outlive the test.
        if let Ok(text) = std::fs::read_to_string(self.home.root().join("state/vm.pid"))
            && let Ok(pid) = text.trim().parse::<i32>()
            && let Some(pid) = rustix::process::Pid::from_raw(pid)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}
