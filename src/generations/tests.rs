use super::*;

fn make_runner(text: &'static str) -> impl FnMut(&Path) -> Result<PathBuf, GenerationError> {
    move |dir: &Path| {
        let runner = dir.join("runner");
        std::fs::write(&runner, text).unwrap();
        Ok(runner)
    }
}

fn adopt(store: &Store, identity: &str, text: &'static str) -> Generation {
    let mut make = make_runner(text);
    store
        .adopt(Candidate {
            nixpkgs: None,
            identity: identity.into(),
            built_from: format!("built from {identity}"),
            make: &mut make,
        })
        .unwrap()
}

fn states(store: &Store) -> Vec<(u32, GenerationState)> {
    store
        .list()
        .unwrap()
        .into_iter()
        .map(|g| (g.number, g.state))
        .collect()
}

#[test]
fn the_first_runner_is_generation_1_and_the_same_one_makes_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    assert!(store.list().unwrap().is_empty());
    let first = adopt(&store, "a", "one");
    assert_eq!(first.number, 1);
    assert_eq!(first.state, GenerationState::Current);
    assert_eq!(first.runner, store.generation_dir(1).join("runner"));
    let again = adopt(&store, "a", "never written");
    assert_eq!(again, first, "the same runner is the same generation");
    assert_eq!(std::fs::read_to_string(&first.runner).unwrap(), "one");
    assert_eq!(store.current().unwrap(), Some(first));
}

#[test]
fn a_new_runner_keeps_the_previous_one_until_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    adopt(&store, "a", "one");
    adopt(&store, "b", "two");
    assert_eq!(
        states(&store),
        [
            (1, GenerationState::Previous),
            (2, GenerationState::Current)
        ]
    );
    assert!(store.generation_dir(1).join("runner").is_file(), "kept");

    let third = adopt(&store, "c", "three");
    assert_eq!(third.number, 3);
    assert_eq!(
        states(&store),
        [
            (2, GenerationState::Previous),
            (3, GenerationState::Current)
        ]
    );
    assert!(!store.generation_dir(1).exists(), "generation 1 is gone");

    // Going back to an earlier build is a new generation, not a reuse of a
    // number: the numbers only grow.
    let back = adopt(&store, "b", "two again");
    assert_eq!(back.number, 4);
}

#[test]
fn a_make_that_fails_leaves_the_current_generation_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    let first = adopt(&store, "a", "one");
    let err = store
        .adopt(Candidate {
            nixpkgs: None,
            identity: "b".into(),
            built_from: "b".into(),
            make: &mut |_| Err(GenerationError::Make("the build failed".into())),
        })
        .unwrap_err();
    assert!(err.to_string().contains("the build failed"), "{err}");
    assert_eq!(store.current().unwrap(), Some(first));
    assert_eq!(states(&store), [(1, GenerationState::Current)]);
    // The next attempt takes the number the failed one left unnamed.
    assert_eq!(adopt(&store, "b", "two").number, 2);
}

#[test]
fn a_runner_that_disappeared_is_made_again_as_a_new_generation() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    let first = adopt(&store, "a", "one");
    std::fs::remove_file(&first.runner).unwrap();
    let again = adopt(&store, "a", "one, again");
    assert_eq!(again.number, 2);
    assert_eq!(
        std::fs::read_to_string(&again.runner).unwrap(),
        "one, again"
    );
}

#[test]
fn an_unreadable_store_says_where_it_is_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    std::fs::write(dir.path().join("store.json"), "{not json").unwrap();
    let err = store.list().unwrap_err().to_string();
    assert!(err.contains("store.json"), "{err}");
    assert!(err.contains("move it aside"), "{err}");
}

#[test]
fn the_store_file_says_each_generation_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    adopt(&store, "a", "one");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("store.json")).unwrap()).unwrap();
    let first = &json["generations"][0];
    assert_eq!(first["number"], 1);
    assert_eq!(first["state"], "current");
    assert_eq!(first["built_from"], "built from a");
    assert!(first["made_at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn a_switch_to_the_previous_generation_keeps_the_one_it_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    adopt(&store, "a", "one");
    adopt(&store, "b", "two");
    let selected = store.select(1).unwrap();
    assert_eq!(selected.generation.number, 1);
    assert_eq!(selected.generation.state, GenerationState::Current);
    assert_eq!(selected.replaced.map(|g| g.number), Some(2));
    assert_eq!(
        states(&store),
        [
            (1, GenerationState::Current),
            (2, GenerationState::Previous)
        ]
    );
    assert!(store.generation_dir(2).join("runner").is_file(), "kept");
    let again = store.select(1).unwrap();
    assert!(again.replaced.is_none(), "already current: nothing changes");
    let err = store.select(7).unwrap_err().to_string();
    assert!(err.contains("no generation 7"), "{err}");
}

#[test]
fn a_generation_that_failed_keeps_why_and_the_one_before_is_current_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    adopt(&store, "a", "one");
    adopt(&store, "b", "two");
    store.select(1).unwrap();
    let log = vec!["qemu: cannot boot".to_owned()];
    let back = store
        .fail_back(1, "it exited at once", log.clone(), Some(2))
        .unwrap();
    assert_eq!(back.map(|g| g.number), Some(2));
    assert_eq!(
        states(&store),
        [
            (
                1,
                GenerationState::Failed {
                    reason: "it exited at once".into(),
                    last_log: log
                }
            ),
            (2, GenerationState::Current)
        ]
    );
    // A new runner next: the failed one stays listed (with its reason).
    adopt(&store, "c", "three");
    assert_eq!(store.list().unwrap().len(), 3);
    // With nothing to go back to, only the failure is recorded.
    let none = store.fail_back(3, "never Ready", Vec::new(), None).unwrap();
    assert!(none.is_none());
    assert!(store.current().unwrap().is_none());
}

fn offer(store: &Store, identity: &str) -> u32 {
    let mut make = make_runner("a dev build's runner");
    store
        .adopt_new(Candidate {
            nixpkgs: None,
            identity: identity.into(),
            built_from: identity.into(),
            make: &mut make,
        })
        .unwrap()
        .number
}

#[test]
fn the_dev_build_offered_at_every_start_does_not_undo_a_switch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    assert_eq!(offer(&store, "dev a"), 1);
    adopt(&store, "two", "two");
    adopt(&store, "three", "three");
    // Generation 1 was dropped with the third; the switch to 2 stands.
    store.select(2).unwrap();
    assert_eq!(offer(&store, "dev a"), 2, "the switch stands");
    store.select(3).unwrap();
    assert_eq!(offer(&store, "dev a"), 3);
    assert_eq!(offer(&store, "dev b"), 4, "a new build comes in");
    assert_eq!(offer(&store, "dev b"), 4);
}

#[test]
fn a_store_from_before_takes_in_the_current_build_without_a_new_generation() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    adopt(&store, "dev a", "one");
    assert_eq!(offer(&store, "dev a"), 1);
    assert_eq!(states(&store), [(1, GenerationState::Current)]);
}

#[test]
fn the_previous_generation_is_kept_until_a_switch_is_proved() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    adopt(&store, "a", "one");
    adopt(&store, "b", "two");
    adopt(&store, "c", "three");
    store.select(2).unwrap();
    store.fail_back(2, "x", Vec::new(), Some(3)).unwrap();
    adopt(&store, "d", "four");
    // 3 previous, 4 current, 2 failed: a switch to 2 again keeps 3 until
    // 2 is proved.
    store.select(2).unwrap();
    assert_eq!(store.trial().unwrap(), Some(2));
    let back = store.fail_trial("never Ready").unwrap();
    assert_eq!(back.map(|g| g.number), Some(4));
    let kept = |store: &Store| {
        store
            .list()
            .unwrap()
            .into_iter()
            .filter(|g| g.state == GenerationState::Previous)
            .map(|g| g.number)
            .collect::<Vec<_>>()
    };
    assert_eq!(kept(&store), [3], "a failed switch loses nothing");
    store.select(2).unwrap();
    store.accept(2).unwrap();
    assert_eq!(store.trial().unwrap(), None);
    assert_eq!(kept(&store), [4], "proved: only the one it replaced stays");
    assert!(!store.generation_dir(3).exists());
}

fn add(store: &Store, identity: &str, text: &'static str) -> Generation {
    let mut make = make_runner(text);
    store
        .add(Candidate {
            nixpkgs: None,
            identity: identity.into(),
            built_from: format!("built from {identity}"),
            make: &mut make,
        })
        .unwrap()
}

#[test]
fn a_successor_is_kept_untried_beside_the_current_one_until_a_switch_selects_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    adopt(&store, "a", "one");
    let built = add(&store, "b", "two");
    assert_eq!(built.number, 2);
    assert_eq!(
        states(&store),
        [(1, GenerationState::Current), (2, GenerationState::Built)]
    );
    assert_eq!(add(&store, "b", "never written"), built, "the same runner");
    assert_eq!(
        add(&store, "a", "never written").number,
        1,
        "the current one"
    );

    // A newer successor replaces the untried one, files and all.
    let newer = add(&store, "c", "three");
    assert_eq!(newer.number, 3);
    assert!(!store.generation_dir(2).exists());
    assert_eq!(
        states(&store),
        [(1, GenerationState::Current), (3, GenerationState::Built)]
    );

    store.select(3).unwrap();
    store.accept(3).unwrap();
    assert_eq!(
        states(&store),
        [
            (1, GenerationState::Previous),
            (3, GenerationState::Current)
        ]
    );
}

#[test]
fn a_failed_successor_built_again_is_tried_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path());
    adopt(&store, "a", "one");
    add(&store, "b", "two");
    let selected = store.select(2).unwrap();
    store
        .fail_back(
            2,
            "never Ready",
            Vec::new(),
            selected.replaced.map(|g| g.number),
        )
        .unwrap();
    let again = add(&store, "b", "two again");
    assert_eq!(again.number, 3, "a new generation, not the failed one");
    assert_eq!(
        states(&store),
        [(1, GenerationState::Current), (3, GenerationState::Built)]
    );
    assert_eq!(std::fs::read_to_string(&again.runner).unwrap(), "two again");
}
