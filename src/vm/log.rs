//! The VM's log: the supervisor's own messages and everything QEMU and the
//! guest console print, in one size-rotated file (launchd rotates nothing).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Each file grows to this size before it is rotated.
pub const MAX_LOG_BYTES: usize = 2 * 1024 * 1024;
/// Rotated files kept besides the current one (`vm.log.1` … `vm.log.3`).
pub const KEPT_LOGS: usize = 3;

#[derive(Clone)]
pub struct VmLog {
    file: Arc<Mutex<FileRotate<AppendCount>>>,
}

impl VmLog {
    pub fn open(path: &Path) -> std::io::Result<VmLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = FileRotate::new(
            path,
            AppendCount::new(KEPT_LOGS),
            ContentLimit::BytesSurpassed(MAX_LOG_BYTES),
            Compression::None,
            None,
        );
        Ok(VmLog {
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// Appends one timestamped line from `source` ("vm" for QEMU's output).
    pub fn line(&self, source: &str, text: &str) {
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        self.write_raw(format!("{now} {source}: {}\n", text.trim_end()).as_bytes());
    }

    fn write_raw(&self, bytes: &[u8]) {
        if let Ok(mut file) = self.file.lock() {
            // A log that cannot be written must not stop the VM.
            let _ = file.write_all(bytes);
            let _ = file.flush();
        }
    }
}

/// Lets tracing write the supervisor's messages into the same file.
pub struct VmLogWriter(VmLog);

impl Write for VmLogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_raw(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for VmLog {
    type Writer = VmLogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        VmLogWriter(self.clone())
    }
}

/// Copies QEMU's output (the guest console and QEMU's own messages) into the
/// log, line by line.
pub(crate) fn pump_output(child: &mut Child, log: &VmLog) -> Vec<JoinHandle<()>> {
    let mut pumps = Vec::new();
    let streams: [Option<Box<dyn Read + Send>>; 2] = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ];
    for stream in streams.into_iter().flatten() {
        let log = log.clone();
        pumps.push(std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut line = Vec::new();
            while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                log.line("vm", &String::from_utf8_lossy(&line));
                line.clear();
            }
        }));
    }
    pumps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_a_bounded_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vm.log");
        let log = VmLog::open(&path).unwrap();
        let line = "x".repeat(1000);
        for _ in 0..(MAX_LOG_BYTES / 1000) * (KEPT_LOGS + 3) {
            log.line("vm", &line);
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["vm.log", "vm.log.1", "vm.log.2", "vm.log.3"]);
        for name in names {
            let size = std::fs::metadata(dir.path().join(name)).unwrap().len() as usize;
            assert!(size <= MAX_LOG_BYTES + 2000, "{size}");
        }
    }
}
