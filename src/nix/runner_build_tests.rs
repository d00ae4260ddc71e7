//! Replacing the runner with stand-ins for `nix` and `nix-store` (the real
//! ones cannot build darwin.linux-builder here): whatever fails or is
//! killed, the runner in place stays linked, cached and described.

use std::path::PathBuf;

use super::*;
use crate::nix::expr::Pin;

/// `nix` prints a store path named by the expression's checksum (so that
/// another expression is another runner) and makes its script; `nix-store`
/// replaces the link as Nix does (a temporary link renamed over the old).
/// Each fails or is killed as its mode file says.
struct FakeNix {
    dir: tempfile::TempDir,
}

const NIX: &str = r#"#!/bin/sh
dir=$(dirname "$0")
if [ "$(cat "$dir/nix-mode")" = fail ]; then
  echo '@nix {"action":"msg","level":0,"msg":"error: cannot build the runner"}' >&2
  exit 1
fi
for arg; do file=$arg; done
out="$dir/store/$(cksum < "$file" | cut -d' ' -f1)-run-nixos-vm"
mkdir -p "$out/bin"
printf '#!/bin/sh\n' > "$out/bin/run-nixos-vm"
chmod +x "$out/bin/run-nixos-vm"
echo "$out"
"#;

const NIX_STORE: &str = r#"#!/bin/sh
dir=$(dirname "$0")
case "$(cat "$dir/nix-store-mode")" in
  fail) echo "error: cannot add the root" >&2; exit 1 ;;
  killed) kill -KILL $$ ;;
esac
# --realise OUT --add-root LINK --indirect
ln -s "$2" "$4.tmp-$$" && mv -T "$4.tmp-$$" "$4"
"#;

impl FakeNix {
    fn new() -> FakeNix {
        let dir = tempfile::tempdir().unwrap();
        execfile::write(&dir.path().join("nix"), NIX.as_bytes(), 0o755).unwrap();
        execfile::write(&dir.path().join("nix-store"), NIX_STORE.as_bytes(), 0o755).unwrap();
        let fake = FakeNix { dir };
        fake.modes("ok", "ok");
        fake
    }

    fn nix(&self) -> PathBuf {
        self.dir.path().join("nix")
    }

    fn modes(&self, nix: &str, nix_store: &str) {
        std::fs::write(self.dir.path().join("nix-mode"), nix).unwrap();
        std::fs::write(self.dir.path().join("nix-store-mode"), nix_store).unwrap();
    }

    fn build(&self, paths: &Paths, pin: &str) -> Result<Runner, NixError> {
        build_runner(&self.nix(), paths, &inputs(pin), &mut |_| {})
    }
}

fn inputs(pin: &str) -> RunnerInputs {
    RunnerInputs {
        pin: Pin::parse(pin).unwrap(),
        memory_mib: 3072,
        disk_mib: 20480,
        cores: 4,
    }
}

const OLD: &str = "nixpkgs-25.05-darwin";
const NEW: &str = "nixpkgs-unstable";

/// What a start and a rebuild read: the link's target, whether the old
/// inputs are still cached, the expression.
fn in_place(paths: &Paths) -> (PathBuf, bool, String) {
    (
        std::fs::read_link(paths.runner_link()).unwrap(),
        cached(paths, &inputs(OLD)).is_some(),
        std::fs::read_to_string(paths.runner_expr_file()).unwrap(),
    )
}

#[test]
fn a_new_runner_replaces_the_old_one_and_is_then_cached() {
    let fake = FakeNix::new();
    let home = tempfile::tempdir().unwrap();
    let paths = Paths::with_root(home.path());
    let old = fake.build(&paths, OLD).unwrap();
    assert!(old.built);
    assert_eq!(
        std::fs::read_link(paths.runner_link()).unwrap(),
        old.out_path
    );
    assert!(paths.runner_script().is_file());
    assert_eq!(cached(&paths, &inputs(OLD)).unwrap().out_path, old.out_path);

    let new = fake.build(&paths, NEW).unwrap();
    assert_ne!(new.out_path, old.out_path);
    assert_eq!(
        std::fs::read_link(paths.runner_link()).unwrap(),
        new.out_path
    );
    assert!(cached(&paths, &inputs(NEW)).is_some());
    assert!(cached(&paths, &inputs(OLD)).is_none());
    let expr = std::fs::read_to_string(paths.runner_expr_file()).unwrap();
    assert!(expr.contains("nixpkgs-unstable"), "{expr}");
    assert!(
        !paths.runner_expr_file().with_extension("nix.next").exists(),
        "no staged expression is left"
    );
}

#[test]
fn a_failed_or_killed_add_root_keeps_the_runner_in_place() {
    let fake = FakeNix::new();
    let home = tempfile::tempdir().unwrap();
    let paths = Paths::with_root(home.path());
    fake.build(&paths, OLD).unwrap();
    let before = in_place(&paths);
    assert!(before.1);

    fake.modes("ok", "fail");
    let err = fake.build(&paths, NEW).unwrap_err().to_string();
    assert!(err.contains("cannot add the root"), "{err}");
    assert_eq!(in_place(&paths), before);

    fake.modes("ok", "killed");
    let err = fake.build(&paths, NEW).unwrap_err().to_string();
    assert!(err.contains("killed by signal 9"), "{err}");
    assert_eq!(in_place(&paths), before);
    assert!(
        paths.runner_script().is_file(),
        "the old runner still starts"
    );
}

#[test]
fn a_failed_build_keeps_the_runner_in_place() {
    let fake = FakeNix::new();
    let home = tempfile::tempdir().unwrap();
    let paths = Paths::with_root(home.path());
    fake.build(&paths, OLD).unwrap();
    let before = in_place(&paths);

    fake.modes("fail", "ok");
    let err = fake.build(&paths, NEW).unwrap_err().to_string();
    assert!(err.contains("cannot build the runner"), "{err}");
    assert_eq!(in_place(&paths), before);
}

/// Each runner built is recorded as a generation with its own GC root, so
/// that the previous one stays in the store after the next is built.
#[test]
fn each_runner_built_is_a_generation_rooted_on_its_own() {
    use crate::generations::{GenerationState, Store};
    let fake = FakeNix::new();
    let home = tempfile::tempdir().unwrap();
    let paths = Paths::with_root(home.path());
    let old = fake.build(&paths, OLD).unwrap();
    let first = record_generation(&fake.nix(), &paths, &inputs(OLD), &old).unwrap();
    assert_eq!(first.number, 1);
    let root = first.runner.parent().and_then(Path::parent).unwrap();
    assert_eq!(std::fs::read_link(root).unwrap(), old.out_path);
    assert!(
        first.built_from.contains("nixpkgs-25.05-darwin"),
        "{}",
        first.built_from
    );
    // Cached: the same runner is the same generation.
    let again = record_generation(&fake.nix(), &paths, &inputs(OLD), &old).unwrap();
    assert_eq!(again.number, 1);

    let new = fake.build(&paths, NEW).unwrap();
    let second = record_generation(&fake.nix(), &paths, &inputs(NEW), &new).unwrap();
    assert_eq!(second.number, 2);
    let list = Store::new(&paths).list().unwrap();
    assert_eq!(list[0].state, GenerationState::Previous);
    assert_eq!(
        std::fs::read_link(list[0].runner.parent().and_then(Path::parent).unwrap()).unwrap(),
        old.out_path,
        "the previous build is still rooted"
    );
    assert_eq!(list[1].state, GenerationState::Current);
}

#[test]
fn a_kept_generation_is_linked_again_as_the_runner_the_service_starts() {
    use crate::generations::Store;
    let fake = FakeNix::new();
    let home = tempfile::tempdir().unwrap();
    let paths = Paths::with_root(home.path());
    let old = fake.build(&paths, OLD).unwrap();
    let first = record_generation(&fake.nix(), &paths, &inputs(OLD), &old).unwrap();
    let new = fake.build(&paths, NEW).unwrap();
    record_generation(&fake.nix(), &paths, &inputs(NEW), &new).unwrap();
    assert_eq!(
        std::fs::read_link(paths.runner_link()).unwrap(),
        new.out_path
    );

    // nix-store failing leaves the link and its key alone.
    fake.modes("ok", "fail");
    let err = link_generation(&fake.nix(), &paths, &first).unwrap_err();
    assert!(err.to_string().contains("cannot add the root"), "{err}");
    assert_eq!(
        std::fs::read_link(paths.runner_link()).unwrap(),
        new.out_path
    );
    assert!(cached(&paths, &inputs(NEW)).is_some());

    fake.modes("ok", "ok");
    let selected = Store::new(&paths).select(first.number).unwrap();
    link_generation(&fake.nix(), &paths, &selected.generation).unwrap();
    assert_eq!(
        std::fs::read_link(paths.runner_link()).unwrap(),
        old.out_path
    );
    assert!(
        cached(&paths, &inputs(OLD)).is_some(),
        "the key names the linked runner: setup with the old pin rebuilds nothing"
    );
    assert!(cached(&paths, &inputs(NEW)).is_none());
}
