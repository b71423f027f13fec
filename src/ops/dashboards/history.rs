//! `dashboards history` and `dashboards rollback`: a dashboard's versions, and going back to
//! one of them or to the dashboard as generated at a git revision.

use serde::Serialize;
use serde_json::Value;

use super::push::{read_pushed, write_pushed};
use super::{Live, open};
use crate::error::{Error, Result};
use crate::grafana;
use crate::grafana::diff::Change;
use crate::ops::Selection;
use crate::ops::deploy::runtime;
use crate::project::Project;
use crate::targets::TargetKind;

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
    let Live { grafana, .. } = open(project, selection, target, &[uid.to_string()])?;
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

/// Where `dashboards rollback` goes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackTo {
    /// A version in Grafana's history (`--to 3`, `--to grafana:3`).
    Version(u64),
    /// The dashboard as generated at a git revision of the project (`--to git:REV`, or a REV
    /// that is not a number).
    Git(String),
}

impl std::str::FromStr for RollbackTo {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        if let Some(v) = s.strip_prefix("grafana:") {
            return v
                .parse()
                .map(Self::Version)
                .map_err(|_| format!("`{v}` is not a version number"));
        }
        if let Some(rev) = s.strip_prefix("git:") {
            return git_rev(rev).map(Self::Git);
        }
        match s.parse() {
            Ok(v) => Ok(Self::Version(v)),
            Err(_) => git_rev(s).map(Self::Git),
        }
    }
}

/// A git revision as given, refused when it could be read as an option or holds a space.
fn git_rev(rev: &str) -> std::result::Result<String, String> {
    if rev.is_empty() || rev.starts_with('-') || rev.chars().any(char::is_whitespace) {
        return Err(format!("`{rev}` is not a git revision"));
    }
    Ok(rev.to_string())
}

/// A rollback about to happen: shown, then confirmed.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackPreview {
    /// Uid.
    pub uid: String,
    /// What it goes back to (`version 3`, `git rev abc123`).
    pub to: String,
    /// From Grafana's dashboard now to the one restored.
    pub changes: Vec<Change>,
}

/// `dashboards rollback UID --to VERSION|GIT-REV`: show the diff from Grafana's dashboard to
/// the version (or the generated file at the git revision), ask through `confirm`, then
/// restore it (Grafana's restore API) or upload it with the expected version. Returns the new
/// Grafana version, `None` when there was nothing to change.
pub fn rollback(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    uid: &str,
    to: &RollbackTo,
    confirm: &mut dyn FnMut(&RollbackPreview) -> Result<bool>,
) -> Result<Option<u64>> {
    let live = open(project, selection, target, &[uid.to_string()])?;
    let _lock = live.lock("dashboards rollback")?;
    let Live { s, grafana, .. } = live;
    let folder = crate::compile::grafana::folder_uid(&s.loaded.manifest);
    let rt = runtime()?;
    let (live, _) = rt.block_on(grafana.dashboard(uid))?.ok_or_else(|| {
        Error::usage(
            format!("Grafana {} has no dashboard `{uid}`", grafana.url()),
            "apply or push the stack first",
        )
    })?;
    let (wanted, shown) = match to {
        RollbackTo::Version(v) => (
            rt.block_on(grafana.version(uid, *v))?,
            format!("version {v}"),
        ),
        RollbackTo::Git(rev) => (
            at_git_rev(project, &s.desired.stack, uid, rev)?,
            format!("git revision {rev}"),
        ),
    };
    let preview = RollbackPreview {
        uid: uid.to_string(),
        to: shown,
        changes: grafana::diff::diff(&live, &wanted),
    };
    if preview.changes.is_empty() {
        return Ok(None);
    }
    if !confirm(&preview)? {
        return Err(Error::usage(
            "rollback cancelled; nothing was changed",
            "answer `yes` to roll back, or run with --auto-approve",
        ));
    }
    let saved = rt.block_on(async {
        match to {
            RollbackTo::Version(v) => grafana.restore(uid, *v).await,
            RollbackTo::Git(rev) => {
                let mut body = wanted.clone();
                body["version"] = live["version"].clone();
                body["uid"] = serde_json::json!(uid);
                grafana
                    .save_dashboard(
                        &body,
                        Some(&folder),
                        false,
                        &format!("promo-infra rollback to git {rev}"),
                    )
                    .await
            }
        }
    })?;
    // promo-infra wrote this version: a later push is not refused because of it.
    let mut record = read_pushed(&s);
    record.insert(uid.to_string(), saved.version);
    write_pushed(&s, &record)?;
    Ok(Some(saved.version))
}

/// The dashboard `uid` of `stack` as generated at git revision `rev` of the project
/// (`git show REV:generated/<stack>/grafana/dashboards/<uid>.json`).
fn at_git_rev(project: &Project, stack: &str, uid: &str, rev: &str) -> Result<Value> {
    let spec = format!("{rev}:generated/{stack}/grafana/dashboards/{uid}.json");
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&project.root)
        .args(["show", "--end-of-options", &spec])
        .output()
        .map_err(|e| {
            Error::usage(
                format!("cannot run git to read {spec}: {e}"),
                "install git, or roll back to a Grafana version (`--to N`)",
            )
        })?;
    if !out.status.success() {
        return Err(Error::usage(
            format!(
                "git has no {spec}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "name a revision where the stack's generated/ was committed (`git log -- generated/`)",
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        Error::usage(
            format!("{spec} is not a dashboard's JSON: {e}"),
            "name a revision where generated/ held this dashboard",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::RollbackTo;

    #[test]
    fn rollback_targets_are_versions_or_revisions_never_options() {
        assert_eq!("3".parse(), Ok(RollbackTo::Version(3)));
        assert_eq!("grafana:7".parse(), Ok(RollbackTo::Version(7)));
        assert_eq!("git:HEAD~2".parse(), Ok(RollbackTo::Git("HEAD~2".into())));
        assert_eq!("abc123".parse(), Ok(RollbackTo::Git("abc123".into())));
        // What would reach git's command line as an option, or split into two arguments.
        for bad in ["--output=/tmp/x", "git:-p", "git:a b", "git:", "grafana:x"] {
            assert!(bad.parse::<RollbackTo>().is_err(), "{bad} accepted");
        }
    }
}
