//! Executables written by a short-lived child, never by this process.

use std::fs::File;
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// The child's whole job: create the file (refusing to follow or replace
/// anything already there: `set -C`) and copy its standard input into it.
/// The path is an argument, never part of the script.
const WRITE_SCRIPT: &str = "umask 077; set -C; exec cat > \"$1\"";

/// Writes `contents` to `path` as an executable with `mode`, atomically
/// (temporary file, fsync, rename, fsync of the folder), the bytes written
/// by a child process so that this process never holds the file open for
/// writing (see the crate's documentation).
pub fn write(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    place(path, mode, |tmp| {
        let mut child = writer(tmp).stdin(Stdio::piped()).spawn()?;
        let fed = match child.stdin.take() {
            Some(mut stdin) => stdin.write_all(contents),
            None => Err(io::Error::other("the writer's input was not opened")),
        };
        finish(child, tmp, fed)
    })
}

/// Copies `source` to `dest` as an executable with `mode`, in the same way
/// as [`write`]: this process opens `source` for reading only.
pub fn copy(source: &Path, dest: &Path, mode: u32) -> io::Result<()> {
    let input = File::open(source)?;
    place(dest, mode, |tmp| {
        let child = writer(tmp).stdin(input).spawn()?;
        finish(child, tmp, Ok(()))
    })
}

fn writer(tmp: &Path) -> Command {
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", WRITE_SCRIPT, "sh"])
        .arg(tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

fn finish(child: std::process::Child, tmp: &Path, fed: io::Result<()>) -> io::Result<()> {
    let output = child.wait_with_output()?;
    fed?;
    if output.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "could not write {} ({}): {}",
        tmp.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

/// Around `fill(tmp)`: the temporary name beside `path`, then fsync (through
/// a read-only descriptor, which does not make the file busy), the exact
/// mode, the rename and the folder's fsync; the temporary file is removed
/// on any failure.
fn place(path: &Path, mode: u32, fill: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let tmp = temp_path_for(path);
    let result = (|| {
        fill(&tmp)?;
        File::open(&tmp)?.sync_all()?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&tmp, path)?;
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn temp_path_for(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn writes_the_bytes_with_the_exact_mode_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tool");
        write(&path, b"#!/bin/sh\necho one\n", 0o755).unwrap();
        write(&path, b"#!/bin/sh\necho two\n", 0o750).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"#!/bin/sh\necho two\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o750);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn copies_a_file_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source");
        let bytes: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
        std::fs::write(&source, &bytes).unwrap();
        let dest = dir.path().join("sub/dest");
        copy(&source, &dest, 0o755).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), bytes);
    }

    #[test]
    fn a_folder_that_cannot_be_written_is_an_error_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing_source = dir.path().join("nope");
        let err = copy(&missing_source, &dir.path().join("dest"), 0o755).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        assert!(write(&blocker.join("under-a-file"), b"x", 0o755).is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}
