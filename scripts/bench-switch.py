#!/usr/bin/env python3
"""Runner switches, and their section of docs/BENCHMARKS.md:

- a switch: `builderbar runner switch N` from the call until it returns
  with generation N Ready (a clean stop of the running builder, the start,
  the wait for the health monitor's Ready), between two generations that
  run the same dev VM;
- a way back: the same call to a generation whose runner exits at once,
  until it returns with the generation before Ready again;
- for scale, `builderbar restart` until `status --watch` says Ready.

Each round's generations are written into the store beside the others
(a copy of the dev VM's runner, made by the first start, and a broken one),
as newer builds would be.
Linux service backend; the dev VM's Nix flavour.

    scripts/with-secret-service.sh scripts/bench-switch.py [RUNS]
"""
import json, statistics, subprocess, sys, tempfile, time
from pathlib import Path

import benchlib

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
TITLE = "Runner switch and the way back"
BROKEN = "#!/bin/sh\necho 'qemu: this runner cannot boot' >&2\nexit 1\n"


def add_generation(home, text):
    """Keeps a generation whose runner is `text` beside the others (as a
    failed one, which a switch may try again), as a newer build would be;
    returns its number."""
    store_file = home / "generations" / "store.json"
    store = json.loads(store_file.read_text())
    number = max(g["number"] for g in store["generations"]) + 1
    folder = home / "generations" / str(number)
    folder.mkdir()
    runner = folder / "runner"
    runner.write_text(text)
    runner.chmod(0o755)
    store["generations"].append({
        "number": number, "runner": str(runner), "built_from": f"bench {number}",
        "identity": f"bench {number}", "made_at": store["generations"][0]["made_at"],
        "state": "failed", "reason": "not tried yet",
    })
    store_file.write_text(json.dumps(store))
    return number


def switch(ours, number, ok):
    start = time.monotonic()
    result = subprocess.run([ours.binary, "runner", "switch", str(number)], env=ours.env,
                            capture_output=True, text=True)
    took = time.monotonic() - start
    if (result.returncode == 0) != ok:
        raise SystemExit(f"runner switch {number}: {result.stdout}{result.stderr}")
    return took


def main():
    binary = benchlib.build("release") / "builderbar"
    with tempfile.TemporaryDirectory(prefix="builderbar-bench-") as tmp:
        home = Path(tmp) / "home"
        ours = benchlib.Builderbar(binary, home)
        ours.run("settings", "set", "port", str(benchlib.free_port()))
        ours.run("keys", "show")
        try:
            ours.start_to_ready()
            # The dev VM's runner: each new good generation is a copy of it.
            dev_runner = (home / "generations" / "1" / "runner").read_text()
            switches, backs, restarts = [], [], []
            for _ in range(RUNS):
                switches.append(switch(ours, add_generation(home, dev_runner), True))
                backs.append(switch(ours, add_generation(home, BROKEN), False))
                ours.run("stop")
                restarts.append(ours.start_to_ready())
        finally:
            subprocess.run([binary, "stop"], env=ours.env, capture_output=True)

    def row(name, values):
        return (f"| {name} | {statistics.median(values):.2f} s | "
                + ", ".join(f"{v:.2f}" for v in values) + " |")

    lines = [
        f"Measured {benchlib.today()} on {benchlib.machine()} with "
        f"`scripts/with-secret-service.sh scripts/bench-switch.py {RUNS}` (`make bench`, "
        "release build, Linux service backend, the dev VM's Nix flavour): "
        "`builderbar runner switch N` from the call until it returns. A switch stops the "
        "builder cleanly, starts generation N, waits for the health monitor's Ready and "
        "checks Nix's database on the builder (`nix-store --verify`); the way back is a "
        "switch to a generation whose runner exits at once, until the generation before is "
        "Ready again (no database check). For scale: `builderbar start` to Ready after a stop.",
        "",
        "| | median | runs |",
        "| --- | --- | --- |",
        row("switch (stop → new Ready)", switches),
        row("way back (stop → failed start → old Ready)", backs),
        row("start → Ready", restarts),
    ]
    print("\n".join(lines))
    benchlib.write_section(TITLE, lines)


if __name__ == "__main__":
    main()
