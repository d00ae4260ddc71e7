//! The menu-bar icon and its menu. The icon tells the state at a glance
//! (template images on macOS); the menu's first line says it in words.

use tauri::image::Image;
use tauri::menu::{Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_clipboard_manager::ClipboardExt;

use crate::AppState;
use crate::ipc::BuilderStatus;

pub const TRAY_ID: &str = "builderbar";
const TEST_BUILD: &str = "Run Test Build";

/// The menu items whose text follows the state.
struct Items<R: Runtime> {
    state: MenuItem<R>,
    toggle: MenuItem<R>,
    restart: MenuItem<R>,
    /// Its text carries the last result.
    test_build: MenuItem<R>,
    /// Disabled once the link is in place.
    cli_tool: MenuItem<R>,
    /// Enabled while there is a previous generation to go back to.
    roll_back: MenuItem<R>,
}

const INSTALL_CLI_TOOL: &str = "Install Command-Line Tool…";
const ROLL_BACK: &str = "Roll Back Builder";

pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let items = Items {
        state: MenuItem::with_id(app, "state", "Stopped", false, None::<&str>)?,
        toggle: MenuItem::with_id(app, "toggle", "Start", true, None::<&str>)?,
        restart: MenuItem::with_id(app, "restart", "Restart", false, None::<&str>)?,
        test_build: MenuItem::with_id(app, "test-build", TEST_BUILD, true, None::<&str>)?,
        cli_tool: MenuItem::with_id(app, "cli-tool", INSTALL_CLI_TOOL, true, None::<&str>)?,
        roll_back: MenuItem::with_id(app, "roll-back", ROLL_BACK, false, None::<&str>)?,
    };
    let menu = Menu::with_items(
        app,
        &[
            &items.state,
            &PredefinedMenuItem::separator(app)?,
            &items.toggle,
            &items.restart,
            &items.test_build,
            &MenuItem::with_id(app, "update", "Update Builder…", true, None::<&str>)?,
            &items.roll_back,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, "setup", "Set Up…", true, None::<&str>)?,
            &MenuItem::with_id(app, "settings", "Settings…", true, None::<&str>)?,
            &MenuItem::with_id(app, "logs", "Open Logs", true, None::<&str>)?,
            &MenuItem::with_id(app, "copy-ssh", "Copy SSH Command", true, None::<&str>)?,
            &MenuItem::with_id(app, "copy-docker", "Copy DOCKER_HOST", true, None::<&str>)?,
            &items.cli_tool,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(
                app,
                "quit",
                "Quit BuilderBar (the builder keeps running)",
                true,
                None::<&str>,
            )?,
        ],
    )?;
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon("stopped"))
        .icon_as_template(true)
        .tooltip("BuilderBar")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(on_menu_event)
        .build(app)?;
    app.manage(items);
    refresh(app);
    Ok(())
}

/// Re-reads the state and shows it.
pub fn refresh<R: Runtime>(app: &AppHandle<R>) {
    let state = app.state::<AppState>();
    // Shown even when unchanged: the tray may be new.
    if let Ok(status) = crate::state::publish(app) {
        show(app, &status);
    }
    if let (Some(items), Ok(tool)) = (
        app.try_state::<Items<R>>(),
        builderbar::actions::cli_tool_status(&state.paths, None),
    ) {
        let text = if tool.installed {
            "Command-Line Tool Installed"
        } else {
            INSTALL_CLI_TOOL
        };
        let _ = items.cli_tool.set_text(text);
        let _ = items.cli_tool.set_enabled(!tool.installed);
    }
    if let (Some(items), Ok(runner)) = (
        app.try_state::<Items<R>>(),
        crate::runner::view(&state.paths),
    ) {
        let _ = items.roll_back.set_enabled(runner.can_roll_back);
    }
}

pub fn show<R: Runtime>(app: &AppHandle<R>, status: &BuilderStatus) {
    if let Some(items) = app.try_state::<Items<R>>() {
        let _ = items.state.set_text(&status.summary);
        let up = status.state.is_up();
        let _ = items.toggle.set_text(if up { "Stop" } else { "Start" });
        let _ = items.toggle.set_enabled(status.state.can_toggle());
        let _ = items.restart.set_enabled(up);
    }
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let _ = tray.set_icon(Some(icon(status.state.icon())));
        let _ = tray.set_icon_as_template(true);
        let _ = tray.set_tooltip(Some(format!("BuilderBar — {}", status.summary)));
    }
}

fn icon(state: &str) -> Image<'static> {
    let bytes: &'static [u8] = match state {
        "ready" => include_bytes!("../../icons/tray/ready@2x.png"),
        "sleeping" => include_bytes!("../../icons/tray/sleeping@2x.png"),
        "starting" => include_bytes!("../../icons/tray/starting@2x.png"),
        "degraded" => include_bytes!("../../icons/tray/degraded@2x.png"),
        "failed" => include_bytes!("../../icons/tray/failed@2x.png"),
        _ => include_bytes!("../../icons/tray/stopped@2x.png"),
    };
    // The PNGs are ours and valid; a broken one shows an empty icon.
    Image::from_bytes(bytes).unwrap_or_else(|_| Image::new_owned(vec![0; 4], 1, 1))
}

fn on_menu_event<R: Runtime>(app: &AppHandle<R>, event: MenuEvent) {
    let app = app.clone();
    let id = event.id().as_ref().to_string();
    // Start and stop wait for the VM; keep the menu responsive.
    std::thread::spawn(move || {
        let state = app.state::<AppState>();
        let paths = state.paths.clone();
        let result: Result<(), String> = match id.as_str() {
            "toggle" => {
                let running = state.last_status().is_some_and(|s| s.state.is_up());
                if running {
                    builderbar::actions::stop(&paths).map_err(|e| e.to_string())
                } else {
                    builderbar::actions::start(&paths).map_err(|e| e.to_string())
                }
            }
            "restart" => builderbar::actions::restart(&paths).map_err(|e| e.to_string()),
            "test-build" => {
                test_build(&app, &paths);
                Ok(())
            }
            "setup" => {
                crate::window::show_setup(&app);
                Ok(())
            }
            // The update shows its steps and asks nothing more: the
            // window's Advanced section has it, with its progress.
            "update" => {
                crate::window::show_settings_at(&app, "advanced");
                Ok(())
            }
            "roll-back" => {
                if let Some(items) = app.try_state::<Items<R>>() {
                    let _ = items.roll_back.set_text("Rolling Back…");
                    let _ = items.roll_back.set_enabled(false);
                }
                crate::runner::roll_back_from_menu(&app);
                if let Some(items) = app.try_state::<Items<R>>() {
                    let _ = items.roll_back.set_text(ROLL_BACK);
                }
                Ok(())
            }
            "settings" => {
                crate::window::show_settings(&app);
                Ok(())
            }
            "logs" => open_path(&builderbar::vm::config::vm_paths(&paths).log_file)
                .map_err(|e| e.to_string()),
            "copy-ssh" => copy(&app, format!("ssh -p {} builder@127.0.0.1", port(&state))),
            "copy-docker" => copy(&app, format!("ssh://builder@127.0.0.1:{}", port(&state))),
            "cli-tool" => {
                crate::cli_tool::install_from_menu(&paths);
                Ok(())
            }
            "quit" => {
                app.exit(0);
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(err) = result {
            tracing::error!("{id}: {err}");
        }
        refresh(&app);
    });
}

/// Runs the test build (on the menu's own thread, never the main one) and
/// tells the result: in the item's text and as a notification, which says
/// what failed and what to do.
fn test_build<R: Runtime>(app: &AppHandle<R>, paths: &builderbar::paths::Paths) {
    use builderbar::notify::Notifier;
    let item = app
        .try_state::<Items<R>>()
        .map(|items| items.test_build.clone());
    if let Some(item) = &item {
        let _ = item.set_text("Test Build Running…");
        let _ = item.set_enabled(false);
    }
    let sysroot = builderbar::setup::sysroot_from_env();
    let (text, title, body) = match builderbar::actions::test_build(paths, sysroot.as_deref()) {
        Ok(report) => (
            format!(
                "{TEST_BUILD} — last passed ({:.1} s)",
                report.elapsed.as_secs_f64()
            ),
            "Test build passed".to_owned(),
            format!(
                "The builder built {} for {}.",
                report.output.display(),
                report.system
            ),
        ),
        Err(err) => (
            format!("{TEST_BUILD} — last failed"),
            "Test build failed".to_owned(),
            err.to_string(),
        ),
    };
    tracing::info!("{title}: {body}");
    if let Some(item) = &item {
        let _ = item.set_text(&text);
        let _ = item.set_enabled(true);
    }
    let mut notifier = builderbar::notify::DesktopNotifier::new();
    if let Err(err) = notifier.show("test-build", &title, &body) {
        tracing::warn!("could not show the test build's result: {err}");
    }
}

fn port(state: &AppState) -> u16 {
    state
        .last_status()
        .map(|s| s.port)
        .unwrap_or(builderbar::settings::model::DEFAULT_SSH_PORT)
}

fn copy<R: Runtime>(app: &AppHandle<R>, text: String) -> Result<(), String> {
    app.clipboard().write_text(text).map_err(|e| e.to_string())
}

/// Opens a file with the desktop's default viewer (Console on macOS).
pub fn open_path(path: &std::path::Path) -> std::io::Result<()> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(path)
        .spawn()
        .map(drop)
}
