#!/usr/bin/env python3
"""The idle menu-bar app: CPU and resident memory over a minute, its window
never opened, the builder Ready (so the embedded health monitor is probing).
Counts the app and every process it started.

Needs a desktop session and a Secret Service:

    scripts/with-secret-service.sh xvfb-run -a scripts/bench-idle-app.py [SECONDS]
"""
import statistics, subprocess, sys, tempfile, time
from pathlib import Path

import benchlib

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 60
SETTLE = 10
TITLE = "The idle app"


def tree(pid):
    """The pid and its descendants."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        children = Path(f"/proc/{current}/task/{current}/children")
        if children.exists():
            todo += [int(c) for c in children.read_text().split()]
    return pids


def status_kib(pids, key):
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total


def measure(app_binary, env):
    app = subprocess.Popen([app_binary], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        benchlib.wait_for(lambda: status_kib([app.pid], "VmRSS") > 0, 30, "the app to start")
        time.sleep(SETTLE)  # start-up work is not idle work
        if app.poll() is not None:
            raise SystemExit(f"the app exited with {app.returncode}")
        pids = tree(app.pid)
        cpu_before, start = benchlib.cpu_seconds(pids), time.monotonic()
        rss, anon = [], []
        while time.monotonic() - start < SECONDS:
            pids = tree(app.pid)
            rss.append(status_kib(pids, "VmRSS") / 1024)
            anon.append(status_kib(pids, "RssAnon") / 1024)
            time.sleep(1)
        cpu = (benchlib.cpu_seconds(tree(app.pid)) - cpu_before) / (time.monotonic() - start) * 100
        return cpu, max(rss), statistics.median(rss), max(anon), len(pids)
    finally:
        app.terminate()
        app.wait()


def main():
    folder = benchlib.build("release", ("builderbar", "builderbar-app"))
    with tempfile.TemporaryDirectory(prefix="builderbar-bench-") as tmp:
        ours = benchlib.Builderbar(folder / "builderbar", Path(tmp) / "home")
        # Set up for real, as a user would have before: the app then starts
        # into the menu bar with no window. Linux wires a sysroot folder.
        sysroot = Path(tmp) / "sysroot"
        (sysroot / "etc" / "nix").mkdir(parents=True)
        (sysroot / "etc" / "nix" / "nix.conf").touch()
        ours.env["BUILDERBAR_SYSROOT"] = str(sysroot)
        ours.run("settings", "set", "port", str(benchlib.free_port()))
        ours.run("setup", "--yes")
        try:
            cpu, rss_max, rss_median, anon_max, processes = measure(
                folder / "builderbar-app", ours.env)
        finally:
            ours.stop()
    print(f"idle app over {SECONDS} s: CPU {cpu:.2f}% of one core, RSS max {rss_max:.1f} MB "
          f"(median {rss_median:.1f}, anonymous {anon_max:.1f}), {processes} process(es)")
    benchlib.write_section(TITLE, [
        f"Measured {benchlib.today()} on {benchlib.machine()} with "
        f"`scripts/bench-idle-app.py {SECONDS}` (`make bench`, release build, Xvfb, "
        "gnome-keyring): after `builderbar setup`, the app started into the menu bar (no window) "
        "with the builder Ready "
        f"(its health monitor probing); after {SETTLE} s of start-up, CPU time and resident "
        f"memory of the app and every process it started, sampled each second for {SECONDS} s. "
        "Goal: under 0.5% of one core and under 80 MB.",
        "",
        f"CPU **{cpu:.2f}%** of one core; resident memory **{rss_max:.1f} MB** at most "
        f"(median {rss_median:.1f} MB; {anon_max:.1f} MB of it anonymous, the rest shared "
        f"library pages); {processes} process(es).",
    ])


if __name__ == "__main__":
    main()
