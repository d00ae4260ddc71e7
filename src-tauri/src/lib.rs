//! BuilderBar's menu-bar app: the tray, the settings window, and the glue
//! between them and the core. Nothing here decides anything: every action is
//! one call into `builderbar` (the core library).

mod autostart;
mod cli_tool;
mod commands;
pub mod ipc;
mod runner;
#[cfg(test)]
mod setting_labels;
mod setup;
mod state;
mod tray;
mod window;

use tauri::{Manager, Runtime};

pub use state::AppState;

/// The runtime-independent part of the app: state and commands. The mock
/// runtime of the tests builds exactly this.
pub fn with_commands<R: Runtime>(builder: tauri::Builder<R>, state: AppState) -> tauri::Builder<R> {
    builder
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::status,
            commands::start,
            commands::stop,
            commands::restart,
            commands::settings,
            commands::plan_settings,
            commands::apply_settings,
            commands::keys,
            commands::add_key,
            commands::remove_key,
            commands::rotate_key,
            commands::open_logs,
            commands::doctor,
            commands::copy_text,
            commands::uninstall,
            cli_tool::cli_tool,
            cli_tool::install_cli_tool,
            cli_tool::uninstall_cli_tool,
            runner::runner_view,
            runner::runner_update,
            runner::runner_roll_back,
            runner::runner_module,
            setup::setup_check,
            setup::setup_run,
        ])
}

/// Runs the app until the user quits. Quitting never stops the builder.
pub fn run() {
    // What the packaged app would install the service from: lets a
    // packaging check prove the bundle's wiring without a display.
    if std::env::args().any(|arg| arg == "--print-cli") {
        match builderbar::service::bundled_cli() {
            Ok(path) => println!("{}", path.display()),
            Err(err) => {
                eprintln!("{err}");
                std::process::exit(1);
            }
        }
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BUILDERBAR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let state = match AppState::from_env() {
        Ok(state) => state,
        Err(err) => {
            eprintln!("BuilderBar cannot start: {err}");
            std::process::exit(1);
        }
    };
    let builder = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            window::show_settings(app);
        }))
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .plugin(tauri_plugin_clipboard_manager::init());
    let app = with_commands(builder, state)
        .setup(|app| {
            // A menu-bar utility: no Dock icon, no app menu.
            #[cfg(target_os = "macos")]
            app.set_activation_policy(tauri::ActivationPolicy::Accessory);
            tray::create(app.handle())?;
            state::watch(app.handle().clone());
            // First run: the setup window — unless a window was asked for
            // by name (`--show-settings`), which wins.
            if std::env::args().any(|arg| arg == "--show-settings") {
                window::show_settings(app.handle());
            } else if std::env::args().any(|arg| arg == "--show-setup")
                || !builderbar::actions::is_set_up(&app.state::<AppState>().paths)
            {
                window::show_setup(app.handle());
            }
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(err) => {
            eprintln!("BuilderBar cannot start: {err}");
            std::process::exit(1);
        }
    };
    app.run(|_handle, event| {
        // Closing the last window keeps the app in the menu bar; only Quit
        // (an explicit exit code) ends it.
        if let tauri::RunEvent::ExitRequested {
            code: None, api, ..
        } = event
        {
            api.prevent_exit();
        }
    });
}
