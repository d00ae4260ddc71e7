#!/usr/bin/env python3
"""Runner switches, and their section of docs/BENCHMARKS.md:

- a switch: `builderbar runner switch N` from the call until it returns
  with generation N Ready (a clean stop of the running builder, the start,
  the wait for the health monitor's Ready), between two generations that
  run the same dev VM;
- a way back: the same call to a generation whose runner exits at once,
  until it returns with the generation before Ready again;
- for scale, `builderbar restart` until `status --watch` says Ready.

The second and third generations are written into the store beside the
first (the dev VM, made by the first start), as a newer build would be.
Linux service backend; the dev VM's Nix flavour.

    scripts/with-secret-service.sh scripts/bench-switch.py [RUNS]
"""
import json, statistics, subprocess, sys, tempfile, time
from pathlib import Path

import benchlib

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
TITLE = "Runner switch and the way back"
BROKEN = "#!/bin/sh\necho 'qemu: this runner cannot boot' >&2\nexit 1\n"


def add_generations(home):
    """Generation 2 (the dev VM again, through a runner of its own) and 3
    (a runner that exits), both kept beside generation 1."""
    store_file = home / "generations" / "store.json"
    store = json.loads(store_file.read_text())
    first = store["generations"][0]
    for number, text in ((2, f"#!/bin/sh\nexec {first['runner']} \"$@\"\n"), (3, BROKEN)):
        folder = home / "generations" / str(number)
        folder.mkdir()
        runner = folder / "runner"
        runner.write_text(text)
        runner.chmod(0o755)
        store["generations"].append({
            "number": number, "runner": str(runner), "built_from": f"bench {number}",
            "identity": f"bench {number}", "made_at": first["made_at"],
            "state": "failed", "reason": "not tried yet",
        })
    store_file.write_text(json.dumps(store))


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
            add_generations(home)
            switches, backs, restarts = [], [], []
            current = 1
            for _ in range(RUNS):
                target = 2 if current == 1 else 1
                switches.append(switch(ours, target, True))
                current = target
                backs.append(switch(ours, 3, False))
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
        "builder cleanly, starts generation N and waits for the health monitor's Ready; "
        "the way back is a switch to a generation whose runner exits at once, until the "
        "generation before is Ready again. For scale: `builderbar start` to Ready after a stop.",
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
