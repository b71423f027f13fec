//! The record of the last successful apply of a stack on a target
//! (`generated/<stack>/.applied-<target>.json`, git-ignored runtime state, like the lock): what
//! lets a plan show the diffs of the generated files behind a changed digest
//! ([`crate::plan::with_files`]).
//!
//! Owns: reading and writing that file, and which target a stack was applied to
//! ([`applied_target`]). May not: print, decide what is recorded (that is
//! [`Applied::record`]).

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::plan::Applied;
use crate::targets::TargetKind;

/// The record's path for a stack's generated directory and a target.
pub(crate) fn path(generated_dir: &Path, target: TargetKind) -> PathBuf {
    generated_dir.join(format!(".applied-{}.json", target.as_str()))
}

/// The record, if there is a readable one. A missing, unreadable or malformed record is no
/// record: the plan then says it has no diff to show, and the next apply writes a new one.
pub(crate) fn read(generated_dir: &Path, target: TargetKind) -> Option<Applied> {
    let text = std::fs::read_to_string(path(generated_dir, target)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Record `applied`, atomically, unless the file already says exactly that.
pub(crate) fn write(generated_dir: &Path, target: TargetKind, applied: &Applied) -> Result<()> {
    let text = serde_json::to_string_pretty(applied).map_err(|e| {
        crate::error::Error::internal(format!("cannot serialise the apply record: {e}"))
    })?;
    let path = path(generated_dir, target);
    if std::fs::read(&path).ok().as_deref() == Some(text.as_bytes()) {
        return Ok(());
    }
    crate::writer::write_atomic(&path, text.as_bytes(), Some(0o644))
}

/// Forget the record (the stack was destroyed).
pub(crate) fn remove(generated_dir: &Path, target: TargetKind) {
    let _ = std::fs::remove_file(path(generated_dir, target));
}

/// The one target the stack of `selection` has an apply record on, when there is exactly one:
/// where it runs, for the suggestions of a command that takes no `--target` (`runs`,
/// `generate`). `None` when the stack cannot be read, or was applied on none or several.
pub fn applied_target(
    project: &crate::project::Project,
    selection: &crate::ops::Selection,
) -> Option<TargetKind> {
    let rel = match selection {
        crate::ops::Selection::Files(files) if files.len() == 1 => files[0].clone(),
        crate::ops::Selection::Default => project.default_manifest().ok()?,
        _ => return None,
    };
    let path = project.root.join(&rel);
    let text = std::fs::read_to_string(&path).ok()?;
    let m = crate::manifest::parse(&rel.to_string_lossy(), &text).ok()?;
    let dir = project.generated_dir(&m.stack);
    let mut on = TargetKind::ALL
        .into_iter()
        .filter(|t| self::path(&dir, *t).is_file());
    match (on.next(), on.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}
