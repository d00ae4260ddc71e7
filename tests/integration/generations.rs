//! Runner generations on Linux: the dev VM build and its runner, written
//! once into generation 1 by the first start and started as it is by the
//! next; `builderbar runner list` shows it.

use std::path::PathBuf;

use crate::support::home::Home;

fn generations(home: &Home) -> serde_json::Value {
    serde_json::from_str(&home.cli_ok(&["runner", "list", "--json"])).unwrap()
}

#[test]
fn the_first_start_makes_generation_1_and_the_next_start_starts_it_as_it_is() {
    let home = Home::new();
    assert!(
        home.cli_ok(&["runner", "list"])
            .contains("No generation yet"),
        "none before the first start"
    );
    let mut supervisor = home.start_supervisor();
    supervisor.wait_ready();
    supervisor.stop_cleanly();
    drop(supervisor);

    let list = generations(&home);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
    let first = &list[0];
    assert_eq!(first["number"], 1);
    assert_eq!(first["state"], "current");
    let built_from = first["built_from"].as_str().unwrap();
    assert!(
        built_from.starts_with("the dev VM, nix flavour, build "),
        "{built_from}"
    );
    let runner = PathBuf::from(first["runner"].as_str().unwrap());
    assert_eq!(runner, home.root().join("generations/1/runner"));
    assert!(
        home.log().contains(&format!("runner={}", runner.display())),
        "the supervisor started generation 1's runner:\n{}",
        home.log()
    );
    let written = std::fs::metadata(&runner).unwrap().modified().unwrap();

    // The next start starts the same runner; nothing is written again.
    let mut supervisor = home.start_supervisor();
    supervisor.wait_ready();
    supervisor.stop_cleanly();
    assert_eq!(
        std::fs::metadata(&runner).unwrap().modified().unwrap(),
        written
    );
    assert_eq!(generations(&home), list);
    let table = home.cli_ok(&["runner", "list"]);
    assert!(table.contains("   1  current "), "{table}");
}
