//! Values known only after apply: a token apply mints (created, or minted again) reaches the
//! services whose environment holds it, so each of them is replaced in the same apply, and the
//! plan says so — terraform's `(known after apply)`. A token that is only checked (its InfluxDB
//! could not be read) may be found as it is: a service that would be replaced for it alone is
//! replaced only if apply mints it again ([`IfMinted`]).
//!
//! Owns: that rule. May not: do IO, print, or know any target's engine.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::{Action, FieldChange, Observed, SENSITIVE, Step};
use crate::desired::{Desired, Resource, ResourceId, ResourceKind, ResourceSpec};

/// How a value minted during apply reads in a plan.
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

/// A step needed only if one of `tokens` (each checked by the same apply, and a dependency of
/// the step's resource, so checked first) is minted again. If every one is found as declared,
/// apply does `otherwise` instead: nothing (`None`), start the stopped service, or the update
/// in place the service needed anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IfMinted {
    /// The checked tokens whose values the step's resource holds.
    pub tokens: Vec<ResourceId>,
    /// What is done when none is minted again.
    pub otherwise: Option<Action>,
}

/// A token this plan mints, by its `.env` name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Minted {
    /// The token resource.
    token: ResourceId,
    /// Only checked (its InfluxDB could not be read): minted again only if it is gone.
    checked: bool,
}

/// The tokens this plan mints (those not observed as they are declared), by `.env` name.
pub(super) fn minted(desired: &Desired, observed: &Observed) -> BTreeMap<String, Minted> {
    desired
        .resources
        .values()
        .filter_map(|r| match &r.spec {
            ResourceSpec::Token(t) => {
                let current = observed
                    .resources
                    .get(&r.id)
                    .is_some_and(|o| o.hash.as_deref() == Some(r.hash.as_str()));
                let checked = !observed.resources.contains_key(&r.id)
                    && super::unread::check(desired, observed, r).is_some();
                (!current).then(|| {
                    let token = r.id.clone();
                    (t.secret.clone(), Minted { token, checked })
                })
            }
            _ => None,
        })
        .collect()
}

/// Paths (as [`super::diff`] names them) of the secrets of `canonical` that are in `names`,
/// each with its secret's name.
fn secret_paths<'a, M>(
    prefix: &str,
    value: &'a Value,
    names: &BTreeMap<String, M>,
    out: &mut Vec<(String, &'a str)>,
) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(name)) = map.get("secret") {
                if names.contains_key(name) {
                    out.push((prefix.to_string(), name));
                }
                return;
            }
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                secret_paths(&path, v, names, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                secret_paths(&format!("{prefix}[{i}]"), v, names, out);
            }
        }
        _ => {}
    }
}

/// Mark in `step` (or make a step) that `r`'s environment gets tokens minted by this apply.
/// Only services and processes take a token through their environment (a Grafana object's
/// secret field is sent by the step that mints it). When every such token is only checked and
/// nothing else forces a replacement (`step` is none, a start, or an update in place), the
/// replace is [`IfMinted`], the step as it was its `otherwise`.
pub(super) fn mark(
    r: &Resource,
    minted: &BTreeMap<String, Minted>,
    step: Option<Step>,
) -> Option<Step> {
    if r.id.kind != ResourceKind::Service || minted.is_empty() {
        return step;
    }
    let mut found = Vec::new();
    secret_paths("", &r.canonical, minted, &mut found);
    if found.is_empty() {
        return step;
    }
    let paths: Vec<String> = found.iter().map(|(p, _)| p.clone()).collect();
    let checked: BTreeSet<&ResourceId> = found
        .iter()
        .map(|(_, name)| &minted[*name])
        .filter(|m| m.checked)
        .map(|m| &m.token)
        .collect();
    let only_checked = found.iter().all(|(_, name)| minted[*name].checked);
    let if_minted = match &step {
        None if only_checked => Some(None),
        Some(s) if only_checked && matches!(s.action, Action::Start | Action::Update { .. }) => {
            Some(Some(s.action.clone()))
        }
        _ => None,
    }
    .map(|otherwise| IfMinted {
        tokens: checked.into_iter().cloned().collect(),
        otherwise,
    });
    let mut step = step.unwrap_or_else(|| Step::new(r.id.clone(), Action::Start));
    match &mut step.action {
        Action::Create => {
            for c in step
                .attributes
                .iter_mut()
                .filter(|c| paths.contains(&c.path))
            {
                c.after = Some(KNOWN_AFTER_APPLY.into());
            }
        }
        Action::Delete | Action::Check { .. } => {}
        Action::Replace { changes } | Action::Update { changes } => {
            let mut changes = std::mem::take(changes);
            known(r, &paths, &mut changes);
            step.action = super::replace_or_update(r, changes);
        }
        Action::Start => {
            let mut changes = Vec::new();
            known(r, &paths, &mut changes);
            step.action = super::replace_or_update(r, changes);
        }
    }
    step.if_minted = if_minted;
    Some(step)
}

/// Each of `paths` in `changes` as a value known after apply.
fn known(r: &Resource, paths: &[String], changes: &mut Vec<FieldChange>) {
    for path in paths {
        match changes.iter_mut().find(|c| &c.path == path) {
            Some(c) => c.after = Some(KNOWN_AFTER_APPLY.into()),
            None => changes.push(FieldChange {
                path: path.clone(),
                before: Some(SENSITIVE.into()),
                after: Some(KNOWN_AFTER_APPLY.into()),
                sensitive: true,
                forces_replacement: !r.changes_in_place(path),
            }),
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
}
