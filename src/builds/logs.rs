//! The host's Nix build logs: `<log dir>/drvs/xx/rest-name.drv[.bz2]`, the
//! first two characters of the derivation's base name being the folder.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Nix's store folder: `NIX_STORE_DIR` or `/nix/store`.
pub fn store_dir() -> PathBuf {
    std::env::var_os("NIX_STORE_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/nix/store"), PathBuf::from)
}

/// Nix's log folder: `NIX_LOG_DIR` or `/nix/var/log/nix`.
pub fn log_dir() -> PathBuf {
    std::env::var_os("NIX_LOG_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/nix/var/log/nix"), PathBuf::from)
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("could not read {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no build log named like {name:?} in {}; `ls` that folder to see which builds left logs", .dir.display())]
    NotFound { name: String, dir: PathBuf },
}

/// The derivation's base name (`hash-name.drv`) for a log file.
pub fn drv_base_name(log: &Path) -> Option<String> {
    let file = log.file_name()?.to_str()?;
    let prefix = log.parent()?.file_name()?.to_str()?;
    let file = file.strip_suffix(".bz2").unwrap_or(file);
    file.ends_with(".drv").then(|| format!("{prefix}{file}"))
}

/// `name-1.0` from `hash-name-1.0.drv`.
pub fn drv_name(base: &str) -> &str {
    let base = base.strip_suffix(".drv").unwrap_or(base);
    base.split_once('-').map_or(base, |(_, name)| name)
}

/// A log's text, decompressed when it is bzip2. `Ok(None)` when a bzip2
/// log is not complete yet (Nix finishes the stream when the build ends).
pub fn read_log(path: &Path) -> Result<Option<String>, LogError> {
    let bytes = std::fs::read(path).map_err(|source| LogError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if path.extension().is_some_and(|e| e == "bz2") {
        let mut text = Vec::new();
        let mut decoder = bzip2::read::BzDecoder::new(&bytes[..]);
        match decoder.read_to_end(&mut text) {
            Ok(_) => Ok(Some(String::from_utf8_lossy(&text).into_owned())),
            // Truncated: the stream's end marker is not written yet.
            Err(_) => Ok(None),
        }
    } else {
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }
}

/// The newest log whose derivation's name is `name` (or, failing that,
/// contains it).
pub fn find_log(dir: &Path, name: &str) -> Result<PathBuf, LogError> {
    let drvs = dir.join("drvs");
    let mut exact: Option<(std::time::SystemTime, PathBuf)> = None;
    let mut partial: Option<(std::time::SystemTime, PathBuf)> = None;
    let buckets = std::fs::read_dir(&drvs).map_err(|source| LogError::Io {
        path: drvs.clone(),
        source,
    })?;
    for bucket in buckets.flatten() {
        let Ok(files) = std::fs::read_dir(bucket.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            let Some(base) = drv_base_name(&path) else {
                continue;
            };
            let Ok(modified) = file.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            let this = drv_name(&base);
            let slot = if this == name {
                &mut exact
            } else if this.contains(name) || base == name {
                &mut partial
            } else {
                continue;
            };
            if slot.as_ref().is_none_or(|(t, _)| modified > *t) {
                *slot = Some((modified, path));
            }
        }
    }
    exact
        .or(partial)
        .map(|(_, p)| p)
        .ok_or_else(|| LogError::NotFound {
            name: name.to_owned(),
            dir: drvs,
        })
}

/// The last `n` non-empty lines, stripped of control characters.
pub fn last_lines(text: &str, n: usize) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| l.chars().filter(|c| !c.is_control()).collect::<String>())
        .filter(|l| !l.trim().is_empty())
        .collect();
    let start = lines.len().saturating_sub(n);
    lines.drain(..start);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_log_paths() {
        let p = Path::new("/var/log/nix/drvs/ab/cdef-hello-2.12.drv.bz2");
        assert_eq!(drv_base_name(p).as_deref(), Some("abcdef-hello-2.12.drv"));
        assert_eq!(drv_name("abcdef-hello-2.12.drv"), "hello-2.12");
        assert_eq!(drv_base_name(Path::new("/x/ab/notes.txt")), None);
    }

    #[test]
    fn finds_the_newest_and_reads_bzip2() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = dir.path().join("drvs/ab");
        std::fs::create_dir_all(&bucket).unwrap();
        let path = bucket.join("c-fail.drv.bz2");
        let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        std::io::Write::write_all(&mut enc, b"one\ntwo\n").unwrap();
        let full = enc.finish().unwrap();
        std::fs::write(&path, &full).unwrap();
        assert_eq!(find_log(dir.path(), "fail").unwrap(), path);
        assert_eq!(read_log(&path).unwrap().as_deref(), Some("one\ntwo\n"));
        std::fs::write(&path, &full[..full.len() - 4]).unwrap();
        assert_eq!(read_log(&path).unwrap(), None);
        assert!(find_log(dir.path(), "nope").is_err());
        assert_eq!(last_lines("a\n\nb\nc\x1b[0m\n", 2), vec!["b", "c[0m"]);
    }
}
