import { h } from "../dom";
import { type FormModel, problemFor } from "./form";

/// "Start the builder when a build needs it and stop it after N minutes
/// idle": the checkbox and, inline, the minutes (1 to 1440), validated by
/// the core like every field.
export function onDemand(model: FormModel): HTMLElement {
  const enabled = h("input", {
    type: "checkbox",
    id: "field-on_demand",
    onchange: () => model.set("on_demand", enabled.checked),
  });
  const minutes = h("input", {
    type: "number",
    id: "field-idle_minutes",
    name: "idle_minutes",
    class: "inline-number",
    min: 1,
    max: 1440,
    step: 1,
    "aria-label": "Idle minutes before the builder stops",
    oninput: () => {
      const value = Number(minutes.value);
      if (!Number.isFinite(value) || minutes.value.trim() === "") return;
      model.set("idle_minutes", Math.round(value));
    },
  });
  const problem = h("p", { class: "field-error", id: "problem-idle_minutes", role: "alert" });
  model.onChange((form, plan) => {
    enabled.checked = form.on_demand;
    const shown = String(form.idle_minutes);
    if (document.activeElement !== minutes && minutes.value !== shown) minutes.value = shown;
    problem.textContent = problemFor(plan, "idle_minutes");
    minutes.setAttribute("aria-invalid", String(problem.textContent !== ""));
  });
  return h(
    "div",
    {},
    h(
      "label",
      { class: "check" },
      enabled,
      "Start the builder when a build needs it and stop it after ",
      minutes,
      " minutes idle",
    ),
    h(
      "p",
      { class: "help" },
      "While it sleeps the builder gives its memory back (only a small watcher, a few MiB, holds its port); the first build after that waits a few seconds for it to boot.",
    ),
    problem,
  );
}
