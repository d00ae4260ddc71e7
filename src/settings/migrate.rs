//! Bringing settings files written by older builds forward.
//!
//! Versions:
//! - 0 (no `version` field): the draft format, which used nixpkgs' option
//!   names: `port`, `memory_size` and `disk_size` (MiB).
//! - 1: `version = 1`, `ssh_port`, `memory_mib`, `disk_mib`.

use super::model::CURRENT_VERSION;

/// Why a settings table cannot be brought to the current version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrateError {
    /// Written by a newer BuilderBar.
    Future(i64),
    /// `version` is not a whole number.
    BadVersion,
}

/// The version a settings table says it is (0 when it says nothing).
pub fn version_of(table: &toml::Table) -> Result<i64, MigrateError> {
    match table.get("version") {
        None => Ok(0),
        Some(toml::Value::Integer(v)) if *v >= 0 => Ok(*v),
        Some(_) => Err(MigrateError::BadVersion),
    }
}

/// Migrates `table` in place to [`CURRENT_VERSION`]. Returns the version
/// it started from, and one note per change made.
pub fn migrate(table: &mut toml::Table) -> Result<(i64, Vec<String>), MigrateError> {
    let from = version_of(table)?;
    if from > i64::from(CURRENT_VERSION) {
        return Err(MigrateError::Future(from));
    }
    let mut notes = Vec::new();
    if from < 1 {
        for (old, new) in [
            ("port", "ssh_port"),
            ("memory_size", "memory_mib"),
            ("disk_size", "disk_mib"),
        ] {
            if let Some(value) = table.remove(old) {
                if table.contains_key(new) {
                    // Both present: keep the new one, but do not drop the old.
                    table.insert(format!("{old}_from_version_0"), value);
                    notes.push(format!(
                        "`{old}` kept as `{old}_from_version_0`: `{new}` is set too"
                    ));
                } else {
                    table.insert(new.to_owned(), value);
                    notes.push(format!("`{old}` is now `{new}`"));
                }
            }
        }
    }
    table.insert(
        "version".into(),
        toml::Value::Integer(i64::from(CURRENT_VERSION)),
    );
    Ok((from, notes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn version_0_renames_nixpkgs_names() {
        let mut t: toml::Table = "port = 40000\nmemory_size = 4096\ndisk_size = 30720\n"
            .parse()
            .unwrap();
        let (from, notes) = migrate(&mut t).unwrap();
        assert_eq!(from, 0);
        assert_eq!(notes.len(), 3);
        assert_eq!(t["ssh_port"].as_integer(), Some(40000));
        assert_eq!(t["memory_mib"].as_integer(), Some(4096));
        assert_eq!(t["disk_mib"].as_integer(), Some(30720));
        assert_eq!(t["version"].as_integer(), Some(1));
    }

    #[test]
    fn future_and_bad_versions_are_refused() {
        let mut t: toml::Table = "version = 7".parse().unwrap();
        assert_eq!(migrate(&mut t), Err(MigrateError::Future(7)));
        let mut t: toml::Table = "version = \"one\"".parse().unwrap();
        assert_eq!(migrate(&mut t), Err(MigrateError::BadVersion));
    }
}
