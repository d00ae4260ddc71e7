#!/usr/bin/env bash
# BuilderBar's first-run check for a maintainer's Mac: walks what a user
# does and what can go wrong, prints a PASS/FAIL line per step and keeps the
# logs to attach to a report.
#
#   scripts/mac-check.sh            # on a Mac with Nix installed; asks for
#                                   # the administrator password at setup,
#                                   # at the command-line tool (if
#                                   # /usr/local/bin is root's) and at uninstall
#
# BUILDERBAR_BIN: the builderbar to check (default: target/release/builderbar,
# built if missing). MAC_CHECK_REPORT: where the report and logs go (default:
# a new folder under /tmp, printed at the end). It changes this Mac as a
# user's first setup does and undoes it at the end (`builderbar uninstall`).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

if [ "$(uname -s)" != Darwin ]; then
  echo "mac-check: this check is for macOS; on Linux, 'make test' runs the same journey with the dev VM" >&2
  exit 2
fi
bin=${BUILDERBAR_BIN:-$PWD/target/release/builderbar}
if [ ! -x "$bin" ]; then
  cargo build --release -p builderbar || exit 1
fi
export BUILDERBAR_BIN=$bin
report=${MAC_CHECK_REPORT:-$(mktemp -d /tmp/builderbar-mac-check.XXXXXX)}
mkdir -p "$report"
summary=$report/summary.txt
: > "$summary"
failures=0
monitor_pid=

step() { # step NAME COMMAND...: runs it, logs it, records PASS or FAIL
  local name=$1 log started ended status
  shift
  log=$report/$(printf '%s' "$name" | tr -c 'A-Za-z0-9' '-').log
  started=$(date +%s)
  "$@" > "$log" 2>&1
  status=$?
  ended=$(date +%s)
  if [ "$status" -eq 0 ]; then
    printf 'PASS  %-34s %4ss\n' "$name" "$((ended - started))" | tee -a "$summary"
  else
    printf 'FAIL  %-34s %4ss  (exit %s; see %s)\n' "$name" "$((ended - started))" "$status" "$log" | tee -a "$summary"
    failures=$((failures + 1))
  fi
  return "$status"
}

wait_for() { # wait_for SECONDS COMMAND...: retries until it succeeds
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@"; do
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 1
  done
}

state_is() { "$bin" status --json | grep -q "\"state\": *\"$1\""; }
builder_answers() { "$bin" doctor --json > "$report/doctor-last.json" 2>&1; }
qemu_pid() { pgrep -U "$(id -u)" -f qemu-system | head -n1; }
kill_qemu() { local pid; pid=$(qemu_pid) && [ -n "$pid" ] && kill -9 "$pid"; }
notified() { grep -q "notification shown" "$report/monitor.log"; }
# nixpkgs' runner asks QEMU for accel=hvf:tcg; its command line says which.
asks_hvf() { pgrep -lf qemu-system | tee "$report/qemu-args.txt" | grep -q 'accel=hvf'; }
link_runs() { /usr/local/bin/builderbar --version; }
link_gone() { [ ! -L /usr/local/bin/builderbar ]; }

collect() {
  "$bin" --version > "$report/version.txt" 2>&1
  sw_vers > "$report/macos.txt" 2>&1
  uname -m >> "$report/macos.txt"
  sysctl -n kern.hv_support > "$report/hvf.txt" 2>&1
  nix --version > "$report/nix.txt" 2>&1
  "$bin" doctor --json > "$report/doctor.json" 2>&1
  "$bin" logs > "$report/builderbar-logs.txt" 2>&1
  launchctl print "gui/$(id -u)/dev.builderbar.vm" > "$report/launchctl-print.txt" 2>&1
  cp ~/Library/LaunchAgents/dev.builderbar.vm.plist "$report/" 2>/dev/null
}

echo "mac-check: report in $report"
step "macOS, Nix and hvf"            sh -c 'sw_vers && nix --version && sysctl kern.hv_support'
step "setup (password prompt 1)"     "$bin" setup --yes
step "Ready after setup"             wait_for 180 builder_answers
step "QEMU asks for hvf"             asks_hvf
step "command-line tool (a prompt?)" "$bin" cli-tool install
step "builderbar on the PATH"        link_runs
"$bin" monitor > "$report/monitor.log" 2>&1 &
monitor_pid=$!
step "test build through nix-daemon" "$bin" doctor --build
step "stop stays stopped"            sh -c "'$bin' stop && sleep 15 && '$bin' status --json | grep -q '\"state\": *\"stopped\"'"
step "start, then Ready again"       sh -c "'$bin' start && exit 0" 
step "Ready after start"             wait_for 180 builder_answers
step "kill -9 of QEMU"               kill_qemu
step "a notification for it"         wait_for 20 notified
step "launchd restarts the VM"       wait_for 240 builder_answers
collect
[ -n "$monitor_pid" ] && kill "$monitor_pid" 2>/dev/null
step "uninstall (password prompt)"   "$bin" uninstall
step "the job is gone"               sh -c "! launchctl print gui/$(id -u)/dev.builderbar.vm >/dev/null 2>&1"
step "the command-line tool is gone" link_gone

echo
echo "mac-check: $failures step(s) failed; attach $report (summary.txt first) to the report"
cat "$summary"
[ "$failures" -eq 0 ]
