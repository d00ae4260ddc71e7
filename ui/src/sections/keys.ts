import { api, asUiError, describe } from "../api";
import type { KeysView } from "../bindings/KeysView";
import { h, replace } from "../dom";

/// The Keys section: the builder key, and the public keys allowed in.
export function keys(root: HTMLElement) {
  const builder = h("div", { id: "builder-key" });
  const list = h("ul", { class: "keys", id: "authorized-keys" });
  const error = h("p", { class: "error", role: "alert", id: "key-error" });
  const input = h("textarea", {
    id: "new-key",
    rows: 3,
    placeholder: "ssh-ed25519 AAAA… you@laptop",
    spellcheck: false,
  });

  const run = async (action: () => Promise<KeysView>) => {
    error.textContent = "";
    try {
      render(await action());
      return true;
    } catch (err) {
      const e = asUiError(err);
      error.textContent = describe(e);
      return false;
    }
  };

  const render = (view: KeysView) => {
    replace(
      builder,
      view.builder_fingerprint
        ? h("p", {}, "Fingerprint ", h("code", { id: "builder-fingerprint" }, view.builder_fingerprint))
        : h("p", { class: "muted" }, "No builder key yet. It is made when you set up the builder."),
      h(
        "div",
        { class: "row" },
        view.builder_public
          ? h(
              "button",
              { onclick: () => void api.copyText(view.builder_public ?? "").catch(() => undefined) },
              "Copy public key",
            )
          : "",
        h(
          "button",
          {
            id: "rotate-key",
            onclick: () => {
              if (!view.builder_public || confirm("Replace the builder key? The old one stops working.")) {
                void run(api.rotateKey);
              }
            },
          },
          view.builder_public ? "Rotate…" : "Make the builder key",
        ),
      ),
    );
    replace(
      list,
      ...(view.authorized.length === 0
        ? [h("li", { class: "muted" }, "No other keys. Add one to log in to the builder yourself.")]
        : view.authorized.map((k) =>
            h(
              "li",
              {},
              h("span", { class: "key-type" }, k.algorithm),
              h("code", {}, k.fingerprint),
              h("span", { class: "muted" }, k.comment),
              h("button", { class: "link", onclick: () => void run(() => api.removeKey(k.fingerprint)) }, "Remove"),
            ),
          )),
    );
  };

  root.append(
    h("h2", {}, "Keys"),
    h("h3", {}, "Builder key"),
    h("p", { class: "muted" }, "Nix uses this key to reach the builder. Its private half stays in your keychain."),
    builder,
    h("h3", {}, "Authorized keys"),
    list,
    h("label", { for: "new-key" }, "Add a public key"),
    input,
    h(
      "button",
      {
        id: "add-key",
        onclick: async () => {
          if (await run(() => api.addKey(input.value))) input.value = "";
        },
      },
      "Add",
    ),
    error,
  );
  void run(api.keys);
}
