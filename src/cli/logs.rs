//! `builderbar logs [-f]`: the supervisor's and QEMU's log.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use anyhow::{Context, Result};
use builderbar::paths::Paths;
use builderbar::vm;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Keep printing new lines as they are written (Ctrl-C stops).
    #[arg(short, long)]
    follow: bool,
    /// Show the log of the newest build of this derivation (its name, such
    /// as `hello-2.12`) from the host's Nix logs instead.
    #[arg(long, value_name = "NAME", conflicts_with = "follow")]
    build: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    if let Some(name) = &args.build {
        return build_log(name);
    }
    let paths = Paths::from_env()?;
    let path = vm::config::vm_paths(&paths).log_file;
    let mut out = std::io::stdout().lock();
    let mut file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !args.follow => {
            eprintln!(
                "No log yet: the builder has not run. It will be at {}",
                path.display()
            );
            return Ok(());
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => wait_for(&path)?,
        Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
    };
    std::io::copy(&mut file, &mut out)?;
    if !args.follow {
        return Ok(());
    }
    // Follow by polling: cheap, and it survives rotation (a new file at the
    // same path) and truncation.
    let mut inode = file.metadata()?.ino();
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let mut chunk = Vec::new();
        file.read_to_end(&mut chunk)?;
        out.write_all(&chunk)?;
        out.flush()?;
        if let Ok(meta) = std::fs::metadata(&path) {
            let position = file.stream_position()?;
            if meta.ino() != inode || meta.len() < position {
                file = std::fs::File::open(&path)?;
                inode = file.metadata()?.ino();
                file.seek(SeekFrom::Start(0))?;
            }
        }
    }
}

fn wait_for(path: &std::path::Path) -> Result<std::fs::File> {
    loop {
        if let Ok(file) = std::fs::File::open(path) {
            return Ok(file);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `logs --build NAME`: the newest log of that derivation, decompressed.
fn build_log(name: &str) -> Result<()> {
    use builderbar::builds::logs;
    let path = logs::find_log(&logs::log_dir(), name)?;
    match logs::read_log(&path)? {
        Some(text) => print!("{text}"),
        None => println!(
            "(the build is still running; its log so far cannot be read until Nix closes it: {})",
            path.display()
        ),
    }
    Ok(())
}
