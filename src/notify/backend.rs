//! Showing notifications: notify-rust behind a small trait, so the policy's
//! actions can be played on the desktop (D-Bus on Linux, the notification
//! center on macOS) or recorded in tests.

use std::collections::HashMap;

use super::policy::Action;

/// The app's bundle identifier: macOS attributes notifications to it.
pub const BUNDLE_ID: &str = launchd::APP_BUNDLE_ID;
/// The application name shown with each notification.
pub const APP_NAME: &str = "BuilderBar";

#[derive(Debug, thiserror::Error)]
#[error("could not show a notification: {0}; check that a notification service runs")]
pub struct NotifyError(String);

pub trait Notifier {
    fn show(&mut self, id: &str, title: &str, body: &str) -> Result<(), NotifyError>;
    fn withdraw(&mut self, id: &str) -> Result<(), NotifyError>;

    /// Plays one of the policy's actions.
    fn apply(&mut self, action: &Action) -> Result<(), NotifyError> {
        match action {
            Action::Show {
                id, title, body, ..
            } => self.show(id, title, body),
            Action::Withdraw { id, .. } => self.withdraw(id),
        }
    }
}

/// The desktop's notifications through notify-rust.
pub struct DesktopNotifier {
    /// What is on screen, by our id: showing again replaces it (same
    /// server id), withdrawing closes it.
    #[cfg(all(unix, not(target_os = "macos")))]
    shown: HashMap<String, notify_rust::NotificationHandle>,
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    shown: HashMap<String, ()>,
}

impl DesktopNotifier {
    pub fn new() -> DesktopNotifier {
        #[cfg(target_os = "macos")]
        {
            // Attribute notifications to the app, not to Terminal or Script
            // Editor (notify-rust's default).
            if let Err(err) = notify_rust::set_application(BUNDLE_ID) {
                tracing::warn!("notifications will not carry the app's identity: {err}");
            }
        }
        DesktopNotifier {
            shown: HashMap::new(),
        }
    }
}

impl Default for DesktopNotifier {
    fn default() -> Self {
        DesktopNotifier::new()
    }
}

impl Notifier for DesktopNotifier {
    fn show(&mut self, id: &str, title: &str, body: &str) -> Result<(), NotifyError> {
        let mut notification = notify_rust::Notification::new();
        notification.appname(APP_NAME).summary(title).body(body);
        #[cfg(all(unix, not(target_os = "macos")))]
        {
            if let Some(previous) = self.shown.get(id) {
                notification.id(previous.id());
            }
            let handle = notification
                .show()
                .map_err(|e| NotifyError(e.to_string()))?;
            self.shown.insert(id.to_owned(), handle);
        }
        #[cfg(not(all(unix, not(target_os = "macos"))))]
        {
            notification
                .show()
                .map_err(|e| NotifyError(e.to_string()))?;
            self.shown.insert(id.to_owned(), ());
        }
        // The log says what was shown (scripts/mac-check.sh looks for it).
        tracing::info!(id, title, "notification shown");
        Ok(())
    }

    fn withdraw(&mut self, id: &str) -> Result<(), NotifyError> {
        // On macOS notify-rust cannot withdraw a delivered notification; it
        // stays in the notification center until the user clears it.
        #[cfg(all(unix, not(target_os = "macos")))]
        if let Some(handle) = self.shown.remove(id) {
            handle.close();
        }
        #[cfg(not(all(unix, not(target_os = "macos"))))]
        self.shown.remove(id);
        Ok(())
    }
}

/// Runs a notifier on a thread of its own (notify-rust blocks on D-Bus) and
/// returns where to send actions. The thread ends when the sender is dropped.
pub fn spawn_thread<N, F>(make: F) -> std::sync::mpsc::Sender<Action>
where
    N: Notifier,
    F: FnOnce() -> N + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel::<Action>();
    std::thread::spawn(move || {
        let mut notifier = make();
        for action in rx {
            if let Err(err) = notifier.apply(&action) {
                tracing::warn!("{err}");
            }
        }
    });
    tx
}
