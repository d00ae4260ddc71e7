//! The builder's runner generations in the app: the list Settings ›
//! Advanced shows, Update Builder and Roll Back (window and menu). Each is
//! one call into the core; the progress lines are the core's own words
//! (`generations::progress`), the same the CLI prints.

use serde::Serialize;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime, State};
use ts_rs::TS;

use builderbar::generations::progress::Narrator;
use builderbar::generations::switch::SwitchOptions;
use builderbar::generations::update::UpdateRequest;
use builderbar::generations::{Generation, GenerationState};
use builderbar::paths::Paths;

use crate::AppState;
use crate::ipc::UiError;

/// A runner generation as Settings › Advanced lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export, export_to = "../../ui/src/bindings/")]
pub struct GenerationRow {
    pub number: u32,
    /// `current`, `previous`, `built` (not tried yet) or `failed`.
    pub state: String,
    pub built_from: String,
    /// RFC 3339.
    pub made_at: String,
    /// Why it failed.
    pub reason: Option<String>,
}

/// The generations, newest first, whether there is one to go back to, and
/// the builder configuration file kept (its digest's first characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export, export_to = "../../ui/src/bindings/")]
pub struct RunnerView {
    pub generations: Vec<GenerationRow>,
    pub can_roll_back: bool,
    pub module: Option<String>,
}

/// One line of an update's or a rollback's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export, export_to = "../../ui/src/bindings/")]
pub struct RunnerProgress {
    pub line: String,
}

type Result<T> = std::result::Result<T, UiError>;

fn ui_error(err: impl std::fmt::Display) -> UiError {
    UiError::new(err.to_string())
}

pub fn view(paths: &Paths) -> Result<RunnerView> {
    let generations = builderbar::actions::runner_generations(paths).map_err(ui_error)?;
    Ok(RunnerView {
        module: builderbar::nix::module::current(paths)
            .map(|m| m.sha256.chars().take(12).collect()),
        can_roll_back: generations
            .iter()
            .any(|g| g.state == GenerationState::Previous),
        generations: generations.iter().rev().map(row).collect(),
    })
}

fn row(generation: &Generation) -> GenerationRow {
    let (state, reason) = match &generation.state {
        GenerationState::Current => ("current", None),
        GenerationState::Previous => ("previous", None),
        GenerationState::Built => ("built", None),
        GenerationState::Failed { reason, .. } => ("failed", Some(reason.clone())),
    };
    GenerationRow {
        number: generation.number,
        state: state.into(),
        built_from: generation.built_from.clone(),
        made_at: generation.made_at_text(),
        reason,
    }
}

#[tauri::command]
pub fn runner_view(state: State<'_, AppState>) -> Result<RunnerView> {
    view(&state.paths)
}

/// Update Builder: the newest cached nixpkgs (or `nixpkgs`), built on the
/// builder, switched to and proved by a test build. Returns what happened.
#[tauri::command]
pub async fn runner_update<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    nixpkgs: Option<String>,
    on_progress: Channel<RunnerProgress>,
) -> Result<String> {
    let request = UpdateRequest {
        nixpkgs: nixpkgs
            .filter(|text| !text.trim().is_empty())
            .map(|text| builderbar::nix::expr::Pin::parse(text.trim()))
            .transpose()
            .map_err(ui_error)?,
        ..UpdateRequest::default()
    };
    let mut narrator = Narrator::default();
    let updated = builderbar::actions::runner_update(&state.paths, &request, &mut |event| {
        send(&on_progress, narrator.update(&event))
    });
    crate::tray::refresh(&app);
    let updated = updated.map_err(ui_error)?;
    let already = format!("The builder already runs {}", updated.pin.url());
    Ok(outcome(&updated, &already))
}

/// "Builder Configuration File…": the file the window read (`name`,
/// `text`) checked by Nix and kept, or (`text` null) the one kept
/// forgotten; then applied like an update with the settings' nixpkgs.
#[tauri::command]
pub async fn runner_module<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    name: String,
    text: Option<String>,
    on_progress: Channel<RunnerProgress>,
) -> Result<String> {
    use builderbar::generations::update::ModuleChange;
    let change = match text {
        Some(text) => ModuleChange::SetText { name, text },
        None => ModuleChange::Clear,
    };
    let mut narrator = Narrator::default();
    let changed = builderbar::actions::runner_module_change(
        &state.paths,
        &change,
        &SwitchOptions::default(),
        &mut |event| send(&on_progress, narrator.update(&event)),
    );
    crate::tray::refresh(&app);
    let updated = changed.map_err(ui_error)?;
    Ok(outcome(
        &updated,
        "The builder already runs this configuration",
    ))
}

/// What an update or a module change did, in a sentence; `already` says
/// it when nothing needed switching.
fn outcome(updated: &builderbar::generations::update::Updated, already: &str) -> String {
    match &updated.switched {
        None => format!("{already} (generation {}).", updated.generation.number),
        Some(switched) => format!(
            "The builder runs generation {} ({}), Ready after {} s, and the test build passed.",
            updated.generation.number,
            updated.generation.built_from,
            switched.ready_after.as_secs()
        ),
    }
}

/// Roll Back: the generation before, started and proved Ready.
#[tauri::command]
pub async fn runner_roll_back<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    on_progress: Channel<RunnerProgress>,
) -> Result<String> {
    let back = roll_back(&state.paths, &mut |lines| send(&on_progress, lines));
    crate::tray::refresh(&app);
    back.map_err(ui_error)
}

/// The rollback, its lines to `tell`; what happened in words.
pub fn roll_back(
    paths: &Paths,
    tell: &mut dyn FnMut(Vec<String>),
) -> std::result::Result<String, builderbar::generations::switch::SwitchError> {
    let mut narrator = Narrator::default();
    let switched =
        builderbar::actions::runner_roll_back(paths, &SwitchOptions::default(), &mut |event| {
            tell(narrator.switch(&event))
        })?;
    Ok(format!(
        "The builder runs generation {} ({}) again, Ready after {} s.",
        switched.generation.number,
        switched.generation.built_from,
        switched.ready_after.as_secs()
    ))
}

fn send(channel: &Channel<RunnerProgress>, lines: Vec<String>) {
    for line in lines {
        let _ = channel.send(RunnerProgress { line });
    }
}

/// Roll Back from the menu (on the menu's own thread): the result as a
/// notification.
pub fn roll_back_from_menu<R: Runtime>(app: &AppHandle<R>) {
    use builderbar::notify::Notifier;
    let paths = app.state::<AppState>().paths.clone();
    let (title, body) = match roll_back(&paths, &mut |_| {}) {
        Ok(said) => ("Builder rolled back", said),
        Err(err) => ("Roll back failed", err.to_string()),
    };
    tracing::info!("{title}: {body}");
    let mut notifier = builderbar::notify::DesktopNotifier::new();
    if let Err(err) = notifier.show("runner-rollback", title, &body) {
        tracing::warn!("could not show the rollback's result: {err}");
    }
}
