//! The guest kernel: Debian's own, fetched as a package (never installed on
//! the host), unpacked once per version into the cache.
//!
//! Under software emulation the uncompressed `vmlinux` boots seconds faster
//! than the `vmlinuz` it is packed in, so it is unpacked here too, and the
//! modules the guest needs are listed in the order they must be loaded.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};
use crate::process::{run, run_command};

/// The Debian metapackage that always names the current kernel.
const KERNEL_METAPACKAGE: &str = "linux-image-amd64";

/// Everything the guest needs beyond what is built into Debian's kernel.
const GUEST_MODULES: &[&str] = &[
    "virtio_pci",
    "virtio_net",
    "virtio_blk",
    "virtio_rng",
    "9pnet_virtio",
    "9p",
    "ext4",
    "button",
    "evdev",
];

/// An unpacked kernel: the bootable image and its modules in load order.
#[derive(Debug, Clone)]
pub(crate) struct Kernel {
    /// The `.deb` it came from (its file name carries the exact version).
    pub package_file: String,
    pub vmlinux: PathBuf,
    /// Absolute paths of the module files, dependencies first.
    pub modules: Vec<PathBuf>,
}

/// Returns the current Debian kernel, fetching and unpacking it on first use.
pub(crate) fn ensure_kernel(cache: &Path) -> Result<Kernel> {
    let package = remembered_kernel_package(cache)?;
    let debs = cache.join("debs");
    let deb = match find_deb(&debs, &package)? {
        Some(deb) => deb,
        None => download(&debs, &package)?,
    };
    let package_file = file_name(&deb);
    let dir = cache
        .join("kernel")
        .join(package_file.trim_end_matches(".deb"));
    if !dir.join("ok").exists() {
        unpack(&deb, &dir)?;
    }
    let modules = std::fs::read_to_string(dir.join("load-order"))
        .map_err(Error::io("read", dir.join("load-order")))?
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| dir.join("root").join(line))
        .collect();
    Ok(Kernel {
        package_file,
        vmlinux: dir.join("vmlinux"),
        modules,
    })
}

/// Where apt keeps what it knows; the answer below changes only with them.
const APT_STATE: &[&str] = &["/var/lib/apt/lists", "/var/cache/apt/pkgcache.bin"];

/// `current_kernel_package`, remembered until apt's package lists change:
/// asking apt-cache takes ~0.5 s, at every start of the builder.
fn remembered_kernel_package(cache: &Path) -> Result<String> {
    let key = APT_STATE
        .iter()
        .map(|path| {
            let changed = std::fs::metadata(path)
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |since| since.as_nanos());
            format!("{path}={changed}")
        })
        .collect::<Vec<_>>()
        .join(" ");
    let memo = cache.join("kernel-package");
    if let Ok(text) = std::fs::read_to_string(&memo)
        && let Some((seen, package)) = text.trim_end().split_once('\n')
        && seen == key
        && package.starts_with("linux-image-")
    {
        return Ok(package.to_string());
    }
    let package = current_kernel_package()?;
    // Only a cache: a failed write costs the next start half a second. The
    // rename keeps a torn write from ever being read as a package name.
    let partial = cache.join("kernel-package.partial");
    let _ = std::fs::create_dir_all(cache)
        .and_then(|()| std::fs::write(&partial, format!("{key}\n{package}\n")))
        .and_then(|()| std::fs::rename(&partial, &memo));
    Ok(package)
}

fn current_kernel_package() -> Result<String> {
    let output = run("apt-cache", ["depends", KERNEL_METAPACKAGE])?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Depends:"))
        .map(str::trim)
        .find(|dep| dep.starts_with("linux-image-") && !dep.contains(' '))
        .map(str::to_string)
        .ok_or_else(|| {
            Error::KernelNotFound(format!("{KERNEL_METAPACKAGE} names no kernel package"))
        })
}

fn find_deb(debs: &Path, package: &str) -> Result<Option<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(debs) else {
        return Ok(None);
    };
    let prefix = format!("{package}_");
    for entry in entries {
        let entry = entry.map_err(Error::io("list", debs))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".deb") {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

fn download(debs: &Path, package: &str) -> Result<PathBuf> {
    tracing::info!(package, "downloading the dev VM's kernel");
    // Download into a scratch folder and move the result into place, so an
    // interrupted download never looks like a cached package.
    std::fs::create_dir_all(debs).map_err(Error::io("create", debs))?;
    let scratch = tempfile::tempdir_in(debs).map_err(Error::io("create a folder in", debs))?;
    run_command(
        Command::new("apt-get")
            .args(["download", "-q", package])
            .current_dir(scratch.path()),
    )
    .map_err(|err| Error::KernelNotFound(err.to_string()))?;
    let fetched = find_deb(scratch.path(), package)?.ok_or_else(|| {
        Error::KernelNotFound(format!("apt-get download left no {package} package"))
    })?;
    let target = debs.join(file_name(&fetched));
    std::fs::rename(&fetched, &target).map_err(Error::io("move", &target))?;
    Ok(target)
}

fn unpack(deb: &Path, dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(Error::io("clear", dir))?;
    }
    let root = dir.join("root");
    std::fs::create_dir_all(&root).map_err(Error::io("create", &root))?;
    run(
        "dpkg-deb",
        ["-x".as_ref(), deb.as_os_str(), root.as_os_str()],
    )?;

    let release = kernel_release(&root)?;
    let vmlinuz = root.join("boot").join(format!("vmlinuz-{release}"));
    let image = std::fs::read(&vmlinuz).map_err(Error::io("read", &vmlinuz))?;
    let vmlinux = decompress_vmlinux(&image)?;
    let target = dir.join("vmlinux");
    std::fs::write(&target, vmlinux).map_err(Error::io("write", &target))?;

    // The package ships no module index; build one, then ask modprobe for
    // the closure of what the guest needs, in load order.
    run(
        "depmod",
        ["-b".as_ref(), root.as_os_str(), release.as_ref()],
    )?;
    let mut order: Vec<String> = Vec::new();
    for module in GUEST_MODULES {
        let output = run(
            "modprobe",
            [
                "-d".as_ref(),
                root.as_os_str(),
                "-S".as_ref(),
                release.as_ref(),
                "--show-depends".as_ref(),
                module.as_ref(),
            ],
        )?;
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Some(path) = line.strip_prefix("insmod ") else {
                continue; // "builtin …": nothing to load
            };
            let path = path.trim();
            let relative = Path::new(path)
                .strip_prefix(&root)
                .map_err(|_| {
                    Error::Broken(format!(
                        "modprobe named a module outside the kernel: {path}"
                    ))
                })?
                .to_string_lossy()
                .into_owned();
            if !order.contains(&relative) {
                order.push(relative);
            }
        }
    }
    let list = dir.join("load-order");
    std::fs::write(&list, order.join("\n") + "\n").map_err(Error::io("write", &list))?;
    let ok = dir.join("ok");
    std::fs::write(&ok, "").map_err(Error::io("write", &ok))
}

fn kernel_release(root: &Path) -> Result<String> {
    let modules = root.join("lib/modules");
    let mut entries = std::fs::read_dir(&modules).map_err(Error::io("list", &modules))?;
    let entry = entries
        .next()
        .ok_or_else(|| Error::Broken("the kernel package has no modules".into()))?
        .map_err(Error::io("list", &modules))?;
    Ok(entry.file_name().to_string_lossy().into_owned())
}

/// Debian packs its x86 kernels with xz: the payload starts at the first xz
/// stream header inside the bzImage and unpacks to an ELF `vmlinux`, which
/// QEMU boots directly through its PVH entry point.
fn decompress_vmlinux(bzimage: &[u8]) -> Result<Vec<u8>> {
    const XZ_MAGIC: &[u8] = &[0xFD, b'7', b'z', b'X', b'Z', 0x00];
    let start = bzimage
        .windows(XZ_MAGIC.len())
        .position(|window| window == XZ_MAGIC)
        .ok_or_else(|| Error::Broken("the kernel image holds no xz payload".into()))?;
    let payload = &bzimage[start..];
    let mut child = Command::new("xz")
        .args(["--decompress", "--stdout", "--single-stream"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|_| Error::ToolMissing {
            program: "xz".into(),
        })?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| Error::Broken("xz has no input".into()))?;
    let payload = payload.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&payload));
    let output = child.wait_with_output().map_err(Error::io("run", "xz"))?;
    // xz stops reading after the first stream; a broken pipe is expected.
    let _ = writer.join();
    if !output.stdout.starts_with(b"\x7fELF") {
        return Err(Error::Broken(format!(
            "the kernel payload did not unpack to an ELF image: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(output.stdout)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}
