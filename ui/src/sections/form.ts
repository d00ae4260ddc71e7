// The settings form shared by Resources and Notifications: validated as you
// type by the core (plan_settings saves nothing), applied in one step.
import { api, asUiError, describe } from "../api";
import type { ApplyPlan } from "../bindings/ApplyPlan";
import type { SettingsForm } from "../bindings/SettingsForm";
import type { SettingsView } from "../bindings/SettingsView";
import { h, replace } from "../dom";


type Listener = (form: SettingsForm, plan: ApplyPlan | null) => void;

export class FormModel {
  view: SettingsView | null = null;
  form: SettingsForm | null = null;
  plan: ApplyPlan | null = null;
  private listeners: Listener[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  async load() {
    this.view = await api.settings();
    this.form = { ...this.view.form };
    this.plan = null;
    this.emit();
  }

  onChange(listener: Listener) {
    this.listeners.push(listener);
  }

  /// Changes one field and asks the core about the result shortly after.
  set<K extends keyof SettingsForm>(key: K, value: SettingsForm[K]) {
    if (!this.form) return;
    this.form = { ...this.form, [key]: value };
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.validate(), 200);
  }

  async validate() {
    if (!this.form || !this.view) return;
    const form = this.form;
    this.plan = await api.planSettings(form, this.view.form);
    if (form === this.form) this.emit();
  }

  private emit() {
    if (this.form) for (const l of this.listeners) l(this.form, this.plan);
  }
}

/// The problem message under a field, from the core's validation.
export function problemFor(plan: ApplyPlan | null, field: string): string {
  const p = plan?.problems.find((p) => p.field === field);
  return p ? `${p.message} ${p.hint}` : "";
}

/// The Apply area: what will change, what it needs, and the button.
export function applyBar(model: FormModel): HTMLElement {
  const summary = h("div", { class: "plan", id: "plan" });
  const progress = h("p", { class: "muted", id: "progress", "aria-live": "polite" });
  const error = h("p", { class: "error", role: "alert", id: "apply-error" });
  const button = h(
    "button",
    {
      class: "primary",
      id: "apply",
      disabled: true,
      onclick: async () => {
        if (!model.form || !model.view) return;
        button.setAttribute("disabled", "");
        error.textContent = "";
        try {
          await api.applySettings(model.form, model.view.form, (p) => (progress.textContent = p.done ? "Applied." : `${p.step}…`));
          await model.load();
        } catch (err) {
          const e = asUiError(err);
          error.textContent = describe(e);
          button.removeAttribute("disabled");
        }
      },
    },
    "Apply",
  );
  model.onChange((_form, plan) => {
    const changes = plan?.changes ?? [];
    const blocked = (plan?.problems.length ?? 0) > 0;
    if (changes.length === 0 || blocked) button.setAttribute("disabled", "");
    else button.removeAttribute("disabled");
    if (changes.length === 0) {
      replace(summary);
      return;
    }
    const needs = [
      plan?.needs_restart ? "restarts the builder" : "",
      plan?.needs_admin ? "asks for an administrator password" : "",
    ].filter(Boolean);
    replace(
      summary,
      h("p", {}, "Apply will change:"),
      h(
        "ul",
        {},
        ...changes.map((c) => h("li", {}, `${c.label}: ${c.from} → ${c.to}`)),
      ),
      needs.length ? h("p", { class: "muted" }, `This ${needs.join(" and ")}.`) : "",
    );
  });
  return h("div", { class: "apply-bar" }, summary, h("div", { class: "row" }, button, progress), error);
}
