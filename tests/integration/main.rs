//! BuilderBar's integration and end-to-end tests, in one binary so the core
//! links once. Tests that boot the dev VM share a limit on how many VMs run
//! at once (see `support::vm`).

// A test fails by panicking; its helpers may too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod apply_wiring;
mod builder_module;
mod cli_tool;
mod dev_runner_cli;
mod dev_vm;
mod disk_grow;
mod faults;
mod generations;
mod health;
mod keys;
mod nix_builders;
mod nix_wiring;
mod notifications;
mod on_demand;
mod remote_build;
mod runner_expr;
mod security;
mod service;
mod settings_store;
mod setup_flow;
mod successor;
mod supervisor;
mod trial_disk;
mod update;
