import type { SettingsForm } from "../bindings/SettingsForm";
import { SETTING_LABELS } from "../bindings/settingLabels";
import { h } from "../dom";
import { applyBar, type FormModel, problemFor } from "./form";
import { onDemand } from "./on-demand";

const GIB = 1024;

type NumberField = {
  key: keyof SettingsForm;
  field: string;
  label: string;
  unit?: string;
  /// Shown in the form in GiB, stored in MiB.
  gib?: boolean;
  help: (model: FormModel) => string;
};

const FIELDS: NumberField[] = [
  {
    key: "ssh_port",
    field: "ssh_port",
    label: SETTING_LABELS.ssh_port,
    help: () => "The builder listens on this port, on this Mac only (127.0.0.1).",
  },
  {
    key: "disk_mib",
    field: "disk_mib",
    label: SETTING_LABELS.disk_mib,
    unit: "GiB",
    gib: true,
    help: () =>
      "Can only grow. A smaller disk means recreating it, which deletes everything built on the builder.",
  },
  {
    key: "memory_mib",
    field: "memory_mib",
    label: SETTING_LABELS.memory_mib,
    unit: "GiB",
    gib: true,
    help: (m) => `This Mac has ${Math.round((m.view?.host_memory_mib ?? 0) / GIB)} GiB.`,
  },
  {
    key: "cores",
    field: "cores",
    label: SETTING_LABELS.cores,
    help: (m) => `This Mac has ${m.view?.host_cpus ?? "?"} cores.`,
  },
  {
    key: "max_jobs",
    field: "max_jobs",
    label: SETTING_LABELS.max_jobs,
    help: () => "How many builds Nix sends to the builder at once.",
  },
];

/// The Resources section: port, disk, memory, cores, max jobs.
export function resources(root: HTMLElement, model: FormModel) {
  const rows = FIELDS.map((f) => {
    const input = h("input", {
      type: "number",
      id: `field-${f.field}`,
      name: f.field,
      min: f.gib ? 1 : 1,
      step: f.gib ? 0.5 : 1,
      oninput: () => {
        const value = Number(input.value);
        if (!Number.isFinite(value) || input.value.trim() === "") return;
        model.set(f.key, (f.gib ? Math.round(value * GIB) : Math.round(value)) as never);
      },
    });
    const problem = h("p", { class: "field-error", id: `problem-${f.field}`, role: "alert" });
    const help = h("p", { class: "help" });
    model.onChange((form, plan) => {
      const raw = form[f.key] as number;
      const shown = String(f.gib ? raw / GIB : raw);
      if (document.activeElement !== input && input.value !== shown) input.value = shown;
      problem.textContent = problemFor(plan, f.field);
      input.setAttribute("aria-invalid", String(problem.textContent !== ""));
      help.textContent = f.help(model);
    });
    return h(
      "div",
      { class: "field" },
      h("label", { for: `field-${f.field}` }, f.label),
      h("div", { class: "input-row" }, input, f.unit ? h("span", { class: "unit" }, f.unit) : ""),
      help,
      problem,
    );
  });
  const ephemeral = h("input", {
    type: "checkbox",
    id: "field-ephemeral",
    onchange: () => model.set("ephemeral", ephemeral.checked),
  });
  model.onChange((form) => (ephemeral.checked = form.ephemeral));
  root.append(
    h("h2", {}, "Resources"),
    h("div", { class: "fields" }, ...rows),
    h("label", { class: "check" }, ephemeral, "Wipe the builder's disk at every start"),
    onDemand(model),
    applyBar(model),
  );
}
