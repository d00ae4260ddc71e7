import { api, asUiError, describe } from "../api";
import type { CliToolView } from "../bindings/CliToolView";
import type { DoctorReport } from "../bindings/DoctorReport";
import { h, replace } from "../dom";
import { runnerPanel } from "./runner";

const MARKS: Record<string, string> = { pass: "✓", fail: "✗", skip: "–" };

/// The Advanced section: the builder's system (generations, Update
/// Builder, Roll Back), logs, the doctor's report (to read or to paste
/// into a bug report), the command-line tool, and removing the builder.
export function advanced(root: HTMLElement) {
  const error = h("p", { class: "error", role: "alert", id: "advanced-error" });
  const checks = h("ul", { class: "checks", id: "doctor-checks" });
  const done = h("p", { class: "muted", id: "uninstall-result", "aria-live": "polite" });
  let report: DoctorReport | null = null;
  const fail = (err: unknown) => (error.textContent = describe(asUiError(err)));

  const copy = h(
    "button",
    { id: "copy-report", disabled: true, onclick: () => report && api.copyText(report.text).catch(fail) },
    "Copy Report",
  );
  const run = h(
    "button",
    {
      id: "run-doctor",
      onclick: async () => {
        error.textContent = "";
        run.setAttribute("disabled", "");
        try {
          report = await api.doctor();
          replace(
            checks,
            ...report.checks.map((c) =>
              h(
                "li",
                { class: `check-${c.status}` },
                h("span", { class: "mark" }, MARKS[c.status] ?? "?"),
                h("div", {}, h("strong", {}, c.name), " ", c.detail, c.fix ? h("p", { class: "help" }, `Fix: ${c.fix}`) : ""),
              ),
            ),
          );
          copy.removeAttribute("disabled");
        } catch (err) {
          fail(err);
        } finally {
          run.removeAttribute("disabled");
        }
      },
    },
    "Run Checks",
  );

  root.append(
    h("h2", {}, "Advanced"),
    h("h3", {}, "Builder System"),
    runnerPanel(),
    h("h3", {}, "Logs"),
    h("p", { class: "muted" }, "The builder's log holds BuilderBar's own messages and everything the VM printed."),
    h("button", { id: "open-logs", onclick: () => api.openLogs().catch(fail) }, "Open Logs"),
    h("h3", {}, "Doctor"),
    h("p", { class: "muted" }, "Checks that Nix can reach the builder, each with its fix."),
    h("div", { class: "row" }, run, copy),
    checks,
    h("h3", {}, "Command-Line Tool"),
    cliTool(fail),
    h("h3", {}, "Remove"),
    h("p", { class: "muted" }, "Stops the builder, removes its service and restores Nix's files as they were. Your settings stay."),
    h(
      "button",
      {
        id: "uninstall",
        onclick: async () => {
          if (!confirm("Remove the builder and restore Nix's files as they were?")) return;
          error.textContent = "";
          try {
            done.textContent = await api.uninstall();
          } catch (err) {
            fail(err);
          }
        },
      },
      "Remove Builder…",
    ),
    done,
    error,
  );
}

/// "Install Command-Line Tool…": where `builderbar` is linked on the PATH,
/// and the button that makes or removes the link.
function cliTool(fail: (err: unknown) => void): HTMLElement {
  const where = h("p", { class: "muted", id: "cli-tool-status", "aria-live": "polite" });
  const button = h("button", { id: "cli-tool", disabled: true }, "Install Command-Line Tool…");
  let tool: CliToolView | null = null;
  const show = (t: CliToolView) => {
    tool = t;
    where.textContent = t.installed
      ? `Installed: ${t.link} runs BuilderBar's command-line tool. Open a new Terminal window to use it.`
      : `Links ${t.link} to BuilderBar's command-line tool, so \`builderbar\` runs in Terminal${
          t.needs_admin ? " (asks for an administrator password)" : ""
        }.`;
    button.textContent = t.installed ? "Remove Command-Line Tool" : "Install Command-Line Tool…";
    button.removeAttribute("disabled");
  };
  button.onclick = async () => {
    button.setAttribute("disabled", "");
    try {
      show(await (tool?.installed ? api.uninstallCliTool() : api.installCliTool()));
    } catch (err) {
      fail(err);
      button.removeAttribute("disabled");
    }
  };
  api.cliTool().then(show, fail);
  return h("div", {}, where, button);
}
