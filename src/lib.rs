//! BuilderBar's core: everything the menu-bar app and the `builderbar` CLI
//! do, as plain functions. Nothing here depends on tauri; the app and the CLI
//! are thin front doors over this library.

pub mod vm;
