// The first-run window against a mocked IPC: the check and the plan, the
// live progress from the core's events, and both endings.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { SetupEvent } from "./bindings/SetupEvent";
import type { SetupEventKind } from "./bindings/SetupEventKind";
import type { SetupOutcome } from "./bindings/SetupOutcome";
import type { SetupView } from "./bindings/SetupView";

const steps = [
  ["check", "Check this Mac"],
  ["key", "Make the builder key"],
  ["runner", "Get the builder"],
  ["apply", "Wire Nix to the builder (administrator password)"],
  ["service", "Install and start the builder"],
  ["ready", "Wait until the builder is Ready"],
  ["test-build", "Run a test build"],
].map(([id, title]) => ({ id, title }));

const view = (blocked = false): SetupView => ({
  items: [
    { name: "nix", status: "ok", detail: "Nix (official installer) (/nix/var/nix/profiles/default/bin/nix)", fix: null },
    blocked
      ? { name: "port", status: "blocker", detail: "Port 31022 is already in use by sshd (pid 99).", fix: "pick another port with `builderbar settings set port N`" }
      : { name: "port", status: "ok", detail: "port 31022 on 127.0.0.1 is free", fix: null },
  ],
  blocked,
  already_set_up: false,
  download: "about 1.3 GiB",
  admin_prompts: 1,
  plan_steps: ["make the builder's SSH key", "wire Nix to the builder: one administrator prompt"],
  files: [{ path: "/etc/nix/machines", what: "the builder's entry", as_root: true }],
  steps,
});

const ev = (kind: SetupEventKind, step: string | null, extra: Partial<SetupEvent> = {}): SetupEvent => ({
  kind,
  step,
  detail: "",
  skipped: false,
  done: 0,
  total: 0,
  ...extra,
});

let blocked = false;
let outcome: SetupOutcome;
const calls: string[] = [];
/// What the window showed while the run was in flight.
let during = "";

beforeEach(async () => {
  vi.useFakeTimers({ shouldAdvanceTime: true });
  calls.length = 0;
  blocked = false;
  mockIPC((cmd, args) => {
    calls.push(cmd);
    if (cmd === "setup_check") return view(blocked);
    if (cmd === "setup_run") {
      const channel = (args as { onProgress: { id: number } }).onProgress;
      const internals = (window as unknown as { __TAURI_INTERNALS__: { runCallback: (id: number, data: unknown) => void } })
        .__TAURI_INTERNALS__;
      const events = [
        ev("step-started", "check"),
        ev("step-done", "check", { detail: "nothing stands in the way" }),
        ev("step-done", "key", { detail: "the builder key is there", skipped: true }),
        ev("step-started", "runner"),
        ev("download", "runner", { done: 300 << 20, total: 1200 << 20 }),
      ];
      events.forEach((message, index) => internals.runCallback(channel.id, { index, message }));
      during = document.body.textContent ?? "";
      return outcome;
    }
    return null;
  });
  document.body.innerHTML = '<div id="setup"></div>';
  const { mountSetup } = await import("./setup");
  document.body.innerHTML = '<div id="setup"></div>';
  mountSetup(document.getElementById("setup")!);
  await vi.runAllTimersAsync();
});

afterEach(() => {
  clearMocks();
  vi.useRealTimers();
});

const $ = <T extends HTMLElement>(sel: string) => document.querySelector(sel) as T;

describe("the first-run window", () => {
  it("shows what is there and what will happen, in one screen", () => {
    expect($("#setup-checks").textContent).toContain("Nix (official installer)");
    expect($("#setup-download").textContent).toBe("about 1.3 GiB");
    expect($("#setup-admin").textContent).toContain("asked once for an administrator password");
    expect($("#setup-plan").textContent).toContain("/etc/nix/machines");
    expect($<HTMLButtonElement>("#setup-continue").disabled).toBe(false);
  });

  it("shows live progress, then the success and a command to try", async () => {
    outcome = { headline: "Your Mac can now build Linux packages", try_command: "nix-build -E '…'", failure: null };
    $("#setup-continue").click();
    await vi.runAllTimersAsync();
    expect(during).toContain("Downloading the builder: 300 MiB of 1.2 GiB");
    expect(during).toContain("Already done: the builder key is there");
    expect($("#setup-headline").textContent).toBe("Your Mac can now build Linux packages.");
    expect($("#setup-try").textContent).toBe("nix-build -E '…'");
  });

  it("stops on a failure with the fix and what was undone, and tries again", async () => {
    outcome = {
      headline: "",
      try_command: "",
      failure: {
        step: "ready",
        step_title: "Wait until the builder is Ready",
        message: "the builder did not become Ready within 300 s",
        fix: "`builderbar logs` shows what the builder did",
        doctor_check: "ssh",
        rolled_back: ["stopped the builder", "restored Nix's files as they were"],
        left_behind: [],
      },
    };
    $("#setup-continue").click();
    await vi.runAllTimersAsync();
    expect($("#setup-failure").textContent).toContain("Setup stopped at “Wait until the builder is Ready”");
    expect($("#setup-failure-fix").textContent).toContain("builderbar logs");
    expect($("#setup-undone").textContent).toContain("restored Nix's files as they were");
    calls.length = 0;
    $("#setup-retry").click();
    await vi.runAllTimersAsync();
    expect(calls).toEqual(["setup_check"]);
    expect($("#setup-continue")).not.toBeNull();
  });

  it("cannot start while something blocks it, and says what to fix", async () => {
    blocked = true;
    $("#setup-recheck").click();
    await vi.runAllTimersAsync();
    expect($<HTMLButtonElement>("#setup-continue").disabled).toBe(true);
    expect($("#setup-checks").textContent).toContain("Fix: pick another port");
    expect($("#setup-blocked").textContent).toContain("Setup cannot start yet");
  });
});
