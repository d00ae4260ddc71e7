//! Where the dev VM's builds live: outside the repository, shared by every
//! checkout on the machine, safe for several processes at once.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `BUILDERBAR_DEVVM_CACHE` if set, else the user's cache folder
/// (`~/.cache/builderbar/devvm` on Linux).
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BUILDERBAR_DEVVM_CACHE") {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from("dev", "builderbar", "builderbar")
        .map(|dirs| dirs.cache_dir().join("devvm"))
        .unwrap_or_else(|| std::env::temp_dir().join("builderbar-devvm"))
}

/// An exclusive lock on the cache, held while a build is checked or made, so
/// parallel tests and commands build once and never see half a build.
pub(crate) struct CacheLock {
    _file: File,
}

impl CacheLock {
    pub(crate) fn acquire(cache: &Path) -> Result<CacheLock> {
        std::fs::create_dir_all(cache).map_err(Error::io("create", cache))?;
        let path = cache.join(".lock");
        let file = File::create(&path).map_err(Error::io("create", &path))?;
        file.lock().map_err(Error::io("lock", &path))?;
        Ok(CacheLock { _file: file })
    }
}
