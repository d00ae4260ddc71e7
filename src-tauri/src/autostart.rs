//! Start at login: the app itself (a LaunchAgent on macOS, an XDG autostart
//! entry on Linux), following the setting.

use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_autostart::AutoLaunchManager;

pub fn follow_setting<R: Runtime>(app: &AppHandle<R>, enabled: bool) {
    // Absent when the app is built without the plugin (the tests' mock app).
    let Some(launcher) = app.try_state::<AutoLaunchManager>() else {
        return;
    };
    let result = if enabled {
        launcher.enable()
    } else {
        launcher.disable()
    };
    if let Err(err) = result {
        tracing::warn!("could not change start at login: {err}");
    }
}
