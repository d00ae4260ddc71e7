//! A sysroot with a Nix of its own (the files a Mac's `/etc` would hold),
//! a byte-for-byte view of a tree, and `builderbar install` through the
//! osascript double (`tests/doubles/osascript`).

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;

use super::home::Home;

/// The double that stands in for macOS's osascript.
pub const OSASCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/doubles/osascript");

/// Every file and folder under `root`: kind, mode, owner and bytes.
pub fn tree(root: &Path) -> BTreeMap<PathBuf, (u32, u32, Option<Vec<u8>>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let bytes = if meta.is_dir() {
                stack.push(path.clone());
                None
            } else if meta.file_type().is_symlink() {
                Some(
                    std::fs::read_link(&path)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                )
            } else {
                Some(std::fs::read(&path).unwrap())
            };
            out.insert(rel, (meta.permissions().mode(), meta.uid(), bytes));
        }
    }
    out
}

/// A sysroot with a Nix of its own: a nix.conf and a machines file with
/// content of their own (the machines file without a final newline).
pub fn sysroot() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("bb-sysroot-")
        .tempdir()
        .unwrap();
    let nix = dir.path().join("etc/nix");
    std::fs::create_dir_all(&nix).unwrap();
    std::fs::create_dir_all(dir.path().join("etc/ssh")).unwrap();
    std::fs::write(
        dir.path().join("etc/ssh/ssh_config"),
        "# as macOS ships it\nInclude /etc/ssh/ssh_config.d/*\n",
    )
    .unwrap();
    std::fs::write(
        nix.join("nix.conf"),
        "# the owner's own settings\nbuild-users-group = nixbld\nmax-jobs = auto\n",
    )
    .unwrap();
    std::fs::set_permissions(nix.join("nix.conf"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(
        nix.join("machines"),
        "ssh://someone@elsewhere x86_64-linux - 2",
    )
    .unwrap();
    dir
}

pub fn install(home: &Home, root: &Path, extra_env: &[(&str, &str)]) -> Output {
    let mut command = home.command();
    command
        .env("BUILDERBAR_OSASCRIPT", OSASCRIPT)
        .args(["install", "--sysroot"])
        .arg(root);
    for (k, v) in extra_env {
        command.env(k, v);
    }
    command.output().unwrap()
}

/// One check of `builderbar doctor --json` under the sysroot.
pub fn doctor_check(home: &Home, root: &Path, name: &str) -> serde_json::Value {
    let doctor = home
        .command()
        .args(["doctor", "--json", "--sysroot"])
        .arg(root)
        .output()
        .unwrap();
    let checks: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks}"))
        .clone()
}

pub fn uninstall(home: &Home, root: &Path) -> Output {
    home.command()
        .env("BUILDERBAR_OSASCRIPT", OSASCRIPT)
        .args(["uninstall", "--sysroot"])
        .arg(root)
        .output()
        .unwrap()
}
