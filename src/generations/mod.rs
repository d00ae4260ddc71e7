//! Runner generations: every runner the builder has been given, numbered
//! from 1, with what it was built from, when, and its state — the one the
//! service starts (current), the one kept to go back to (previous), or one
//! that failed. The store is one JSON file, `<root>/generations/store.json`,
//! written atomically under a lock; each generation's own files live in
//! `<root>/generations/<N>/`.
//!
//! What a generation is:
//! - macOS: nixpkgs' runner built from the expression (recipe and nixpkgs
//!   pin); `<N>/runner` links its `nix build` result and is a GC root of
//!   its own, so a kept generation survives `nix-collect-garbage` while
//!   `<root>/runner` moves on (`nix::runner_build`).
//! - Linux (development): a dev VM build in the cache, named by its
//!   fingerprint, and its runner script, written once into `<N>/runner`
//!   when the generation is made (`dev.rs`), not at every start.
//!
//! Adopting a runner whose identity differs from the current one makes a
//! new generation current; the old current becomes the previous one, and
//! the generation before that is removed with its files.

pub mod dev;
pub mod latest;
pub mod progress;
pub mod store_check;
pub mod successor;
pub mod switch;
pub mod update;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::paths::Paths;

/// Failed generations kept for `runner list` (their reasons).
const FAILED_KEPT: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    #[error("could not {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the list of builder generations ({path}) cannot be read: {reason}; move it aside and start the builder again to begin a new list"
    )]
    Corrupt { path: PathBuf, reason: String },
    #[error("could not make the builder's runner: {0}")]
    Make(String),
    #[error("there is no generation {0}; `builderbar runner list` shows the ones kept")]
    NoSuch(u32),
}

impl GenerationError {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> GenerationError {
        let path = path.to_path_buf();
        move |source| GenerationError::Io {
            action,
            path,
            source,
        }
    }
}

/// Where a generation stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum GenerationState {
    /// What the service starts.
    Current,
    /// Kept to go back to, until the next good swap.
    Previous,
    /// Built as the builder's successor and not tried yet: a switch to it
    /// makes it current.
    Built,
    /// Tried and never became Ready: why, and the last lines its run left
    /// in the builder's log.
    Failed {
        reason: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        last_log: Vec<String>,
    },
}

/// One runner the builder was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generation {
    pub number: u32,
    /// The script the supervisor starts.
    pub runner: PathBuf,
    /// What it was built from, for people: "nixpkgs-25.05-darwin, recipe 3".
    pub built_from: String,
    /// Equal identities are the same runner (the build's cache key).
    pub identity: String,
    /// The nixpkgs it was built from (the pin's URL), where one was given:
    /// a switch that proves it makes it the settings' nixpkgs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nixpkgs: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub made_at: OffsetDateTime,
    #[serde(flatten)]
    pub state: GenerationState,
}

impl Generation {
    /// When it was made, as RFC 3339.
    pub fn made_at_text(&self) -> String {
        self.made_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StoreFile {
    generations: Vec<Generation>,
    /// The current generation, made so by a switch that has not yet seen
    /// it Ready: its boots write to a trial overlay of the disk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trial: Option<Trial>,
    /// The identity [`Store::adopt_new`] last took in (the dev VM build):
    /// only another one makes a new generation at a start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    taken_in: Option<String>,
}

/// The generations folder and its store.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

/// A generation on trial and the one it replaced (to go back to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Trial {
    generation: u32,
    replaced: Option<u32>,
}

/// A generation made current, and the one it replaced.
#[derive(Debug, Clone)]
pub struct Selected {
    pub generation: Generation,
    pub replaced: Option<Generation>,
}

/// A runner to adopt: its identity and words, and how to make its files in
/// a new generation's folder (returns the runner script to start).
pub struct Candidate<'a> {
    pub identity: String,
    pub built_from: String,
    pub nixpkgs: Option<String>,
    pub make: &'a mut dyn FnMut(&Path) -> Result<PathBuf, GenerationError>,
}

impl Store {
    pub fn new(paths: &Paths) -> Store {
        Store::at(&paths.generations_dir())
    }

    pub fn at(dir: &Path) -> Store {
        Store {
            dir: dir.to_path_buf(),
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("store.json")
    }

    /// A generation's own folder.
    pub fn generation_dir(&self, number: u32) -> PathBuf {
        self.dir.join(number.to_string())
    }

    /// The generation `number`, if kept.
    pub fn get(&self, number: u32) -> Result<Option<Generation>, GenerationError> {
        Ok(self.list()?.into_iter().find(|g| g.number == number))
    }

    /// Every generation kept, oldest first (none before the first start).
    pub fn list(&self) -> Result<Vec<Generation>, GenerationError> {
        Ok(self.read()?.generations)
    }

    /// The current generation, if there is one.
    pub fn current(&self) -> Result<Option<Generation>, GenerationError> {
        Ok(self
            .list()?
            .into_iter()
            .find(|g| g.state == GenerationState::Current))
    }

    /// Makes `candidate` the current generation. The current one already
    /// is it (same identity, runner still there): returned as it is, and
    /// nothing is made. Otherwise its files are made in a new folder first;
    /// only then does the store say it is current, so a failed or killed
    /// make leaves the current generation as it was.
    pub fn adopt(&self, candidate: Candidate<'_>) -> Result<Generation, GenerationError> {
        self.adopt_when(candidate, false)
    }

    /// Like [`Store::adopt`], for a runner offered at every start (the dev
    /// VM's build): only one other than the last taken in becomes current,
    /// so the choice made by a switch or a rollback stands until a new
    /// build comes, whichever generations were dropped meanwhile.
    pub fn adopt_new(&self, candidate: Candidate<'_>) -> Result<Generation, GenerationError> {
        self.adopt_when(candidate, true)
    }

    fn adopt_when(
        &self,
        candidate: Candidate<'_>,
        offered_at_start: bool,
    ) -> Result<Generation, GenerationError> {
        let (_lock, mut store) = self.locked()?;
        let taken_in = store.taken_in.as_deref() == Some(candidate.identity.as_str());
        if let Some(current) = store
            .generations
            .iter()
            .find(|g| g.state == GenerationState::Current)
            && current.runner.is_file()
            && (current.identity == candidate.identity || (offered_at_start && taken_in))
        {
            let current = current.clone();
            if offered_at_start && !taken_in {
                store.taken_in = Some(candidate.identity);
                self.write(&store)?;
            }
            return Ok(current);
        }
        if offered_at_start {
            store.taken_in = Some(candidate.identity.clone());
        }
        let made = self.make(&store, candidate, GenerationState::Current)?;
        let number = made.number;
        store.generations.push(made.clone());
        store.trial = None;
        self.commit(store, number, false)?;
        Ok(made)
    }

    /// Makes `candidate`'s files in a new generation's folder (numbered
    /// after every one kept) and returns it, not yet in the store.
    fn make(
        &self,
        store: &StoreFile,
        candidate: Candidate<'_>,
        state: GenerationState,
    ) -> Result<Generation, GenerationError> {
        let number = store
            .generations
            .iter()
            .map(|g| g.number)
            .max()
            .unwrap_or(0)
            + 1;
        let dir = self.generation_dir(number);
        if dir.exists() {
            // Left by a make that was killed before the store named it.
            std::fs::remove_dir_all(&dir).map_err(GenerationError::io("clear", &dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(GenerationError::io("create", &dir))?;
        let runner = (candidate.make)(&dir)?;
        Ok(Generation {
            number,
            runner,
            built_from: candidate.built_from,
            identity: candidate.identity,
            nixpkgs: candidate.nixpkgs,
            made_at: OffsetDateTime::now_utc(),
            state,
        })
    }

    /// Makes the kept generation `number` current, on trial until
    /// [`Store::accept`] (a switch); the one current until now becomes the
    /// previous one, and the previous one before it is kept until the new
    /// one is proved. Returns it and the one it replaced.
    pub fn select(&self, number: u32) -> Result<Selected, GenerationError> {
        let (_lock, mut store) = self.locked()?;
        let chosen = store
            .generations
            .iter()
            .find(|g| g.number == number)
            .cloned()
            .ok_or(GenerationError::NoSuch(number))?;
        let replaced = store
            .generations
            .iter()
            .find(|g| g.state == GenerationState::Current)
            .cloned();
        if chosen.state == GenerationState::Current {
            return Ok(Selected {
                generation: chosen,
                replaced: None,
            });
        }
        store.trial = Some(Trial {
            generation: number,
            replaced: replaced.as_ref().map(|g| g.number),
        });
        self.commit(store, number, true)?;
        Ok(Selected {
            generation: Generation {
                state: GenerationState::Current,
                ..chosen
            },
            replaced,
        })
    }

    /// The generation `failed` was tried and never became Ready: it is
    /// marked failed, with why and its last log lines, and `back_to` (the
    /// one it replaced, if any) is current again.
    pub fn fail_back(
        &self,
        failed: u32,
        reason: &str,
        last_log: Vec<String>,
        back_to: Option<u32>,
    ) -> Result<Option<Generation>, GenerationError> {
        let (_lock, mut store) = self.locked()?;
        for number in std::iter::once(failed).chain(back_to) {
            if !store.generations.iter().any(|g| g.number == number) {
                return Err(GenerationError::NoSuch(number));
            }
        }
        let mut back = None;
        store.trial = None;
        for generation in &mut store.generations {
            if generation.number == failed {
                generation.state = GenerationState::Failed {
                    reason: reason.to_owned(),
                    last_log: last_log.clone(),
                };
            } else if Some(generation.number) == back_to {
                generation.state = GenerationState::Current;
                back = Some(generation.clone());
            }
        }
        self.write(&store)?;
        Ok(back)
    }

    /// The generation on trial, if a switch made one current that has not
    /// been seen Ready yet.
    pub fn trial(&self) -> Result<Option<u32>, GenerationError> {
        Ok(self.read()?.trial.map(|t| t.generation))
    }

    /// The generation on trial failed for `reason`: see [`Store::fail_back`],
    /// back to the one it replaced. `None`: nothing was on trial.
    pub fn fail_trial(&self, reason: &str) -> Result<Option<Generation>, GenerationError> {
        let Some(trial) = self.read()?.trial else {
            return Ok(None);
        };
        self.fail_back(trial.generation, reason, Vec::new(), trial.replaced)
    }

    /// Generation `number` was seen Ready: no longer on trial (its trial
    /// writes are kept), and of the previous ones only the one it replaced
    /// stays.
    pub fn accept(&self, number: u32) -> Result<(), GenerationError> {
        let (_lock, mut store) = self.locked()?;
        let Some(trial) = store.trial.filter(|t| t.generation == number) else {
            return Ok(());
        };
        store.trial = None;
        let dropped: Vec<u32> = store
            .generations
            .iter()
            .filter(|g| g.state == GenerationState::Previous && Some(g.number) != trial.replaced)
            .map(|g| g.number)
            .collect();
        self.drop_and_write(store, dropped)
    }

    /// The store, read under its lock (held until the guard drops).
    fn locked(&self) -> Result<(std::fs::File, StoreFile), GenerationError> {
        std::fs::create_dir_all(&self.dir).map_err(GenerationError::io("create", &self.dir))?;
        let lock_path = self.dir.join("store.lock");
        let lock = crate::fsutil::lock_exclusive(&lock_path)
            .map_err(GenerationError::io("lock", &lock_path))?;
        Ok((lock, self.read()?))
    }

    /// Makes `current` the current generation: the one current until now
    /// becomes the previous one, the previous one before it is dropped
    /// unless `keep_previous` (and its files after the store is written),
    /// and only the newest failed ones are kept.
    fn commit(
        &self,
        mut store: StoreFile,
        current: u32,
        keep_previous: bool,
    ) -> Result<(), GenerationError> {
        let mut dropped = Vec::new();
        for generation in &mut store.generations {
            if generation.number == current {
                generation.state = GenerationState::Current;
                continue;
            }
            match generation.state {
                GenerationState::Current => generation.state = GenerationState::Previous,
                GenerationState::Previous if !keep_previous => dropped.push(generation.number),
                GenerationState::Previous
                | GenerationState::Built
                | GenerationState::Failed { .. } => {}
            }
        }
        let failed: Vec<u32> = store
            .generations
            .iter()
            .filter(|g| matches!(g.state, GenerationState::Failed { .. }))
            .map(|g| g.number)
            .collect();
        dropped.extend(failed.iter().rev().skip(FAILED_KEPT).copied());
        self.drop_and_write(store, dropped)
    }

    /// Writes the store without the `dropped` generations, then removes
    /// their files.
    fn drop_and_write(
        &self,
        mut store: StoreFile,
        dropped: Vec<u32>,
    ) -> Result<(), GenerationError> {
        store.generations.retain(|g| !dropped.contains(&g.number));
        self.write(&store)?;
        // After the store no longer names them: a folder left by a crash
        // here is only litter, never a generation.
        for number in dropped {
            let _ = std::fs::remove_dir_all(self.generation_dir(number));
        }
        Ok(())
    }

    fn read(&self) -> Result<StoreFile, GenerationError> {
        let path = self.file();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| GenerationError::Corrupt {
                path,
                reason: err.to_string(),
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(StoreFile::default()),
            Err(err) => Err(GenerationError::io("read", &path)(err)),
        }
    }

    fn write(&self, store: &StoreFile) -> Result<(), GenerationError> {
        let path = self.file();
        let json = serde_json::to_vec_pretty(store).map_err(|err| GenerationError::Corrupt {
            path: path.clone(),
            reason: err.to_string(),
        })?;
        // Owner-only: a failed generation keeps lines of the builder's log.
        crate::fsutil::write_atomic(&path, &json, 0o600)
            .map_err(GenerationError::io("write", &path))
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
