//! Uploading generated dashboards into a Grafana: one dashboard ([`push_one`], what
//! `dashboards push` and `apply` share), many at once bounded by the client's request limit
//! ([`push_all`]), the stack's folder ([`ensure_folder`]) and `--prune` ([`prune`]).
//!
//! Owns: when a dashboard is unchanged, refused (changed in Grafana since this tool pushed it) or
//! uploaded, and in which order results are reported (the caller's, whatever order the requests
//! finish in).
//! May not: print, read the environment, write files (the caller keeps the push record).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use super::{Client, diff};
use crate::error::{Error, Result};

/// The tag every generated dashboard carries: what `--prune` may delete.
pub const MARKER_TAG: &str = "promo-infra";

/// The save message of every upload (shown in Grafana's version history).
/// The version message of a dashboard `dashboards push` saves (Grafana's history shows it).
pub const PUSH_MESSAGE: &str = "promo-infra dashboards push";
/// The version message of a dashboard `apply` saves.
pub const APPLY_MESSAGE: &str = "promo-infra apply";

/// What a push did for one dashboard.
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

/// [`push_one`]'s answer: what it did and Grafana's version of the dashboard afterwards (what
/// the push record keeps, so that a later change in Grafana is noticed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    /// What was done.
    pub pushed: Pushed,
    /// Grafana's version now.
    pub version: u64,
}

/// Create the folder `uid` titled `title` unless Grafana has it.
pub async fn ensure_folder(grafana: &Client, uid: &str, title: &str) -> Result<()> {
    if grafana.folder(uid).await?.is_none() {
        grafana.create_folder(uid, title).await?;
    }
    Ok(())
}

/// Push one generated dashboard (`model`, uid `uid`) into `folder`: unchanged when Grafana has
/// the same dashboard in that folder (one GET); refused when Grafana's version is not
/// `record_version` (the version this tool last pushed or saw), unless `force`; otherwise saved
/// with the expected version, so a concurrent edit gets Grafana's 412 (GET + POST). `message`:
/// the version's message in Grafana's history ([`PUSH_MESSAGE`], [`APPLY_MESSAGE`]).
pub async fn push_one(
    grafana: &Client,
    folder: &str,
    (uid, model): (&str, &Value),
    record_version: Option<u64>,
    force: bool,
    message: &str,
) -> Result<Synced> {
    let live = grafana.dashboard_answer(uid).await?;
    if let Some(owner) = live.as_ref().and_then(|l| other_stack(l, folder)) {
        // Not even with `force`: that overrides a UI edit, never another stack's ownership.
        return Err(owned_by_other(grafana, uid, &owner, folder));
    }
    let mut body = model.clone();
    if let Some(answer) = &live {
        let theirs = &answer["dashboard"];
        let live_folder = answer["meta"]["folderUid"].as_str();
        let version = theirs["version"].as_u64().unwrap_or(0);
        if diff::diff(model, theirs).is_empty() && live_folder == Some(folder) {
            return Ok(Synced {
                pushed: Pushed::Unchanged {
                    uid: uid.to_string(),
                },
                version,
            });
        }
        if !force && record_version != Some(version) {
            return Err(changed_in_grafana(grafana, uid, version));
        }
        body["version"] = json!(version);
    }
    save(grafana, folder, uid, body, force, message).await
}

/// [`push_one`] of a dashboard a plan has just read as version `observed` (`None`: absent) and
/// found different: no second GET. Refused when `observed` is not `record_version`; saved with
/// the expected version (or as new), so a change in Grafana since the plan read it gets
/// Grafana's 412 rather than being overwritten.
pub async fn push_observed(
    grafana: &Client,
    folder: &str,
    uid: &str,
    model: &Value,
    record_version: Option<u64>,
    observed: Option<u64>,
) -> Result<Synced> {
    let mut body = model.clone();
    if let Some(version) = observed {
        if record_version != Some(version) {
            return Err(changed_in_grafana(grafana, uid, version));
        }
        body["version"] = json!(version);
    }
    save(grafana, folder, uid, body, false, APPLY_MESSAGE).await
}

/// The stack that owns the dashboard of `answer` (Grafana's `{dashboard, meta}`) when that is
/// not the stack of `folder`. promo-infra marks what a stack owns by the tag [`MARKER_TAG`] on
/// a dashboard in the stack's folder, whose uid is the stack's name and whose title is
/// `promo-infra: <stack>` (`compile::grafana::folder_title`). A tagged dashboard in any other
/// folder (moved there by someone) is not another stack's.
pub fn other_stack(answer: &Value, folder: &str) -> Option<String> {
    let meta = &answer["meta"];
    let theirs = meta["folderUid"]
        .as_str()
        .filter(|f| !f.is_empty() && *f != folder)?;
    let tagged = answer["dashboard"]["tags"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t.as_str() == Some(MARKER_TAG)));
    let stack_folder = meta["folderTitle"].as_str() == Some(&format!("promo-infra: {theirs}"));
    (tagged && stack_folder).then(|| theirs.to_string())
}

/// The refusal to take dashboard `uid`, which belongs to stack `owner`, into the stack of
/// `folder` (its uid is the stack's name).
pub fn owned_by_other(grafana: &Client, uid: &str, owner: &str, folder: &str) -> Error {
    Error::grafana(format!(
        "dashboard `{uid}` belongs to stack `{owner}` (it is in that stack's folder on Grafana {}, tagged `{MARKER_TAG}`); stack `{folder}` does not take it",
        grafana.url()
    ))
    .with_help(format!(
        "two stacks on one Grafana cannot share a dashboard uid: give it another uid in one of the two manifests (its `dashboards:` entry, and `grafana.home_dashboard` if that names it), then plan again. `dashboards push --force` does not take it either; if stack `{owner}` is gone for good, run `promo-infra -f <its manifest> destroy{t}` or delete the dashboard in Grafana",
        t = grafana.target_flag()
    ))
}

fn changed_in_grafana(grafana: &Client, uid: &str, version: u64) -> Error {
    Error::grafana(format!(
        "dashboard `{uid}` was changed in Grafana {} (version {version}) since promo-infra last pushed it; not overwritten",
        grafana.url()
    ))
    .with_help(format!(
        "see the change with `promo-infra dashboards diff {uid}{t}`, keep it with `promo-infra dashboards pull {uid}{t}` then `promo-infra generate`, or overwrite it with `promo-infra dashboards push {uid} --force{t}`",
        t = grafana.target_flag()
    ))
}

async fn save(
    grafana: &Client,
    folder: &str,
    uid: &str,
    body: Value,
    force: bool,
    message: &str,
) -> Result<Synced> {
    let saved = grafana
        .save_dashboard(&body, Some(folder), force, message)
        .await?;
    Ok(Synced {
        pushed: Pushed::Uploaded {
            uid: uid.to_string(),
            version: saved.version,
        },
        version: saved.version,
    })
}

/// Run `job` on every item, at most `limit` at once, answers in the items' order. Once a job
/// fails no new one starts (those already running finish): a skipped item's answer is `None`.
async fn bounded<'a, T, R, F>(
    items: &'a [T],
    limit: usize,
    job: impl Fn(&'a T) -> F,
) -> Vec<Option<Result<R>>>
where
    F: std::future::Future<Output = Result<R>>,
{
    let failed = AtomicBool::new(false);
    let (failed, job) = (&failed, &job);
    let mut answers: Vec<(usize, Option<Result<R>>)> =
        futures_util::stream::iter(items.iter().enumerate())
            .map(|(i, item)| async move {
                if failed.load(Ordering::SeqCst) {
                    return (i, None);
                }
                let answer = job(item).await;
                if answer.is_err() {
                    failed.store(true, Ordering::SeqCst);
                }
                (i, Some(answer))
            })
            .buffer_unordered(limit.max(1))
            .collect()
            .await;
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, a)| a).collect()
}

/// Push `dashboards` (uid, model; in the manifest's order) into `folder` with [`push_one`], as
/// many at once as the client allows ([`Client::concurrency`]). `record` (uid → version this
/// tool last pushed or saw) is read for the refusal and updated with every dashboard pushed or
/// found unchanged — also when one fails, so what was pushed before the failure is recorded.
/// After a failure no further dashboard is started; the error is the first in `dashboards`'
/// order. The answer is in `dashboards`' order.
pub async fn push_all(
    grafana: &Client,
    folder: &str,
    dashboards: &[(String, Value)],
    record: &mut BTreeMap<String, u64>,
    force: bool,
) -> Result<Vec<Pushed>> {
    let seen = &*record;
    let answers = bounded(dashboards, grafana.concurrency(), |(uid, model)| {
        push_one(
            grafana,
            folder,
            (uid, model),
            seen.get(uid).copied(),
            force,
            PUSH_MESSAGE,
        )
    })
    .await;
    let mut out = Vec::with_capacity(dashboards.len());
    let mut first_error = None;
    for answer in answers.into_iter().flatten() {
        match answer {
            Ok(Synced { pushed, version }) => {
                if let Pushed::Uploaded { uid, .. } | Pushed::Unchanged { uid } = &pushed {
                    record.insert(uid.clone(), version);
                }
                out.push(pushed);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    first_error.map_or(Ok(out), Err)
}

/// `--prune`: delete the dashboards tagged [`MARKER_TAG`] in `folder` that are not `declared`
/// (never one without the tag, never one in another folder), checked and deleted as many at
/// once as the client allows; each deleted one leaves `record`. In the search's order.
pub async fn prune(
    grafana: &Client,
    folder: &str,
    declared: &[String],
    record: &mut BTreeMap<String, u64>,
) -> Result<Vec<Pushed>> {
    let candidates: Vec<String> = grafana
        .dashboards_tagged(MARKER_TAG)
        .await?
        .into_iter()
        .filter(|uid| !declared.contains(uid))
        .collect();
    let answers = bounded(&candidates, grafana.concurrency(), |uid| async move {
        match grafana.dashboard(uid).await? {
            Some((_, Some(f))) if f == folder => grafana.delete_dashboard(uid).await.map(|()| true),
            _ => Ok(false),
        }
    })
    .await;
    let mut out = Vec::new();
    let mut first_error = None;
    for (uid, answer) in candidates.into_iter().zip(answers) {
        match answer {
            Some(Ok(true)) => {
                record.remove(&uid);
                out.push(Pushed::Pruned { uid });
            }
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Some(Ok(false)) | None => {}
        }
    }
    first_error.map_or(Ok(out), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Secret;
    use crate::grafana::Auth;

    fn model(uid: &str) -> Value {
        json!({ "uid": uid, "title": format!("Dashboard {uid}"), "tags": [MARKER_TAG], "panels": [] })
    }

    async fn double() -> (promo_doubles::grafana::GrafanaHandle, Client) {
        let g = promo_doubles::grafana::spawn(promo_doubles::grafana::GrafanaConfig::default())
            .await
            .expect("double");
        let auth = Auth::Basic {
            user: "admin".into(),
            password: Secret::new("admin"),
        };
        let c = Client::new(&g.url(), auth, 8).expect("client");
        ensure_folder(&c, "f", "F").await.expect("folder");
        (g, c)
    }

    /// Another stack's: tagged, in a folder titled as a stack's folder that is not ours. Not
    /// one moved by someone into a folder of their own, nor an untagged one, nor ours.
    #[test]
    fn a_dashboard_is_another_stacks_when_tagged_in_that_stacks_folder() {
        let answer = |tags: Value, folder: &str, title: &str| json!({ "dashboard": { "uid": "d", "tags": tags }, "meta": { "folderUid": folder, "folderTitle": title } });
        let tagged = json!([MARKER_TAG, "k6"]);
        let theirs = answer(tagged.clone(), "promo-v1", "promo-infra: promo-v1");
        assert_eq!(
            other_stack(&theirs, "promo-v2").as_deref(),
            Some("promo-v1")
        );
        assert_eq!(other_stack(&theirs, "promo-v1"), None, "ours");
        let moved = answer(tagged.clone(), "team-x", "Team X");
        assert_eq!(other_stack(&moved, "promo-v2"), None, "moved by someone");
        let untagged = answer(json!(["k6"]), "promo-v1", "promo-infra: promo-v1");
        assert_eq!(
            other_stack(&untagged, "promo-v2"),
            None,
            "not promo-infra's"
        );
        let general = answer(tagged, "", "General");
        assert_eq!(other_stack(&general, "promo-v2"), None, "no folder");
    }

    /// `b` was edited in Grafana since this tool pushed it: refused. One at a time, what was
    /// pushed before it is recorded and nothing after it starts; concurrently, the others all
    /// started and are recorded; the error is `b`'s either way and answers stay in order.
    #[tokio::test]
    async fn a_refused_dashboard_keeps_what_was_pushed_and_stops_what_had_not_started() {
        for (concurrency, c_pushed) in [(1, false), (8, true)] {
            let (g, c) = double().await;
            let c = c.with_concurrency(concurrency);
            c.save_dashboard(&model("b"), Some("f"), false, "ui")
                .await
                .expect("b");
            let wanted: Vec<(String, Value)> = ["a", "b", "c"]
                .iter()
                .map(|u| {
                    let mut m = model(u);
                    m["panels"] = json!([{ "id": 1, "title": "new", "type": "stat" }]);
                    (u.to_string(), m)
                })
                .collect();
            let mut record = BTreeMap::new();
            let e = push_all(&c, "f", &wanted, &mut record, false)
                .await
                .expect_err("b refused");
            assert!(
                e.to_string()
                    .contains("dashboard `b` was changed in Grafana"),
                "{e}"
            );
            let mut expected = BTreeMap::from([("a".to_string(), 1)]);
            if c_pushed {
                expected.insert("c".to_string(), 1);
            }
            assert_eq!(record, expected, "concurrency {concurrency}");
            assert_eq!(g.state().dashboard("c").is_some(), c_pushed);
            g.shutdown().await;
        }
    }

    /// Many at once: every answer in the given order, then the same again is unchanged; prune
    /// deletes only the tagged undeclared dashboard of the folder.
    #[tokio::test]
    async fn concurrent_pushes_answer_in_order_and_prune_only_ours() {
        let (g, c) = double().await;
        g.state()
            .pace()
            .set_latency(std::time::Duration::from_millis(50));
        let uids: Vec<String> = (0..12).map(|i| format!("d{}", (i * 7) % 12)).collect();
        let wanted: Vec<(String, Value)> = uids.iter().map(|u| (u.clone(), model(u))).collect();
        let mut record = BTreeMap::new();
        let pushed = push_all(&c, "f", &wanted, &mut record, false)
            .await
            .expect("push");
        let expected: Vec<Pushed> = uids
            .iter()
            .map(|u| Pushed::Uploaded {
                uid: u.clone(),
                version: 1,
            })
            .collect();
        assert_eq!(pushed, expected);
        // Never more than the client's limit; more than one (the old push: always one).
        let most = g.state().pace().stats().max_in_flight;
        assert!((2..=8).contains(&most), "{most} in flight");
        let again = push_all(&c, "f", &wanted, &mut record, false)
            .await
            .expect("again");
        let unchanged: Vec<Pushed> = uids
            .iter()
            .map(|u| Pushed::Unchanged { uid: u.clone() })
            .collect();
        assert_eq!(again, unchanged);
        let mut untagged = model("other");
        untagged["tags"] = json!([]);
        c.save_dashboard(&untagged, Some("f"), false, "ui")
            .await
            .expect("untagged");
        let declared: Vec<String> = uids.iter().skip(1).cloned().collect();
        let pruned = prune(&c, "f", &declared, &mut record).await.expect("prune");
        assert_eq!(
            pruned,
            vec![Pushed::Pruned {
                uid: uids[0].clone()
            }]
        );
        assert!(!record.contains_key(&uids[0]));
        assert!(g.state().dashboard("other").is_some());
        g.shutdown().await;
    }
}
