//! What goes into the guest: the files under `devvm/guest/`, the host's
//! static busybox, dropbear and e2fsprogs with the libraries they link, the
//! kernel modules, and the SSH host key made for this build.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::flavour::Flavour;
use crate::initramfs::Initramfs;
use crate::kernel::Kernel;
use crate::process::run;

/// The guest's own files, versioned with the code that assembles them.
pub(crate) const GUEST_FILES: &[(&str, u32, &str)] = &[
    ("/init", 0o755, include_str!("../guest/init")),
    ("/etc/inittab", 0o644, include_str!("../guest/inittab")),
    ("/etc/shutdown", 0o755, include_str!("../guest/shutdown")),
    (
        "/etc/acpi/PWRF/00000080",
        0o755,
        include_str!("../guest/power-button"),
    ),
    ("/etc/passwd", 0o644, include_str!("../guest/passwd")),
    ("/etc/group", 0o644, include_str!("../guest/group")),
    ("/etc/shells", 0o644, include_str!("../guest/shells")),
    (
        "/etc/nsswitch.conf",
        0o644,
        include_str!("../guest/nsswitch.conf"),
    ),
    ("/etc/hosts", 0o644, include_str!("../guest/hosts")),
];

/// Host programs copied into the guest, and where they go there.
pub(crate) const GUEST_PROGRAMS: &[(&str, &str)] = &[
    ("busybox", "/bin/busybox"),
    ("dropbear", "/usr/sbin/dropbear"),
    ("mke2fs", "/usr/sbin/mke2fs"),
    ("e2fsck", "/usr/sbin/e2fsck"),
    ("resize2fs", "/usr/sbin/resize2fs"),
];

const GUEST_HOST_KEY_PATH: &str = "/etc/dropbear/dropbear_ed25519_host_key";

/// Finds a program the guest needs on the host.
pub(crate) fn host_program(name: &str) -> Result<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| Error::ToolMissing {
            program: name.to_string(),
        })
}

/// Assembles the guest's root filesystem of this flavour around the given
/// host key (in dropbear's format).
pub(crate) fn assemble(kernel: &Kernel, flavour: Flavour, host_key: &[u8]) -> Result<Initramfs> {
    let mut fs = Initramfs::default();
    for dir in [
        "/proc",
        "/sys",
        "/dev",
        "/run",
        "/var/run",
        "/var/keys",
        "/home",
        "/nix",
    ] {
        fs.dir(dir, 0o755);
    }
    fs.dir("/tmp", 0o1777);
    fs.dir("/root", 0o700);
    fs.char_device("/dev/console", 0o600, 5, 1);
    fs.char_device("/dev/null", 0o666, 1, 3);
    for (path, mode, text) in GUEST_FILES {
        fs.file(path, *mode, *text);
    }
    let mke2fs_conf = Path::new("/etc/mke2fs.conf");
    if mke2fs_conf.is_file() {
        fs.file("/etc/mke2fs.conf", 0o644, read(mke2fs_conf)?);
    }
    fs.dir("/etc/dropbear", 0o700);
    fs.file(GUEST_HOST_KEY_PATH, 0o600, host_key);

    for (name, guest_path) in GUEST_PROGRAMS {
        let host_path = host_program(name)?;
        fs.file(guest_path, 0o755, read(&host_path)?);
        for library in linked_libraries(&host_path)? {
            let guest_library = library.to_string_lossy().into_owned();
            if !fs.contains(&guest_library) {
                fs.file(&guest_library, 0o755, read(&library)?);
            }
        }
    }
    if flavour == Flavour::Nix {
        crate::nix::add(&mut fs)?;
    }
    add_busybox_applets(&mut fs)?;

    let mut order = String::new();
    for module in &kernel.modules {
        let name = module
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Broken(format!("module without a name: {}", module.display())))?;
        fs.file(&format!("/lib/modules/{name}"), 0o644, read(module)?);
        order.push_str(&name);
        order.push('\n');
    }
    fs.file("/lib/modules/load-order", 0o644, order);
    Ok(fs)
}

/// Every applet busybox was built with becomes a link to it, unless a real
/// program already sits at that path.
fn add_busybox_applets(fs: &mut Initramfs) -> Result<()> {
    let busybox = host_program("busybox")?;
    let output = run(busybox.as_os_str(), ["--list-full"])?;
    for applet in String::from_utf8_lossy(&output.stdout).lines() {
        let path = format!("/{}", applet.trim());
        if path != "/" && !fs.contains(&path) {
            fs.symlink(&path, "/bin/busybox");
        }
    }
    Ok(())
}

/// The shared libraries a program loads, as `ldd` resolves them on the host.
pub(crate) fn linked_libraries(program: &Path) -> Result<Vec<PathBuf>> {
    let output = std::process::Command::new("ldd")
        .arg(program)
        .output()
        .map_err(|_| Error::ToolMissing {
            program: "ldd".into(),
        })?;
    // `ldd` exits 1 for a static program: it needs nothing.
    if !output.status.success() {
        return Ok(Vec::new());
    }
    let mut libraries = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x…)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x…)"
        let path = match line.split_once("=>") {
            Some((_, resolved)) => resolved.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|word| word.starts_with('/')),
        };
        if let Some(path) = path.filter(|path| path.starts_with('/')) {
            libraries.push(PathBuf::from(path));
        }
    }
    Ok(libraries)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(Error::io("read", path))
}
