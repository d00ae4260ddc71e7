import { api, asUiError } from "../api";
import type { BuilderStatus } from "../bindings/BuilderStatus";
import { h, replace } from "../dom";

export function uptime(secs: number | null): string {
  if (secs === null) return "—";
  if (secs < 60) return `${secs} s`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min`;
  return `${Math.floor(secs / 3600)} h ${Math.floor((secs % 3600) / 60)} min`;
}

/// The General section: state, start/stop, uptime, port.
export function general(root: HTMLElement) {
  const body = h("div");
  const error = h("p", { class: "error", role: "alert" });
  root.append(h("h2", {}, "General"), body, error);

  const render = (s: BuilderStatus) => {
    // The rules are the core's: is_up, can_toggle, label.
    const running = s.is_up;
    const button = h(
      "button",
      {
        id: "toggle",
        class: running ? "" : "primary",
        disabled: !s.can_toggle,
        onclick: async () => {
          button.setAttribute("disabled", "");
          error.textContent = "";
          try {
            render(running ? await api.stop() : await api.start());
          } catch (err) {
            error.textContent = asUiError(err).message;
            button.removeAttribute("disabled");
          }
        },
      },
      running ? "Stop" : "Start",
    );
    replace(
      body,
      h(
        "div",
        { class: "status-row" },
        h("span", { class: `badge ${s.state}`, id: "state" }, s.label),
        h("span", { id: "summary" }, s.summary === s.label ? "" : s.summary),
        button,
      ),
      h(
        "dl",
        {},
        h("dt", {}, "SSH port"),
        h("dd", { id: "port" }, `127.0.0.1:${s.port}`),
        h("dt", {}, "Up for"),
        h("dd", { id: "uptime" }, uptime(s.uptime_secs)),
      ),
      s.crash_loop
        ? h("p", { class: "warning" }, "The builder keeps failing as it starts. Open the logs to see why.")
        : "",
      s.last_error ? h("p", { class: "error", id: "last-error" }, `Last error: ${s.last_error}`) : "",
      s.stopped_by_user && s.state === "stopped"
        ? h("p", { class: "muted" }, "Stopped by you: it stays stopped until you start it.")
        : "",
    );
  };

  api.status().then(render, (err) => (error.textContent = asUiError(err).message));
  void api.onStatus(render);
}
