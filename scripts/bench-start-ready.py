#!/usr/bin/env python3
"""Start -> Ready: `builderbar start` until `status --watch` reports Ready,
against two raw baselines in the same run, both the same runner script
started by hand with the same QEMU options:

- ssh loop: `ssh true` (host key pinned) polled in a tight loop until it
  answers: what a person would write;
- boot + one login: nothing polls; the guest's console says when sshd
  listens (dropbear's "Not backgrounding"), and one `ssh true` follows at
  once. No client can know sooner: this is the VM's boot plus one login,
  with no probing of ours or anyone's.

Runs alternate (ssh loop, boot + login, ours) so all see the same machine; the
ratios of the medians are the numbers that matter. The same is measured
with the guest's boot held back by whole seconds before its network comes
up (the dev VM's `builderbar.boot_delay`), because how long a wait on an
early connection costs depends on when in the boot sshd comes up: a
builder that boots slower than the dev VM (nixpkgs' does) must not pay more.

Needs a Secret Service (the builder key lives in the keyring):

    scripts/with-secret-service.sh scripts/bench-start-ready.py [RUNS] [DELAYS]

RUNS per boot delay (default 5); DELAYS in seconds, comma-separated
(default 0,1,2,3).
"""
import json, statistics, subprocess, sys, tempfile
from pathlib import Path

import benchlib

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
DELAYS = [int(d) for d in (sys.argv[2] if len(sys.argv) > 2 else "0,1,2,3").split(",")]
TITLE = "Start → Ready against the raw runner"


def ours_to_ready(ours, delay):
    ours.env.pop("QEMU_KERNEL_PARAMS", None)
    ours.env.update(benchlib.kernel_params(delay))  # the supervisor passes it to the runner
    took = ours.start_to_ready()
    ours.stop()
    return took


def main():
    binary = benchlib.build("release") / "builderbar"
    results = {}
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
        ours_to_ready(ours, 0)
        runner, qemu_opts = benchlib.runner_command(home)
        host_key = json.loads(ours.run("dev-runner", "--port", str(port), "--json"))["host_key"]
        (work / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}\n")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "id")],
                       check=True)
        (work / "keys" / "builder_ed25519.pub").write_text((work / "id.pub").read_text())
        benchlib.boot_and_login(work, runner, qemu_opts, port, 0, False)  # formats its disk; not counted
        for delay in DELAYS:
            rows = results[delay] = []
            for i in range(RUNS):
                rows.append((benchlib.boot_and_login(work, runner, qemu_opts, port, delay, console=False),
                             benchlib.boot_and_login(work, runner, qemu_opts, port, delay, console=True),
                             ours_to_ready(ours, delay)))
                print(f"boot held {delay} s, run {i + 1}: ssh loop {rows[-1][0]:.2f} s, "
                      f"boot + one login {rows[-1][1]:.2f} s, "
                      f"builderbar start to Ready {rows[-1][2]:.2f} s", flush=True)
    table = []
    for delay, rows in results.items():
        loop, login, took = (statistics.median(r[k] for r in rows) for k in range(3))
        table.append((delay, loop, login, took))
        print(f"boot held {delay} s, medians: ssh loop {loop:.2f} s, boot + one login "
              f"{login:.2f} s, ours {took:.2f} s; ratio {took / loop:.3f} against the ssh "
              f"loop, {took / login:.3f} against boot + one login "
              f"({took - login:+.2f} s of our own)")
    worst = max(table, key=lambda row: row[3] / row[2])
    benchlib.write_section(TITLE, [
        f"Measured {benchlib.today()} on {benchlib.machine()} with "
        f"`scripts/bench-start-ready.py {RUNS} {','.join(map(str, DELAYS))}` (`make bench`, "
        "release build): `builderbar start` until `builderbar status --watch --json` prints "
        "Ready, against the same runner script started by hand with the same QEMU options and "
        "timed two ways until `ssh true` (host key pinned) answers: an **ssh loop** (`ssh -o "
        "ConnectTimeout=1 … true` again and again) and **boot + one login** (nothing polls: "
        "when the guest's console says sshd listens, one `ssh true`; no client can know "
        "sooner). Runs alternate, all on an existing disk; medians of "
        f"{RUNS} runs. Each row holds the guest's boot back by whole seconds before its network "
        "comes up (`builderbar.boot_delay`), as a slower builder would. "
        "Goal: ratio ≤ 1.10 and under 1 s of our own.",
        "",
        "| boot held back | ssh loop | boot + one login | `builderbar start` to Ready "
        "| ratio (ssh loop) | ratio (boot + login) | our own (boot + login) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *[f"| {d} s | {loop:.2f} s | {att:.2f} s | {took:.2f} s | {took / loop:.3f} "
          f"| **{took / att:.3f}** | **{took - att:+.2f} s** |"
          for d, loop, att, took in table],
        "",
        f"Worst row against boot + one login: boot held {worst[0]} s, ratio "
        f"**{worst[3] / worst[2]:.3f}**, **{worst[3] - worst[2]:+.2f} s** of our own.",
    ])


if __name__ == "__main__":
    main()
