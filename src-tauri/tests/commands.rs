//! The window's commands through tauri's mock runtime: the same builder the
//! app runs, with a temp BUILDERBAR_HOME and the real core behind it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use builderbar::paths::Paths;
use builderbar_app::{AppState, with_commands};
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, get_ipc_response, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;

struct App {
    _home: tempfile::TempDir,
    root: std::path::PathBuf,
    webview: tauri::WebviewWindow<tauri::test::MockRuntime>,
    _app: tauri::App<tauri::test::MockRuntime>,
}

impl App {
    fn new() -> App {
        let home = tempfile::tempdir().unwrap();
        let root = home.path().to_path_buf();
        let app = with_commands(mock_builder(), AppState::new(Paths::with_root(&root)))
            .build(mock_context(noop_assets()))
            .unwrap();
        let webview = tauri::WebviewWindowBuilder::new(&app, "settings", Default::default())
            .build()
            .unwrap();
        App {
            _home: home,
            root,
            webview,
            _app: app,
        }
    }

    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&self.webview, request).map(|body| body.deserialize::<Value>().unwrap())
    }
}

#[test]
fn status_of_a_fresh_install_is_stopped() {
    let app = App::new();
    let status = app.call("status", json!({})).unwrap();
    assert_eq!(status["state"], "stopped");
    assert_eq!(status["summary"], "Stopped");
    assert_eq!(status["port"], 31022);
}

/// The case the app once decided on its own, differently from the core: a
/// VM that died, then a stop the user asked for. The core says Stopped;
/// the app shows what the core says.
#[test]
fn a_failure_the_user_then_stopped_shows_as_stopped() {
    let app = App::new();
    let state = app.root.join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("status.json"),
        json!({
            "state": "failed",
            "supervisor_pid": null,
            "pid": null,
            "port": 31022,
            "started_at": null,
            "last_exit": {
                "code": null,
                "signal": 9,
                "kind": "vm-died",
                "reason": "QEMU exited with signal 9",
                "at": "2026-12-06T18:00:00Z"
            },
            "consecutive_failures": 1
        })
        .to_string(),
    )
    .unwrap();
    let failed = app.call("status", json!({})).unwrap();
    assert_eq!(failed["state"], "failed", "{failed}");
    assert_eq!(failed["is_up"], false);

    std::fs::write(state.join("stopped-by-user"), "").unwrap();
    let stopped = app.call("status", json!({})).unwrap();
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    assert_eq!(stopped["label"], "Stopped");
    assert_eq!(stopped["summary"], "Stopped");
    assert_eq!(stopped["can_toggle"], true);
}

#[test]
fn a_bad_port_is_refused_as_you_type_and_nothing_is_saved() {
    let app = App::new();
    let view = app.call("settings", json!({})).unwrap();
    let mut form = view["form"].clone();
    form["ssh_port"] = json!(22);
    let plan = app
        .call(
            "plan_settings",
            json!({ "form": form, "loaded": view["form"] }),
        )
        .unwrap();
    let problems = plan["problems"].as_array().unwrap();
    assert_eq!(problems[0]["field"], "ssh_port");
    assert!(
        !app.root.join("settings.toml").exists(),
        "planning saves nothing"
    );

    let refused = app.call(
        "apply_settings",
        json!({ "form": form, "loaded": view["form"], "onProgress": "__CHANNEL__:1" }),
    );
    let err = refused.unwrap_err();
    assert!(err["message"].as_str().unwrap().contains("22"), "{err}");
    let after = app.call("settings", json!({})).unwrap();
    assert_eq!(after["form"]["ssh_port"], 31022);
}

#[test]
fn a_valid_change_is_planned_then_applied() {
    let app = App::new();
    let view = app.call("settings", json!({})).unwrap();
    let mut form = view["form"].clone();
    form["memory_mib"] = json!(2048);
    form["notify_build_successes"] = json!(true);
    let plan = app
        .call(
            "plan_settings",
            json!({ "form": form, "loaded": view["form"] }),
        )
        .unwrap();
    assert_eq!(plan["problems"], json!([]));
    assert_eq!(plan["changes"].as_array().unwrap().len(), 2);
    assert_eq!(plan["needs_restart"], true);

    let applied = app
        .call(
            "apply_settings",
            json!({ "form": form, "loaded": view["form"], "onProgress": "__CHANNEL__:1" }),
        )
        .unwrap();
    assert_eq!(applied["form"]["memory_mib"], 2048);
    let text = std::fs::read_to_string(app.root.join("settings.toml")).unwrap();
    assert!(text.contains("memory_mib = 2048"), "{text}");
}

#[test]
fn a_hostile_key_is_refused_and_nothing_is_saved() {
    let app = App::new();
    let hostile = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPxKakSIPe+naMfEUurXsC/2qckP5mbjIE4PkhUovK8W x\ncommand=\"rm -rf /\" ssh-ed25519 AAAA";
    let err = app.call("add_key", json!({ "text": hostile })).unwrap_err();
    assert!(!err["message"].as_str().unwrap().is_empty());
    let keys = app.call("keys", json!({})).unwrap();
    assert_eq!(keys["authorized"], json!([]));
    assert!(!app.root.join("vm-keys/builder_ed25519.pub").exists());
}

#[test]
fn the_doctor_reports_each_check_with_a_status_and_as_text() {
    let app = App::new();
    let report = app.call("doctor", json!({})).unwrap();
    let checks = report["checks"].as_array().unwrap();
    assert!(!checks.is_empty());
    for check in checks {
        assert!(
            ["pass", "fail", "skip"].contains(&check["status"].as_str().unwrap()),
            "{check}"
        );
        let name = check["name"].as_str().unwrap();
        assert!(report["text"].as_str().unwrap().contains(name));
    }
    assert!(
        checks
            .iter()
            .any(|c| c["name"] == "machines" && c["status"] == "fail"),
        "nothing is wired in a fresh home"
    );
}

#[test]
fn the_first_run_check_says_what_is_there_and_what_will_happen() {
    let app = App::new();
    let view = app.call("setup_check", json!({})).unwrap();
    assert_eq!(view["already_set_up"], false);
    let names: Vec<&str> = view["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    for name in ["nix", "os", "disk", "port", "other-builder", "set-up"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    assert_eq!(view["admin_prompts"], 1);
    let steps = view["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 7);
    assert_eq!(steps[0]["id"], "check");
    assert_eq!(steps[6]["id"], "test-build");
    assert!(!view["files"].as_array().unwrap().is_empty());
}

#[test]
fn a_blocked_setup_run_stops_at_the_check_and_installs_nothing() {
    let app = App::new();
    // The builder's port, held here once set: the check must refuse to go on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    builderbar::settings::SettingsStore::open(&Paths::with_root(&app.root))
        .unwrap()
        .set("port", &port.to_string())
        .unwrap();
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let outcome = app
        .call("setup_run", json!({ "onProgress": "__CHANNEL__:1" }))
        .unwrap();
    let failure = &outcome["failure"];
    assert_eq!(failure["step"], "check", "{outcome}");
    assert!(!failure["fix"].as_str().unwrap().is_empty(), "{outcome}");
    assert_eq!(failure["left_behind"], json!([]));
    assert!(!app.root.join("nix-wiring").exists());
    assert!(!app.root.join("bin/builderbar").exists());
    drop(listener);
}

#[test]
fn applying_the_window_keeps_a_change_made_elsewhere_meanwhile() {
    let app = App::new();
    let view = app.call("settings", json!({})).unwrap();
    // While the window is open, the CLI (another process) changes the cores.
    let mut elsewhere = view["form"].clone();
    elsewhere["cores"] = json!(2);
    app.call(
        "apply_settings",
        json!({ "form": elsewhere, "loaded": view["form"], "onProgress": "__CHANNEL__:1" }),
    )
    .unwrap();
    // The window, still showing what it loaded, changes only the memory.
    let mut form = view["form"].clone();
    form["memory_mib"] = json!(2048);
    let applied = app
        .call(
            "apply_settings",
            json!({ "form": form, "loaded": view["form"], "onProgress": "__CHANNEL__:1" }),
        )
        .unwrap();
    assert_eq!(applied["form"]["memory_mib"], 2048);
    assert_eq!(applied["form"]["cores"], 2, "the other change is kept");
}
