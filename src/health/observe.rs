//! The monitor, the build watcher and the notification policy run together:
//! what `builderbar monitor` and the app run. Every observation goes to the
//! caller; every notification the policy decides goes to the notifier.

use std::sync::mpsc::Sender;
use std::time::Instant;

use crate::builds::{self, BuildReport};
use crate::health::{self, Health, MonitorConfig, MonitorError};
use crate::notify::{Action, Event, Policy};
use crate::settings::Settings;

/// One thing observed, in the order it happened.
#[derive(Debug, Clone)]
pub enum Observation {
    Health(Health),
    Build(BuildReport),
    Notification(Action),
}

#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Monitor(#[from] MonitorError),
    #[error("the health monitor stopped")]
    MonitorStopped,
    #[error("the notifications stopped")]
    NotifierStopped,
}

/// Runs until the monitor stops; call from within a tokio runtime.
pub async fn observe(
    config: MonitorConfig,
    settings: &Settings,
    watch_builds: bool,
    notifier: Sender<Action>,
    mut on: impl FnMut(Observation),
) -> Result<(), ObserveError> {
    let mut policy = Policy::new(settings.notifications.clone());
    let mut states = health::spawn(config)?;
    let mut builds = watch_builds
        .then(|| builds::spawn(builds::WatchConfig::for_host(settings.systems.clone())));
    let mut handle = |event: Event, on: &mut dyn FnMut(Observation)| -> Result<(), ObserveError> {
        for action in policy.on_event(&event, Instant::now()) {
            on(Observation::Notification(action.clone()));
            notifier
                .send(action)
                .map_err(|_| ObserveError::NotifierStopped)?;
        }
        Ok(())
    };
    let first = states.borrow_and_update().clone();
    on(Observation::Health(first.clone()));
    handle(Event::Health(first), &mut on)?;
    loop {
        tokio::select! {
            changed = states.changed() => {
                changed.map_err(|_| ObserveError::MonitorStopped)?;
                let health = states.borrow_and_update().clone();
                on(Observation::Health(health.clone()));
                handle(Event::Health(health), &mut on)?;
            }
            report = async {
                match builds.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                let Some(report) = report else {
                    builds = None;
                    continue;
                };
                on(Observation::Build(report.clone()));
                handle(Event::Build(report), &mut on)?;
            }
        }
    }
}
