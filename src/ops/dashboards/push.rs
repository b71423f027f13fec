//! `dashboards push`: the generated dashboards uploaded through Grafana's API, concurrently
//! (the per-dashboard logic is [`crate::grafana::sync`]'s, shared with `apply`).
//!
//! Owns: nothing of its own: the push record is `crate::targets::grafana_api`'s.
//! May not: print, read the environment.

use super::{Live, open};
use crate::error::{Error, Result};
use crate::grafana::sync;
use crate::ops::Selection;
use crate::ops::deploy::{Stack, runtime};
use crate::project::Project;
use crate::targets::TargetKind;

pub use crate::grafana::sync::{MARKER_TAG, Pushed};

/// The push record of the stack (`generated/<stack>/.pushed-dashboards.json`, shared with
/// `apply`: [`crate::targets::grafana_api::read_pushed`]).
pub(super) fn read_pushed(s: &Stack) -> std::collections::BTreeMap<String, u64> {
    crate::targets::grafana_api::read_pushed(&s.ctx)
}

/// Write the push record, atomically.
pub(super) fn write_pushed(
    s: &Stack,
    record: &std::collections::BTreeMap<String, u64>,
) -> Result<()> {
    crate::targets::grafana_api::write_pushed(&s.ctx, record)
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
    let live = open(project, selection, target, uids)?;
    let _lock = live.lock("dashboards push")?;
    let Live {
        s,
        dashboards: wanted,
        grafana,
        ..
    } = live;
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
