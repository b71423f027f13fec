//! `destroy`: remove a stack's services and network from its target (its data only when asked).
//!
//! Owns: the order of `destroy` (load, lock, observe, preview, confirm, remove). May not: print,
//! read the environment.

use serde::Serialize;

use super::{DEFAULT_HEALTH_TIMEOUT, Selection, Stack, applied, runtime};
use crate::desired::ResourceId;
use crate::error::{Error, Result};
use crate::lock::StackLock;
use crate::project::Project;
use crate::targets::{Progress, TargetKind};

/// What `destroy` did.
#[derive(Debug, Serialize)]
pub struct DestroyReport {
    /// Stack.
    pub stack: String,
    /// Objects removed.
    pub removed: Vec<String>,
    /// Networks kept because containers that are not the stack's are attached to them: the
    /// destroy is not complete (absent from JSON when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<crate::plan::InUse>,
    /// Whether the data (volumes, data directories, bucket) was kept.
    pub volumes_kept: bool,
    /// The target it ran on: what holds the data there.
    pub target: TargetKind,
    /// The native target's data directory (`data/<stack>`), relative to the project.
    pub data_dir: String,
}

/// What `destroy` is about to remove, shown before the confirmation.
#[derive(Debug, Serialize)]
pub struct DestroyPreview {
    /// Stack.
    pub stack: String,
    /// The target it runs on (`docker`, `native`).
    pub target: &'static str,
    /// What exists now and will be removed.
    pub existing: Vec<ResourceId>,
    /// Networks among them that containers which are not the stack's are attached to: kept.
    pub in_use: Vec<crate::plan::InUse>,
    /// The native target's data directory (`data/<stack>`), relative to the project.
    pub data_dir: String,
}

/// `destroy`: remove the stack's services and network (data only with `volumes`).
/// `on_preview` gets what exists now and returns whether to go ahead.
pub fn destroy(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    volumes: bool,
    on_preview: &mut dyn FnMut(&DestroyPreview) -> Result<bool>,
) -> Result<DestroyReport> {
    let s = Stack::load(project, selection, target, DEFAULT_HEALTH_TIMEOUT)?;
    let (lock, _) = StackLock::acquire(
        &project.generated_dir(s.loaded.stack()),
        s.loaded.stack(),
        "destroy",
    )?;
    let stack = s.ctx.stack.clone();
    let data_dir = crate::compile::native::data_dir(&s.loaded.manifest);
    let t = s.target(Progress::hidden())?;
    let rt = runtime()?;
    let result = rt.block_on(async {
        let observed = t.observe_to_destroy(&s.desired).await?;
        let existing: Vec<ResourceId> = observed
            .resources
            .keys()
            .filter(|id| t.destroys(id, volumes))
            .cloned()
            .collect();
        let preview = DestroyPreview {
            stack: stack.clone(),
            target: t.name(),
            existing,
            in_use: observed.attached.values().cloned().collect(),
            data_dir: data_dir.clone(),
        };
        if !on_preview(&preview)? {
            return Err(Error::usage(
                "destroy cancelled; nothing was changed",
                "answer `yes` to destroy, or run with --auto-approve",
            ));
        }
        t.destroy(&s.desired, volumes).await
    });
    if result.is_ok() {
        applied::remove(&s.ctx.generated_dir, target);
    }
    drop(lock);
    let done = result?;
    Ok(DestroyReport {
        stack,
        removed: done.removed,
        kept: done.kept,
        volumes_kept: !volumes,
        target,
        data_dir,
    })
}
