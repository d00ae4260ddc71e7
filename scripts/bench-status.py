#!/usr/bin/env python3
"""`builderbar status --json` wall time, median of N runs, and its section of
docs/BENCHMARKS.md. Uses the release build. Two cases: the builder stopped,
and the builder Ready with a health monitor publishing its word (what plain
`status` reads instead of probing; needs a Secret Service for the builder
key: `make bench` runs it under scripts/with-secret-service.sh).

    scripts/bench-status.py [RUNS]
"""
import json, os, statistics, subprocess, sys, tempfile, time

import benchlib

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 50
binary = benchlib.build("release") / "builderbar"


def timed(env):
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([binary, "status", "--json"], env=env, check=True, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), sorted(times)[int(RUNS * 0.9)]


def builder_state(ours):
    return json.loads(ours.run("status", "--json"))["builder"]["state"]


with tempfile.TemporaryDirectory(prefix="builderbar-bench-") as home:
    stopped = timed(dict(os.environ, BUILDERBAR_HOME=home))

with tempfile.TemporaryDirectory(prefix="builderbar-bench-") as home:
    ours = benchlib.Builderbar(binary, home)
    ours.run("settings", "set", "port", str(benchlib.free_port()))
    ours.run("settings", "set", "memory", "1GiB")
    ours.run("settings", "set", "cores", "1")
    ours.run("keys", "show")  # the builder key, which the monitor logs in with
    ours.run("start")
    monitor = subprocess.Popen([binary, "monitor", "--no-builds"], env=ours.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        benchlib.wait_for(lambda: builder_state(ours) == "ready", 180, "the builder to be Ready", 0.5)
        ready = timed(ours.env)
    finally:
        monitor.terminate()
        monitor.wait()
        ours.run("stop")

for case, (median, p90) in (("builder stopped", stopped), ("builder Ready, monitor publishing", ready)):
    print(f"builderbar status --json, {case}: median {median:.1f} ms, p90 {p90:.1f} ms over {RUNS} runs")
benchlib.write_section("`builderbar status --json`", [
    f"Measured {benchlib.today()} on {benchlib.machine()} with "
    f"`scripts/bench-status.py {RUNS}` (`make bench`): wall time of the release build, process "
    "start to exit, Linux service backend; once with the builder stopped, once with the dev VM "
    "Ready and `builderbar monitor` publishing its word (`state/health.json`), which plain "
    "`status` reads to say Ready — no Keychain read, no SSH. Goal: under 50 ms.",
    "",
    f"Builder stopped: median {stopped[0]:.1f} ms; p90 {stopped[1]:.1f} ms.",
    f"Builder Ready, monitor publishing: median {ready[0]:.1f} ms; p90 {ready[1]:.1f} ms.",
])
