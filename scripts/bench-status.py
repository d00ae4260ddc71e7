#!/usr/bin/env python3
"""`builderbar status --json` wall time, median of N runs, and its section of
docs/BENCHMARKS.md. Uses the debug build that `make bench` builds.

    scripts/bench-status.py [RUNS]
"""
import os, platform, statistics, subprocess, sys, tempfile, time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 50
target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
subprocess.run(["cargo", "build", "--quiet", "-p", "builderbar"], cwd=ROOT, check=True)
binary = target / "debug" / "builderbar"

with tempfile.TemporaryDirectory(prefix="builderbar-bench-") as home:
    env = dict(os.environ, BUILDERBAR_HOME=home)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([binary, "status", "--json"], env=env, check=True, capture_output=True)
        times.append((time.perf_counter() - start) * 1000)

median = statistics.median(times)
print(f"builderbar status --json: median {median:.1f} ms, p90 {sorted(times)[int(RUNS * 0.9)]:.1f} ms over {RUNS} runs")
section = "\n".join([
    "## `builderbar status --json`",
    "",
    f"Measured {date.today()} on {platform.node()} ({os.cpu_count()} cores) with "
    f"`scripts/bench-status.py {RUNS}` (`make bench`): wall time of the debug build, process "
    "start to exit, builder stopped, Linux service backend. Goal: under 50 ms.",
    "",
    f"Median {median:.1f} ms; p90 {sorted(times)[int(RUNS * 0.9)]:.1f} ms.",
    "",
])
path = ROOT / "docs" / "BENCHMARKS.md"
text = path.read_text()
start = text.find("## `builderbar status --json`")
if start >= 0:
    end = text.find("\n## ", start + 1)
    text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
else:
    text = text.rstrip("\n") + "\n\n" + section
path.write_text(text)
