//! The builder's disk: created at the configured size, grown when the
//! setting grows (never shrunk), wiped at every start when ephemeral.
//!
//! nixpkgs' builder keeps a bare ext4 filesystem inside its qcow2 and never
//! grows it, which is why a changed disk size is silently ignored there. For
//! that layout the filesystem is grown here, on the host, with the VM
//! stopped: the image is unpacked to a sparse raw file, enlarged, checked and
//! resized with e2fsprogs, and packed again — then renamed over the old one,
//! so a failure at any step leaves the old disk as it was.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::vm::config::DiskLayout;
use crate::vm::exit::{SupervisorError, human_bytes};

/// The host tools disk work needs. On macOS the Nix wiring provides them
/// from nixpkgs; on Linux they come from Debian.
#[derive(Debug, Clone)]
pub struct DiskTools {
    pub qemu_img: PathBuf,
    pub mke2fs: PathBuf,
    pub e2fsck: PathBuf,
    pub resize2fs: PathBuf,
}

impl DiskTools {
    /// Finds the tools on PATH (plus the sbin folders, where e2fsprogs lives).
    pub fn from_path() -> Result<DiskTools, SupervisorError> {
        Ok(DiskTools {
            qemu_img: find_tool("qemu-img", "QEMU")?,
            mke2fs: find_tool("mke2fs", "e2fsprogs")?,
            e2fsck: find_tool("e2fsck", "e2fsprogs")?,
            resize2fs: find_tool("resize2fs", "e2fsprogs")?,
        })
    }
}

fn find_tool(name: &str, package: &str) -> Result<PathBuf, SupervisorError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            SupervisorError::Disk(format!(
                "`{name}` was not found; install {package} (on macOS, run the builder setup again)"
            ))
        })
}

/// What `prepare` did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskAction {
    Created,
    Grown { from: u64 },
    Kept,
}

/// Makes the disk match the settings before a boot.
pub fn prepare(
    tools: &DiskTools,
    disk: &Path,
    bytes: u64,
    layout: DiskLayout,
    ephemeral: bool,
) -> Result<DiskAction, SupervisorError> {
    if ephemeral && disk.exists() {
        std::fs::remove_file(disk).map_err(SupervisorError::io("wipe", disk))?;
    }
    if !disk.exists() {
        create(tools, disk, bytes, layout)?;
        return Ok(DiskAction::Created);
    }
    let current = virtual_size(tools, disk)?;
    if bytes < current {
        return Err(SupervisorError::DiskShrink {
            current: human_bytes(current),
            requested: human_bytes(bytes),
        });
    }
    if bytes == current {
        return Ok(DiskAction::Kept);
    }
    match layout {
        DiskLayout::GuestManaged => run(Command::new(&tools.qemu_img)
            .args(["resize", "-q", "-f", "qcow2"])
            .arg(disk)
            .arg(bytes.to_string()))
        .map(drop)?,
        DiskLayout::BareExt4 => grow_bare_ext4(tools, disk, bytes)?,
    }
    Ok(DiskAction::Grown { from: current })
}

/// The virtual size recorded in a qcow2 image's header (big-endian, at
/// byte 24), read without running anything; `None` when there is no image.
pub fn qcow2_virtual_size(disk: &Path) -> std::io::Result<Option<u64>> {
    use std::io::Read;
    let mut header = [0u8; 32];
    match std::fs::File::open(disk) {
        Ok(mut file) => file.read_exact(&mut header)?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    }
    if &header[..4] != b"QFI\xfb" {
        return Err(std::io::Error::other("not a qcow2 image"));
    }
    let mut size = [0u8; 8];
    size.copy_from_slice(&header[24..32]);
    Ok(Some(u64::from_be_bytes(size)))
}

/// The image's size as the guest sees it.
pub fn virtual_size(tools: &DiskTools, disk: &Path) -> Result<u64, SupervisorError> {
    let output = run(Command::new(&tools.qemu_img)
        .args(["info", "--output=json", "-f", "qcow2"])
        .arg(disk))?;
    let info: serde_json::Value = serde_json::from_slice(&output).map_err(|err| {
        SupervisorError::Disk(format!("qemu-img info printed something unexpected: {err}"))
    })?;
    info["virtual-size"]
        .as_u64()
        .ok_or_else(|| SupervisorError::Disk("qemu-img info did not report the disk's size".into()))
}

/// Creates the image beside its final path and renames it into place, so a
/// failure (a full host disk, say) never leaves a half-made image that a
/// later start would take for a good one.
fn create(
    tools: &DiskTools,
    disk: &Path,
    bytes: u64,
    layout: DiskLayout,
) -> Result<(), SupervisorError> {
    let scratch = Scratch::beside(disk, "new.qcow2");
    match layout {
        DiskLayout::GuestManaged => run(Command::new(&tools.qemu_img)
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&scratch.0)
            .arg(bytes.to_string()))
        .map(drop)?,
        DiskLayout::BareExt4 => {
            // The same shape nixpkgs' runner creates: ext4 labelled "nixos"
            // directly in the image, no partition table.
            let raw = Scratch::beside(disk, "new.raw");
            let file =
                std::fs::File::create(&raw.0).map_err(SupervisorError::io("create", &raw.0))?;
            file.set_len(bytes)
                .map_err(SupervisorError::io("size", &raw.0))?;
            drop(file);
            run(Command::new(&tools.mke2fs)
                .args(["-q", "-F", "-t", "ext4", "-L", "nixos"])
                .arg(&raw.0))
            .map(drop)?;
            convert(tools, &raw.0, "raw", &scratch.0, "qcow2")?;
        }
    }
    scratch.persist(disk)
}

fn grow_bare_ext4(tools: &DiskTools, disk: &Path, bytes: u64) -> Result<(), SupervisorError> {
    let raw = Scratch::beside(disk, "grow.raw");
    convert(tools, disk, "qcow2", &raw.0, "raw")?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&raw.0)
        .map_err(SupervisorError::io("open", &raw.0))?;
    file.set_len(bytes)
        .map_err(SupervisorError::io("enlarge", &raw.0))?;
    drop(file);
    // e2fsck exits 1 when it fixed something; only 4 and above are failures.
    let check = Command::new(&tools.e2fsck)
        .args(["-f", "-y"])
        .arg(&raw.0)
        .output()
        .map_err(SupervisorError::io("run", &tools.e2fsck))?;
    if check.status.code().is_none_or(|code| code >= 4) {
        return Err(SupervisorError::Disk(format!(
            "the disk's filesystem has errors e2fsck could not repair: {}",
            String::from_utf8_lossy(&check.stdout).trim()
        )));
    }
    run(Command::new(&tools.resize2fs).arg(&raw.0))?;
    let grown = Scratch::beside(disk, "grow.qcow2");
    convert(tools, &raw.0, "raw", &grown.0, "qcow2")?;
    grown.persist(disk)
}

fn convert(
    tools: &DiskTools,
    from: &Path,
    from_format: &str,
    to: &Path,
    to_format: &str,
) -> Result<(), SupervisorError> {
    run(Command::new(&tools.qemu_img)
        .args(["convert", "-q", "-f", from_format, "-O", to_format])
        .arg(from)
        .arg(to))
    .map(drop)
}

fn run(command: &mut Command) -> Result<Vec<u8>, SupervisorError> {
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command
        .output()
        .map_err(|err| SupervisorError::Disk(format!("could not run {program}: {err}")))?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("No space left") {
        return Err(SupervisorError::NoSpace(format!(
            "the disk ran full while {program} was working on the builder's disk"
        )));
    }
    Err(SupervisorError::Disk(format!(
        "{program} failed: {}",
        stderr.trim()
    )))
}

/// A file beside the disk that is removed unless it is renamed into place.
struct Scratch(PathBuf);

impl Scratch {
    fn beside(disk: &Path, suffix: &str) -> Scratch {
        let mut name = disk.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".{suffix}"));
        let path = disk.with_file_name(name);
        let _ = std::fs::remove_file(&path); // left over from a crash
        Scratch(path)
    }

    fn persist(self, target: &Path) -> Result<(), SupervisorError> {
        std::fs::rename(&self.0, target).map_err(SupervisorError::io("move into place", target))?;
        if let Some(dir) = target.parent() {
            let _ = crate::fsutil::sync_dir(dir);
        }
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
