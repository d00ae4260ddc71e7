import type { SettingsForm } from "../bindings/SettingsForm";
import { h } from "../dom";
import { applyBar, type FormModel, problemFor } from "./form";

const CHOICES: [keyof SettingsForm, string][] = [
  ["notify_vm_failures", "When the builder fails or stops unexpectedly"],
  ["notify_build_failures", "When a build on the builder fails"],
  ["notify_build_successes", "When a build on the builder succeeds"],
  ["start_at_login", "Open BuilderBar when I log in"],
];

/// The Notifications section: which ones to show, and the disk threshold.
export function notifications(root: HTMLElement, model: FormModel) {
  const checks = CHOICES.map(([key, label]) => {
    const box = h("input", {
      type: "checkbox",
      id: `field-${key}`,
      onchange: () => model.set(key, box.checked as never),
    });
    model.onChange((form) => (box.checked = form[key] as boolean));
    return h("label", { class: "check" }, box, label);
  });
  const threshold = h("input", {
    type: "number",
    id: "field-disk_low_percent",
    min: 50,
    max: 99,
    oninput: () => model.set("disk_low_percent", Number(threshold.value)),
  });
  const problem = h("p", { class: "field-error", role: "alert" });
  model.onChange((form, plan) => {
    if (document.activeElement !== threshold) threshold.value = String(form.disk_low_percent);
    problem.textContent = problemFor(plan, "notifications.disk_low_percent");
  });
  root.append(
    h("h2", {}, "Notifications"),
    h("p", { class: "muted" }, "BuilderBar tells you about failures only, at most once every ten minutes for each kind."),
    ...checks,
    h(
      "div",
      { class: "field" },
      h("label", { for: "field-disk_low_percent" }, "Warn when the builder's disk is this full"),
      h("div", { class: "input-row" }, threshold, h("span", { class: "unit" }, "%")),
      problem,
    ),
    applyBar(model),
  );
}
