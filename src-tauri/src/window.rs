//! The settings window and the first-run (setup) window: each made when
//! asked for and destroyed when closed — a hidden webview would keep its web
//! process (tens of MB) alive for nothing. The app lives on in the menu bar
//! (`run` keeps it when the last window closes).

use tauri::{AppHandle, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};

pub const SETTINGS: &str = "settings";
pub const SETUP: &str = "setup";

pub fn show_settings<R: Runtime>(app: &AppHandle<R>) {
    show(app, SETTINGS, "index.html", "BuilderBar");
}

/// The settings window at one of its sections (`advanced`): a new window
/// opens there, an open one is turned to it.
pub fn show_settings_at<R: Runtime>(app: &AppHandle<R>, section: &str) {
    let fresh = app.get_webview_window(SETTINGS).is_none();
    show(
        app,
        SETTINGS,
        &format!("index.html#{section}"),
        "BuilderBar",
    );
    if !fresh && let Some(window) = app.get_webview_window(SETTINGS) {
        // The section name is ours (a constant), never the user's.
        let _ = window.eval(format!("location.hash = {section:?}"));
    }
}

/// The first-run window: the check, the plan, the run, its outcome.
pub fn show_setup<R: Runtime>(app: &AppHandle<R>) {
    show(app, SETUP, "setup.html", "Set Up BuilderBar");
}

fn show<R: Runtime>(app: &AppHandle<R>, label: &str, page: &str, title: &str) {
    let window = match app.get_webview_window(label) {
        Some(window) => window,
        None => {
            match WebviewWindowBuilder::new(app, label, WebviewUrl::App(page.into()))
                .title(title)
                .inner_size(760.0, 600.0)
                .min_inner_size(640.0, 480.0)
                .build()
            {
                Ok(window) => window,
                Err(err) => {
                    tracing::error!("could not open the {label} window: {err}");
                    return;
                }
            }
        }
    };
    let _ = window.show();
    let _ = window.unminimize();
    let _ = window.set_focus();
}
