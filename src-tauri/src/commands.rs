//! The window's commands. Each is one call into the core, converted at the
//! edge into the IPC types of `ipc.rs`.

use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};

use builderbar::actions;
use builderbar::keys::Keys;
use builderbar::settings::SettingsStore;

use crate::AppState;
use crate::ipc::{
    ApplyPlan, ApplyProgress, BuilderStatus, DoctorCheck, DoctorReport, FieldProblem, KeyEntry,
    KeysView, PlannedChange, SettingsForm, SettingsView, UiError,
};
use builderbar::hint::Hint;

type Result<T> = std::result::Result<T, UiError>;

fn ui_error(err: impl std::fmt::Display) -> UiError {
    UiError::new(err.to_string())
}

#[tauri::command]
pub fn status<R: Runtime>(app: AppHandle<R>) -> Result<BuilderStatus> {
    crate::state::publish(&app).map_err(ui_error)
}

#[tauri::command]
pub async fn start<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<BuilderStatus> {
    actions::start(&state.paths).map_err(ui_error)?;
    crate::tray::refresh(&app);
    crate::state::publish(&app).map_err(ui_error)
}

#[tauri::command]
pub async fn stop<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<BuilderStatus> {
    actions::stop(&state.paths).map_err(ui_error)?;
    crate::tray::refresh(&app);
    crate::state::publish(&app).map_err(ui_error)
}

#[tauri::command]
pub async fn restart<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<BuilderStatus> {
    actions::restart(&state.paths).map_err(ui_error)?;
    crate::tray::refresh(&app);
    crate::state::publish(&app).map_err(ui_error)
}

#[tauri::command]
pub fn settings(state: State<'_, AppState>) -> Result<SettingsView> {
    let store = SettingsStore::open(&state.paths).map_err(ui_error)?;
    let loaded = store.load().map_err(ui_error)?;
    Ok(SettingsView {
        form: SettingsForm::from_settings(&loaded.settings),
        host_cpus: store.host().cpus,
        host_memory_mib: u32::try_from(store.host().memory_mib()).unwrap_or(u32::MAX),
    })
}

/// Checks a form as the user types, with the core's own validation; saves
/// nothing.
#[tauri::command]
pub fn plan_settings(
    state: State<'_, AppState>,
    form: SettingsForm,
    loaded: SettingsForm,
) -> Result<ApplyPlan> {
    let (changes, problems) =
        actions::plan_settings(&state.paths, |s| *s = form.apply_to(&loaded, s))
            .map_err(ui_error)?;
    Ok(ApplyPlan {
        needs_restart: changes.iter().any(|c| c.needs_restart),
        needs_admin: changes.iter().any(|c| c.needs_admin),
        changes: changes
            .into_iter()
            .map(|c| PlannedChange {
                field: c.field,
                label: c.label,
                from: c.from,
                to: c.to,
                needs_restart: c.needs_restart,
                needs_admin: c.needs_admin,
            })
            .collect(),
        problems: problems.into_iter().map(FieldProblem::from).collect(),
    })
}

/// Saves the form and restarts the builder when a change needs it,
/// reporting each step over `on_progress`.
#[tauri::command]
pub async fn apply_settings<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    form: SettingsForm,
    loaded: SettingsForm,
    on_progress: Channel<ApplyProgress>,
) -> Result<SettingsView> {
    let applied = actions::apply_settings(
        &state.paths,
        |s| {
            *s = form.apply_to(&loaded, s);
            Ok(())
        },
        |step| {
            let _ = on_progress.send(ApplyProgress {
                step: step.words().to_string(),
                done: step == actions::ApplyStep::Done,
            });
        },
    );
    match applied {
        Ok(_) => {
            state.settings_changed.notify_waiters();
            // The saved value, not the form's copy: the same as `settings
            // set start-at-login` leaves for the next app start.
            let view = settings(state)?;
            crate::autostart::follow_setting(&app, view.form.start_at_login);
            crate::tray::refresh(&app);
            Ok(view)
        }
        Err(builderbar::actions::ApplyError::Settings(err)) => Err(UiError {
            message: err.to_string(),
            hint: err.hint(),
            problems: err
                .problems()
                .iter()
                .cloned()
                .map(FieldProblem::from)
                .collect(),
        }),
        Err(err) => Err(ui_error(err)),
    }
}

fn keys_view(keys: &Keys) -> Result<KeysView> {
    let builder = keys.builder_public_cached().map_err(ui_error)?;
    let authorized = keys.list_authorized().map_err(ui_error)?;
    Ok(KeysView {
        builder_public: builder.as_ref().map(|k| k.openssh.clone()),
        builder_fingerprint: builder.map(|k| k.fingerprint),
        authorized: authorized
            .into_iter()
            .map(|k| KeyEntry {
                algorithm: k.algorithm,
                fingerprint: k.fingerprint,
                comment: k.comment,
            })
            .collect(),
    })
}

fn keys_error(err: builderbar::keys::KeysError) -> UiError {
    UiError {
        hint: err.hint(),
        message: err.to_string(),
        problems: Vec::new(),
    }
}

#[tauri::command]
pub fn keys(state: State<'_, AppState>) -> Result<KeysView> {
    keys_view(&state.keys()?)
}

#[tauri::command]
pub fn add_key(state: State<'_, AppState>, text: String) -> Result<KeysView> {
    let keys = state.keys()?;
    keys.add_authorized(&text).map_err(keys_error)?;
    keys_view(&keys)
}

#[tauri::command]
pub fn remove_key(state: State<'_, AppState>, fingerprint: String) -> Result<KeysView> {
    let keys = state.keys()?;
    keys.remove_authorized(&fingerprint).map_err(keys_error)?;
    keys_view(&keys)
}

/// Makes the builder key on first use, or replaces it.
#[tauri::command]
pub fn rotate_key(state: State<'_, AppState>) -> Result<KeysView> {
    let keys = state.keys()?;
    if keys.builder_public_cached().map_err(keys_error)?.is_some() {
        keys.rotate().map_err(keys_error)?;
    } else {
        keys.builder_public().map_err(keys_error)?;
    }
    // The monitor logs in with the builder key: start it over.
    state.settings_changed.notify_waiters();
    keys_view(&keys)
}

#[tauri::command]
pub fn open_logs(state: State<'_, AppState>) -> Result<()> {
    crate::tray::open_path(&builderbar::vm::config::vm_paths(&state.paths).log_file)
        .map_err(ui_error)
}

/// The doctor's checks, each with its fix, and the report as text.
#[tauri::command]
pub async fn doctor(state: State<'_, AppState>) -> Result<DoctorReport> {
    let (checks, text) = actions::doctor(&state.paths).map_err(ui_error)?;
    Ok(DoctorReport {
        checks: checks
            .into_iter()
            .map(|c| DoctorCheck {
                name: c.name.to_string(),
                status: c.status,
                detail: c.detail,
                fix: c.fix,
            })
            .collect(),
        text,
    })
}

/// Copies text to the clipboard (the doctor's report, the public key).
#[tauri::command]
pub fn copy_text<R: Runtime>(app: AppHandle<R>, text: String) -> Result<()> {
    use tauri_plugin_clipboard_manager::ClipboardExt;
    app.clipboard().write_text(text).map_err(ui_error)
}

/// Stops and removes the builder's service and restores Nix's files.
#[tauri::command]
pub async fn uninstall<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<String> {
    let outcome = actions::uninstall(&state.paths).map_err(|err| UiError {
        hint: err.hint(),
        message: err.to_string(),
        problems: Vec::new(),
    })?;
    crate::tray::refresh(&app);
    Ok(match outcome {
        Some(outcome) if !outcome.changed.is_empty() => format!(
            "The builder is removed, and {} of the files BuilderBar changed (Nix's, the command-line tool's link) put back as they were.",
            outcome.changed.len()
        ),
        _ => "The builder is removed. Nix's files were not wired, so nothing else changed.".into(),
    })
}
