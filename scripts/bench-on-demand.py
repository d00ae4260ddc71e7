#!/usr/bin/env python3
"""The on-demand builder, and its section of docs/BENCHMARKS.md:

- the test build (examples/test_build_once.rs: the host's Nix through a
  private nix-daemon, as `builderbar doctor --build`) on a sleeping builder,
  against the same build on the running builder right after, the first
  build on an always-on builder after a fresh boot, and the runner booted
  by hand until one `ssh true` (boot + one login);
- the memory the builder takes asleep (the supervisor) and awake (the
  supervisor and QEMU), and the host's MemAvailable in both;
- what the supervisor costs while asleep: its threads' context switches
  (wake-ups) and CPU time over a minute.

    scripts/with-secret-service.sh scripts/bench-on-demand.py [RUNS]

Needs root (the private nix-daemon) and the dev VM's Nix flavour.
"""
import json, statistics, subprocess, sys, tempfile, time, tomllib
from pathlib import Path

import benchlib

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
IDLE_SECS = 10
ASLEEP_WINDOW = 60
TITLE = "On-demand builder: a build on a sleeping builder"
OSASCRIPT = benchlib.ROOT / "tests" / "doubles" / "osascript"


def sysroot(root):
    """Like a Linux host with Debian's nix-bin (as tests/integration/remote_build.rs)."""
    (root / "etc" / "nix").mkdir(parents=True)
    (root / "etc" / "ssh" / "ssh_config.d").mkdir(parents=True)
    (root / "etc" / "ssh" / "ssh_config").write_text("Include /etc/ssh/ssh_config.d/*\n")
    (root / "etc" / "nix" / "nix.conf").write_text(
        "sandbox = false\nbuild-users-group =\nsubstituters =\n")


def pss_mib(pid):
    """Proportional set size: what this process adds to the host's memory."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no Pss for {pid}")


def mem_available_mib():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no MemAvailable in /proc/meminfo")


def context_switches(pid):
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                total += int(line.split()[1])
    return total


def main():
    binary = benchlib.build("release") / "builderbar"
    subprocess.run(["cargo", "build", "--quiet", "--release", "--example", "test_build_once"],
                   cwd=benchlib.ROOT, check=True)
    test_build_once = benchlib.TARGET / "release" / "examples" / "test_build_once"
    with tempfile.TemporaryDirectory(prefix="builderbar-bench-") as tmp:
        work = Path(tmp)
        home = work / "home"
        root = work / "sysroot"
        for folder in ("keys", "tmp", "home"):
            (work / folder).mkdir()
        sysroot(root)
        ours = benchlib.Builderbar(binary, home)
        ours.env.update(BUILDERBAR_IDLE_SECS=str(IDLE_SECS), BUILDERBAR_OSASCRIPT=str(OSASCRIPT))
        port = benchlib.free_port()
        ours.run("settings", "set", "port", str(port))
        ours.run("settings", "set", "on-demand", "on")
        ours.run("keys", "show")  # the builder key, which Nix logs in with
        ours.run("install", "--sysroot", str(root))

        def test_build():
            out = subprocess.run([test_build_once, root], env=ours.env, check=True,
                                 capture_output=True, text=True).stdout
            report = json.loads(out)
            if "host: builder" not in report["built_on"]:
                raise SystemExit(f"the test build did not run on the builder: {report}")
            return report["seconds"]

        def wait_asleep():
            benchlib.wait_for(lambda: ours.state() == "sleeping", IDLE_SECS + 60,
                              "the builder to sleep", 0.1)

        def status():
            return json.loads((home / "state" / "status.json").read_text())

        ours.run("start")
        wait_asleep()
        test_build()  # makes the disk and fills the guest's store; not counted
        rows = []
        for i in range(RUNS):
            wait_asleep()
            asleep = test_build()
            awake = test_build()  # well inside the idle time: still running
            rows.append((asleep, awake))
            print(f"run {i + 1}: sleeping {asleep:.2f} s, running {awake:.2f} s", flush=True)

        # Memory and wake-ups asleep.
        wait_asleep()
        supervisor = status()["supervisor_pid"]
        time.sleep(2)  # the power-down's last writes settle
        mem_asleep, avail_asleep = pss_mib(supervisor), mem_available_mib()
        switches, cpu = context_switches(supervisor), benchlib.cpu_seconds([supervisor])
        time.sleep(ASLEEP_WINDOW)
        if ours.state() != "sleeping":
            raise SystemExit("the builder woke during the quiet minute")
        wakeups = (context_switches(supervisor) - switches) * 60 / ASLEEP_WINDOW
        cpu_ms = (benchlib.cpu_seconds([supervisor]) - cpu) * 1000 * 60 / ASLEEP_WINDOW
        test_build()
        qemu = int((home / "state" / "vm.pid").read_text())
        mem_awake = pss_mib(supervisor) + pss_mib(qemu)
        avail_awake = mem_available_mib()
        memory = tomllib.loads((home / "settings.toml").read_text())["memory_mib"]
        runner, qemu_opts = benchlib.runner_command(home)
        ours.run("stop")
        benchlib.wait_for(lambda: ours.state() == "stopped", 60, "the builder to stop", 0.1)

        # Always on: the first test build once a fresh boot is Ready, which
        # meets the guest as cold as a build that wakes it does (its Nix,
        # its caches), and is not ours.
        ours.run("settings", "set", "on-demand", "off")
        firsts = []
        for i in range(RUNS):
            ours.start_to_ready()
            firsts.append(test_build())
            ours.stop()
            print(f"always on, run {i + 1}: first build after a boot {firsts[-1]:.2f} s",
                  flush=True)

        # The runner by hand: boot + one login, on its own disk (formatted first).
        host_key = json.loads(ours.run("dev-runner", "--port", str(port), "--json"))["host_key"]
        (work / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}\n")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "id")],
                       check=True)
        (work / "keys" / "builder_ed25519.pub").write_text((work / "id.pub").read_text())
        benchlib.boot_and_login(work, runner, qemu_opts, port, 0, False)  # formats; not counted
        logins = [benchlib.boot_and_login(work, runner, qemu_opts, port, 0, True)
                  for _ in range(RUNS)]

    asleep = statistics.median(r[0] for r in rows)
    awake = statistics.median(r[1] for r in rows)
    login = statistics.median(logins)
    first = statistics.median(firsts)
    # sleeping = boot to sshd + ours + a cold build; boot + one login = boot
    # to sshd + a login; the first build after a boot = a cold build. A
    # login takes less than the whole warm build, so adding that back makes
    # this an upper bound on what is ours.
    own = asleep - login - first + awake
    print(f"medians: sleeping {asleep:.2f} s, running {awake:.2f} s, first after a boot "
          f"{first:.2f} s, boot + one login {login:.2f} s: at most {own:+.2f} s of our own")
    print(f"memory: asleep {mem_asleep:.1f} MiB, awake {mem_awake:.0f} MiB; MemAvailable "
          f"{avail_asleep:.0f} → {avail_awake:.0f} MiB; asleep {wakeups:.1f} wake-ups and "
          f"{cpu_ms:.1f} ms CPU a minute")
    benchlib.write_section(TITLE, [
        f"Measured {benchlib.today()} on {benchlib.machine()} with "
        f"`scripts/bench-on-demand.py {RUNS}` (`make bench`, release build): the test build "
        "(`examples/test_build_once.rs`, the host's Nix through a private nix-daemon, as "
        "`builderbar doctor --build` runs it) on the on-demand builder while it sleeps, then "
        "the same build again at once while it runs, against the runner started by hand "
        "until one `ssh true` once its console says sshd listens (boot + one login), and the "
        "first build on an always-on builder once a fresh boot is Ready (the guest as cold as "
        f"a wake leaves it); the dev VM's nix flavour, {memory} MiB, existing disk, idle time "
        f"{IDLE_SECS} s; medians of {RUNS} runs. Ours is at most: sleeping − (boot + one "
        "login) − first after a boot + running (a login is part of the running build). Goal: "
        "under 1 s of our own on top of the boot.",
        "",
        "| build on a sleeping builder | on a running one | first after a boot | "
        "boot + one login | ours, at most |",
        "| --- | --- | --- | --- | --- |",
        f"| {asleep:.2f} s | {awake:.2f} s | {first:.2f} s | {login:.2f} s | {own:+.2f} s |",
        "",
        "Runs: " + "; ".join(f"{a:.2f} s / {b:.2f} s" for a, b in rows) + " (sleeping / "
        "running); first after a boot: " + ", ".join(f"{x:.2f} s" for x in firsts) +
        "; boot + one login: " + ", ".join(f"{x:.2f} s" for x in logins) + ".",
        "",
        "| | asleep | awake (after a build) |",
        "| --- | --- | --- |",
        f"| the builder's memory (Pss of the supervisor, and of QEMU when awake) "
        f"| {mem_asleep:.1f} MiB | {mem_awake:.0f} MiB |",
        f"| the host's MemAvailable | {avail_asleep:.0f} MiB | {avail_awake:.0f} MiB |",
        "",
        f"Asleep, over {ASLEEP_WINDOW} s, the supervisor's threads woke "
        f"{wakeups:.1f} times a minute (voluntary and involuntary context switches) and used "
        f"{cpu_ms:.1f} ms of CPU a minute. Goal: no wake-ups beyond the idle timer, which does "
        "not run while asleep.",
    ])


if __name__ == "__main__":
    main()
