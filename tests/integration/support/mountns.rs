//! A small tmpfs mounted in a private mount namespace (`unshare -m`): a
//! host disk of a chosen size that only the processes started in it see.
//! Nothing is mounted in the machine's own namespace, so a failed test
//! leaves no mount behind: the namespace ends with its last process.
//!
//! The namespace lives as long as a holder process (`cat`, waiting on its
//! stdin); programs are started in it with `nsenter`, and the test reads
//! and changes its files through `/proc/<holder>/root`.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct MountNs {
    holder: Child,
}

impl MountNs {
    /// A namespace in which a tmpfs of `size` (`mount -o size=…`) is
    /// mounted on `target` (which must exist).
    pub fn with_tmpfs(target: &Path, size: &str) -> MountNs {
        let mut holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount -t tmpfs -o "size=$1,mode=0755" tmpfs "$2" && echo mounted && exec cat"#)
            .args(["sh", size])
            .arg(target)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux)");
        // Either "mounted", or end of file when the mount failed.
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim() != "mounted" {
            let out = holder.wait_with_output().unwrap();
            panic!(
                "could not mount a tmpfs in a private namespace: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        MountNs { holder }
    }

    /// `program` started inside the namespace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("nsenter");
        command
            .arg("--target")
            .arg(self.holder.id().to_string())
            .args(["--mount", "--"])
            .arg(program);
        command
    }

    /// Where `path`, as the namespace sees it, is seen from outside.
    pub fn path(&self, path: &Path) -> PathBuf {
        let inside = path.strip_prefix("/").unwrap_or(path);
        PathBuf::from(format!("/proc/{}/root", self.holder.id())).join(inside)
    }
}

impl Drop for MountNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
