//! The app's shared state and the loop that keeps the tray and the window
//! current.

use std::sync::Mutex;
use std::time::Duration;

use tauri::{AppHandle, Emitter, Runtime};

use builderbar::health::Health;
use builderbar::keys::Keys;
use builderbar::paths::Paths;
use builderbar::settings::SettingsStore;

use crate::ipc::{BuilderStatus, UiError};

/// The event the window listens to for state changes.
pub const STATUS_EVENT: &str = "builder-status";
/// How often the status file is read. Reading it is cheap (one small file,
/// no process); the health monitor will push changes instead.
const POLL: Duration = Duration::from_secs(2);
/// How soon a monitor that could not start is tried again.
const RETRY: Duration = Duration::from_secs(10);

pub struct AppState {
    pub paths: Paths,
    last: Mutex<Option<BuilderStatus>>,
    /// The health monitor's latest word, while it runs.
    health: Mutex<Option<Health>>,
    /// Told when the settings change, so the monitor restarts with them.
    pub settings_changed: tokio::sync::Notify,
    /// One [`publish`] at a time, so that the last word shown is the last
    /// one read.
    publishing: Mutex<()>,
}

impl AppState {
    pub fn new(paths: Paths) -> AppState {
        AppState {
            paths,
            last: Mutex::new(None),
            health: Mutex::new(None),
            settings_changed: tokio::sync::Notify::new(),
            publishing: Mutex::new(()),
        }
    }

    pub fn from_env() -> Result<AppState, builderbar::paths::NoHomeError> {
        Ok(AppState::new(Paths::from_env()?))
    }

    /// Reads the builder's status now and remembers it. The state and its
    /// line are the core's (`actions::status_view`), from the service's
    /// view and this app's own health monitor.
    pub fn refresh_status(&self) -> Result<BuilderStatus, builderbar::service::ServiceError> {
        let health = self.health.lock().ok().and_then(|h| h.clone());
        let view = builderbar::actions::status_view(&self.paths, health.as_ref())?;
        let port = view.status.vm.port.or_else(|| {
            SettingsStore::open(&self.paths)
                .and_then(|store| store.load())
                .ok()
                .map(|loaded| loaded.settings.ssh_port)
        });
        let word = view.builder.state;
        let report = BuilderStatus {
            state: word,
            label: word.label().to_string(),
            is_up: word.is_up(),
            can_toggle: word.can_toggle(),
            summary: view.builder.summary,
            port: port.unwrap_or_default(),
            uptime_secs: view.status.vm.uptime_secs,
            last_error: view.status.vm.last_error,
            crash_loop: view.status.vm.crash_loop,
            stopped_by_user: view.status.service.stopped_by_user,
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some(report.clone());
        }
        Ok(report)
    }

    pub fn set_health(&self, health: Option<Health>) {
        if let Ok(mut slot) = self.health.lock() {
            *slot = health;
        }
    }

    pub fn last_status(&self) -> Option<BuilderStatus> {
        self.last.lock().ok().and_then(|last| last.clone())
    }

    pub fn keys(&self) -> Result<Keys, UiError> {
        let store = SettingsStore::open(&self.paths).map_err(|e| UiError::new(e.to_string()))?;
        Ok(Keys::with_platform_keychain(store))
    }
}

/// Re-reads the status and, when it changed, updates the tray and tells
/// the window. Every reading goes through here (the poller, the monitor,
/// the menu's and the window's actions, the window's own `status`), so the
/// tray, the window and the remembered status never disagree: a change one
/// of them caused is shown by all.
pub fn publish<R: Runtime>(
    app: &AppHandle<R>,
) -> Result<BuilderStatus, builderbar::service::ServiceError> {
    let state = tauri::Manager::state::<AppState>(app);
    let _one = state.publishing.lock().unwrap_or_else(|p| p.into_inner());
    let before = state.last_status();
    let now = state.refresh_status()?;
    if before.as_ref() != Some(&now) {
        crate::tray::show(app, &now);
        let _ = app.emit(STATUS_EVENT, &now);
    }
    Ok(now)
}

/// [`publish`], for loops that have no one to tell of an error.
pub fn push<R: Runtime>(app: &AppHandle<R>) {
    let _ = publish(app);
}

/// Keeps the tray and the window current: the supervisor's status file,
/// read every few seconds (cheap: one small file), and the health monitor,
/// whose every change is pushed at once.
pub fn watch<R: Runtime>(app: AppHandle<R>) {
    let poller = app.clone();
    std::thread::spawn(move || {
        loop {
            push(&poller);
            std::thread::sleep(POLL);
        }
    });
    tauri::async_runtime::spawn(observe(app));
}

/// Runs the core's monitor, build watcher and notifications for as long as
/// the app lives; starts over when the settings change or it stops.
async fn observe<R: Runtime>(app: AppHandle<R>) {
    use builderbar::health::{self, Observation, ProbeChoices};
    let mut last_reason: Option<String> = None;
    loop {
        let state = tauri::Manager::state::<AppState>(&app);
        let settings = SettingsStore::open(&state.paths)
            .ok()
            .and_then(|store| store.load().ok())
            .map(|loaded| loaded.settings);
        let config = settings
            .as_ref()
            .map(|s| health::monitor_config(&state.paths, s, &ProbeChoices::default()));
        match (settings, config) {
            (Some(settings), Some(Ok(config))) => {
                let notifier = builderbar::notify::backend::spawn_thread(
                    builderbar::notify::DesktopNotifier::new,
                );
                let seen = app.clone();
                let run = health::observe(config, &settings, true, notifier, move |observed| {
                    if let Observation::Health(health) = observed {
                        tauri::Manager::state::<AppState>(&seen).set_health(Some(health));
                        push(&seen);
                    }
                });
                tokio::select! {
                    result = run => {
                        if let Err(err) = result {
                            tracing::warn!("the health monitor stopped: {err}");
                        }
                    }
                    () = state.settings_changed.notified() => {}
                }
                state.set_health(None);
            }
            (_, Some(Err(err))) => {
                // Said once per reason, not every retry.
                let reason = err.to_string();
                if last_reason.as_deref() != Some(reason.as_str()) {
                    tracing::info!("no health monitor yet: {reason}");
                    last_reason = Some(reason);
                }
            }
            _ => {}
        }
        // Try again soon (the builder key may just have been made).
        tokio::select! {
            () = tokio::time::sleep(RETRY) => {}
            () = state.settings_changed.notified() => {}
        }
    }
}
