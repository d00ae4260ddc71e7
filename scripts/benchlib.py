"""What the benchmark scripts share: the binaries they measure, free ports,
QMP, a pinned-host-key ssh command, the runner booted by hand (the raw
baseline), and rewriting one section of docs/BENCHMARKS.md."""
import json, os, platform, re, socket, subprocess, threading, time
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


def runner_command(home):
    """The runner and QEMU options the supervisor used, from its log."""
    log = "\n".join(p.read_text(errors="replace") for p in (home / "logs").glob("*.log*"))
    found = re.findall(r'runner=(\S+).*?qemu_opts="?(-qmp unix:\S+ -m (\d+) -smp (\d+))', log)
    if not found:
        raise SystemExit(f"no 'starting the VM' line in the logs under {home / 'logs'}")
    runner, _, memory, cores = found[-1]
    return runner, f"-m {memory} -smp {cores}"


def kernel_params(delay):
    return {"QEMU_KERNEL_PARAMS": f"builderbar.boot_delay={delay}"} if delay else {}


def sshd_listening(vm):
    """Waits for dropbear's first line on the console, then keeps reading it
    (a full pipe would stop the guest)."""
    for line in vm.stdout:
        if b"Not backgrounding" in line:
            threading.Thread(target=vm.stdout.read, daemon=True).start()
            return
    raise SystemExit("the raw runner ended before sshd listened")


def boot_and_login(work, runner, qemu_opts, port, delay, console):
    """Seconds from the runner started by hand to the first `ssh true`:
    polled in a loop, or (console) one login once the guest's console says
    sshd listens, which no client can know sooner. The forward is given in
    QEMU_NET_OPTS, as the supervisor gives it. `work` holds the disk, the
    keys folder and the client key (`id`, `known_hosts`)."""
    sock = work / "qmp.sock"
    env = dict(os.environ, NIX_DISK_IMAGE=str(work / "disk.qcow2"), KEYS=str(work / "keys"),
               TMPDIR=str(work / "tmp"), USE_TMPDIR="1",
               QEMU_OPTS=f"-qmp unix:{sock},server=on,wait=off {qemu_opts}",
               QEMU_NET_OPTS=f"hostfwd=tcp:127.0.0.1:{port}-:22")
    env.pop("QEMU_KERNEL_PARAMS", None)
    env.update(kernel_params(delay))
    ssh = ssh_true(work / "id", work / "known_hosts", port)
    start = time.monotonic()
    vm = subprocess.Popen([runner], env=env,
                          stdout=subprocess.PIPE if console else subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    try:
        if console:
            sshd_listening(vm)
        while subprocess.run(ssh).returncode != 0:
            if time.monotonic() - start > 180:
                raise SystemExit("the raw runner did not answer SSH within 180 s")
        elapsed = time.monotonic() - start
        qmp(sock, "system_powerdown")
        vm.wait(timeout=60)
        return elapsed
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()
