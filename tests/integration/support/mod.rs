//! Fixtures shared by the integration tests.

pub mod app;
pub mod home;
pub mod mountns;
pub mod services;
pub mod ssh;
pub mod sysroot;
pub mod vm;
pub mod wait;

/// Writes a test's stand-in program (a script it then runs, or hands to
/// a process it starts). Written through `execfile`, by a child process:
/// this test binary runs many tests on many threads, each forking, and a
/// plain write could leave the file busy (ETXTBSY) when it is started.
pub fn write_executable(path: &std::path::Path, text: &str) {
    if let Err(err) = execfile::write(path, text.as_bytes(), 0o755) {
        panic!("writing {}: {err}", path.display());
    }
}
