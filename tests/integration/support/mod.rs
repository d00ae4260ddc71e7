//! Fixtures shared by the integration tests.

pub mod ssh;
pub mod vm;
pub mod wait;
