//! The settings file: `settings.toml` under the root, versioned, written
//! atomically, locked against concurrent writers, never silently reset.

use std::io;
use std::path::{Path, PathBuf};

use super::host::{HostError, HostFacts};
use super::migrate::{MigrateError, migrate};
use super::model::{CURRENT_VERSION, Settings};
use super::validate::{Problem, validate};
use crate::fsutil;
use crate::paths::Paths;

/// Settings as read, with what the user should be told about them.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The settings in effect.
    pub settings: Settings,
    /// Things to report: a file moved aside, a migration, unknown fields
    /// kept, settings that are no longer valid on this host.
    pub warnings: Vec<String>,
}

/// Why settings could not be read or saved.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A file operation failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What we were doing, e.g. "write".
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS's error.
        source: io::Error,
    },
    /// The file was written by a newer BuilderBar: it is left untouched.
    #[error(
        "{} was written by a newer BuilderBar (settings version {version}; this one knows up to {CURRENT_VERSION}); it was left untouched. Update BuilderBar to use or change these settings",
        path.display()
    )]
    FutureVersion {
        /// The version the file says.
        version: i64,
        /// The settings file.
        path: PathBuf,
    },
    /// The change was refused; nothing was saved.
    #[error("{}", refused_message(.0))]
    Refused(Vec<Problem>),
    /// The host's facts could not be read.
    #[error(transparent)]
    Host(#[from] HostError),
}

impl SettingsError {
    /// The problems, when the change was refused.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Refused(p) => p,
            _ => &[],
        }
    }
}

impl crate::hint::Hint for SettingsError {
    /// What to do about it, in one line.
    fn hint(&self) -> Option<String> {
        match self {
            Self::Refused(problems) => problems.first().map(|p| p.hint.clone()),
            Self::Io { .. } => Some(format!(
                "check that the folder exists and is writable by you, or set {} to another folder",
                crate::paths::HOME_ENV
            )),
            _ => None,
        }
    }
}

fn refused_message(problems: &[Problem]) -> String {
    match problems {
        [] => "the change was refused".into(),
        [one] => one.message.clone(),
        [first, rest @ ..] => format!("{} (and {} more problem(s))", first.message, rest.len()),
    }
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> SettingsError + 'a {
    move |source| SettingsError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The settings file of one [`Paths`] root.
#[derive(Debug, Clone)]
pub struct SettingsStore {
    paths: Paths,
    host: HostFacts,
}

/// What reading the file gave.
enum Read {
    Missing,
    Ok {
        settings: Settings,
        from_version: i64,
        notes: Vec<String>,
    },
    Corrupt(String),
}

impl SettingsStore {
    /// The store under `paths`, validating against this machine.
    pub fn open(paths: &Paths) -> Result<Self, SettingsError> {
        Ok(Self::with_host(paths, HostFacts::detect()?))
    }

    /// The store under `paths`, validating against `host` (tests pass fakes).
    pub fn with_host(paths: &Paths, host: HostFacts) -> Self {
        Self {
            paths: paths.clone(),
            host,
        }
    }

    /// The host facts validation uses.
    pub fn host(&self) -> &HostFacts {
        &self.host
    }

    /// The paths this store lives under.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// Reads the settings. A missing file gives the defaults. A file that
    /// cannot be read is moved aside to `settings.toml.corrupt-<time>`,
    /// reported (in the log and in the warnings), and only then replaced by
    /// the defaults. A file from a newer version is an error and is left alone.
    pub fn load(&self) -> Result<Loaded, SettingsError> {
        let path = self.paths.settings_file();
        match self.read(&path)? {
            Read::Missing => Ok(Loaded {
                settings: Settings::defaults_for(&self.host),
                warnings: Vec::new(),
            }),
            Read::Ok {
                settings,
                from_version,
                notes,
            } => Ok(self.loaded(settings, from_version, notes)),
            Read::Corrupt(_) => {
                // Repair under the lock, after reading again: another
                // process may have just fixed it.
                let _lock = self.lock()?;
                let (settings, warnings) = self.read_locked(&path)?;
                Ok(Loaded { settings, warnings })
            }
        }
    }

    /// Changes the settings: takes the settings lock, reads the file
    /// afresh, applies `change`, validates the result and writes it
    /// atomically. Refused changes (by `change` or by validation) save
    /// nothing. Concurrent updates from other processes are never lost.
    pub fn update(
        &self,
        change: impl FnOnce(&mut Settings) -> Result<(), Problem>,
    ) -> Result<Settings, SettingsError> {
        let path = self.paths.settings_file();
        let _lock = self.lock()?;
        let (current, _) = self.read_locked(&path)?;
        let mut new = current.clone();
        change(&mut new).map_err(|p| SettingsError::Refused(vec![p]))?;
        let baseline = self.baseline(&current);
        let before = validate(&current, Some(&baseline), &self.host);
        let problems: Vec<Problem> = validate(&new, Some(&baseline), &self.host)
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        if !problems.is_empty() {
            return Err(SettingsError::Refused(problems));
        }
        let on_disk_is_current = matches!(
            self.read(&path)?,
            Read::Ok { from_version, .. } if from_version == i64::from(CURRENT_VERSION)
        );
        if new != current || !on_disk_is_current {
            self.write(&new)?;
        }
        Ok(new)
    }

    /// What "the disk only grows" compares against: the builder's disk as
    /// it exists (its virtual size), or no lower bound before it exists —
    /// so a first setup may pick any size, and a disk made once is never
    /// shrunk.
    pub fn baseline(&self, current: &Settings) -> Settings {
        let mut baseline = current.clone();
        let disk = crate::vm::config::vm_paths(&self.paths).disk;
        baseline.disk_mib = crate::vm::disk::qcow2_virtual_size(&disk)
            .ok()
            .flatten()
            .map_or(0, |bytes| bytes >> 20);
        baseline
    }

    /// Sets one setting from text (`port 31023`, `memory 8GiB`…): the CLI's
    /// `settings set` and the window's fields. A new port must be free now.
    pub fn set(&self, key: &str, value: &str) -> Result<Settings, SettingsError> {
        self.update(|s| {
            let old_port = s.ssh_port;
            super::parse::set_field(s, key, value)?;
            if s.ssh_port != old_port && s.ssh_port >= super::validate::MIN_PORT {
                super::port::check_port_free(s.ssh_port)?;
            }
            Ok(())
        })
    }

    fn lock(&self) -> Result<std::fs::File, SettingsError> {
        let path = self.paths.settings_lock();
        fsutil::lock_exclusive(&path).map_err(io_err("lock", &path))
    }

    fn loaded(&self, settings: Settings, from_version: i64, notes: Vec<String>) -> Loaded {
        let mut warnings = Vec::new();
        if from_version < i64::from(CURRENT_VERSION) {
            warnings.push(format!(
                "settings were migrated from version {from_version} to {CURRENT_VERSION}{}{}",
                if notes.is_empty() { "" } else { ": " },
                notes.join("; ")
            ));
        }
        for name in settings.unknown_fields() {
            warnings.push(format!(
                "unknown setting `{name}` in {} is kept as it is but not used",
                self.paths.settings_file().display()
            ));
        }
        for p in validate(&settings, None, &self.host) {
            warnings.push(format!("setting `{}`: {} ({})", p.field, p.message, p.hint));
        }
        Loaded { settings, warnings }
    }

    /// Reads with the lock held, moving an unreadable file aside.
    fn read_locked(&self, path: &Path) -> Result<(Settings, Vec<String>), SettingsError> {
        match self.read(path)? {
            Read::Missing => Ok((Settings::defaults_for(&self.host), Vec::new())),
            Read::Ok {
                settings,
                from_version,
                notes,
            } => {
                if from_version < i64::from(CURRENT_VERSION) {
                    self.back_up_old_version(path, from_version)?;
                }
                let loaded = self.loaded(settings, from_version, notes);
                Ok((loaded.settings, loaded.warnings))
            }
            Read::Corrupt(reason) => {
                let aside = self.move_aside(path)?;
                let warning = format!(
                    "the settings file could not be read ({reason}); it was moved to {} and the defaults are in use",
                    aside.display()
                );
                tracing::error!("{warning}");
                let defaults = Settings::defaults_for(&self.host);
                self.write(&defaults)?;
                Ok((defaults, vec![warning]))
            }
        }
    }

    fn read(&self, path: &Path) -> Result<Read, SettingsError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Read::Missing),
            Err(e) => return Err(io_err("read", path)(e)),
        };
        match parse(&bytes, &self.host) {
            Ok((settings, from_version, notes)) => Ok(Read::Ok {
                settings,
                from_version,
                notes,
            }),
            Err(ParseError::Future(version)) => Err(SettingsError::FutureVersion {
                version,
                path: path.to_path_buf(),
            }),
            Err(ParseError::Corrupt(reason)) => Ok(Read::Corrupt(reason)),
        }
    }

    fn write(&self, settings: &Settings) -> Result<(), SettingsError> {
        let path = self.paths.settings_file();
        let text = to_toml(settings)
            .map_err(|e| io_err("write", &path)(io::Error::new(io::ErrorKind::InvalidData, e)))?;
        fsutil::write_atomic(&path, text.as_bytes(), 0o600).map_err(io_err("write", &path))
    }

    fn move_aside(&self, path: &Path) -> Result<PathBuf, SettingsError> {
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap_or_else(|_| "unknown-time".into());
        let base = format!("{}.corrupt-{stamp}", path.display());
        let mut aside = PathBuf::from(&base);
        let mut n = 1;
        while aside.exists() {
            n += 1;
            aside = PathBuf::from(format!("{base}-{n}"));
        }
        std::fs::rename(path, &aside).map_err(io_err("move aside", path))?;
        Ok(aside)
    }

    /// Keeps a copy of a file written by an older version before the first
    /// write replaces it (`settings.toml.v0-backup`), so a migration can be
    /// checked or undone by hand.
    fn back_up_old_version(&self, path: &Path, version: i64) -> Result<(), SettingsError> {
        let backup = PathBuf::from(format!("{}.v{version}-backup", path.display()));
        if backup.exists() {
            return Ok(());
        }
        let bytes = std::fs::read(path).map_err(io_err("read", path))?;
        fsutil::write_atomic(&backup, &bytes, 0o600).map_err(io_err("write", &backup))
    }
}

enum ParseError {
    Future(i64),
    Corrupt(String),
}

/// The settings file's text: TOML, fields in the model's order, unknown
/// fields after them.
pub fn to_toml(settings: &Settings) -> Result<String, String> {
    let body = toml::to_string_pretty(settings).map_err(|e| e.to_string())?;
    Ok(format!(
        "# BuilderBar settings. Sizes are in MiB. Change them with `builderbar settings set`\n\
         # or the settings window, which check every value.\n{body}"
    ))
}

/// Parses the file's bytes: migrates older versions, fills fields the file
/// does not have with the host's defaults, keeps unknown fields.
fn parse(bytes: &[u8], host: &HostFacts) -> Result<(Settings, i64, Vec<String>), ParseError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Corrupt("the file is empty".into()));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ParseError::Corrupt("the file is not text".into()))?;
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        ParseError::Corrupt(format!("not valid TOML: {}", e.message()))
    })?;
    let (from_version, notes) = migrate(&mut table).map_err(|e| match e {
        MigrateError::Future(v) => ParseError::Future(v),
        MigrateError::BadVersion => ParseError::Corrupt("`version` is not a whole number".into()),
    })?;
    let defaults = toml::Table::try_from(Settings::defaults_for(host))
        .map_err(|e| ParseError::Corrupt(e.to_string()))?;
    let merged = merge(defaults, table);
    let settings: Settings = toml::Value::Table(merged)
        .try_into()
        .map_err(|e: toml::de::Error| ParseError::Corrupt(e.message().to_owned()))?;
    Ok((settings, from_version, notes))
}

/// `over` laid on `base`, tables merged key by key.
fn merge(mut base: toml::Table, over: toml::Table) -> toml::Table {
    for (key, value) in over {
        match (base.remove(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => {
                base.insert(key, toml::Value::Table(merge(b, o)));
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
    base
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn host() -> HostFacts {
        HostFacts::sample()
    }

    fn store() -> (tempfile::TempDir, SettingsStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SettingsStore::with_host(&Paths::with_root(dir.path()), host());
        (dir, s)
    }

    #[test]
    fn missing_file_gives_defaults_and_writes_nothing() {
        let (_d, s) = store();
        let loaded = s.load().unwrap();
        assert_eq!(loaded.settings, Settings::defaults_for(&host()));
        assert!(loaded.warnings.is_empty());
        assert!(!s.paths().settings_file().exists());
    }

    #[test]
    fn update_validates_and_persists() {
        let (_d, s) = store();
        s.update(|x| {
            x.cores = 2;
            Ok(())
        })
        .unwrap();
        assert_eq!(s.load().unwrap().settings.cores, 2);
        let err = s
            .update(|x| {
                x.cores = 99;
                Ok(())
            })
            .unwrap_err();
        assert_eq!(err.problems()[0].field, "cores");
        assert_eq!(s.load().unwrap().settings.cores, 2);
    }

    #[test]
    fn a_problem_already_there_does_not_block_other_changes() {
        let (_d, s) = store();
        let mut t = Settings::defaults_for(&host());
        t.cores = 64; // copied from a bigger machine
        std::fs::create_dir_all(s.paths().root()).unwrap();
        std::fs::write(s.paths().settings_file(), to_toml(&t).unwrap()).unwrap();
        let loaded = s.load().unwrap();
        assert!(loaded.warnings.iter().any(|w| w.contains("cores")));
        s.set("max-jobs", "3").unwrap();
        assert_eq!(s.load().unwrap().settings.max_jobs, 3);
    }

    #[test]
    fn partial_file_is_filled_with_defaults() {
        let (_d, s) = store();
        std::fs::create_dir_all(s.paths().root()).unwrap();
        std::fs::write(s.paths().settings_file(), "version = 1\nssh_port = 40000\n").unwrap();
        let loaded = s.load().unwrap();
        assert_eq!(loaded.settings.ssh_port, 40000);
        assert_eq!(loaded.settings.memory_mib, 3072);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }
}
