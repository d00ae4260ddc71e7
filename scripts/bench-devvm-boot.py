#!/usr/bin/env python3
"""Boot-to-SSH of the dev VM: runner started -> first successful `ssh true`.

Boots the VM several times, on a blank disk (first boot formats it) and on a
disk that already holds a filesystem, polling real OpenSSH (host key pinned)
every 100 ms. Prints each run and the medians, and rewrites the matching
section of docs/BENCHMARKS.md.

    scripts/bench-devvm-boot.py [RUNS]
"""
import json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

import benchlib

ROOT = benchlib.ROOT
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5


def boot_once(work: Path, keep_disk: bool):
    port = benchlib.free_port()
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
               QEMU_OPTS=f"-qmp unix:{sock},server=on,wait=off",
               QEMU_NET_OPTS=info["qemu_net_opts"])
    ssh = benchlib.ssh_true(work / "id", work / "known_hosts", port)
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
        benchlib.qmp(sock, "system_powerdown")
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
    benchlib.write_section("Dev VM: boot to SSH", [
        f"Measured {benchlib.today()} on {benchlib.machine()} with "
        f"`scripts/bench-devvm-boot.py {RUNS}` (`make bench`), the dev VM's "
        f"{os.environ.get('BUILDERBAR_DEVVM_FLAVOUR') or 'nix'} flavour: runner started until the first "
        "`ssh true` with the host key pinned succeeds (polled every 100 ms); power-down is QMP "
        "`system_powerdown` until QEMU exits.",
        "",
        "| disk | median boot to SSH | runs |",
        "| --- | --- | --- |",
        *[f"| {k} | {med[k]:.2f} s | {', '.join(f'{r[1]:.2f}' for r in rows if r[0] == k)} |"
          for k in med],
        "",
        f"Median power-down: {down:.2f} s.",
    ])

if __name__ == "__main__":
    main()
