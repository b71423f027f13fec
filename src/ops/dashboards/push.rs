//! `dashboards push`: the generated dashboards uploaded through Grafana's API.

use serde::Serialize;

use super::{Live, open};
use crate::error::{Error, Result};
use crate::grafana;
use crate::ops::Selection;
use crate::ops::deploy::{Stack, runtime};
use crate::project::Project;
use crate::targets::TargetKind;

/// What `dashboards push` did for one dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum Pushed {
    /// Uploaded as `version`.
    Uploaded {
        /// Uid.
        uid: String,
        /// Grafana's version after the upload.
        version: u64,
    },
    /// Grafana already has it: nothing written (no new version).
    Unchanged {
        /// Uid.
        uid: String,
    },
    /// Deleted with `--prune`: in the stack's folder, tagged `promo-infra`, no longer declared.
    Pruned {
        /// Uid.
        uid: String,
    },
}

/// The tag every generated dashboard carries: what `--prune` may delete.
pub const MARKER_TAG: &str = "promo-infra";

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
/// with its stable uid when missing) through the API. A dashboard changed in Grafana since this
/// tool last pushed it is refused unless `force` (show it with `dashboards diff`, keep it with
/// `dashboards pull`); an unchanged one is not written. With `prune`, dashboards in the
/// stack's folder tagged [`MARKER_TAG`] that the stack no longer declares are deleted — never
/// one without the tag.
pub fn push(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    uids: &[String],
    force: bool,
    prune: bool,
) -> Result<Vec<Pushed>> {
    let Live {
        s,
        dashboards: wanted,
        grafana,
        ..
    } = open(project, selection, target, uids)?;
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
        if grafana.folder(&folder).await?.is_none() {
            grafana.create_folder(&folder, &title).await?;
        }
        let mut out = Vec::new();
        for (uid, ours) in &wanted {
            let live = grafana.dashboard(uid).await?;
            let mut body = ours.clone();
            if let Some((model, live_folder)) = &live {
                let version = model["version"].as_u64().unwrap_or(0);
                let same = grafana::diff::diff(ours, model).is_empty()
                    && live_folder.as_deref() == Some(folder.as_str());
                if same {
                    record.insert(uid.clone(), version);
                    out.push(Pushed::Unchanged { uid: uid.clone() });
                    continue;
                }
                if !force && record.get(uid) != Some(&version) {
                    return Err(Error::grafana(format!(
                        "dashboard `{uid}` was changed in Grafana {} (version {version}) since promo-infra last pushed it; not overwritten",
                        grafana.url()
                    ))
                    .with_help(format!(
                        "see the change with `promo-infra dashboards diff {uid}`, keep it with `promo-infra dashboards pull {uid}` then `generate`, or overwrite it with `dashboards push --force`"
                    )));
                }
                body["version"] = serde_json::json!(version);
            }
            let saved = grafana
                .save_dashboard(&body, Some(&folder), force, "promo-infra dashboards push")
                .await?;
            record.insert(uid.clone(), saved.version);
            out.push(Pushed::Uploaded {
                uid: uid.clone(),
                version: saved.version,
            });
        }
        if prune {
            for uid in grafana.dashboards_tagged(MARKER_TAG).await? {
                if declared.contains(&uid) {
                    continue;
                }
                if let Some((_, Some(f))) = grafana.dashboard(&uid).await?
                    && f == folder
                {
                    grafana.delete_dashboard(&uid).await?;
                    record.remove(&uid);
                    out.push(Pushed::Pruned { uid });
                }
            }
        }
        Ok::<_, Error>(out)
    });
    // What was pushed before a failure is recorded too.
    write_pushed(&s, &record)?;
    out
}
