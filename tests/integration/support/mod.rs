//! Fixtures shared by the integration tests.

pub mod home;
pub mod ssh;
pub mod vm;
pub mod wait;
