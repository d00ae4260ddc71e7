#!/usr/bin/env python3
"""`builderbar status --json` wall time, median of N runs, and its section of
docs/BENCHMARKS.md. Uses the release build.

    scripts/bench-status.py [RUNS]
"""
import os, statistics, subprocess, sys, tempfile, time

import benchlib

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 50
binary = benchlib.build("release") / "builderbar"

with tempfile.TemporaryDirectory(prefix="builderbar-bench-") as home:
    env = dict(os.environ, BUILDERBAR_HOME=home)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([binary, "status", "--json"], env=env, check=True, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)

median = statistics.median(times)
print(f"builderbar status --json: median {median:.1f} ms, p90 {sorted(times)[int(RUNS * 0.9)]:.1f} ms over {RUNS} runs")
benchlib.write_section("`builderbar status --json`", [
    f"Measured {benchlib.today()} on {benchlib.machine()} with "
    f"`scripts/bench-status.py {RUNS}` (`make bench`): wall time of the release build, process "
    "start to exit, builder stopped, Linux service backend. Goal: under 50 ms.",
    "",
    f"Median {median:.1f} ms; p90 {sorted(times)[int(RUNS * 0.9)]:.1f} ms.",
])
