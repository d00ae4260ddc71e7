//! The settings window: made on first use, hidden (not destroyed) when
//! closed, so the app lives on in the menu bar.

use tauri::{AppHandle, Manager, Runtime, WebviewUrl, WebviewWindowBuilder, Window, WindowEvent};

pub const SETTINGS: &str = "settings";

pub fn show_settings<R: Runtime>(app: &AppHandle<R>) {
    let window = match app.get_webview_window(SETTINGS) {
        Some(window) => window,
        None => {
            match WebviewWindowBuilder::new(app, SETTINGS, WebviewUrl::App("index.html".into()))
                .title("BuilderBar")
                .inner_size(760.0, 600.0)
                .min_inner_size(640.0, 480.0)
                .build()
            {
                Ok(window) => window,
                Err(err) => {
                    tracing::error!("could not open the settings window: {err}");
                    return;
                }
            }
        }
    };
    let _ = window.show();
    let _ = window.unminimize();
    let _ = window.set_focus();
}

pub fn on_event<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event {
        api.prevent_close();
        let _ = window.hide();
    }
}
