//! The checks run Debian's real `nix-instantiate` (scripts/setup.sh
//! installs nix-bin), over Nix's `dummy://` store.

use super::*;

fn paths() -> (tempfile::TempDir, Paths) {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths::with_root(dir.path().join("root"));
    (dir, paths)
}

fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_module_is_copied_and_the_original_no_longer_matters() {
    let (dir, paths) = paths();
    let original = file(
        dir.path(),
        "mine.nix",
        "{ config, lib, pkgs, ... }:\n{\n  boot.kernelModules = [ \"kvm\" ];\n}\n",
    );
    let kept = set(&paths, &original).unwrap();
    assert_eq!(kept.path, paths.builder_module_file());
    assert_eq!(
        std::fs::read(&kept.path).unwrap(),
        std::fs::read(&original).unwrap()
    );
    std::fs::write(&original, "garbage {").unwrap();
    std::fs::remove_file(&original).unwrap();
    assert_eq!(current(&paths), Some(kept.clone()), "the copy stands");
    // An attribute set is a module too; setting it replaces the copy.
    let set_module = file(
        dir.path(),
        "set.nix",
        "{ services.openssh.enable = true; }\n",
    );
    let replaced = set(&paths, &set_module).unwrap();
    assert_ne!(replaced.sha256, kept.sha256);
    assert!(clear(&paths).unwrap());
    assert!(!clear(&paths).unwrap());
    assert_eq!(current(&paths), None);
}

#[test]
fn a_file_that_does_not_parse_is_refused_naming_its_line_and_nothing_is_kept() {
    let (dir, paths) = paths();
    let good = file(dir.path(), "good.nix", "{ ... }: { }\n");
    let kept = set(&paths, &good).unwrap();
    let bad = file(dir.path(), "bad.nix", "{ config, ... }:\n{\n  x = ;\n}\n");
    let err = set(&paths, &bad).unwrap_err();
    match &err {
        ModuleError::Parse {
            line,
            message,
            path,
        } => {
            assert_eq!(*line, Some(3), "{err}");
            assert!(message.contains("syntax error"), "{message}");
            assert_eq!(path, &bad);
        }
        other => panic!("{other}"),
    }
    let said = err.to_string();
    assert!(
        said.contains("(line 3)") && said.contains("bad.nix"),
        "{said}"
    );
    assert_eq!(current(&paths), Some(kept), "the module kept before stands");
    let folder: Vec<_> = std::fs::read_dir(paths.root())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(folder, ["builder-module.nix"], "no staged copy is left");
}

#[test]
fn a_value_that_is_not_a_module_is_refused_with_what_it_is() {
    let (dir, paths) = paths();
    for (text, kind) in [
        ("[ 1 2 ]\n", "list"),
        ("\"text\"\n", "string"),
        ("42\n", "int"),
    ] {
        let path = file(dir.path(), "value.nix", text);
        let err = set(&paths, &path).unwrap_err();
        assert!(
            matches!(&err, ModuleError::NotAModule { kind: k, .. } if k == kind),
            "{text}: {err}"
        );
        assert!(err.to_string().contains("not a NixOS module"), "{err}");
    }
    assert_eq!(current(&paths), None);
}

#[test]
fn an_unreadable_or_odd_file_is_refused_in_words() {
    let (dir, paths) = paths();
    let missing = set(&paths, &dir.path().join("nope.nix")).unwrap_err();
    assert!(
        matches!(missing, ModuleError::Unreadable { .. }),
        "{missing}"
    );
    assert!(missing.to_string().contains("cannot be read"), "{missing}");
    let binary = dir.path().join("binary.nix");
    std::fs::write(&binary, [0xff, 0xfe, 0x00]).unwrap();
    assert!(matches!(
        set(&paths, &binary).unwrap_err(),
        ModuleError::NotText { .. }
    ));
    let folder = set(&paths, dir.path()).unwrap_err();
    assert!(matches!(folder, ModuleError::Unreadable { .. }), "{folder}");
    assert_eq!(current(&paths), None);
}

#[test]
fn an_undefined_name_is_a_parse_error_with_its_line() {
    let (dir, paths) = paths();
    let path = file(dir.path(), "undefined.nix", "{ ... }:\n{\n  x = nope;\n}\n");
    match set(&paths, &path).unwrap_err() {
        ModuleError::Parse { line, message, .. } => {
            assert_eq!(line, Some(3));
            assert!(message.contains("undefined variable"), "{message}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn text_from_the_window_is_checked_the_same_way_and_named_as_the_user_chose_it() {
    let (_dir, paths) = paths();
    let err = set_bytes(&paths, Path::new("builder.nix"), b"{ x = ; }\n").unwrap_err();
    let said = err.to_string();
    assert!(
        said.starts_with("builder.nix does not parse as Nix (line 1)"),
        "{said}"
    );
    assert_eq!(current(&paths), None);
    let kept = set_bytes(&paths, Path::new("builder.nix"), b"{ ... }: { }\n").unwrap();
    assert_eq!(std::fs::read(&kept.path).unwrap(), b"{ ... }: { }\n");
}
