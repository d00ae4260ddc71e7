#!/usr/bin/env python3
"""Start -> Ready: `builderbar start` until `status --watch` reports Ready,
against the raw baseline in the same run: the same runner script started by
hand with the same QEMU options, `ssh true` (host key pinned) polled in a
tight loop until it answers. Runs alternate (baseline, ours) so both see the
same machine; the ratio of the medians is the number that matters.

Needs a Secret Service (the builder key lives in the keyring):

    scripts/with-secret-service.sh scripts/bench-start-ready.py [RUNS]
"""
import json, os, re, statistics, subprocess, sys, tempfile, time
from pathlib import Path

import benchlib

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
TITLE = "Start → Ready against the raw runner"


def runner_command(home):
    """The runner and QEMU options the supervisor used, from its log."""
    log = "\n".join(p.read_text(errors="replace") for p in (home / "logs").glob("*.log*"))
    found = re.findall(r'runner=(\S+).*?qemu_opts="?(-qmp unix:\S+ -m (\d+) -smp (\d+))', log)
    if not found:
        raise SystemExit(f"no 'starting the VM' line in the logs under {home / 'logs'}")
    runner, _, memory, cores = found[-1]
    return runner, f"-m {memory} -smp {cores}"


def baseline(work, runner, qemu_opts, port):
    """Seconds from the runner started by hand to the first `ssh true`."""
    sock = work / "qmp.sock"
    env = dict(os.environ, NIX_DISK_IMAGE=str(work / "disk.qcow2"), KEYS=str(work / "keys"),
               TMPDIR=str(work / "tmp"), USE_TMPDIR="1",
               QEMU_OPTS=f"-qmp unix:{sock},server=on,wait=off {qemu_opts}")
    ssh = benchlib.ssh_true(work / "id", work / "known_hosts", port)
    start = time.monotonic()
    vm = subprocess.Popen([runner], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    try:
        while subprocess.run(ssh).returncode != 0:
            if time.monotonic() - start > 180:
                raise SystemExit("the raw runner did not answer SSH within 180 s")
        elapsed = time.monotonic() - start
        benchlib.qmp(sock, "system_powerdown")
        vm.wait(timeout=60)
        return elapsed
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()


def main():
    binary = benchlib.build("release") / "builderbar"
    with tempfile.TemporaryDirectory(prefix="builderbar-bench-") as tmp:
        work = Path(tmp)
        home = work / "home"
        for folder in ("keys", "tmp", "home"):
            (work / folder).mkdir()
        ours = benchlib.Builderbar(binary, home)
        port = benchlib.free_port()
        ours.run("settings", "set", "port", str(port))
        ours.run("keys", "show")  # the builder key, which the monitor logs in with
        # The first start makes the builder key and the disk; not counted.
        ours.start_to_ready()
        ours.stop()
        runner, qemu_opts = runner_command(home)
        host_key = json.loads(ours.run("dev-runner", "--port", str(port), "--json"))["host_key"]
        (work / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}\n")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "id")],
                       check=True)
        (work / "keys" / "builder_ed25519.pub").write_text((work / "id.pub").read_text())
        baseline(work, runner, qemu_opts, port)  # formats its disk; not counted
        rows = []
        for i in range(RUNS):
            raw = baseline(work, runner, qemu_opts, port)
            took = ours.start_to_ready()
            ours.stop()
            rows.append((raw, took))
            print(f"run {i + 1}: raw runner to SSH {raw:.2f} s, builderbar start to Ready {took:.2f} s")
    raw = statistics.median(r[0] for r in rows)
    took = statistics.median(r[1] for r in rows)
    ratio = took / raw
    print(f"median: raw {raw:.2f} s, ours {took:.2f} s, ratio {ratio:.3f}, "
          f"our own {took - raw:+.2f} s")
    benchlib.write_section(TITLE, [
        f"Measured {benchlib.today()} on {benchlib.machine()} with "
        f"`scripts/bench-start-ready.py {RUNS}` (`make bench`, release build): "
        "`builderbar start` until `builderbar status --watch --json` prints Ready, against "
        "the same runner script started by hand with the same QEMU options and `ssh true` "
        "(host key pinned) polled in a tight loop; runs alternate, both on an existing disk. "
        "Goal: ratio ≤ 1.10 and under 1 s of our own.",
        "",
        "| run | raw runner to SSH | `builderbar start` to Ready |",
        "| --- | --- | --- |",
        *[f"| {i + 1} | {r[0]:.2f} s | {r[1]:.2f} s |" for i, r in enumerate(rows)],
        "",
        f"Medians: raw {raw:.2f} s, ours {took:.2f} s — ratio **{ratio:.3f}**, "
        f"our own time **{took - raw:+.2f} s**.",
    ])


if __name__ == "__main__":
    main()
