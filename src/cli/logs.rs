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
}

pub fn run(args: Args) -> Result<()> {
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
