// Settings › Advanced › Builder System against a mocked IPC: the
// generations, Update Builder's steps as they come and its result, and a
// failed update's words.
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RunnerView } from "./bindings/RunnerView";

const before: RunnerView = {
  generations: [
    { number: 1, state: "current", built_from: "nixpkgs nixpkgs-25.05-darwin, recipe 3", made_at: "2026-12-01T10:00:00Z", reason: null },
  ],
  can_roll_back: false,
  module: null,
};
const after: RunnerView = {
  generations: [
    { number: 2, state: "current", built_from: "nixpkgs 0123abc, built through the builder", made_at: "2026-12-07T10:00:00Z", reason: null },
    { number: 1, state: "previous", built_from: "nixpkgs nixpkgs-25.05-darwin, recipe 3", made_at: "2026-12-01T10:00:00Z", reason: null },
  ],
  can_roll_back: true,
  module: "0123456789ab",
};

let current = before;
let fail = false;
const calls: { cmd: string; args: unknown }[] = [];
let during = "";

beforeEach(async () => {
  vi.useFakeTimers({ shouldAdvanceTime: true });
  calls.length = 0;
  current = before;
  fail = false;
  mockIPC((cmd, args) => {
    calls.push({ cmd, args });
    switch (cmd) {
      case "runner_view":
        return current;
      case "runner_update": {
        const channel = (args as { onProgress: { id: number } }).onProgress;
        const internals = (window as unknown as { __TAURI_INTERNALS__: { runCallback: (id: number, data: unknown) => void } })
          .__TAURI_INTERNALS__;
        const lines = ["Asking for the newest cached commit of nixpkgs-25.05-darwin…", "  | building the next builder generation"];
        lines.forEach((line, index) => internals.runCallback(channel.id, { index, message: { line } }));
        during = document.querySelector("#runner-log")?.textContent ?? "";
        if (fail) {
          throw { message: "building the successor failed, and the builder still runs the generation it ran: no machine", hint: null, problems: [] };
        }
        current = after;
        return "The builder runs generation 2 (nixpkgs 0123abc), Ready after 30 s, and the test build passed.";
      }
      case "runner_module":
        current = after;
        return "The builder runs generation 2 (nixpkgs x, with your module 0123456789ab), Ready after 20 s, and the test build passed.";
      case "plugin:event|listen":
        return 1;
      case "cli_tool":
        return { link: "/usr/local/bin/builderbar", target: "/b/bin/builderbar", installed: false, needs_admin: true };
      default:
        return null;
    }
  }, { shouldMockEvents: true });
  document.body.innerHTML = "";
  const { advanced } = await import("./sections/advanced");
  const root = document.createElement("section");
  document.body.append(root);
  advanced(root);
  await vi.runAllTimersAsync();
});

afterEach(() => {
  clearMocks();
  vi.useRealTimers();
});

const $ = <T extends HTMLElement>(sel: string) => document.querySelector(sel) as T;

describe("Builder System", () => {
  it("lists the generations and offers Roll Back only with one to go back to", () => {
    expect($("#generations").textContent).toContain("1 Current — nixpkgs nixpkgs-25.05-darwin, recipe 3");
    expect($<HTMLButtonElement>("#roll-back").disabled).toBe(true);
  });

  it("follows the builder's state: a change made elsewhere shows up", async () => {
    current = after;
    const { emit } = await import("@tauri-apps/api/event");
    await emit("builder-status", {});
    await vi.runAllTimersAsync();
    expect($("#generations").textContent).toContain("2 Current");
  });

  it("updates, showing each step as it comes, then the new list", async () => {
    $<HTMLInputElement>("#update-nixpkgs").value = "  ";
    $("#update-builder").click();
    await vi.runAllTimersAsync();
    const update = calls.find((c) => c.cmd === "runner_update");
    expect((update?.args as { nixpkgs: string | null }).nixpkgs).toBeNull();
    expect(during).toContain("building the next builder generation");
    expect($("#runner-result").textContent).toContain("the test build passed");
    expect($("#generations").textContent).toContain("2 Current");
    expect($("#generations").textContent).toContain("1 Previous");
    expect($<HTMLButtonElement>("#roll-back").disabled).toBe(false);
  });

  it("applies a configuration file as the window read it, then says it is in use", async () => {
    expect($("#module-state").textContent).toContain("No configuration file of your own");
    expect($("#clear-module").hidden).toBe(true);
    const picker = $<HTMLInputElement>("#module-file");
    // What the web view hands over: a name and the text (this test
    // environment's File has no text()).
    const file = { name: "builder.nix", text: async () => '{ ... }: { boot.kernelModules = [ "kvm" ]; }\n' };
    Object.defineProperty(picker, "files", { value: [file], configurable: true });
    picker.dispatchEvent(new Event("change"));
    await vi.runAllTimersAsync();
    const sent = calls.find((c) => c.cmd === "runner_module")?.args as { name: string; text: string | null };
    expect(sent.name).toBe("builder.nix");
    expect(sent.text).toContain("kvm");
    expect($("#runner-result").textContent).toContain("with your module");
    expect($("#module-state").textContent).toContain("0123456789ab");
    expect($("#clear-module").hidden).toBe(false);
  });

  it("says why an update failed and keeps the list as it was", async () => {
    fail = true;
    $<HTMLInputElement>("#update-nixpkgs").value = "nixos-25.05";
    $("#update-builder").click();
    await vi.runAllTimersAsync();
    const update = calls.find((c) => c.cmd === "runner_update");
    expect((update?.args as { nixpkgs: string | null }).nixpkgs).toBe("nixos-25.05");
    expect($("#runner-error").textContent).toContain("the builder still runs the generation it ran");
    expect($("#generations").textContent).not.toContain("2 ");
    expect($<HTMLButtonElement>("#update-builder").disabled).toBe(false);
  });
});
