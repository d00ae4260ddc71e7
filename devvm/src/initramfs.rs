//! A root filesystem held in memory and written as a `newc` cpio archive, the
//! format the kernel unpacks into its initial root. Written here rather than
//! by a `cpio` command so that device nodes and ownership need no root
//! privileges and the archive is the same bytes for the same inputs.

use std::collections::BTreeMap;
use std::io::{self, Write};

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

#[derive(Debug)]
enum Node {
    Dir { mode: u32 },
    File { mode: u32, data: Vec<u8> },
    Symlink { target: String },
    CharDevice { mode: u32, major: u32, minor: u32 },
}

/// Paths are absolute in the guest ("/etc/passwd"); parents are created as
/// 0755 folders when not added explicitly.
#[derive(Debug, Default)]
pub(crate) struct Initramfs {
    nodes: BTreeMap<String, Node>,
}

impl Initramfs {
    pub(crate) fn dir(&mut self, path: &str, mode: u32) {
        self.insert(path, Node::Dir { mode });
    }

    pub(crate) fn file(&mut self, path: &str, mode: u32, data: impl Into<Vec<u8>>) {
        self.insert(
            path,
            Node::File {
                mode,
                data: data.into(),
            },
        );
    }

    pub(crate) fn symlink(&mut self, path: &str, target: &str) {
        self.insert(
            path,
            Node::Symlink {
                target: target.to_string(),
            },
        );
    }

    pub(crate) fn char_device(&mut self, path: &str, mode: u32, major: u32, minor: u32) {
        self.insert(path, Node::CharDevice { mode, major, minor });
    }

    pub(crate) fn contains(&self, path: &str) -> bool {
        self.nodes.contains_key(relative(path))
    }

    fn insert(&mut self, path: &str, node: Node) {
        let path = relative(path);
        let mut parent = String::new();
        for component in path
            .split('/')
            .collect::<Vec<_>>()
            .iter()
            .rev()
            .skip(1)
            .rev()
        {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(component);
            self.nodes
                .entry(parent.clone())
                .or_insert(Node::Dir { mode: 0o755 });
        }
        self.nodes.insert(path.to_string(), node);
    }

    /// Writes the archive. Sorted paths put every folder before its content.
    pub(crate) fn write_to<W: Write>(&self, mut out: W) -> io::Result<W> {
        for (index, (path, node)) in self.nodes.iter().enumerate() {
            let ino = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let entry = cpio::newc::Builder::new(path)
                .ino(ino)
                .uid(0)
                .gid(0)
                .mtime(0);
            out = match node {
                Node::Dir { mode } => entry.mode(S_IFDIR | mode).nlink(2).write(out, 0).finish()?,
                Node::File { mode, data } => {
                    let mut writer = entry
                        .mode(S_IFREG | mode)
                        .nlink(1)
                        .write(out, size(data.len())?);
                    writer.write_all(data)?;
                    writer.finish()?
                }
                Node::Symlink { target } => {
                    let mut writer = entry
                        .mode(S_IFLNK | 0o777)
                        .nlink(1)
                        .write(out, size(target.len())?);
                    writer.write_all(target.as_bytes())?;
                    writer.finish()?
                }
                Node::CharDevice { mode, major, minor } => entry
                    .mode(S_IFCHR | mode)
                    .nlink(1)
                    .rdev_major(*major)
                    .rdev_minor(*minor)
                    .write(out, 0)
                    .finish()?,
            };
        }
        cpio::newc::trailer(out)
    }
}

fn relative(path: &str) -> &str {
    path.trim_start_matches('/')
}

fn size(len: usize) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| io::Error::other("a file is too large for a cpio archive"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(archive: &[u8]) -> Vec<(String, u32)> {
        let mut reader = archive;
        let mut out = Vec::new();
        loop {
            let entry = cpio::NewcReader::new(reader).unwrap();
            if entry.entry().is_trailer() {
                break;
            }
            out.push((entry.entry().name().to_string(), entry.entry().mode()));
            reader = entry.finish().unwrap();
        }
        out
    }

    #[test]
    fn parents_come_first_and_modes_are_kept() {
        let mut fs = Initramfs::default();
        fs.file("/etc/dropbear/key", 0o600, "secret");
        fs.symlink("/bin/sh", "busybox");
        fs.char_device("/dev/console", 0o600, 5, 1);
        let archive = fs.write_to(Vec::new()).unwrap();
        let entries = names(&archive);
        let order: Vec<&str> = entries.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            order,
            [
                "bin",
                "bin/sh",
                "dev",
                "dev/console",
                "etc",
                "etc/dropbear",
                "etc/dropbear/key"
            ]
        );
        assert_eq!(entries[6].1, S_IFREG | 0o600);
        assert_eq!(entries[3].1, S_IFCHR | 0o600);
        assert!(fs.contains("/bin/sh"));
    }
}
