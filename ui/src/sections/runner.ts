import { api, asUiError, describe } from "../api";
import type { RunnerView } from "../bindings/RunnerView";
import { h, replace } from "../dom";

const WORDS: Record<string, string> = {
  current: "Current",
  previous: "Previous",
  built: "Built, not tried",
  failed: "Failed",
};

/// "Builder System" in Advanced: the runner generations, Update Builder
/// (the newest cached nixpkgs, or one typed in) and Roll Back, each with
/// its steps as they happen. A failed update leaves the old generation
/// serving; the list then says why the new one failed.
export function runnerPanel(): HTMLElement {
  const list = h("ul", { class: "generations", id: "generations", "aria-live": "polite" });
  const log = h("pre", { class: "progress", id: "runner-log", hidden: true });
  const result = h("p", { class: "muted", id: "runner-result", "aria-live": "polite" });
  const error = h("p", { class: "error", role: "alert", id: "runner-error" });
  const nixpkgs = h("input", {
    id: "update-nixpkgs",
    type: "text",
    placeholder: "newest cached (or a branch, commit or URL)",
    "aria-label": "nixpkgs to update to",
  });
  const update = h("button", { id: "update-builder" }, "Update Builder");
  const rollBack = h("button", { id: "roll-back", disabled: true }, "Roll Back");
  const moduleState = h("p", { class: "muted", id: "module-state" });
  const picker = h("input", { id: "module-file", type: "file", accept: ".nix", hidden: true });
  const chooseModule = h("button", { id: "choose-module", onclick: () => picker.click() }, "Builder Configuration File…");
  const clearModule = h("button", { id: "clear-module", hidden: true }, "Stop Using It");

  const show = (view: RunnerView) => {
    replace(
      list,
      ...(view.generations.length === 0
        ? [h("li", { class: "muted" }, "No generation yet: the builder's first start makes generation 1.")]
        : view.generations.map((g) =>
            h(
              "li",
              { class: `generation-${g.state}`, "data-generation": String(g.number) },
              h("strong", {}, `${g.number}`),
              ` ${WORDS[g.state] ?? g.state} — ${g.built_from}`,
              g.reason ? h("p", { class: "help" }, `Why: ${g.reason}`) : "",
            ),
          )),
    );
    rollBack.disabled = !view.can_roll_back;
    moduleState.textContent = view.module
      ? `Your NixOS module is applied after BuilderBar's (a copy, ${view.module}…): editing the file changes nothing until you choose it again.`
      : "No configuration file of your own: the builder is nixpkgs' with BuilderBar's settings.";
    clearModule.hidden = !view.module;
  };
  const reload = () => api.runnerView().then(show, (err) => (error.textContent = describe(asUiError(err))));

  let busy = false;
  const run = async (action: (onLine: (line: string) => void) => Promise<string>) => {
    busy = true;
    error.textContent = "";
    result.textContent = "";
    log.textContent = "";
    log.hidden = false;
    update.disabled = true;
    rollBack.disabled = true;
    chooseModule.disabled = true;
    try {
      result.textContent = await action((line) => {
        log.textContent += `${line}\n`;
        log.scrollTop = log.scrollHeight;
      });
    } catch (err) {
      error.textContent = describe(asUiError(err));
    } finally {
      busy = false;
      update.disabled = false;
      chooseModule.disabled = false;
      await reload();
    }
  };
  update.onclick = () => run((onLine) => api.runnerUpdate(nixpkgs.value.trim(), onLine));
  // The file is read here; Nix checks it before anything changes, and a
  // refused one leaves the builder as it is.
  picker.onchange = async () => {
    const file = picker.files?.[0];
    picker.value = "";
    if (!file) return;
    const text = await file.text();
    await run((onLine) => api.runnerModule(file.name, text, onLine));
  };
  clearModule.onclick = () => {
    if (!confirm("Stop using your configuration file and apply the builder without it?")) return;
    void run((onLine) => api.runnerModule("", null, onLine));
  };
  rollBack.onclick = () => {
    if (!confirm("Go back to the previous builder generation?")) return;
    void run((onLine) => api.runnerRollBack(onLine));
  };
  void reload();
  // A start makes generation 1, a switch elsewhere (the CLI) changes the
  // list: it follows the builder's state.
  void api.onStatus(() => {
    if (!busy) void reload();
  });

  return h(
    "div",
    { id: "runner" },
    h(
      "p",
      { class: "muted" },
      "The builder's Linux system, one generation per change. Update Builder has the running builder build its successor from a newer nixpkgs, switches to it and runs a test build; if anything fails, the builder goes on with the generation it had.",
    ),
    list,
    h("div", { class: "row" }, nixpkgs, update, rollBack),
    moduleState,
    h("div", { class: "row" }, chooseModule, clearModule, picker),
    log,
    result,
    error,
  );
}
