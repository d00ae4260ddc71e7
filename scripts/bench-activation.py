#!/usr/bin/env python3
"""The on-demand activation proxy (src/vm/activation.rs) against a direct
loopback connection, and its section of docs/BENCHMARKS.md. Runs the
release build of examples/activation_bench.rs, which prints one JSON object.

    scripts/bench-activation.py
"""
import json, subprocess

import benchlib

out = subprocess.run(
    ["cargo", "run", "--quiet", "--release", "--example", "activation_bench"],
    cwd=benchlib.ROOT, check=True, capture_output=True, text=True,
).stdout
r = json.loads(out.strip().splitlines()[-1])
print(json.dumps(r, indent=2))
extra = r["connect_roundtrip_us_proxied_median"] - r["connect_roundtrip_us_direct_median"]
benchlib.write_section("On-demand activation: the port held by the supervisor", [
    f"Measured {benchlib.today()} on {benchlib.machine()} with "
    "`scripts/bench-activation.py` (`make bench`): the release build of "
    "`examples/activation_bench.rs`, loopback only, an echo server standing in "
    "for the guest's sshd (QEMU's private forward). It decides between proxying "
    "and handing the socket over: QEMU's user network cannot take a listening "
    "socket for a host forward, so the held connection is proxied, and this "
    "measures what that costs.",
    "",
    "| | direct | through the held port |",
    "| --- | --- | --- |",
    f"| connect + 1-byte round trip, median ({r['samples']} runs) | {r['connect_roundtrip_us_direct_median']:.0f} µs "
    f"| {r['connect_roundtrip_us_proxied_median']:.0f} µs (+{extra:.0f} µs) |",
    f"| the same, p99 | {r['connect_roundtrip_us_direct_p99']:.0f} µs | {r['connect_roundtrip_us_proxied_p99']:.0f} µs |",
    f"| 256 MiB echoed through one connection | {r['throughput_mib_s_direct']:.0f} MiB/s "
    f"| {r['throughput_mib_s_proxied']:.0f} MiB/s |",
    "",
    f"A connection held while the VM sleeps reaches the guest {r['hand_over_ms_median']:.2f} ms "
    f"(median of 20; at most {r['hand_over_ms_max']:.2f} ms) after the guest is known to answer: "
    "far under the goal of 1 s of our own on top of the boot. While it only holds the port the "
    f"process woke {r['wakeups_per_minute_asleep']} times a minute (context switches of its "
    "threads over 10 s; the listener blocks in accept). The splice copies through user space, "
    "about half the direct loopback rate; a build's transfers also cross QEMU's user network, "
    "which this does not measure.",
])
