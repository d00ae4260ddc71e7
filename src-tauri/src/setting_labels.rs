//! The settings' labels for the window, from the core's settings table:
//! written to `ui/src/bindings/settingLabels.ts` by the same test run that
//! exports the IPC types (`make bindings` checks both are current).

/// The TypeScript module: one label per settings field.
pub fn typescript() -> String {
    let mut out = String::from(
        "// Generated from the core's settings table (src/settings/table.rs) by\n\
         // `cargo test -p builderbar-app --lib export_bindings`. Do not edit.\n\n\
         export const SETTING_LABELS = {\n",
    );
    for setting in builderbar::settings::table::SETTINGS {
        out.push_str(&format!(
            "  {}: {},\n",
            serde_json::Value::String(setting.field.to_string()),
            serde_json::Value::String(setting.label.to_string())
        ));
    }
    out.push_str("} as const;\n");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn export_bindings_setting_labels() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../ui/src/bindings/settingLabels.ts");
        std::fs::write(path, super::typescript()).unwrap();
    }
}
