//! "Install Command-Line Tool…" for the window and the menu: each one call
//! into the core.

use tauri::{AppHandle, Runtime, State};

use builderbar::actions;
use builderbar::cli_tool::CliToolError;

use crate::AppState;
use crate::ipc::{CliToolView, UiError};
use builderbar::hint::Hint;

fn ui_error(err: CliToolError) -> UiError {
    UiError {
        hint: err.hint(),
        message: err.to_string(),
        problems: Vec::new(),
    }
}

/// Where `builderbar` is linked on the PATH, or would be.
#[tauri::command]
pub fn cli_tool(state: State<'_, AppState>) -> Result<CliToolView, UiError> {
    actions::cli_tool_status(&state.paths, None)
        .map(|tool| CliToolView::from_core(&tool))
        .map_err(ui_error)
}

/// Makes the link (the administrator prompt appears only if the folder
/// needs it); async, so the window stays live while the prompt is up.
#[tauri::command]
pub async fn install_cli_tool<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<CliToolView, UiError> {
    let tool = actions::install_cli_tool(&state.paths, None).map_err(ui_error)?;
    crate::tray::refresh(&app);
    Ok(CliToolView::from_core(&tool))
}

#[tauri::command]
pub async fn uninstall_cli_tool<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<CliToolView, UiError> {
    actions::uninstall_cli_tool(&state.paths).map_err(ui_error)?;
    crate::tray::refresh(&app);
    cli_tool(state)
}

/// The menu's item: installs, then says where (or why not) in a
/// notification, since the menu has no room for an answer.
pub fn install_from_menu(paths: &builderbar::paths::Paths) {
    use builderbar::notify::Notifier;
    let (title, body) = match actions::install_cli_tool(paths, None) {
        Ok(tool) => (
            "Command-line tool installed".to_owned(),
            format!(
                "`builderbar` now runs from {}. Open a new Terminal window to use it.",
                tool.link.display()
            ),
        ),
        Err(err) => (
            "Command-line tool not installed".to_owned(),
            match err.hint() {
                Some(hint) => format!("{err}. {hint}"),
                None => err.to_string(),
            },
        ),
    };
    tracing::info!("{title}: {body}");
    let mut notifier = builderbar::notify::DesktopNotifier::new();
    if let Err(err) = notifier.show("cli-tool", &title, &body) {
        tracing::warn!("could not tell the command-line tool's result: {err}");
    }
}
