//! A runner switch's trial boots write to a copy-on-write overlay of the
//! builder's disk (a qcow2 whose backing file is the disk), never to the
//! disk itself: a generation that fails leaves the disk exactly as the
//! generation before left it.
//!
//! Decided before each boot, with the VM stopped, from the generations
//! store:
//! - the current generation is on trial (a switch made it current and has
//!   not seen it Ready): boot on its overlay (made now, or kept from an
//!   earlier boot of the same trial — an on-demand wake, or the supervisor
//!   started again after a crash). A trial whose switch is gone is given
//!   up before the supervisor starts (`generations::switch::settle_interrupted`);
//! - an overlay whose generation was seen Ready is committed into the disk
//!   (`qemu-img commit`, which a crash part-way leaves to be done again:
//!   the overlay goes only after it), then removed;
//! - an overlay whose generation failed (or is gone) is removed.
//!
//! An ephemeral disk is wiped at every start: it has no trial overlay.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::generations::{GenerationState, Store};
use crate::vm::config::VmPaths;
use crate::vm::disk::DiskTools;
use crate::vm::exit::SupervisorError;

/// What the earlier trial left, settled before the disk is prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// No trial now: boot on the disk.
    Disk,
    /// A switch tries this generation: boot on a trial overlay.
    Trial(u32),
}

/// Commits or removes what an earlier trial left, and says whether this
/// boot is a trial. Call before the disk is prepared (grown, say).
pub(crate) fn settle(
    tools: &DiskTools,
    paths: &VmPaths,
    ephemeral: bool,
) -> Result<Settled, SupervisorError> {
    let store = Store::at(&paths.generations_dir);
    let trial = store
        .trial()
        .map_err(|err| SupervisorError::Disk(err.to_string()))?
        .filter(|_| !ephemeral);
    if paths.trial_disk.exists() {
        let owner = std::fs::read_to_string(&paths.trial_disk_owner)
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok());
        if let (Some(owner), Some(trial)) = (owner, trial)
            && owner == trial
        {
            return Ok(Settled::Trial(owner));
        }
        let proved = owner.is_some_and(|number| {
            !ephemeral
                && store
                    .get(number)
                    .ok()
                    .flatten()
                    .is_some_and(|g| !matches!(g.state, GenerationState::Failed { .. }))
        });
        if proved {
            commit(tools, &paths.trial_disk)?;
            tracing::info!(
                generation = owner,
                "the trial writes of a generation seen Ready are now the builder's disk"
            );
        } else {
            tracing::info!(
                generation = owner,
                "the trial writes of a generation that failed are dropped; the disk is as it was"
            );
        }
        remove(&paths.trial_disk)?;
        remove(&paths.trial_disk_owner)?;
    }
    Ok(trial.map_or(Settled::Disk, Settled::Trial))
}

/// The image this boot writes to: the disk, or the trial's overlay over
/// it (made when missing).
pub(crate) fn image_for_boot(
    tools: &DiskTools,
    paths: &VmPaths,
    settled: Settled,
) -> Result<PathBuf, SupervisorError> {
    let Settled::Trial(number) = settled else {
        return Ok(paths.disk.clone());
    };
    if !paths.trial_disk.exists() {
        // Named relative to the overlay's own folder, as QEMU resolves it:
        // the pair stays valid if the folder moves.
        let backing = paths
            .disk
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| paths.disk.clone());
        run(Command::new(&tools.qemu_img)
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(&backing)
            .arg(&paths.trial_disk))?;
        crate::fsutil::write_atomic(
            &paths.trial_disk_owner,
            number.to_string().as_bytes(),
            0o600,
        )
        .map_err(SupervisorError::io("write", &paths.trial_disk_owner))?;
    }
    tracing::info!(
        generation = number,
        overlay = %paths.trial_disk.display(),
        "a trial boot: the disk's writes go to an overlay until the generation is seen Ready"
    );
    Ok(paths.trial_disk.clone())
}

fn commit(tools: &DiskTools, overlay: &Path) -> Result<(), SupervisorError> {
    run(Command::new(&tools.qemu_img)
        .args(["commit", "-q", "-f", "qcow2"])
        .arg(overlay))
}

fn remove(path: &Path) -> Result<(), SupervisorError> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(SupervisorError::io("remove", path)(err))
        }
        _ => Ok(()),
    }
}

fn run(command: &mut Command) -> Result<(), SupervisorError> {
    let output = command
        .output()
        .map_err(|err| SupervisorError::Disk(format!("qemu-img: {err}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(SupervisorError::Disk(format!(
            "qemu-img failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

#[cfg(test)]
#[path = "trial_tests.rs"]
mod tests;
