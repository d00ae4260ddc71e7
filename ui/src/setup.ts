// The first-run window: what is there, what will happen (one screen), then
// the run with live progress, ending on success or on what went wrong and
// the fix. Every decision is the core's; this only shows it.
import { api, asUiError, describe } from "./api";
import type { SetupEvent } from "./bindings/SetupEvent";
import type { SetupFailureView } from "./bindings/SetupFailureView";
import type { SetupOutcome } from "./bindings/SetupOutcome";
import type { SetupView } from "./bindings/SetupView";
import { getCurrentWindow } from "@tauri-apps/api/window";
import { h, replace } from "./dom";
import "./style.css";

const MARKS: Record<string, string> = { ok: "✓", warn: "!", blocker: "✗" };
const STEP_MARKS: Record<string, string> = { pending: "○", running: "…", done: "✓", skipped: "✓", failed: "✗" };

/// Bytes as the user reads them: "312 MiB".
export function mib(bytes: number): string {
  return bytes >= 1 << 30 ? `${(bytes / (1 << 30)).toFixed(1)} GiB` : `${Math.round(bytes / (1 << 20))} MiB`;
}

export function mountSetup(root: HTMLElement) {
  root.classList.add("setup");
  const screen = h("div", { id: "setup-screen" });
  root.append(h("h2", {}, "Set up BuilderBar"), screen);

  const showCheck = async () => {
    replace(screen, h("p", { class: "muted", id: "setup-loading" }, "Looking at this Mac…"));
    try {
      checkScreen(await api.setupCheck());
    } catch (err) {
      replace(screen, h("p", { class: "error", role: "alert", id: "setup-error" }, describe(asUiError(err))));
    }
  };

  const checkScreen = (view: SetupView) => {
    const items = h(
      "ul",
      { class: "checks", id: "setup-checks" },
      ...view.items.map((i) =>
        h(
          "li",
          { class: `check-${i.status}`, "data-name": i.name },
          h("span", { class: "mark" }, MARKS[i.status] ?? "?"),
          h("div", {}, i.detail, i.fix ? h("p", { class: "help" }, `Fix: ${i.fix}`) : ""),
        ),
      ),
    );
    const plan = h(
      "div",
      { class: "plan", id: "setup-plan" },
      h("h3", {}, "What will happen"),
      h("ol", {}, ...view.plan_steps.map((s) => h("li", {}, s))),
      h(
        "dl",
        {},
        h("dt", {}, "Download"),
        h("dd", { id: "setup-download" }, view.download),
        h("dt", {}, "Password"),
        h(
          "dd",
          { id: "setup-admin" },
          view.admin_prompts > 0
            ? "You will be asked once for an administrator password, to change Nix's files."
            : "Not needed: Nix is already wired.",
        ),
      ),
      h("h3", {}, "Where files go"),
      h(
        "ul",
        { class: "files" },
        ...view.files.map((f) =>
          h("li", {}, h("code", {}, f.path), f.as_root ? h("span", { class: "badge root" }, "as root") : "", h("p", { class: "help" }, f.what)),
        ),
      ),
    );
    const go = h("button", { class: "primary", id: "setup-continue", disabled: view.blocked, onclick: () => void run(view) }, "Continue");
    const note = view.blocked
      ? h("p", { class: "error", role: "alert", id: "setup-blocked" }, "Setup cannot start yet: fix what is marked ✗ above, then check again.")
      : view.already_set_up
        ? h("p", { class: "muted" }, "BuilderBar is already set up. Continue checks each step again and redoes only what is missing.")
        : null;
    const again = h("button", { id: "setup-recheck", onclick: () => void showCheck() }, "Check Again");
    replace(screen, h("h3", {}, "What is there"), items, view.blocked ? null : plan, note, h("div", { class: "apply-bar row" }, go, again));
  };

  const run = async (view: SetupView) => {
    const rows = new Map<string, HTMLElement>();
    const list = h("ol", { class: "steps", id: "setup-steps" });
    for (const step of view.steps) {
      const row = h("li", { "data-step": step.id, "data-state": "pending" }, h("span", { class: "mark" }, STEP_MARKS.pending), h("div", {}, h("strong", {}, step.title), h("p", { class: "help detail" })));
      rows.set(step.id, row);
      list.append(row);
    }
    const bar = h("progress", { id: "setup-bytes", max: 1, value: 0, hidden: true });
    const line = h("p", { class: "muted", id: "setup-line", "aria-live": "polite" });
    replace(screen, h("h3", {}, "Setting up"), list, bar, line);
    const mark = (step: string | null, state: string, detail?: string) => {
      const row = step ? rows.get(step) : undefined;
      if (!row) return;
      row.dataset.state = state;
      row.querySelector(".mark")!.textContent = STEP_MARKS[state] ?? "?";
      if (detail !== undefined) row.querySelector(".detail")!.textContent = detail;
    };
    const onEvent = (e: SetupEvent) => {
      switch (e.kind) {
        case "step-started":
          mark(e.step, "running");
          break;
        case "step-done":
          mark(e.step, e.skipped ? "skipped" : "done", e.skipped ? `Already done: ${e.detail}` : e.detail);
          if (e.step === "runner") bar.hidden = true;
          break;
        case "download":
          bar.hidden = false;
          bar.max = Math.max(e.total, 1);
          bar.value = e.done;
          line.textContent = `Downloading the builder: ${mib(e.done)} of ${mib(e.total)}`;
          break;
        case "waiting":
          line.textContent = `The builder is ${e.detail} (${e.done} s, at most ${e.total} s)`;
          break;
        case "rolling-back":
          line.textContent = `Undoing: ${e.detail}`;
          break;
      }
    };
    let outcome: SetupOutcome;
    try {
      outcome = await api.setupRun(onEvent);
    } catch (err) {
      replace(screen, h("p", { class: "error", role: "alert", id: "setup-error" }, describe(asUiError(err))), h("button", { id: "setup-retry", onclick: () => void showCheck() }, "Try Again"));
      return;
    }
    if (outcome.failure) {
      mark(outcome.failure.step, "failed");
      failureScreen(outcome.failure);
    } else {
      successScreen(outcome);
    }
  };

  const failureScreen = (f: SetupFailureView) => {
    replace(
      screen,
      h(
        "div",
        { class: "outcome failed", id: "setup-failure", role: "alert" },
        h("h3", {}, `Setup stopped at “${f.step_title}”`),
        h("p", { id: "setup-failure-message" }, f.message),
        h("p", { id: "setup-failure-fix" }, h("strong", {}, "Fix: "), f.fix),
        f.doctor_check ? h("p", { class: "help" }, `The doctor (Settings → Advanced) shows this as the check “${f.doctor_check}”.`) : null,
        f.rolled_back.length ? h("div", {}, h("p", { class: "help" }, "Undone, so nothing is left half-installed:"), h("ul", { id: "setup-undone" }, ...f.rolled_back.map((r) => h("li", {}, r)))) : h("p", { class: "help" }, "Nothing was changed."),
        f.left_behind.length ? h("div", {}, h("p", { class: "warning" }, "Could not be undone:"), h("ul", {}, ...f.left_behind.map((r) => h("li", {}, r)))) : null,
      ),
      h("div", { class: "apply-bar row" }, h("button", { class: "primary", id: "setup-retry", onclick: () => void showCheck() }, "Try Again")),
    );
  };

  const successScreen = (o: SetupOutcome) => {
    replace(
      screen,
      h(
        "div",
        { class: "outcome ready", id: "setup-success" },
        h("h3", { id: "setup-headline" }, `${o.headline}.`),
        h("p", {}, "The builder runs in the background and keeps running when BuilderBar quits. Try it:"),
        h("pre", {}, h("code", { id: "setup-try" }, o.try_command)),
      ),
      h(
        "div",
        { class: "apply-bar row" },
        h("button", { id: "setup-copy", onclick: () => void api.copyText(o.try_command) }, "Copy Command"),
        h("button", { class: "primary", id: "setup-done", onclick: () => void getCurrentWindow().hide().catch(() => undefined) }, "Done"),
      ),
    );
  };

  void showCheck();
}

const root = document.getElementById("setup");
if (root) mountSetup(root);
