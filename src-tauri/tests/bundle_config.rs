//! The bundle's configuration agrees with what the core expects of it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;

fn read(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn config() -> Value {
    read("tauri.conf.json")
}

#[test]
fn the_identifier_is_the_one_the_vm_job_and_notifications_name() {
    assert_eq!(
        config()["identifier"],
        builderbar::notify::backend::BUNDLE_ID,
        "launchd::APP_BUNDLE_ID must follow tauri.conf.json"
    );
}

#[test]
fn the_bundle_carries_the_cli_beside_an_app_binary_of_another_name() {
    let config = config();
    assert_eq!(
        read("tauri.bundle.conf.json")["bundle"]["externalBin"],
        serde_json::json!(["binaries/builderbar"]),
        "the service installs its copy from the `builderbar` beside the app's binary"
    );
    let main = config["mainBinaryName"].as_str().unwrap();
    // Contents/MacOS is on a case-insensitive volume on most Macs: an app
    // binary called "BuilderBar" would be the CLI's file.
    assert!(!main.eq_ignore_ascii_case("builderbar"), "{main}");
}
