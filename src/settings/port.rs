//! Is a port free for the builder's SSH forward? Checked when a change is
//! applied, not as a validation rule: a port can be taken at any time.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};

use super::validate::Problem;

/// Checks that `port` can be listened on at 127.0.0.1 (where the builder's
/// forward listens). When it cannot, the problem names the process holding
/// it where the OS tells (on Linux from /proc, on macOS from lsof).
pub fn check_port_free(port: u16) -> Result<(), Problem> {
    match TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)) {
        Ok(listener) => {
            drop(listener);
            Ok(())
        }
        Err(err) => {
            let holder = if err.kind() == std::io::ErrorKind::AddrInUse {
                port_holder(port)
            } else {
                None
            };
            let message = match (&holder, err.kind()) {
                (Some(h), _) => format!("Port {port} is already in use by {h}."),
                (None, std::io::ErrorKind::AddrInUse) => {
                    format!("Port {port} is already in use by another program.")
                }
                (None, _) => format!("Port {port} cannot be used: {err}."),
            };
            Err(Problem::new(
                "ssh_port",
                message,
                "Pick another port between 1024 and 65535, or stop the program that uses it.",
            ))
        }
    }
}

/// "qemu-system-x86 (pid 1234)" for the process listening on `port`, when
/// it can be found.
pub fn port_holder(port: u16) -> Option<String> {
    imp::port_holder(port)
}

#[cfg(target_os = "linux")]
mod imp {
    pub fn port_holder(port: u16) -> Option<String> {
        let inodes: Vec<u64> = ["/proc/net/tcp", "/proc/net/tcp6"]
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .flat_map(|table| listening_inodes(&table, port))
            .collect();
        if inodes.is_empty() {
            return None;
        }
        let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
        for proc_entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let name = proc_entry.file_name();
            let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
                continue;
            };
            for fd in fds.flatten() {
                if let Ok(target) = std::fs::read_link(fd.path())
                    && wanted.iter().any(|w| target.as_os_str() == w.as_str())
                {
                    let comm = std::fs::read_to_string(proc_entry.path().join("comm"))
                        .map(|c| c.trim().to_owned())
                        .unwrap_or_else(|_| "a process".into());
                    return Some(format!("{comm} (pid {pid})"));
                }
            }
        }
        None
    }

    /// Inodes of sockets listening on `port` in a /proc/net/tcp table.
    pub fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
        table
            .lines()
            .skip(1)
            .filter_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                let local = f.get(1)?;
                let state = f.get(3)?;
                let inode = f.get(9)?.parse().ok()?;
                let p = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
                (p == port && *state == "0A").then_some(inode)
            })
            .collect()
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub fn port_holder(port: u16) -> Option<String> {
        let out = std::process::Command::new("lsof")
            .args(["-nP", &format!("-iTCP:{port}"), "-sTCP:LISTEN", "-Fpc"])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let pid = text.lines().find_map(|l| l.strip_prefix('p'))?;
        let comm = text.lines().find_map(|l| l.strip_prefix('c'))?;
        Some(format!("{comm} (pid {pid})"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_taken_port_names_its_holder() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let problem = check_port_free(port).unwrap_err();
        assert_eq!(problem.field, "ssh_port");
        if cfg!(target_os = "linux") {
            assert!(
                problem
                    .message
                    .contains(&format!("pid {}", std::process::id())),
                "{problem:?}"
            );
        }
        drop(listener);
        assert_eq!(check_port_free(port), Ok(()));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn parses_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:7A5E 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:7A5E 0100007F:9999 01 00000000:00000000 00:00000000 00000000     0        0 999 1\n";
        assert_eq!(imp::listening_inodes(table, 31326), vec![12345]);
        assert!(imp::listening_inodes(table, 22).is_empty());
    }
}
