//! Starts the built app under tauri-driver with a temp BuilderBar home, and
//! gives the test its window (WebDriver), its tray (D-Bus), SSH into the
//! builder, and screenshots.

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use ssh_key::{Algorithm, LineEnding, PrivateKey};
use tempfile::TempDir;

use crate::tray::TrayMenu;

/// Waits until `check` holds, polling; panics after `timeout`.
pub async fn until<F, Fut>(timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// target/debug, from this test's own path (target/debug/deps/e2e-…).
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// One app at a time: the single-instance plugin hands a second app on the
/// same session bus to the first, which then quits.
static ONE_APP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub struct Harness {
    pub client: Client,
    pub port1: u16,
    pub port2: u16,
    home: TempDir,
    driver: Child,
    app_pid: u32,
    client_key: PathBuf,
    host_key: String,
    shots: PathBuf,
    _one_app: tokio::sync::MutexGuard<'static, ()>,
}

/// How the app is started.
pub struct Launch {
    /// The app's arguments.
    pub args: Vec<String>,
    /// More environment for the app (through tauri-driver).
    pub env: Vec<(String, PathBuf)>,
    /// Make the builder key first (setup would make it).
    pub make_key: bool,
    /// An element that shows once the window is loaded.
    pub loaded: &'static str,
}

impl Default for Launch {
    /// The settings window, with the builder key made.
    fn default() -> Launch {
        Launch {
            args: vec!["--show-settings".into()],
            env: Vec::new(),
            make_key: true,
            loaded: "#state",
        }
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::launch(Launch::default()).await
    }

    pub async fn launch(launch: Launch) -> Harness {
        let one_app = ONE_APP.lock().await;
        assert!(
            std::env::var_os("DISPLAY").is_some(),
            "no DISPLAY: this test runs under Xvfb, through `make e2e`"
        );
        let bin = build_dir();
        let app = bin.join("builderbar-app");
        let cli = bin.join("builderbar");
        assert!(
            app.exists() && cli.exists(),
            "build the app and the CLI first (make e2e does)"
        );
        let home = tempfile::Builder::new()
            .prefix("builderbar-e2e-")
            .tempdir()
            .unwrap();
        let (port1, port2) = (free_port(), free_port());
        let run = |args: &[&str]| {
            let out = Command::new(&cli)
                .args(args)
                .env("BUILDERBAR_HOME", home.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "builderbar {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&["settings", "set", "port", &port1.to_string()]);
        run(&["settings", "set", "memory", "1GiB"]);
        run(&["settings", "set", "cores", "1"]);
        // A small disk, set before any disk exists (the setting may only grow).
        let settings = home.path().join("settings.toml");
        let mut table: toml::Table = std::fs::read_to_string(&settings).unwrap().parse().unwrap();
        table.insert("disk_mib".into(), toml::Value::Integer(2048));
        std::fs::write(&settings, toml::to_string(&table).unwrap()).unwrap();

        let client_key = home.path().join("client_ed25519");
        let key = PrivateKey::random(&mut rand_core::OsRng, Algorithm::Ed25519).unwrap();
        key.write_openssh_file(&client_key, LineEnding::LF).unwrap();
        let public = home.path().join("client_ed25519.pub");
        std::fs::write(&public, key.public_key().to_openssh().unwrap()).unwrap();
        run(&["keys", "add", public.to_str().unwrap()]);
        // The builder key (in the Secret Service): the health monitor logs in with it.
        if launch.make_key {
            run(&["keys", "show"]);
        }
        let host_key = devvm::ensure_built(&devvm::default_cache_dir())
            .unwrap()
            .host_key;

        let (driver_port, native_port) = (free_port(), free_port());
        let mut driver = Command::new("tauri-driver");
        driver.envs(launch.env.iter().map(|(k, v)| (k, v)));
        let driver = driver
            .args([
                "--port",
                &driver_port.to_string(),
                "--native-port",
                &native_port.to_string(),
            ])
            .env("BUILDERBAR_HOME", home.path())
            .env("BUILDERBAR_BIN", &cli)
            // "Install Command-Line Tool…" links into ~/.local/bin: keep
            // it in the test's home.
            .env("XDG_BIN_HOME", home.path().join("path-bin"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tauri-driver is installed by scripts/setup.sh");
        until(Duration::from_secs(20), || async move {
            std::net::TcpStream::connect(("127.0.0.1", driver_port)).is_ok()
        })
        .await;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": app, "args": launch.args }),
        );
        let client = ClientBuilder::native()
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
            .unwrap();
        let app_pid = find_app(home.path()).expect("the app is running");
        let shots = bin.join("screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        let harness = Harness {
            client,
            port1,
            port2,
            home,
            driver,
            app_pid,
            client_key,
            host_key,
            shots,
            _one_app: one_app,
        };
        until(Duration::from_secs(20), || async {
            !harness.text(launch.loaded).await.is_empty()
        })
        .await;
        harness
    }

    pub fn root(&self) -> &Path {
        self.home.path()
    }

    pub fn tray(&self) -> TrayMenu {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(menu) = TrayMenu::find(self.app_pid) {
                return menu;
            }
            assert!(
                Instant::now() < deadline,
                "the app exported no tray menu on the session bus"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn app_alive(&self) -> bool {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.app_pid)).unwrap_or_default();
        // A zombie (state Z) has exited.
        !stat.is_empty() && !stat.contains(") Z ")
    }

    fn ssh_output(&self, port: u16, command: &str) -> std::process::Output {
        self.ssh_waiting(port, command, 2)
    }

    /// `ssh` waiting up to `connect_secs` for the connection and sshd's
    /// greeting: as long as a sleeping builder takes to boot.
    pub fn ssh_waiting(&self, port: u16, command: &str, connect_secs: u32) -> std::process::Output {
        let known_hosts = self.home.path().join(format!("known_hosts-{port}"));
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {}\n", self.host_key),
        )
        .unwrap();
        Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
            ])
            .args(["-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR"])
            .arg("-o")
            .arg(format!("ConnectTimeout={connect_secs}"))
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
            .arg("-i")
            .arg(&self.client_key)
            .args(["-p", &port.to_string(), "builder@127.0.0.1", command])
            .output()
            .unwrap()
    }

    pub fn ssh_ok(&self, port: u16) -> bool {
        self.ssh_output(port, "true").status.success()
    }

    pub fn ssh(&self, port: u16, command: &str) -> String {
        let out = self.ssh_output(port, command);
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Clicks the element `selector` finds in the window.
    pub async fn click(&self, selector: &str) {
        self.client
            .find(Locator::Css(selector))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    pub async fn text(&self, selector: &str) -> String {
        match self.client.find(Locator::Css(selector)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Replaces a field's text the way a person types it.
    pub async fn type_into(&self, selector: &str, text: &str) {
        let element = self.client.find(Locator::Css(selector)).await.unwrap();
        element.clear().await.unwrap();
        element.send_keys(text).await.unwrap();
    }

    /// The window as X shows it (ImageMagick's `import`; the window sits at
    /// the screen's origin under Xvfb with no window manager). Not
    /// WebKitWebDriver's own screenshot: with GDK's GL probe skipped, as the
    /// app ships on Linux (`src-tauri/src/main.rs`), WebKit draws without
    /// acceleration and its snapshot of some pages never answers. The page
    /// is let paint twice first, then captured until two captures agree.
    pub async fn x_screenshot(&self, name: &str) {
        self.client
            .execute_async(
                "const done = arguments[0]; \
                 requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await
            .unwrap();
        let path = self.shots.join(format!("{name}.png"));
        let capture = || {
            let status = Command::new("import")
                .args(["-window", "root", "-crop", "760x600+0+0", "+repage"])
                .arg(format!("PNG32:{}", path.display()))
                .status()
                .expect("ImageMagick's import (scripts/setup.sh installs it)");
            assert!(status.success(), "import failed for {name}");
            std::fs::read(&path).unwrap()
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut last = capture();
        loop {
            tokio::time::sleep(Duration::from_millis(150)).await;
            let now = capture();
            if now == last || Instant::now() > deadline {
                break;
            }
            last = now;
        }
    }

    pub fn save_text(&self, name: &str, text: &str) {
        std::fs::write(self.shots.join(name), text).unwrap();
    }

    pub async fn finish(mut self) {
        let _ = self.client.clone().close().await;
        self.stop_everything();
    }

    fn stop_everything(&mut self) {
        let _ = Command::new(build_dir().join("builderbar"))
            .arg("stop")
            .env("BUILDERBAR_HOME", self.home.path())
            .output();
        // SIGTERM lets tauri-driver stop WebKitWebDriver too.
        let _ = Command::new("kill")
            .arg(self.driver.id().to_string())
            .status();
        let _ = self.driver.wait();
        // A test that failed may leave the app behind its driver; the next
        // test's app would hand itself over to it (single instance).
        if self.app_alive() {
            let _ = Command::new("kill").arg(self.app_pid.to_string()).status();
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Ok(None) = self.driver.try_wait() {
            self.stop_everything();
        }
    }
}

/// The app process started for this home (its environment names it).
fn find_app(home: &Path) -> Option<u32> {
    let wanted = format!("BUILDERBAR_HOME={}", home.display());
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            if !exe.to_string_lossy().ends_with("builderbar-app") {
                continue;
            }
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            if environ
                .split(|b| *b == 0)
                .any(|var| var == wanted.as_bytes())
            {
                return Some(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}
