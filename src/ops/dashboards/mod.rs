//! Dashboard version control against the stack's live Grafana: `dashboards diff` compares what
//! Grafana has with what the manifest generates, field by field and panel by panel; `pull`
//! (pull.rs) brings its edits back as overlays, `push` (push.rs) uploads, `history` and
//! `rollback` (history.rs) read and restore versions.
//!
//! Owns: which Grafana a stack's dashboards live in and how to log in there, and the diff
//! report. May not: print, read the environment (secrets come from the stack's `.env`).

use serde::Serialize;
use serde_json::Value;

use super::Selection;
use super::deploy::{DEFAULT_HEALTH_TIMEOUT, Stack, runtime};
use crate::error::{Error, Result};
use crate::grafana::{self, Client, diff::Change};
use crate::project::Project;
use crate::targets::{self, TargetKind};

/// Requests in flight at once against one Grafana (the default of `--concurrency`).
pub use crate::targets::grafana_api::CONCURRENCY;

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
        if let Ok(model) = serde_json::from_slice::<Value>(file.bytes())
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

/// The stack's Grafana on its target, logged in as the stack's admin (the client `apply` uses).
fn client(s: &Stack) -> Result<Client> {
    targets::grafana_api::client(&s.ctx, &s.desired)
}

/// What every dashboards verb starts from: the stack compiled for its target (manifest and
/// templates loaded once), its generated dashboards (restricted to `uids`; an unknown uid is
/// refused) and a client of its Grafana.
pub(crate) struct Live {
    pub(crate) s: Stack,
    pub(crate) templates: crate::compile::Templates,
    pub(crate) dashboards: Vec<(String, Value)>,
    pub(crate) grafana: Client,
}

impl Live {
    /// The stack's lock for `command` (a push, pull or rollback writes Grafana and the stack's
    /// records: one at a time, and never during an `apply`). Held until dropped.
    pub(crate) fn lock(&self, command: &str) -> Result<crate::lock::StackLock> {
        crate::lock::StackLock::acquire(&self.s.ctx.generated_dir, &self.s.desired.stack, command)
            .map(|(lock, _)| lock)
    }
}

/// Open [`Live`] for the selected stack on `target`.
pub(crate) fn open(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    uids: &[String],
) -> Result<Live> {
    open_with(project, selection, target, uids, |t| t)
}

/// [`open`] with the project's templates changed by `templates` first (`dashboards pull`
/// drops the overlays).
pub(crate) fn open_with(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    uids: &[String],
    templates: impl FnOnce(crate::compile::Templates) -> crate::compile::Templates,
) -> Result<Live> {
    let (loaded_templates, loaded) = super::load_one(project, selection)?;
    let templates = templates(loaded_templates);
    let values = super::deploy::secret_values(project, &loaded.manifest)?;
    let s = Stack::new(
        project,
        &templates,
        loaded,
        target,
        DEFAULT_HEALTH_TIMEOUT,
        values,
    )?;
    let dashboards = generated(&s, uids)?;
    let grafana = client(&s)?;
    Ok(Live {
        s,
        templates,
        dashboards,
        grafana,
    })
}

/// `dashboards diff [UID…]`: each generated dashboard against the stack's live Grafana, read
/// `concurrency` at once (the report in the manifest's order).
pub fn diff(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    uids: &[String],
    concurrency: usize,
) -> Result<DiffReport> {
    let Live {
        s,
        dashboards: wanted,
        grafana,
        ..
    } = open(project, selection, target, uids)?;
    let grafana = grafana.with_concurrency(concurrency);
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

mod history;
mod pull;
mod push;

pub use history::{History, RollbackPreview, RollbackTo, history, rollback};
pub use pull::{Pulled, pull, pull_into};
pub use push::{MARKER_TAG, Pushed, push};
