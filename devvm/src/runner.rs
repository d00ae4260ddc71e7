//! The runner: a script with the same contract as nixpkgs' `run-nixos-vm`
//! from `darwin.linux-builder`, so whatever starts the builder cannot tell
//! the dev VM from the real one.
//!
//! Read from the environment, as `run-nixos-vm` does:
//! - `NIX_DISK_IMAGE`: the qcow2 data disk (created empty when missing);
//! - `TMPDIR` with `USE_TMPDIR=1`: QEMU's working folder (else a new
//!   temporary one);
//! - `KEYS`: the folder shared at /var/keys (`builder_ed25519.pub` there
//!   lists the keys that may log in);
//! - `QEMU_OPTS`: appended last, so a later `-m`/`-smp` wins;
//! - `QEMU_NET_OPTS`: appended to the user-mode netdev — the one SSH
//!   forward comes in here (`hostfwd=tcp:127.0.0.1:PORT-:22`): nothing is
//!   baked in, as in nixpkgs' runner built from BuilderBar's expression
//!   (`virtualisation.forwardPorts = [ ]`);
//! - `QEMU_KERNEL_PARAMS`: appended to the kernel command line.

use std::path::{Path, PathBuf};

use crate::build::DevVm;
use crate::error::{Error, Result};

/// The host-side choices baked into a runner, as nixpkgs bakes them into
/// `run-nixos-vm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerOptions {
    pub memory_mib: u32,
    pub cores: u32,
    /// The size of a data disk the runner creates because none exists.
    pub disk_size_mib: u64,
}

impl Default for RunnerOptions {
    fn default() -> RunnerOptions {
        RunnerOptions {
            memory_mib: 1024,
            cores: 1,
            disk_size_mib: 4096,
        }
    }
}

impl RunnerOptions {
    /// One file per set of options: runners written for different options
    /// at the same time never replace each other.
    fn file_name(&self) -> String {
        format!(
            "run-builder-vm-{}m-{}c-{}d",
            self.memory_mib, self.cores, self.disk_size_mib
        )
    }
}

/// `QEMU_NET_OPTS` for the one SSH forward: from 127.0.0.1 only.
pub fn ssh_forward(port: u16) -> String {
    format!("hostfwd=tcp:127.0.0.1:{port}-:22")
}

/// Writes the runner for these options next to the build and returns its
/// path. Rewriting an identical runner is harmless; the file is replaced
/// atomically, so a runner being started is never half-written.
pub fn write_runner(vm: &DevVm, options: RunnerOptions) -> Result<PathBuf> {
    let qemu = find_on_path("qemu-system-x86_64")?;
    let qemu_img = find_on_path("qemu-img")?;
    let script = render(vm, options, &qemu, &qemu_img);
    let path = vm.dir.join(options.file_name());
    // Written by a child process: the runner is started right after, often
    // by a multi-threaded process (the supervisor, the tests), where a
    // sibling fork would otherwise keep the file busy (ETXTBSY).
    execfile::write(&path, script.as_bytes(), 0o755).map_err(Error::io("write", &path))?;
    Ok(path)
}

fn render(vm: &DevVm, options: RunnerOptions, qemu: &Path, qemu_img: &Path) -> String {
    let RunnerOptions {
        memory_mib,
        cores,
        disk_size_mib,
    } = options;
    let qemu = quote(&qemu.to_string_lossy());
    let qemu_img = quote(&qemu_img.to_string_lossy());
    let kernel = quote(&vm.kernel.to_string_lossy());
    let initrd = quote(&vm.initrd.to_string_lossy());
    format!(
        r#"#!/bin/sh
# BuilderBar's dev VM behind the runner contract of nixpkgs' run-nixos-vm.
# Written by `builderbar dev-runner`. No port is forwarded unless the
# caller asks for one in QEMU_NET_OPTS, as nixpkgs' runner does here.
set -eu

# Commas separate QEMU's sub-options; a comma in a path must be doubled.
qemu_path() {{ printf '%s' "$1" | sed 's/,/,,/g'; }}

NIX_DISK_IMAGE=$(readlink -f "${{NIX_DISK_IMAGE:-./builder.qcow2}}")
if [ ! -e "$NIX_DISK_IMAGE" ]; then
  echo "Disk image does not exist, creating an empty one of {disk_size_mib}M..."
  {qemu_img} create -q -f qcow2 "$NIX_DISK_IMAGE" {disk_size_mib}M
fi

if [ -z "${{TMPDIR:-}}" ] || [ -z "${{USE_TMPDIR:-}}" ]; then
  TMPDIR=$(mktemp -d "${{TMPDIR:-/tmp}}/nix-vm.XXXXXXXXXX")
fi
export TMPDIR

if [ -z "${{KEYS:-}}" ] || [ ! -d "$KEYS" ]; then
  echo "KEYS must name the folder that holds builder_ed25519.pub" >&2
  exit 1
fi
KEYS=$(readlink -f "$KEYS")

# As run-nixos-vm with useHostCerts: the host's CA bundle, shared into the
# guest's /etc/ssl/certs.
mkdir -p "$TMPDIR/certs"
if [ -e "${{NIX_SSL_CERT_FILE:-}}" ]; then
  cp -L "$NIX_SSL_CERT_FILE" "$TMPDIR/certs/ca-certificates.crt"
else
  echo "\$NIX_SSL_CERT_FILE should point to a valid file if virtualisation.useHostCerts is enabled."
fi

cd "$TMPDIR"
# $KEYS is shared as nixpkgs shares it: 9p with QEMU's default mapped-xattr
# model, so the guest sees the owner recorded in user.virtfs.uid, else the
# host's. QEMU_OPTS is split into words on purpose, as run-nixos-vm does.
# shellcheck disable=SC2086
exec {qemu} \
  -name builder \
  -accel tcg \
  -m {memory_mib} \
  -smp {cores} \
  -nodefaults -no-user-config -display none -no-reboot \
  -serial stdio \
  -kernel {kernel} \
  -initrd {initrd} \
  -append "console=ttyS0 panic=-1 quiet ${{QEMU_KERNEL_PARAMS:-}}" \
  -device virtio-rng-pci \
  -netdev "user,id=user.0,restrict=on${{QEMU_NET_OPTS:+,$QEMU_NET_OPTS}}" \
  -device virtio-net-pci,netdev=user.0 \
  -virtfs "local,path=$(qemu_path "$KEYS"),security_model=mapped-xattr,mount_tag=keys" \
  -virtfs "local,path=$(qemu_path "$TMPDIR/certs"),security_model=none,mount_tag=certs" \
  -drive "file=$(qemu_path "$NIX_DISK_IMAGE"),if=virtio,format=qcow2,cache=writeback,werror=report" \
  ${{QEMU_OPTS:-}} \
  "$@"
"#
    )
}

/// Quotes a value for a POSIX shell.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn find_on_path(program: &str) -> Result<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .ok_or_else(|| Error::ToolMissing {
            program: program.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm() -> DevVm {
        DevVm {
            flavour: crate::Flavour::Small,
            dir: PathBuf::from("/cache/builds/abc"),
            kernel: PathBuf::from("/cache/kernel/it's/vmlinux"),
            initrd: PathBuf::from("/cache/builds/abc/initrd.img"),
            host_key: "ssh-ed25519 AAAA".into(),
        }
    }

    #[test]
    fn no_port_is_baked_in_the_forward_comes_from_qemu_net_opts() {
        let script = render(
            &vm(),
            RunnerOptions::default(),
            Path::new("/q"),
            Path::new("/i"),
        );
        assert!(!script.contains("hostfwd"));
        assert!(
            script.contains(
                r#"-netdev "user,id=user.0,restrict=on${QEMU_NET_OPTS:+,$QEMU_NET_OPTS}""#
            )
        );
        assert!(script.contains("-accel tcg"));
        assert_eq!(ssh_forward(40123), "hostfwd=tcp:127.0.0.1:40123-:22");
    }

    #[test]
    fn qemu_opts_come_last_so_they_win() {
        let script = render(
            &vm(),
            RunnerOptions::default(),
            Path::new("/q"),
            Path::new("/i"),
        );
        let opts = script.find("${QEMU_OPTS:-}").unwrap();
        assert!(script.find("-m 1024").unwrap() < opts);
        assert!(script.find("-smp 1").unwrap() < opts);
    }

    #[test]
    fn paths_are_quoted_for_the_shell() {
        let script = render(
            &vm(),
            RunnerOptions::default(),
            Path::new("/q"),
            Path::new("/i"),
        );
        assert!(script.contains(r"'/cache/kernel/it'\''s/vmlinux'"));
    }
}
