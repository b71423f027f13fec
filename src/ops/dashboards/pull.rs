//! `dashboards pull`: Grafana's edits back into the sources as overlays.

use serde::Serialize;
use serde_json::Value;

use super::{Live, open_with};
use crate::compile::Templates;
use crate::error::{Error, Result};
use crate::grafana;
use crate::ops::Selection;
use crate::ops::deploy::runtime;
use crate::project::Project;
use crate::targets::TargetKind;

/// What `dashboards pull` did for one dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum Pulled {
    /// Grafana's edits are now the overlay at `path` (`changes` JSON Patch operations, the
    /// `test` guards not counted).
    Written {
        /// Uid.
        uid: String,
        /// The overlay, relative to the project.
        path: String,
        /// Edits kept.
        changes: usize,
    },
    /// Grafana has exactly what the template renders: the overlay at `path` was removed.
    Removed {
        /// Uid.
        uid: String,
        /// The removed overlay.
        path: String,
    },
    /// Nothing to do: the overlay (or its absence) already says what Grafana has.
    Unchanged {
        /// Uid.
        uid: String,
    },
    /// Grafana has no such dashboard: nothing to pull.
    Missing {
        /// Uid.
        uid: String,
    },
}

/// `dashboards pull [UID…]`: bring the edits made in the stack's Grafana back into the sources
/// as overlays (`dashboards-src/overrides/<stack>/<uid>.json`, [`crate::compile::overlay`]), which
/// `generate` applies after the template: the templates stay as they are.
pub fn pull(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    uids: &[String],
) -> Result<Vec<Pulled>> {
    // Compiled without the overlays: pull makes them again from the template's rendering and
    // Grafana's dashboard, so one that no longer applies (a conflict) is replaced, not in the way.
    let live = open_with(
        project,
        selection,
        target,
        uids,
        Templates::without_overlays,
    )?;
    let _lock = live.lock("dashboards pull")?;
    let Live {
        s,
        templates,
        grafana,
        ..
    } = live;
    let m = &s.loaded.manifest;
    let mut rendered = Vec::new();
    for d in m
        .dashboards
        .iter()
        .filter(|d| uids.is_empty() || uids.iter().any(|u| u == d.uid.as_str()))
    {
        let text = crate::compile::dashboards::render(&templates, m, d)?;
        let model: Value = serde_json::from_str(&text).map_err(|e| {
            Error::internal(format!(
                "dashboard `{}` rendered invalid JSON: {e}",
                d.uid.as_str()
            ))
        })?;
        rendered.push((d.uid.as_str().to_string(), model));
    }
    // This stack's edits: `overrides/<stack>/`, so they never reach another stack's dashboard
    // with the same uid (`overrides/<uid>.json`, shared by every stack, is written by hand).
    let dir = project
        .root
        .join("dashboards-src")
        .join(crate::compile::dashboards::OVERRIDES_DIR)
        .join(s.loaded.stack());
    let (pulled, seen) = runtime()?.block_on(pull_into(&grafana, &rendered, &dir))?;
    // The sources now hold what Grafana has: those versions are no longer someone else's edit,
    // so apply and push may overwrite them once the sources change.
    let mut record = crate::targets::grafana_api::read_pushed(&s.ctx);
    let before = record.clone();
    record.extend(seen);
    if record != before {
        crate::targets::grafana_api::write_pushed(&s.ctx, &record)?;
    }
    Ok(pulled)
}

/// [`pull`] with the templates' renderings given: for each `(uid, template model)`, the overlay
/// from it to Grafana's dashboard (both normalised) is written to `dir/<uid>.json`, or removed
/// when empty (kept as `[]` when `dir`'s parent holds a shared overlay of that uid, which it
/// shadows for this stack). Files are written atomically and only when they change. Also returns the
/// version of each dashboard Grafana had, by uid.
pub async fn pull_into(
    grafana: &grafana::Client,
    rendered: &[(String, Value)],
    dir: &std::path::Path,
) -> Result<(Vec<Pulled>, std::collections::BTreeMap<String, u64>)> {
    let live =
        futures_util::future::try_join_all(rendered.iter().map(|(uid, _)| grafana.dashboard(uid)))
            .await?;
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeMap::new();
    for ((uid, template), theirs) in rendered.iter().zip(live) {
        let uid = uid.clone();
        let Some((model, _)) = theirs else {
            out.push(Pulled::Missing { uid });
            continue;
        };
        if let Some(version) = model["version"].as_u64() {
            seen.insert(uid.clone(), version);
        }
        let overlay = crate::compile::overlay::make(
            &grafana::normalize::normalize(template),
            &grafana::normalize::normalize(&model),
        );
        let path = dir.join(format!("{uid}.json"));
        let shown = format!(
            "dashboards-src/{}/{}/{uid}.json",
            crate::compile::dashboards::OVERRIDES_DIR,
            dir.file_name().unwrap_or_default().to_string_lossy()
        );
        let existing = std::fs::read_to_string(&path).ok();
        // Without edits of its own, a shared overlay would apply: an empty one says "none".
        let shared = dir
            .parent()
            .is_some_and(|all| all.join(format!("{uid}.json")).is_file());
        if overlay.is_empty() && !shared {
            if existing.is_some() {
                fs_err::remove_file(&path).map_err(|e| Error::io("cannot remove", &path, e))?;
                out.push(Pulled::Removed { uid, path: shown });
            } else {
                out.push(Pulled::Unchanged { uid });
            }
            continue;
        }
        let mut text = serde_json::to_string_pretty(&overlay)
            .map_err(|e| Error::internal(format!("cannot serialise an overlay: {e}")))?;
        text.push('\n');
        if existing.as_deref() == Some(text.as_str()) {
            out.push(Pulled::Unchanged { uid });
            continue;
        }
        crate::writer::write_atomic(&path, text.as_bytes(), Some(0o644))?;
        let changes = overlay.iter().filter(|op| op["op"] != "test").count();
        out.push(Pulled::Written {
            uid,
            path: shown,
            changes,
        });
    }
    Ok((out, seen))
}
