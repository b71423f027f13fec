//! Dashboard version control against the stack's live Grafana: `dashboards diff` compares what
//! Grafana has with what the manifest generates, field by field and panel by panel.
//!
//! Owns: which Grafana a stack's dashboards live in and how to log in there, and the diff
//! report. May not: print, read the environment (secrets come from the stack's `.env`).

use serde::Serialize;
use serde_json::Value;

use super::Selection;
use super::deploy::{DEFAULT_HEALTH_TIMEOUT, Stack, runtime};
use crate::desired::ResourceSpec;
use crate::error::{Error, Result};
use crate::grafana::{self, Auth, Client, diff::Change};
use crate::project::Project;
use crate::targets::{self, TargetKind};

/// Requests in flight at once against one Grafana.
pub const CONCURRENCY: usize = 8;

/// How one dashboard compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffState {
    /// Grafana has what the manifest generates.
    Same,
    /// Grafana's differs (edited in the UI, or not pushed since a change).
    Changed,
    /// Grafana has no dashboard with that uid.
    Missing,
}

/// One dashboard of the report.
#[derive(Debug, Clone, Serialize)]
pub struct DashboardDiff {
    /// Uid.
    pub uid: String,
    /// Title, as generated.
    pub title: String,
    /// How it compares.
    pub state: DiffState,
    /// From the generated dashboard to Grafana's (what the UI changed).
    pub changes: Vec<Change>,
}

/// What `dashboards diff` found.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// Stack.
    pub stack: String,
    /// The Grafana compared with.
    pub grafana: String,
    /// Per dashboard, in the manifest's order.
    pub dashboards: Vec<DashboardDiff>,
}

impl DiffReport {
    /// Whether every dashboard is the same in Grafana.
    pub fn is_empty(&self) -> bool {
        self.dashboards.iter().all(|d| d.state == DiffState::Same)
    }
}

/// The stack's dashboards as generated (uid → model, from the compiled files), in the
/// manifest's order, restricted to `uids` when given.
fn generated(s: &Stack, uids: &[String]) -> Result<Vec<(String, Value)>> {
    let m = &s.loaded.manifest;
    let known: Vec<&str> = m.dashboards.iter().map(|d| d.uid.as_str()).collect();
    if let Some(unknown) = uids.iter().find(|u| !known.contains(&u.as_str())) {
        return Err(Error::usage(
            format!(
                "{} has no dashboard with uid `{unknown}`",
                s.loaded.rel_path
            ),
            format!("dashboards in this stack: {}", known.join(", ")),
        ));
    }
    let mut by_uid = std::collections::BTreeMap::new();
    for (path, file) in &s.desired.files {
        if !(path.contains("dashboards/") && path.ends_with(".json")) {
            continue;
        }
        if let Ok(model) = serde_json::from_slice::<Value>(&file.bytes)
            && let Some(uid) = model["uid"].as_str()
        {
            by_uid.insert(uid.to_string(), model);
        }
    }
    known
        .iter()
        .filter(|uid| uids.is_empty() || uids.iter().any(|u| u == *uid))
        .map(|uid| {
            by_uid
                .remove(*uid)
                .map(|model| (uid.to_string(), model))
                .ok_or_else(|| Error::internal(format!("dashboard `{uid}` was not compiled")))
        })
        .collect()
}

/// The stack's Grafana on its target, logged in as the stack's admin.
fn client(s: &Stack) -> Result<Client> {
    let url = targets::common::service_url(&s.desired, "grafana").ok_or_else(|| {
        Error::usage(
            format!(
                "stack `{}` has no Grafana reachable from here",
                s.desired.stack
            ),
            "dashboards diff needs the stack's Grafana: run `promo-infra apply` first",
        )
    })?;
    let env = s.desired.resources.values().find_map(|r| match &r.spec {
        ResourceSpec::Service(svc) if svc.name == "grafana" => Some(&svc.env),
        ResourceSpec::Process(p) if p.name == "grafana" => Some(&p.env),
        _ => None,
    });
    let user = env.map_or_else(|| "admin".to_string(), targets::reload::admin_user);
    let password = targets::common::secret(&s.ctx, crate::secrets::GRAFANA_ADMIN_PASSWORD)
        .ok_or_else(|| {
            Error::usage(
                format!(
                    "no Grafana admin password for stack `{}`: GRAFANA_ADMIN_PASSWORD is not in generated/{}/.env",
                    s.desired.stack, s.desired.stack
                ),
                "run `promo-infra apply` (it creates the stack's secrets)",
            )
        })?;
    Client::new(
        &url,
        Auth::Basic {
            user,
            password: crate::control::Secret::new(password),
        },
        CONCURRENCY,
    )
}

/// `dashboards diff [UID…]`: each generated dashboard against the stack's live Grafana.
pub fn diff(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    uids: &[String],
) -> Result<DiffReport> {
    targets::require_available(target)?;
    let s = Stack::load(project, selection, target, DEFAULT_HEALTH_TIMEOUT)?;
    let wanted = generated(&s, uids)?;
    let grafana = client(&s)?;
    let live = runtime()?.block_on(futures_util::future::try_join_all(
        wanted.iter().map(|(uid, _)| grafana.dashboard(uid)),
    ))?;
    let dashboards = wanted
        .into_iter()
        .zip(live)
        .map(|((uid, ours), theirs)| {
            let title = ours["title"].as_str().unwrap_or_default().to_string();
            let (state, changes) = match theirs {
                None => (DiffState::Missing, Vec::new()),
                Some((model, _)) => {
                    let changes = grafana::diff::diff(&ours, &model);
                    let state = if changes.is_empty() {
                        DiffState::Same
                    } else {
                        DiffState::Changed
                    };
                    (state, changes)
                }
            };
            DashboardDiff {
                uid,
                title,
                state,
                changes,
            }
        })
        .collect();
    Ok(DiffReport {
        stack: s.desired.stack.clone(),
        grafana: grafana.url().to_string(),
        dashboards,
    })
}

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
/// as overlays (`dashboards-src/overrides/<uid>.json`, [`crate::compile::overlay`]), which
/// `generate` applies after the template: the templates stay as they are.
pub fn pull(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    uids: &[String],
) -> Result<Vec<Pulled>> {
    targets::require_available(target)?;
    let (templates, _) = super::load_one(project, selection)?;
    let s = Stack::load(project, selection, target, DEFAULT_HEALTH_TIMEOUT)?;
    generated(&s, uids)?; // refuses unknown uids
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
    let grafana = client(&s)?;
    let dir = project
        .root
        .join("dashboards-src")
        .join(crate::compile::dashboards::OVERRIDES_DIR);
    runtime()?.block_on(pull_into(&grafana, &rendered, &dir))
}

/// [`pull`] with the templates' renderings given: for each `(uid, template model)`, the overlay
/// from it to Grafana's dashboard (both normalised) is written to `dir/<uid>.json`, or removed
/// when empty. Files are written atomically and only when they change.
pub async fn pull_into(
    grafana: &Client,
    rendered: &[(String, Value)],
    dir: &std::path::Path,
) -> Result<Vec<Pulled>> {
    let live =
        futures_util::future::try_join_all(rendered.iter().map(|(uid, _)| grafana.dashboard(uid)))
            .await?;
    let mut out = Vec::new();
    for ((uid, template), theirs) in rendered.iter().zip(live) {
        let uid = uid.clone();
        let Some((model, _)) = theirs else {
            out.push(Pulled::Missing { uid });
            continue;
        };
        let overlay = crate::compile::overlay::make(
            &grafana::normalize::normalize(template),
            &grafana::normalize::normalize(&model),
        );
        let path = dir.join(format!("{uid}.json"));
        let shown = format!(
            "dashboards-src/{}/{uid}.json",
            crate::compile::dashboards::OVERRIDES_DIR
        );
        let existing = std::fs::read_to_string(&path).ok();
        if overlay.is_empty() {
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
    Ok(out)
}

/// What `dashboards history UID` found.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    /// Uid.
    pub uid: String,
    /// The Grafana asked.
    pub grafana: String,
    /// Newest first.
    pub versions: Vec<grafana::DashboardVersion>,
}

/// `dashboards history UID`: the dashboard's versions in the stack's Grafana (Grafana's
/// versions API, either shape, every page).
pub fn history(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    uid: &str,
) -> Result<History> {
    targets::require_available(target)?;
    let s = Stack::load(project, selection, target, DEFAULT_HEALTH_TIMEOUT)?;
    generated(&s, &[uid.to_string()])?; // refuses an unknown uid
    let grafana = client(&s)?;
    let versions = runtime()?.block_on(async {
        if grafana.dashboard(uid).await?.is_none() {
            return Err(Error::usage(
                format!("Grafana {} has no dashboard `{uid}`", grafana.url()),
                "apply the stack first (`promo-infra apply`)",
            ));
        }
        grafana.versions(uid).await
    })?;
    Ok(History {
        uid: uid.to_string(),
        grafana: grafana.url().to_string(),
        versions,
    })
}

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
    targets::require_available(target)?;
    let s = Stack::load(project, selection, target, DEFAULT_HEALTH_TIMEOUT)?;
    let wanted = generated(&s, uids)?;
    let grafana = client(&s)?;
    let folder = crate::compile::grafana::folder_uid(&s.loaded.manifest);
    let title = crate::compile::grafana::folder_title(&s.loaded.manifest);
    let record_path = pushed_record(&s);
    let mut record: std::collections::BTreeMap<String, u64> = std::fs::read_to_string(&record_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
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
    let text = serde_json::to_string_pretty(&record)
        .map_err(|e| Error::internal(format!("cannot serialise the push record: {e}")))?;
    crate::writer::write_atomic(&record_path, format!("{text}\n").as_bytes(), Some(0o644))?;
    out
}
