import { api, asUiError } from "../api";
import { h } from "../dom";

/// The Advanced section: logs (the doctor report and uninstall follow the
/// Nix wiring).
export function advanced(root: HTMLElement) {
  const error = h("p", { class: "error", role: "alert" });
  root.append(
    h("h2", {}, "Advanced"),
    h("p", { class: "muted" }, "The builder's log holds BuilderBar's own messages and everything the VM printed."),
    h(
      "button",
      { id: "open-logs", onclick: () => api.openLogs().catch((e) => (error.textContent = asUiError(e).message)) },
      "Open Logs",
    ),
    error,
  );
}
