//! Values known only after apply: a token apply mints (created, or minted again) reaches the
//! services whose environment holds it, so each of them is replaced in the same apply, and the
//! plan says so — terraform's `(known after apply)`.
//!
//! Owns: that rule. May not: do IO, print, or know any target's engine.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Action, FieldChange, Observed, SENSITIVE, Step};
use crate::desired::{Desired, Resource, ResourceKind, ResourceSpec};

/// How a value minted during apply reads in a plan.
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

/// The `.env` names of the tokens this plan mints: those not observed as they are declared.
pub(super) fn minted(desired: &Desired, observed: &Observed) -> BTreeSet<String> {
    desired
        .resources
        .values()
        .filter_map(|r| match &r.spec {
            ResourceSpec::Token(t) => {
                let current = observed
                    .resources
                    .get(&r.id)
                    .is_some_and(|o| o.hash.as_deref() == Some(r.hash.as_str()));
                (!current).then(|| t.secret.clone())
            }
            _ => None,
        })
        .collect()
}

/// Paths (as [`super::diff`] names them) of the secrets of `canonical` that are in `names`.
fn secret_paths(prefix: &str, value: &Value, names: &BTreeSet<String>, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(name)) = map.get("secret") {
                if names.contains(name) {
                    out.push(prefix.to_string());
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
/// secure field is sent by the step that mints it).
pub(super) fn mark(r: &Resource, minted: &BTreeSet<String>, step: Option<Step>) -> Option<Step> {
    if r.id.kind != ResourceKind::Service || minted.is_empty() {
        return step;
    }
    let mut paths = Vec::new();
    secret_paths("", &r.canonical, minted, &mut paths);
    if paths.is_empty() {
        return step;
    }
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
