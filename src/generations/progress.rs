//! The words for a successor's build, a switch and an update as they go:
//! one narrator, so the CLI (stderr) and the window (its progress log)
//! show the same lines.

use super::successor::{BuildLine, SuccessorEvent};
use super::switch::SwitchEvent;
use super::update::UpdateEvent;

/// Turns events into lines; the builder's state while waiting is told
/// only when it changes.
#[derive(Debug, Default)]
pub struct Narrator {
    last_state: String,
}

impl Narrator {
    pub fn switch(&mut self, event: &SwitchEvent) -> Vec<String> {
        match event {
            SwitchEvent::Stopping => vec!["Stopping the builder…".into()],
            SwitchEvent::Starting { number } => vec![format!("Starting generation {number}…")],
            SwitchEvent::CheckingStore => {
                vec!["Checking Nix's database on the builder for paths that are gone…".into()]
            }
            SwitchEvent::Waiting { state, elapsed } => {
                if self.last_state == *state {
                    return Vec::new();
                }
                self.last_state = state.clone();
                vec![format!("  {state} ({} s)", elapsed.as_secs())]
            }
            SwitchEvent::GoingBack { number, reason } => vec![
                format!("Generation {number} failed: {reason}"),
                "Going back to the generation it replaced…".into(),
            ],
        }
    }

    pub fn build(&mut self, event: &SuccessorEvent) -> Vec<String> {
        vec![match event {
            SuccessorEvent::WaitingForBuilder { state } => {
                format!("Waiting for the builder to be Ready ({state})…")
            }
            SuccessorEvent::Building { inputs } => {
                format!("Building the next generation on the builder from {inputs}…")
            }
            SuccessorEvent::Line(BuildLine::Started(what)) => what.clone(),
            SuccessorEvent::Line(BuildLine::Output(line)) => format!("  | {line}"),
            SuccessorEvent::Line(BuildLine::Nix(message)) => message.clone(),
        }]
    }

    pub fn update(&mut self, event: &UpdateEvent) -> Vec<String> {
        match event {
            UpdateEvent::FindingLatest { channel } => {
                vec![format!("Asking for the newest cached commit of {channel}…")]
            }
            UpdateEvent::Build(event) => self.build(event),
            UpdateEvent::Switch(event) => self.switch(event),
            UpdateEvent::TestBuild => vec!["Running a test build on the new generation…".into()],
            UpdateEvent::RollingBack { reason } => vec![
                format!("The test build failed: {reason}"),
                "Going back to the generation before…".into(),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_state_is_told_once_and_every_step_in_words() {
        let mut narrator = Narrator::default();
        let waiting = |secs| {
            UpdateEvent::Switch(SwitchEvent::Waiting {
                state: "Starting".into(),
                elapsed: Duration::from_secs(secs),
            })
        };
        assert_eq!(narrator.update(&waiting(1)), ["  Starting (1 s)"]);
        assert!(narrator.update(&waiting(2)).is_empty());
        assert_eq!(
            narrator.update(&UpdateEvent::Build(SuccessorEvent::Line(
                BuildLine::Output("hello".into())
            ))),
            ["  | hello"]
        );
        assert_eq!(
            narrator.update(&UpdateEvent::RollingBack {
                reason: "no machine".into()
            }),
            [
                "The test build failed: no machine",
                "Going back to the generation before…"
            ]
        );
    }
}
