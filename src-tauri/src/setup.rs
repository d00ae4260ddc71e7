//! The first-run window's commands: the check and plan, and the run with
//! its progress over a Channel. Each is one call into the core
//! (`actions::setup_check`, `actions::setup_run`), converted here.

use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};

use builderbar::actions;
use builderbar::setup::{self, Event, SetupFailure, SetupOptions, StepId};

use crate::AppState;
use crate::ipc::{
    SetupCheckItem, SetupEvent, SetupEventKind, SetupFailureView, SetupFile, SetupOutcome,
    SetupStep, SetupView, UiError,
};
use builderbar::hint::Hint;

fn step_id(step: StepId) -> String {
    serde_json::to_value(step)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What is there and what setup would do; changes nothing. Async: it runs
/// programs (launchctl, sw_vers) that must not hold up the main thread.
#[tauri::command]
pub async fn setup_check(state: State<'_, AppState>) -> Result<SetupView, UiError> {
    let sysroot = setup::sysroot_from_env();
    let (found, plan) =
        actions::setup_check(&state.paths, sysroot.as_deref()).map_err(|e| UiError {
            hint: e.hint(),
            message: e.to_string(),
            problems: Vec::new(),
        })?;
    let plan_text = plan.to_text();
    let download = plan_text
        .lines()
        .find_map(|l| l.strip_prefix("Download: "))
        .unwrap_or("nothing.")
        .trim_end_matches('.')
        .to_owned();
    Ok(SetupView {
        blocked: found.blocker().is_some(),
        already_set_up: found.installed.complete(),
        items: found
            .items
            .iter()
            .map(|i| SetupCheckItem {
                name: i.name.to_owned(),
                status: i.status,
                detail: i.detail.clone(),
                fix: i.fix.clone(),
            })
            .collect(),
        download,
        admin_prompts: plan.admin_prompts,
        plan_steps: plan.steps,
        files: plan
            .files
            .into_iter()
            .map(|f| SetupFile {
                path: f.path.display().to_string(),
                what: f.what,
                as_root: f.as_root,
            })
            .collect(),
        steps: StepId::ALL
            .iter()
            .map(|s| SetupStep {
                id: step_id(*s),
                title: s.title().to_owned(),
            })
            .collect(),
    })
}

fn event_view(event: Event) -> SetupEvent {
    let blank = |kind: SetupEventKind| SetupEvent {
        kind,
        step: None,
        detail: String::new(),
        skipped: false,
        done: 0,
        total: 0,
    };
    match event {
        Event::StepStarted { step } => SetupEvent {
            step: Some(step_id(step)),
            detail: step.title().to_owned(),
            ..blank(SetupEventKind::StepStarted)
        },
        Event::StepDone {
            step,
            detail,
            skipped,
        } => SetupEvent {
            step: Some(step_id(step)),
            detail,
            skipped,
            ..blank(SetupEventKind::StepDone)
        },
        Event::Download { done, total } => SetupEvent {
            step: Some(step_id(StepId::Runner)),
            done,
            total,
            ..blank(SetupEventKind::Download)
        },
        Event::Waiting {
            state,
            elapsed_secs,
            timeout_secs,
        } => SetupEvent {
            step: Some(step_id(StepId::Ready)),
            detail: state,
            done: elapsed_secs,
            total: timeout_secs,
            ..blank(SetupEventKind::Waiting)
        },
        Event::RollingBack { what } => SetupEvent {
            detail: what,
            ..blank(SetupEventKind::RollingBack)
        },
    }
}

fn failure_view(f: SetupFailure) -> SetupFailureView {
    SetupFailureView {
        step: step_id(f.step),
        step_title: f.step.title().to_owned(),
        message: f.message,
        fix: f.fix,
        doctor_check: f.doctor_check.map(str::to_owned),
        rolled_back: f.rolled_back,
        left_behind: f.left_behind,
    }
}

/// Runs setup off the async runtime (it waits for the VM and runs its own
/// small runtime for the health monitor), sending each event to the window.
#[tauri::command]
pub async fn setup_run<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    on_progress: Channel<SetupEvent>,
) -> Result<SetupOutcome, UiError> {
    let paths = state.paths.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let options = SetupOptions::default();
        let result = actions::setup_run(&paths, &options, &mut |event| {
            let _ = on_progress.send(event_view(event));
        });
        let _ = tx.send(result);
    });
    let result = rx
        .await
        .map_err(|_| UiError::new("setup stopped unexpectedly; run it again"))?;
    // The builder key and the service may be new: the monitor starts over.
    state.settings_changed.notify_waiters();
    crate::tray::refresh(&app);
    Ok(match result {
        Ok(done) => SetupOutcome {
            headline: done.headline,
            try_command: done.try_command,
            failure: None,
        },
        Err(failure) => SetupOutcome {
            headline: String::new(),
            try_command: String::new(),
            failure: Some(failure_view(failure)),
        },
    })
}
