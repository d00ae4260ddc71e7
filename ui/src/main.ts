import { h } from "./dom";
import { advanced } from "./sections/advanced";
import { FormModel } from "./sections/form";
import { general } from "./sections/general";
import { keys } from "./sections/keys";
import { notifications } from "./sections/notifications";
import { resources } from "./sections/resources";
import "./style.css";

const SECTIONS = ["General", "Resources", "Keys", "Notifications", "Advanced"] as const;
type Section = (typeof SECTIONS)[number];

/// Builds the window: a sidebar of sections and one visible section.
export function mount(app: HTMLElement) {
  const model = new FormModel();
  const panes = new Map<Section, HTMLElement>();
  for (const name of SECTIONS) panes.set(name, h("section", { id: `section-${name.toLowerCase()}`, hidden: true }));
  general(panes.get("General")!);
  resources(panes.get("Resources")!, model);
  keys(panes.get("Keys")!);
  notifications(panes.get("Notifications")!, model);
  advanced(panes.get("Advanced")!);

  const nav = h("nav", { "aria-label": "Sections" });
  const show = (name: Section) => {
    for (const [n, pane] of panes) pane.hidden = n !== name;
    for (const button of nav.querySelectorAll("button")) {
      button.setAttribute("aria-current", String(button.dataset.section === name));
    }
  };
  for (const name of SECTIONS) {
    const button = h("button", { "data-section": name, id: `nav-${name.toLowerCase()}`, onclick: () => show(name) }, name);
    nav.append(button);
  }
  app.append(nav, h("main", {}, ...panes.values()));
  // The menu opens the window at a section (`#advanced` for Update Builder).
  const fromHash = () => SECTIONS.find((name) => `#${name.toLowerCase()}` === location.hash);
  window.addEventListener("hashchange", () => {
    const name = fromHash();
    if (name) show(name);
  });
  show(fromHash() ?? "General");
  void model.load();
}

const root = document.getElementById("app");
if (root) mount(root);
