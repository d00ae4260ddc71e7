//! The app's shared state and the loop that keeps the tray and the window
//! current.

use std::sync::Mutex;
use std::time::Duration;

use tauri::{AppHandle, Emitter, Runtime};

use builderbar::keys::Keys;
use builderbar::paths::Paths;
use builderbar::settings::SettingsStore;
use builderbar::vm::VmState;

use crate::ipc::{BuilderStatus, UiError};

/// The event the window listens to for state changes.
pub const STATUS_EVENT: &str = "builder-status";
/// How often the status file is read. Reading it is cheap (one small file,
/// no process); the health monitor will push changes instead.
const POLL: Duration = Duration::from_secs(2);

pub struct AppState {
    pub paths: Paths,
    last: Mutex<Option<BuilderStatus>>,
}

impl AppState {
    pub fn new(paths: Paths) -> AppState {
        AppState {
            paths,
            last: Mutex::new(None),
        }
    }

    pub fn from_env() -> Result<AppState, builderbar::paths::NoHomeError> {
        Ok(AppState::new(Paths::from_env()?))
    }

    /// Reads the builder's status now and remembers it.
    pub fn refresh_status(&self) -> Result<BuilderStatus, builderbar::service::ServiceError> {
        let status = builderbar::actions::status(&self.paths)?;
        let settings = SettingsStore::open(&self.paths)
            .ok()
            .and_then(|store| store.load().ok())
            .map(|loaded| loaded.settings);
        let state = match status.vm.state {
            VmState::Starting => "starting",
            VmState::Running => "running",
            VmState::Stopping => "stopping",
            VmState::Stopped => "stopped",
            VmState::Failed => "failed",
        };
        let summary = match (&status.vm.state, &settings) {
            (VmState::Running, Some(s)) => format!(
                "Running — {} {}, {}",
                s.cores,
                if s.cores == 1 { "core" } else { "cores" },
                builderbar::settings::model::human_mib(s.memory_mib)
            ),
            (VmState::Starting, _) => "Starting…".to_string(),
            (VmState::Stopping, _) => "Stopping…".to_string(),
            (VmState::Failed, _) if status.vm.crash_loop => "Failed — keeps crashing".to_string(),
            (VmState::Failed, _) => "Failed".to_string(),
            _ => "Stopped".to_string(),
        };
        let report = BuilderStatus {
            state: state.to_string(),
            summary,
            port: status
                .vm
                .port
                .or(settings.as_ref().map(|s| s.ssh_port))
                .unwrap_or_default(),
            uptime_secs: status.vm.uptime_secs,
            last_error: status.vm.last_error,
            crash_loop: status.vm.crash_loop,
            stopped_by_user: status.service.stopped_by_user,
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some(report.clone());
        }
        Ok(report)
    }

    pub fn last_status(&self) -> Option<BuilderStatus> {
        self.last.lock().ok().and_then(|last| last.clone())
    }

    pub fn keys(&self) -> Result<Keys, UiError> {
        let store = SettingsStore::open(&self.paths).map_err(|e| UiError::new(e.to_string()))?;
        Ok(Keys::with_platform_keychain(store))
    }
}

/// Keeps the tray and the window current: re-reads the status and, when it
/// changed, updates the tray and tells the window.
pub fn watch<R: Runtime>(app: AppHandle<R>) {
    std::thread::spawn(move || {
        loop {
            let state = tauri::Manager::state::<AppState>(&app);
            let before = state.last_status();
            if let Ok(now) = state.refresh_status()
                && before.as_ref() != Some(&now)
            {
                crate::tray::show(&app, &now);
                let _ = app.emit(STATUS_EVENT, &now);
            }
            std::thread::sleep(POLL);
        }
    });
}
