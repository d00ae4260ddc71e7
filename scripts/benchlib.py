"""What the benchmark scripts share: the binaries they measure, free ports,
QMP, a pinned-host-key ssh command, and rewriting one section of
docs/BENCHMARKS.md."""
import json, os, platform, socket, subprocess, time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "docs" / "BENCHMARKS.md"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def build(profile="release", packages=("builderbar",)):
    """Builds the binaries measured (release: what users run) and returns
    the folder that holds them."""
    args = ["cargo", "build", "--quiet"]
    if profile == "release":
        args.append("--release")
    for package in packages:
        args += ["-p", package]
    subprocess.run(args, cwd=ROOT, check=True)
    return TARGET / ("release" if profile == "release" else "debug")


def machine():
    return (f"{platform.node()} ({os.cpu_count()} cores, {platform.system()} "
            f"{platform.release()}, QEMU TCG, no KVM)")


def today():
    return str(date.today())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qmp(path, command):
    """Sends one QMP command and reads its answer."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))
        f = s.makefile("rw")
        f.readline()
        for cmd in ("qmp_capabilities", command):
            f.write(json.dumps({"execute": cmd}) + "\n")
            f.flush()
            f.readline()


def ssh_true(identity, known_hosts, port):
    """`ssh true` into the builder with its host key pinned."""
    return ["ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=1",
            "-o", "LogLevel=QUIET", "-o", f"UserKnownHostsFile={known_hosts}",
            "-i", str(identity), "-p", str(port), "builder@127.0.0.1", "true"]


def cpu_seconds(pids):
    """User and system CPU time of these processes so far, in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def wait_for(condition, timeout, what, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(step)
    raise SystemExit(f"timed out after {timeout} s waiting for {what}")


def write_section(title, lines):
    """Replaces the section headed `## title` of docs/BENCHMARKS.md (or
    appends it), leaving the others as they are."""
    section = "\n".join([f"## {title}", "", *lines, ""])
    text = (BENCHMARKS.read_text() if BENCHMARKS.exists() else
            "# Benchmarks\n\nNumbers from `make bench`; each section says how it was measured.\n")
    start = text.find(f"## {title}\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + ("\n" + text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    BENCHMARKS.write_text(text)


class Builderbar:
    def __init__(self, binary, home):
        self.binary = binary
        self.env = dict(os.environ, BUILDERBAR_HOME=str(home), BUILDERBAR_BIN=str(binary))

    def run(self, *args):
        return subprocess.run([self.binary, *args], env=self.env, check=True,
                              capture_output=True, text=True).stdout

    def state(self):
        return json.loads(self.run("status", "--json"))["state"]

    def start_to_ready(self):
        """Seconds from `builderbar start` to the monitor's Ready."""
        watch = subprocess.Popen([self.binary, "status", "--watch", "--json"], env=self.env,
                                 stdout=subprocess.PIPE, text=True)
        try:
            watch.stdout.readline()  # the state before the start
            start = time.monotonic()
            self.run("start")
            for line in watch.stdout:
                event = json.loads(line)
                if event.get("state") == "ready":
                    return time.monotonic() - start
                if time.monotonic() - start > 180:
                    break
            raise SystemExit("the builder did not become Ready within 180 s")
        finally:
            watch.terminate()
            watch.wait()

    def stop(self):
        self.run("stop")
        wait_for(lambda: self.state() == "stopped", 60, "the builder to stop", 0.1)
