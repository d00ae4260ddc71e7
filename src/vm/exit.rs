//! Why the supervisor stopped, as an error with a sentence for the user and
//! a distinct exit code for launchd, the status file and scripts.

use std::path::PathBuf;

use crate::vm::status::ExitKind;

/// Every way `builderbar vm run` can fail. Each message says what happened
/// and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("the builder is already running (another supervisor holds {})", .0.display())]
    AlreadyRunning(PathBuf),
    #[error("port {port} is already in use{}; choose another SSH port in Settings or stop that program", holder_text(.holder))]
    PortTaken { port: u16, holder: Option<String> },
    #[error("the VM runner is missing or not executable: {path}. {hint}")]
    RunnerMissing { path: String, hint: String },
    #[error("the builder's disk {} is in use by another QEMU; stop that VM first", .0.display())]
    DiskInUse(PathBuf),
    #[error(
        "not enough free space on this Mac's disk for the builder: {0}; free some space or lower the disk size in Settings"
    )]
    NoSpace(String),
    #[error("the builder's keys folder {} cannot be read: {reason}; check its permissions or reinstall the builder key", .path.display())]
    KeysUnreadable { path: PathBuf, reason: String },
    #[error(
        "the builder's disk is {current} and the setting asks for {requested}: a disk cannot shrink. To use a smaller disk, recreate it (everything on it is lost)"
    )]
    DiskShrink { current: String, requested: String },
    #[error("could not prepare the builder's disk: {0}")]
    Disk(String),
    #[error("could not start the VM: {0}")]
    Start(String),
    #[error("the VM stopped unexpectedly: {0}")]
    VmDied(String),
    #[error("{action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn holder_text(holder: &Option<String>) -> String {
    holder
        .as_ref()
        .map(|h| format!(" by {h}"))
        .unwrap_or_default()
}

impl SupervisorError {
    /// The process exit code. 0 is a stop that was asked for; every failure
    /// has its own code so launchd's "last exit code" tells them apart.
    pub fn exit_code(&self) -> u8 {
        match self {
            SupervisorError::AlreadyRunning(_) => 10,
            SupervisorError::PortTaken { .. } => 11,
            SupervisorError::RunnerMissing { .. } => 12,
            SupervisorError::DiskInUse(_) => 13,
            SupervisorError::NoSpace(_) => 14,
            SupervisorError::KeysUnreadable { .. } => 15,
            SupervisorError::DiskShrink { .. } => 16,
            SupervisorError::Disk(_) => 17,
            SupervisorError::Start(_) => 18,
            SupervisorError::VmDied(_) => 20,
            SupervisorError::Io { .. } => 1,
        }
    }

    /// Its name in the status file.
    pub fn kind(&self) -> ExitKind {
        match self {
            SupervisorError::AlreadyRunning(_) => ExitKind::AlreadyRunning,
            SupervisorError::PortTaken { .. } => ExitKind::PortTaken,
            SupervisorError::RunnerMissing { .. } => ExitKind::RunnerMissing,
            SupervisorError::DiskInUse(_) => ExitKind::DiskInUse,
            SupervisorError::NoSpace(_) => ExitKind::NoSpace,
            SupervisorError::KeysUnreadable { .. } => ExitKind::KeysUnreadable,
            SupervisorError::DiskShrink { .. } => ExitKind::DiskShrink,
            SupervisorError::Disk(_) => ExitKind::Disk,
            SupervisorError::Start(_) => ExitKind::Start,
            SupervisorError::VmDied(_) => ExitKind::VmDied,
            SupervisorError::Io { .. } => ExitKind::Io,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> SupervisorError {
        let path = path.into();
        move |source| SupervisorError::Io {
            action,
            path,
            source,
        }
    }
}

/// Bytes as a person reads them: "20 GiB", "512 MiB".
pub fn human_bytes(bytes: u64) -> String {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{} GiB", bytes / GIB)
    } else if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{} MiB", bytes.div_ceil(MIB))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct() {
        let errors = [
            SupervisorError::AlreadyRunning(PathBuf::new()),
            SupervisorError::PortTaken {
                port: 1,
                holder: None,
            },
            SupervisorError::RunnerMissing {
                path: String::new(),
                hint: String::new(),
            },
            SupervisorError::DiskInUse(PathBuf::new()),
            SupervisorError::NoSpace(String::new()),
            SupervisorError::KeysUnreadable {
                path: PathBuf::new(),
                reason: String::new(),
            },
            SupervisorError::DiskShrink {
                current: String::new(),
                requested: String::new(),
            },
            SupervisorError::Disk(String::new()),
            SupervisorError::Start(String::new()),
            SupervisorError::VmDied(String::new()),
        ];
        let mut codes: Vec<u8> = errors.iter().map(SupervisorError::exit_code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
        assert!(!codes.contains(&0));
    }

    #[test]
    fn bytes_read_like_a_person_writes_them() {
        assert_eq!(human_bytes(20 << 30), "20 GiB");
        assert_eq!(human_bytes(512 << 20), "512 MiB");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
    }
}
