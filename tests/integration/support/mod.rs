//! Fixtures shared by the integration tests.

pub mod app;
pub mod home;
pub mod mountns;
pub mod services;
pub mod ssh;
pub mod sysroot;
pub mod vm;
pub mod wait;
