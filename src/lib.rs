//! BuilderBar's core: everything the menu-bar app and the `builderbar` CLI
//! do, as plain functions. Nothing here depends on tauri; the app and the CLI
//! are thin front doors over this library.

pub mod actions;
pub mod builds;
pub mod cli_tool;
pub mod fsutil;
pub mod generations;
pub mod health;
pub mod hint;
pub mod keys;
pub mod nix;
pub mod notify;
pub mod paths;
pub mod service;
pub mod settings;
pub mod setup;
pub mod vm;
