#!/usr/bin/env python3
"""Failure detection: kill -9 of QEMU until the health monitor reports the
new state, ten times. The measuring is the ignored Rust test
`bench_kill_to_state_change` (the real dev VM under the supervisor, the
monitor subscribed); this runs it and files its numbers.

    scripts/with-secret-service.sh scripts/bench-kill-to-state.py
"""
import re, subprocess

import benchlib

COMMAND = ["cargo", "test", "--quiet", "--test", "integration", "--", "--ignored",
           "--nocapture", "--exact", "health::bench_kill_to_state_change"]

out = subprocess.run(COMMAND, cwd=benchlib.ROOT, check=True, capture_output=True,
                     text=True).stdout
found = re.search(r"median (\S+) \(min (\S+), max (\S+); n=(\d+)", out)
if not found:
    raise SystemExit(f"no result line in the test's output:\n{out}")
median, low, high, runs = found.groups()
print(f"kill -9 of QEMU -> state change: median {median} (min {low}, max {high}) over {runs}")
benchlib.write_section("Failure detection: kill -9 of QEMU → state change", [
    f"Measured {benchlib.today()} on {benchlib.machine()} with "
    "`scripts/bench-kill-to-state.py` (`make bench`), which runs the ignored benchmark test "
    "`health::bench_kill_to_state_change`: the real dev VM under the supervisor, the health "
    f"monitor subscribed, QEMU killed {runs} times; time from the kill to the monitor's new "
    "state (including the test's 20 ms polling of the monitor's output). Goal: median under 2 s.",
    "",
    f"Median **{median}** (min {low}, max {high}) over {runs}.",
])
