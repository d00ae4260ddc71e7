//! Notifications: `policy` decides (pure, unit-tested), `backend` shows
//! (notify-rust; on macOS attributed to the app's bundle identifier).

pub mod backend;
pub mod policy;

pub use backend::{DesktopNotifier, Notifier, NotifyError};
pub use policy::{Action, Event, Kind, Policy};
