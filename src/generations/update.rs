//! Update Builder: a newer nixpkgs (the newest cached commit of the
//! settings' channel, or the one given), built by the running builder
//! (`successor.rs`), switched to and proved Ready (`switch.rs`), then
//! proved by a test build through the host's Nix. Any failure leaves the
//! old generation serving: a build that fails keeps nothing, a switch
//! that fails goes back by itself, and a test build that fails switches
//! back and marks the new generation failed with the test build's words.

use std::time::Duration;

use super::latest::{LatestError, LatestNixpkgs, channel_of};
use super::successor::{self, SuccessorError, SuccessorEvent, SuccessorRequest};
use super::switch::{self, SwitchError, SwitchEvent, SwitchOptions, Switched};
use super::{Generation, GenerationError, GenerationState, Store};
use crate::nix::expr::Pin;
use crate::nix::test_build::{TestBuildError, TestBuildReport};
use crate::paths::Paths;
use crate::settings::{SettingsError, SettingsStore};

/// What to update to.
#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    /// This nixpkgs; the newest cached commit of the settings' channel
    /// when `None`.
    pub nixpkgs: Option<Pin>,
    pub build_timeout: Option<Duration>,
    pub switch: SwitchOptions,
}

/// A step of the update, as the CLI and the window show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateEvent {
    FindingLatest {
        channel: String,
    },
    Build(SuccessorEvent),
    Switch(SwitchEvent),
    TestBuild,
    /// The test build failed: back to the generation before.
    RollingBack {
        reason: String,
    },
}

/// An update that ended with the new generation serving and proved.
#[derive(Debug, Clone)]
pub struct Updated {
    pub pin: Pin,
    /// `None`: the builder already ran this nixpkgs; nothing was switched.
    pub switched: Option<Switched>,
    pub generation: Generation,
    pub test_build: Option<TestBuildReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Latest(#[from] LatestError),
    #[error(transparent)]
    Build(#[from] SuccessorError),
    #[error(transparent)]
    Switch(#[from] SwitchError),
    #[error(transparent)]
    Generations(#[from] GenerationError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(
        "generation {number} started, but the test build failed on it: {reason}. The builder went back to generation {back_to}; `builderbar runner list` shows why"
    )]
    TestBuildFailed {
        number: u32,
        reason: String,
        back_to: u32,
    },
    #[error(
        "generation {number} started, but the test build failed on it: {reason}. Going back failed too: {again}; `builderbar runner rollback` tries again"
    )]
    TestBuildAndBackFailed {
        number: u32,
        reason: String,
        again: Box<SwitchError>,
    },
}

/// Updates the builder (`builderbar runner update`, Update Builder).
pub fn update(
    paths: &Paths,
    request: &UpdateRequest,
    latest: &dyn LatestNixpkgs,
    on: &mut dyn FnMut(UpdateEvent),
) -> Result<Updated, UpdateError> {
    let pin = match &request.nixpkgs {
        Some(pin) => pin.clone(),
        None => {
            let settings = SettingsStore::open(paths)?.load()?.settings;
            let channel = channel_of(settings.nixpkgs.as_deref()).to_owned();
            on(UpdateEvent::FindingLatest {
                channel: channel.clone(),
            });
            latest.latest(&channel)?
        }
    };
    let mut build = SuccessorRequest {
        nixpkgs: Some(pin.clone()),
        ..SuccessorRequest::default()
    };
    if let Some(timeout) = request.build_timeout {
        build.timeout = timeout;
    }
    let built = successor::build(paths, &build, &mut |event| on(UpdateEvent::Build(event)))?;
    if built.generation.state == GenerationState::Current {
        return Ok(Updated {
            pin,
            switched: None,
            generation: built.generation,
            test_build: None,
        });
    }
    let number = built.generation.number;
    let switched = switch::switch(paths, number, &request.switch, &mut |event| {
        on(UpdateEvent::Switch(event))
    })?;
    on(UpdateEvent::TestBuild);
    match test_build(paths) {
        Ok(report) => Ok(Updated {
            pin,
            generation: switched.generation.clone(),
            switched: Some(switched),
            test_build: Some(report),
        }),
        Err(err) => {
            let reason = err.to_string();
            on(UpdateEvent::RollingBack {
                reason: reason.clone(),
            });
            match switch::roll_back(paths, &request.switch, &mut |event| {
                on(UpdateEvent::Switch(event))
            }) {
                Ok(back) => {
                    let why = format!("the test build failed: {reason}");
                    Store::new(paths).mark_failed(number, &why)?;
                    Err(UpdateError::TestBuildFailed {
                        number,
                        reason,
                        back_to: back.generation.number,
                    })
                }
                Err(again) => Err(UpdateError::TestBuildAndBackFailed {
                    number,
                    reason,
                    again: Box::new(again),
                }),
            }
        }
    }
}

/// A change of the user's own NixOS module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleChange {
    /// Check this file and keep a copy of it.
    Set(std::path::PathBuf),
    /// Check this text (a file the window read, named `name`) and keep it.
    SetText { name: String, text: String },
    /// Forget the one kept.
    Clear,
}

#[derive(Debug, thiserror::Error)]
pub enum ModuleChangeError {
    /// Refused: nothing changed, the builder is untouched.
    #[error(transparent)]
    Module(#[from] crate::nix::module::ModuleError),
    #[error(
        "the builder configuration file is changed, but applying it failed: {0}. The builder goes on with the generation it ran; `builderbar runner update --nixpkgs PIN` applies the change later"
    )]
    Apply(#[source] Box<UpdateError>),
}

/// Sets or clears the user's module, then applies it the way an update
/// does, with the settings' nixpkgs (the network is not asked): built by
/// the running builder, switched to, proved by a test build.
pub fn change_module(
    paths: &Paths,
    change: &ModuleChange,
    switch: &SwitchOptions,
    on: &mut dyn FnMut(UpdateEvent),
) -> Result<Updated, ModuleChangeError> {
    let settings = SettingsStore::open(paths)
        .and_then(|store| store.load())
        .map_err(|err| ModuleChangeError::Apply(Box::new(err.into())))?
        .settings;
    let pin = Pin::from_settings(&settings)
        .map_err(|err| ModuleChangeError::Apply(Box::new(SuccessorError::Pin(err).into())))?;
    match change {
        ModuleChange::Set(file) => {
            crate::nix::module::set(paths, file)?;
        }
        ModuleChange::SetText { name, text } => {
            crate::nix::module::set_bytes(paths, std::path::Path::new(name), text.as_bytes())?;
        }
        ModuleChange::Clear => {
            crate::nix::module::clear(paths)?;
        }
    }
    let request = UpdateRequest {
        nixpkgs: Some(pin),
        build_timeout: None,
        switch: switch.clone(),
    };
    update(paths, &request, &NeverAsked, on).map_err(|err| ModuleChangeError::Apply(Box::new(err)))
}

/// A module change keeps the nixpkgs: nothing is asked of the network.
struct NeverAsked;

impl LatestNixpkgs for NeverAsked {
    fn latest(&self, channel: &str) -> Result<Pin, LatestError> {
        Err(LatestError::Unreachable {
            url: channel.to_owned(),
            reason: "a module change keeps the settings' nixpkgs".into(),
        })
    }
}

/// The test build through the host's Nix, where the wiring was installed.
fn test_build(paths: &Paths) -> Result<TestBuildReport, TestBuildError> {
    let sysroot = crate::nix::apply::Manifest::load(&crate::nix::install::state_dir(paths))
        .ok()
        .flatten()
        .and_then(|manifest| manifest.sysroot_dir());
    crate::nix::test_build::run(paths, sysroot.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// The network's answer, as a test says it, and the channels asked.
    struct Double {
        answer: Result<&'static str, &'static str>,
        asked: RefCell<Vec<String>>,
    }

    impl LatestNixpkgs for Double {
        fn latest(&self, channel: &str) -> Result<Pin, LatestError> {
            self.asked.borrow_mut().push(channel.to_owned());
            match self.answer {
                Ok(pin) => Ok(Pin::parse(pin).unwrap()),
                Err(reason) => Err(LatestError::Unreachable {
                    url: "https://channels.example/x".into(),
                    reason: reason.into(),
                }),
            }
        }
    }

    fn paths_with_nixpkgs(dir: &std::path::Path, nixpkgs: &str) -> Paths {
        let paths = Paths::with_root(dir);
        SettingsStore::open(&paths)
            .unwrap()
            .update(|s| {
                s.nixpkgs = Some(nixpkgs.into());
                Ok(())
            })
            .unwrap();
        paths
    }

    #[test]
    fn no_answer_from_the_network_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths_with_nixpkgs(dir.path(), "nixos-unstable");
        let double = Double {
            answer: Err("no route to host"),
            asked: RefCell::new(Vec::new()),
        };
        let mut events = Vec::new();
        let err = update(&paths, &UpdateRequest::default(), &double, &mut |e| {
            events.push(e)
        })
        .unwrap_err();
        assert!(matches!(err, UpdateError::Latest(_)), "{err}");
        assert!(err.to_string().contains("--nixpkgs"), "{err}");
        assert_eq!(*double.asked.borrow(), ["nixos-unstable"]);
        assert_eq!(
            events,
            [UpdateEvent::FindingLatest {
                channel: "nixos-unstable".into()
            }]
        );
        assert!(Store::new(&paths).list().unwrap().is_empty());
    }

    #[test]
    fn a_given_nixpkgs_never_asks_the_network() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths_with_nixpkgs(dir.path(), "nixos-unstable");
        let double = Double {
            answer: Err("must not be asked"),
            asked: RefCell::new(Vec::new()),
        };
        let request = UpdateRequest {
            nixpkgs: Some(Pin::parse("nixos-25.05").unwrap()),
            ..UpdateRequest::default()
        };
        // No builder runs here: the build is refused, and the network was
        // never asked.
        let err = update(&paths, &request, &double, &mut |_| {}).unwrap_err();
        assert!(matches!(err, UpdateError::Build(_)), "{err}");
        assert!(double.asked.borrow().is_empty());
    }
}
