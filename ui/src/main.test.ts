// The window against a mocked IPC: what the user sees and what it sends.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ApplyPlan } from "./bindings/ApplyPlan";
import type { BuilderStatus } from "./bindings/BuilderStatus";
import type { SettingsView } from "./bindings/SettingsView";

const status: BuilderStatus = {
  state: "stopped",
  label: "Stopped",
  is_up: false,
  can_toggle: true,
  summary: "Stopped",
  port: 31022,
  uptime_secs: null,
  last_error: null,
  crash_loop: false,
  stopped_by_user: false,
};

const view: SettingsView = {
  form: {
    ssh_port: 31022,
    disk_mib: 20480,
    memory_mib: 3072,
    cores: 2,
    max_jobs: 2,
    ephemeral: false,
    start_at_login: true,
    on_demand: false,
    idle_minutes: 30,
    notify_vm_failures: true,
    notify_build_failures: true,
    notify_build_successes: false,
    disk_low_percent: 85,
  },
  host_cpus: 8,
  host_memory_mib: 16384,
};

const calls: { cmd: string; args: unknown }[] = [];

function planFor(form: SettingsView["form"]): ApplyPlan {
  if (form.idle_minutes === 0) {
    return {
      changes: [],
      problems: [{ field: "idle_minutes", message: "0 minutes is not an idle time the builder can wait.", hint: "Pick between 1 minute and 1440." }],
      needs_restart: false,
      needs_admin: false,
    };
  }
  if (form.ssh_port === 22) {
    return {
      changes: [{ field: "ssh_port", label: "SSH port", from: "31022", to: "22", needs_restart: true, needs_admin: true }],
      problems: [{ field: "ssh_port", message: "Port 22 is the Mac's own SSH.", hint: "Pick another port." }],
      needs_restart: true,
      needs_admin: true,
    };
  }
  return {
    changes:
      form.memory_mib !== 3072
        ? [{ field: "memory_mib", label: "Memory", from: "3 GiB", to: `${form.memory_mib / 1024} GiB`, needs_restart: true, needs_admin: false }]
        : [],
    problems: [],
    needs_restart: form.memory_mib !== 3072,
    needs_admin: false,
  };
}

beforeEach(async () => {
  vi.useFakeTimers({ shouldAdvanceTime: true });
  calls.length = 0;
  mockIPC((cmd, args) => {
    calls.push({ cmd, args });
    switch (cmd) {
      case "status":
        return status;
      case "start":
        return { ...status, state: "starting", label: "Starting", is_up: true, summary: "Starting…" };
      case "settings":
        return view;
      case "plan_settings":
        return planFor((args as { form: SettingsView["form"] }).form);
      case "keys":
        return { builder_public: null, builder_fingerprint: null, authorized: [] };
      case "add_key":
        throw { message: "That is not an SSH public key.", hint: "Paste one line from a .pub file.", problems: [] };
      case "doctor":
        return {
          checks: [
            { name: "nix", status: "pass", detail: "Nix 2.8 (upstream)", fix: null },
            { name: "machines", status: "fail", detail: "no builderbar entry", fix: "run `builderbar install`" },
          ],
          text: "ok   nix\nFAIL machines\n",
        };
      case "copy_text":
        return null;
      case "cli_tool":
        return { link: "/usr/local/bin/builderbar", target: "/b/bin/builderbar", installed: false, needs_admin: true };
      case "install_cli_tool":
        return { link: "/usr/local/bin/builderbar", target: "/b/bin/builderbar", installed: true, needs_admin: true };
      case "uninstall_cli_tool":
        throw { message: "the administrator step was cancelled", hint: null, problems: [] };
      case "runner_view":
        return { generations: [], can_roll_back: false };
      case "plugin:event|listen":
        return 1;
      default:
        return null;
    }
  }, { shouldMockEvents: true });
  document.body.innerHTML = '<div id="app"></div>';
  const { mount } = await import("./main");
  document.body.innerHTML = '<div id="app"></div>';
  mount(document.getElementById("app")!);
  await vi.runAllTimersAsync();
});

afterEach(() => {
  clearMocks();
  vi.useRealTimers();
});

const $ = <T extends HTMLElement>(sel: string) => document.querySelector(sel) as T;

describe("the settings window", () => {
  it("shows the builder's state and starts it", async () => {
    expect($("#state").textContent).toBe("Stopped");
    expect($("#port").textContent).toBe("127.0.0.1:31022");
    $("#toggle").click();
    await vi.runAllTimersAsync();
    expect(calls.some((c) => c.cmd === "start")).toBe(true);
    expect($("#state").textContent).toBe("Starting");
  });

  it("shows a sleeping on-demand builder as on, with its line and Stop", async () => {
    const { emit } = await import("@tauri-apps/api/event");
    await emit("builder-status", {
      ...status,
      state: "sleeping",
      label: "Sleeping",
      is_up: true,
      summary: "Sleeping — starts when a build needs it",
    });
    await vi.runAllTimersAsync();
    expect($("#state").textContent).toBe("Sleeping");
    expect($("#state").className).toBe("badge sleeping");
    expect($("#summary").textContent).toBe("Sleeping — starts when a build needs it");
    expect($("#toggle").textContent).toBe("Stop");
  });

  it("validates a field as you type with the core's own message", async () => {
    $("#nav-resources").click();
    const port = $<HTMLInputElement>("#field-ssh_port");
    expect(port.value).toBe("31022");
    port.value = "22";
    port.dispatchEvent(new Event("input"));
    await vi.runAllTimersAsync();
    expect($("#problem-ssh_port").textContent).toContain("Port 22 is the Mac's own SSH.");
    expect($<HTMLButtonElement>("#apply").disabled).toBe(true);
  });

  it("lists what Apply will change and what it needs", async () => {
    $("#nav-resources").click();
    const memory = $<HTMLInputElement>("#field-memory_mib");
    expect(memory.value).toBe("3");
    memory.value = "4";
    memory.dispatchEvent(new Event("input"));
    await vi.runAllTimersAsync();
    expect($("#plan").textContent).toContain("Memory: 3 GiB → 4 GiB");
    expect($("#plan").textContent).toContain("restarts the builder");
    expect($<HTMLButtonElement>("#apply").disabled).toBe(false);
  });

  it("turns on-demand start on with its idle minutes, and shows the core's word on them", async () => {
    $("#nav-resources").click();
    const minutes = $<HTMLInputElement>("#field-idle_minutes");
    expect(minutes.value).toBe("30");
    expect($<HTMLInputElement>("#field-on_demand").checked).toBe(false);
    $<HTMLInputElement>("#field-on_demand").click();
    minutes.value = "0";
    minutes.dispatchEvent(new Event("input"));
    await vi.runAllTimersAsync();
    const sent = calls.filter((c) => c.cmd === "plan_settings").at(-1);
    expect((sent?.args as { form: SettingsView["form"] }).form).toMatchObject({ on_demand: true, idle_minutes: 0 });
    expect($("#problem-idle_minutes").textContent).toContain("0 minutes is not an idle time");
  });

  it("shows why a key was refused", async () => {
    $("#nav-keys").click();
    $<HTMLTextAreaElement>("#new-key").value = "not a key";
    $("#add-key").click();
    await vi.runAllTimersAsync();
    expect($("#key-error").textContent).toContain("That is not an SSH public key.");
    expect($<HTMLTextAreaElement>("#new-key").value).toBe("not a key");
  });

  it("runs the doctor and copies its report", async () => {
    $("#nav-advanced").click();
    expect($<HTMLButtonElement>("#copy-report").disabled).toBe(true);
    $("#run-doctor").click();
    await vi.runAllTimersAsync();
    const items = document.querySelectorAll("#doctor-checks li");
    expect(items.length).toBe(2);
    expect(items[1].className).toBe("check-fail");
    expect(items[1].textContent).toContain("Fix: run `builderbar install`");
    $("#copy-report").click();
    await vi.runAllTimersAsync();
    const copied = calls.find((c) => c.cmd === "copy_text");
    expect((copied?.args as { text: string }).text).toBe("ok   nix\nFAIL machines\n");
  });

  it("installs the command-line tool, saying first that it asks for a password", async () => {
    $("#nav-advanced").click();
    expect($("#cli-tool-status").textContent).toContain("/usr/local/bin/builderbar");
    expect($("#cli-tool-status").textContent).toContain("administrator password");
    expect($("#cli-tool").textContent).toBe("Install Command-Line Tool…");
    $("#cli-tool").click();
    await vi.runAllTimersAsync();
    expect(calls.some((c) => c.cmd === "install_cli_tool")).toBe(true);
    expect($("#cli-tool-status").textContent).toContain("Installed");
    expect($("#cli-tool").textContent).toBe("Remove Command-Line Tool");
    $("#cli-tool").click();
    await vi.runAllTimersAsync();
    expect($("#advanced-error").textContent).toContain("cancelled");
    expect($<HTMLButtonElement>("#cli-tool").disabled).toBe(false);
  });
});
