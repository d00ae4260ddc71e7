#!/usr/bin/env python3
"""Boot-to-SSH of the dev VM: runner started -> first successful `ssh true`.

Boots the VM several times, on a blank disk (first boot formats it) and on a
disk that already holds a filesystem, polling real OpenSSH (host key pinned)
every 100 ms. Prints each run and the medians, and rewrites the matching
section of docs/BENCHMARKS.md.

    scripts/bench-devvm-boot.py [RUNS]
"""
import json, os, platform, socket, statistics, subprocess, sys, tempfile, time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qmp(path, command):
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))
        f = s.makefile("rw")
        f.readline()
        for cmd in ("qmp_capabilities", command):
            f.write(json.dumps({"execute": cmd}) + "\n")
            f.flush()
            f.readline()


def boot_once(work: Path, keep_disk: bool):
    port = free_port()
    out = subprocess.run(
        ["cargo", "run", "--quiet", "--", "dev-runner", "--port", str(port), "--json"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    info = json.loads(out)
    (work / "known_hosts").write_text(f"[127.0.0.1]:{port} {info['host_key']}\n")
    disk = work / "disk.qcow2"
    if not keep_disk and disk.exists():
        disk.unlink()
    sock = work / "qmp.sock"
    env = dict(os.environ, NIX_DISK_IMAGE=str(disk), KEYS=str(work / "keys"),
               TMPDIR=str(work / "tmp"), USE_TMPDIR="1",
               QEMU_OPTS=f"-qmp unix:{sock},server=on,wait=off")
    ssh = ["ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
           "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=1", "-o", "LogLevel=QUIET",
           "-o", f"UserKnownHostsFile={work / 'known_hosts'}", "-i", str(work / "id"),
           "-p", str(port), "builder@127.0.0.1", "true"]
    start = time.monotonic()
    vm = subprocess.Popen([info["runner"]], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - start < 120:
            if subprocess.run(ssh).returncode == 0:
                elapsed = time.monotonic() - start
                break
            time.sleep(0.1)
        else:
            raise SystemExit("the VM did not answer SSH within 120 s")
        down = time.monotonic()
        qmp(sock, "system_powerdown")
        vm.wait(timeout=30)
        return elapsed, time.monotonic() - down
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()


def main():
    with tempfile.TemporaryDirectory(prefix="builderbar-bench-") as tmp:
        work = Path(tmp)
        (work / "keys").mkdir()
        (work / "tmp").mkdir()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "id")],
                       check=True)
        (work / "keys" / "builder_ed25519.pub").write_text((work / "id.pub").read_text())
        rows = []
        for i in range(RUNS):
            for keep in (False, True):
                boot, down = boot_once(work, keep)
                kind = "existing disk" if keep else "blank disk"
                rows.append((kind, boot, down))
                print(f"run {i + 1} ({kind}): boot to SSH {boot:.2f} s, power-down {down:.2f} s")
    med = {k: statistics.median(r[1] for r in rows if r[0] == k)
           for k in ("blank disk", "existing disk")}
    down = statistics.median(r[2] for r in rows)
    print(f"median boot to SSH: blank disk {med['blank disk']:.2f} s, "
          f"existing disk {med['existing disk']:.2f} s; median power-down {down:.2f} s")
    section = "\n".join([
        "## Dev VM: boot to SSH",
        "",
        f"Measured {date.today()} on {platform.node()} ({os.cpu_count()} cores, "
        f"{platform.system()} {platform.release()}, QEMU TCG, no KVM) with "
        f"`scripts/bench-devvm-boot.py {RUNS}` (`make bench`): runner started until the first "
        "`ssh true` with the host key pinned succeeds (polled every 100 ms); power-down is QMP "
        "`system_powerdown` until QEMU exits.",
        "",
        "| disk | median boot to SSH | runs |",
        "| --- | --- | --- |",
        *[f"| {k} | {med[k]:.2f} s | {', '.join(f'{r[1]:.2f}' for r in rows if r[0] == k)} |"
          for k in med],
        "",
        f"Median power-down: {down:.2f} s.",
        "",
    ])
    path = ROOT / "docs" / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n\nNumbers from `make bench`; each section says how it was measured.\n\n"
    start = text.find("## Dev VM: boot to SSH")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


if __name__ == "__main__":
    main()
