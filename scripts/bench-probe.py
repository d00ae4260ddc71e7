#!/usr/bin/env python3
"""The health monitor's cost per minute with the builder Ready: CPU time of
`builderbar monitor`, and the processes it starts (counted by strace in a
second, separate minute, since tracing slows what it traces).

Needs a Secret Service (the builder key lives in the keyring):

    scripts/with-secret-service.sh scripts/bench-probe.py [SECONDS]
"""
import json, re, subprocess, sys, tempfile, time
from pathlib import Path

import benchlib

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 60
TITLE = "Health probing per minute"


def started_monitor(ours):
    """`builderbar monitor --json` once it has seen the builder Ready."""
    monitor = subprocess.Popen([ours.binary, "monitor", "--json", "--no-builds"],
                               env=ours.env, stdout=subprocess.PIPE, text=True)
    for line in monitor.stdout:
        if json.loads(line).get("state") == "ready":
            return monitor
    raise SystemExit("the monitor never saw the builder Ready")


def cpu_per_minute(ours):
    monitor = started_monitor(ours)
    try:
        before, start = benchlib.cpu_seconds([monitor.pid]), time.monotonic()
        time.sleep(SECONDS)
        used = benchlib.cpu_seconds([monitor.pid]) - before
        return used * 60 / (time.monotonic() - start)
    finally:
        monitor.terminate()
        monitor.wait()


def processes_per_minute(ours, work):
    monitor = started_monitor(ours)
    trace = work / "strace.txt"
    try:
        tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=execve,fork,vfork,clone,clone3",
                                   "-o", str(trace), "-p", str(monitor.pid)])
        time.sleep(SECONDS)
        tracer.terminate()
        tracer.wait()
    finally:
        monitor.terminate()
        monitor.wait()
    calls = [line for line in trace.read_text().splitlines() if re.search(r"\b(execve|fork|vfork|clone3?)\(", line)]
    # A thread shares the process; only new processes (and programs) count.
    spawned = [c for c in calls if "CLONE_THREAD" not in c and "resumed" not in c]
    return len(spawned) * 60 / SECONDS, len(calls) - len(spawned)


def main():
    binary = benchlib.build("release") / "builderbar"
    with tempfile.TemporaryDirectory(prefix="builderbar-bench-") as tmp:
        work = Path(tmp)
        ours = benchlib.Builderbar(binary, work / "home")
        ours.run("settings", "set", "port", str(benchlib.free_port()))
        ours.run("keys", "show")  # the builder key, which the monitor logs in with
        ours.start_to_ready()
        try:
            cpu = cpu_per_minute(ours)
            spawned, threads = processes_per_minute(ours, work)
        finally:
            ours.stop()
    print(f"health monitor, builder Ready: {cpu * 1000:.0f} ms CPU per minute, "
          f"{spawned:.0f} processes started per minute ({threads} threads)")
    benchlib.write_section(TITLE, [
        f"Measured {benchlib.today()} on {benchlib.machine()} with "
        f"`scripts/bench-probe.py {SECONDS}` (`make bench`, release build): `builderbar monitor "
        "--json --no-builds` (the core the app embeds) with the builder Ready, its CPU time "
        f"over {SECONDS} s; then, in a separate run, every fork, clone and exec it made, traced "
        "by strace. Goal: no process per tick.",
        "",
        f"CPU **{cpu * 1000:.0f} ms per minute** ({cpu / 60 * 100:.3f}% of one core); "
        f"**{spawned:.0f} processes started per minute** (threads made by the async runtime: "
        f"{threads}).",
    ])


if __name__ == "__main__":
    main()
