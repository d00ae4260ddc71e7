//! The user's settings: the model and its defaults ([`model`]), the one
//! validation both the CLI and the settings window call ([`validate`]), the
//! versioned, locked, atomically written file ([`store`]) and its migrations
//! ([`migrate`]).

pub mod changes;
pub mod host;
pub mod migrate;
pub mod model;
pub mod parse;
pub mod port;
pub mod store;
pub mod table;
pub mod validate;

pub use host::HostFacts;
pub use model::{Notifications, Settings};
pub use port::check_port_free;
pub use store::{Loaded, SettingsError, SettingsStore};
pub use validate::{Problem, validate};
