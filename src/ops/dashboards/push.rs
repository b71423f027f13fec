//! `dashboards push`: the generated dashboards uploaded through Grafana's API, concurrently
//! (the per-dashboard logic is [`crate::grafana::sync`]'s, shared with `apply`).
//!
//! Owns: the push record (`generated/<stack>/.pushed-dashboards.json`).
//! May not: print, read the environment.

use super::{Live, open};
use crate::error::{Error, Result};
use crate::grafana::sync;
use crate::ops::Selection;
use crate::ops::deploy::{Stack, runtime};
use crate::project::Project;
use crate::targets::TargetKind;

pub use crate::grafana::sync::{MARKER_TAG, Pushed};

/// The versions this tool last pushed or saw in the stack's Grafana, by uid
/// (`generated/<stack>/.pushed-dashboards.json`, git-ignored runtime state): a dashboard whose
/// Grafana version moved since was changed by someone else.
fn pushed_record(s: &Stack) -> std::path::PathBuf {
    s.ctx.generated_dir.join(".pushed-dashboards.json")
}

/// The push record ([`pushed_record`]); empty when missing or unreadable.
pub(super) fn read_pushed(s: &Stack) -> std::collections::BTreeMap<String, u64> {
    std::fs::read_to_string(pushed_record(s))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Write the push record, atomically.
pub(super) fn write_pushed(
    s: &Stack,
    record: &std::collections::BTreeMap<String, u64>,
) -> Result<()> {
    let text = serde_json::to_string_pretty(record)
        .map_err(|e| Error::internal(format!("cannot serialise the push record: {e}")))?;
    crate::writer::write_atomic(
        &pushed_record(s),
        format!("{text}\n").as_bytes(),
        Some(0o644),
    )
}

/// `dashboards push [UID…]`: upload the generated dashboards into the stack's folder (created
/// with its stable uid when missing) through the API, `concurrency` requests at once (results
/// in the manifest's order; see [`crate::grafana::sync::push_all`]). A dashboard changed in
/// Grafana since this tool last pushed it is refused unless `force` (show it with `dashboards
/// diff`, keep it with `dashboards pull`); an unchanged one is not written. With `prune`,
/// dashboards in the stack's folder tagged [`MARKER_TAG`] that the stack no longer declares are
/// deleted — never one without the tag.
pub fn push(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    uids: &[String],
    force: bool,
    prune: bool,
    concurrency: usize,
) -> Result<Vec<Pushed>> {
    let Live {
        s,
        dashboards: wanted,
        grafana,
        ..
    } = open(project, selection, target, uids)?;
    let grafana = grafana.with_concurrency(concurrency);
    let folder = crate::compile::grafana::folder_uid(&s.loaded.manifest);
    let title = crate::compile::grafana::folder_title(&s.loaded.manifest);
    let mut record = read_pushed(&s);
    let declared: Vec<String> = s
        .loaded
        .manifest
        .dashboards
        .iter()
        .map(|d| d.uid.as_str().to_string())
        .collect();
    let out = runtime()?.block_on(async {
        sync::ensure_folder(&grafana, &folder, &title).await?;
        let mut out = sync::push_all(&grafana, &folder, &wanted, &mut record, force).await?;
        if prune {
            out.extend(sync::prune(&grafana, &folder, &declared, &mut record).await?);
        }
        Ok::<_, Error>(out)
    });
    // What was pushed before a failure is recorded too.
    write_pushed(&s, &record)?;
    out
}
