// The window's only door to the app: typed wrappers over the Rust commands.
// The payload types are generated from Rust (src/bindings, by ts-rs).
import { Channel, invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { ApplyPlan } from "./bindings/ApplyPlan";
import type { ApplyProgress } from "./bindings/ApplyProgress";
import type { BuilderStatus } from "./bindings/BuilderStatus";
import type { CliToolView } from "./bindings/CliToolView";
import type { DoctorReport } from "./bindings/DoctorReport";
import type { KeysView } from "./bindings/KeysView";
import type { RunnerProgress } from "./bindings/RunnerProgress";
import type { RunnerView } from "./bindings/RunnerView";
import type { SettingsForm } from "./bindings/SettingsForm";
import type { SettingsView } from "./bindings/SettingsView";
import type { SetupEvent } from "./bindings/SetupEvent";
import type { SetupOutcome } from "./bindings/SetupOutcome";
import type { SetupView } from "./bindings/SetupView";
import type { UiError } from "./bindings/UiError";

export const STATUS_EVENT = "builder-status";

export const api = {
  status: () => invoke<BuilderStatus>("status"),
  start: () => invoke<BuilderStatus>("start"),
  stop: () => invoke<BuilderStatus>("stop"),
  restart: () => invoke<BuilderStatus>("restart"),
  settings: () => invoke<SettingsView>("settings"),
  // `loaded` is the form as the window showed it: the core writes only the
  // fields that differ from it, so changes made elsewhere meanwhile stay.
  planSettings: (form: SettingsForm, loaded: SettingsForm) =>
    invoke<ApplyPlan>("plan_settings", { form, loaded }),
  applySettings: (form: SettingsForm, loaded: SettingsForm, onStep: (p: ApplyProgress) => void) => {
    const onProgress = new Channel<ApplyProgress>();
    onProgress.onmessage = onStep;
    return invoke<SettingsView>("apply_settings", { form, loaded, onProgress });
  },
  keys: () => invoke<KeysView>("keys"),
  addKey: (text: string) => invoke<KeysView>("add_key", { text }),
  removeKey: (fingerprint: string) => invoke<KeysView>("remove_key", { fingerprint }),
  rotateKey: () => invoke<KeysView>("rotate_key"),
  openLogs: () => invoke<void>("open_logs"),
  doctor: () => invoke<DoctorReport>("doctor"),
  copyText: (text: string) => invoke<void>("copy_text", { text }),
  uninstall: () => invoke<string>("uninstall"),
  cliTool: () => invoke<CliToolView>("cli_tool"),
  installCliTool: () => invoke<CliToolView>("install_cli_tool"),
  uninstallCliTool: () => invoke<CliToolView>("uninstall_cli_tool"),
  runnerView: () => invoke<RunnerView>("runner_view"),
  // `nixpkgs` empty: the newest cached commit of the settings' channel.
  runnerUpdate: (nixpkgs: string, onLine: (line: string) => void) => {
    const onProgress = new Channel<RunnerProgress>();
    onProgress.onmessage = (p) => onLine(p.line);
    return invoke<string>("runner_update", { nixpkgs: nixpkgs || null, onProgress });
  },
  // `text` null: forget the builder configuration file kept.
  runnerModule: (name: string, text: string | null, onLine: (line: string) => void) => {
    const onProgress = new Channel<RunnerProgress>();
    onProgress.onmessage = (p) => onLine(p.line);
    return invoke<string>("runner_module", { name, text, onProgress });
  },
  runnerRollBack: (onLine: (line: string) => void) => {
    const onProgress = new Channel<RunnerProgress>();
    onProgress.onmessage = (p) => onLine(p.line);
    return invoke<string>("runner_roll_back", { onProgress });
  },
  setupCheck: () => invoke<SetupView>("setup_check"),
  setupRun: (onEvent: (e: SetupEvent) => void) => {
    const onProgress = new Channel<SetupEvent>();
    onProgress.onmessage = onEvent;
    return invoke<SetupOutcome>("setup_run", { onProgress });
  },
  onStatus: (handler: (s: BuilderStatus) => void): Promise<UnlistenFn> =>
    listen<BuilderStatus>(STATUS_EVENT, (event) => handler(event.payload)),
};

/// A command's failure, whatever shape it arrived in.
export function asUiError(err: unknown): UiError {
  if (typeof err === "object" && err !== null && "message" in err) {
    const e = err as Partial<UiError>;
    return { message: String(e.message), hint: e.hint ?? null, problems: e.problems ?? [] };
  }
  return { message: String(err), hint: null, problems: [] };
}

/// One line for the user: what happened, then what to do.
export function describe(e: UiError): string {
  if (!e.hint) return e.message;
  const sentence = /[.!?]$/.test(e.message) ? e.message : `${e.message}.`;
  return `${sentence} ${e.hint}`;
}
