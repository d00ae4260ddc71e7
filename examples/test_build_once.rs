//! Runs the test build once, as the tray's "Test build" and `builderbar
//! doctor --build` run it, against the wiring under a sysroot (a private
//! nix-daemon; Linux, root), and prints one JSON object: how long the build
//! took and where it was built. Used by `scripts/bench-on-demand.py`.
//!
//!     BUILDERBAR_HOME=… test_build_once SYSROOT

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let sysroot = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("usage: test_build_once SYSROOT"))?;
    let paths = builderbar::paths::Paths::from_env()?;
    let report = builderbar::actions::test_build(&paths, Some(&sysroot))?;
    println!(
        "{}",
        serde_json::json!({
            "seconds": report.elapsed.as_secs_f64(),
            "built_on": report.built_on,
        })
    );
    Ok(())
}
