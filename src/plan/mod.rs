//! Plan: a pure function `(Desired, Observed) → Plan`. Every value is decided here; apply only
//! executes. Diffing lives in the core so every target plans the same way.
//!
//! Owns: diffing, the plan's actions and its rendering as data.
//! May not: do IO, print, or know any target's engine.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::desired::{Desired, Resource, ResourceId};

mod attached;
mod files;
mod minted;
mod observed;
mod render;
mod unread;
pub use files::{Applied, FileDiff, with_files};
pub use minted::{IfMinted, KNOWN_AFTER_APPLY};
pub use observed::{InUse, Observed, ObservedResource, Unread};
pub use render::{FILE_DIFF_INDENT, render};
pub use unread::{host_of, hosts, scoped_to};

/// How a secret is shown in a plan.
const SENSITIVE: &str = "(sensitive)";

/// One changed field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// Dotted path (`env.GF_SECURITY_ADMIN_USER`, `ports[0].host_port`).
    pub path: String,
    /// Before (`None`: absent). Sensitive values are never here: a secret added or removed
    /// shows `(sensitive)` on the side where it is, a changed one `None` on both sides.
    pub before: Option<String>,
    /// After (`None`: removed).
    pub after: Option<String>,
    /// The value is a secret: shown as `(sensitive)`.
    pub sensitive: bool,
    /// In a replace: this field is why (it cannot change in place). Absent from JSON when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub forces_replacement: bool,
}

/// What to do with a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Create it.
    Create,
    /// Replace it (delete, then create) — containers cannot be changed in place.
    Replace {
        /// Why.
        changes: Vec<FieldChange>,
    },
    /// Change it in place (databases, Grafana objects: converged without recreating).
    Update {
        /// What changes.
        changes: Vec<FieldChange>,
    },
    /// Bring it back to its declared state without changing its configuration (start a
    /// stopped container).
    Start,
    /// Delete it (only resources the stack no longer declares, with `--prune`).
    Delete,
    /// Known only after apply: it lives in `service`, which could not be read (`why`). Apply
    /// reads it once that service runs, then creates it, updates it or leaves it as found, and
    /// reports which.
    Check {
        /// The service that holds it.
        service: ResourceId,
        /// Why that service could not be read.
        why: Unread,
    },
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Resource.
    pub id: ResourceId,
    /// Action and its field changes.
    #[serde(flatten)]
    pub action: Action,
    /// For a create: every attribute of the new resource (`before` is always `None`; secrets
    /// `(sensitive)`), sorted by path. Empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<FieldChange>,
    /// For a replace or an update: the generated files behind its changed digest fields, with
    /// their diffs ([`with_files`]). Empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileDiff>,
    /// Set when the step is needed only if tokens this apply checks are minted again: apply
    /// then decides ([`IfMinted`]). Absent from JSON otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub if_minted: Option<IfMinted>,
}

impl Step {
    /// A step with no attributes listed.
    pub fn new(id: ResourceId, action: Action) -> Self {
        Self {
            id,
            action,
            attributes: Vec::new(),
            files: Vec::new(),
            if_minted: None,
        }
    }
}

/// A plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Stack.
    pub stack: String,
    /// Target name.
    pub target: String,
    /// Steps, in resource order (apply orders them by dependency).
    pub steps: Vec<Step>,
    /// Resources found that the stack no longer declares and that are kept (no `--prune`).
    pub undeclared: Vec<ResourceId>,
    /// Networks the stack no longer declares that `--prune` keeps all the same: containers that
    /// are not the stack's are attached to them ([`attached::in_use`]). Absent from JSON when
    /// none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub in_use: Vec<InUse>,
    /// What the target found that the plan says with it ([`Observed::warnings`]). Absent from
    /// JSON when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Counts for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// To add (creates, and the create half of replaces).
    pub add: usize,
    /// To change in place (starts).
    pub change: usize,
    /// To destroy (deletes, and the delete half of replaces).
    pub destroy: usize,
    /// Known after apply (checks, and the steps apply decides on once its checks ran): absent
    /// from JSON when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub check: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Plan {
    /// Whether nothing is to be done.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// terraform-style counts.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for step in &self.steps {
            if step.if_minted.is_some() {
                // Decided by what apply reads: counted with the checks.
                s.check += 1;
                continue;
            }
            match step.action {
                Action::Create => s.add += 1,
                Action::Replace { .. } => {
                    s.add += 1;
                    s.destroy += 1;
                }
                Action::Start | Action::Update { .. } => s.change += 1,
                Action::Delete => s.destroy += 1,
                Action::Check { .. } => s.check += 1,
            }
        }
        s
    }
}

/// Compute the plan. `prune` deletes observed resources the stack no longer declares.
pub fn plan(desired: &Desired, observed: &Observed, target: &str, prune: bool) -> Plan {
    let minted = minted::minted(desired, observed);
    let mut steps: Vec<Step> = desired
        .resources
        .values()
        .filter_map(|r| step_of(desired, observed, &minted, r))
        .collect();
    let mut undeclared = Vec::new();
    let mut in_use = Vec::new();
    for id in observed.resources.keys() {
        if !desired.resources.contains_key(id) {
            if !prune {
                undeclared.push(id.clone());
            } else if let Some(used) = attached::in_use(observed, id) {
                in_use.push(used.clone());
            } else {
                steps.push(Step::new(id.clone(), Action::Delete));
            }
        }
    }
    Plan {
        stack: desired.stack.clone(),
        target: target.to_string(),
        steps,
        undeclared,
        in_use,
        warnings: observed.warnings.clone(),
    }
}

/// What apply does for a step planned as [`Action::Check`] once `observed` was read again:
/// the step the plan makes for `id` now (`None`: found as declared; again a check: still
/// unread).
pub fn step_for(desired: &Desired, observed: &Observed, id: &ResourceId) -> Option<Step> {
    let r = desired.resources.get(id)?;
    step_of(desired, observed, &minted::minted(desired, observed), r)
}

/// The step for the declared `resource` (`None`: nothing to do).
fn step_of(
    desired: &Desired,
    observed: &Observed,
    minted: &BTreeMap<String, minted::Minted>,
    resource: &Resource,
) -> Option<Step> {
    let id = &resource.id;
    let step = match observed.resources.get(id) {
        None => Some(
            unread::check(desired, observed, resource).unwrap_or_else(|| Step {
                attributes: attributes(&resource.canonical),
                ..Step::new(id.clone(), Action::Create)
            }),
        ),
        Some(o) if o.hash.as_deref() == Some(resource.hash.as_str()) => {
            (!o.converged).then(|| Step::new(id.clone(), Action::Start))
        }
        Some(o) => {
            let mut changes = diff(&o.canonical, &resource.canonical);
            if changes.is_empty() {
                // Same content but no promo-infra hash recorded (made by another tool):
                // replacing it makes it ours, so later plans are exact.
                changes.push(FieldChange {
                    path: "labels.io.promo-infra.hash".into(),
                    before: o
                        .hash
                        .clone()
                        .or_else(|| Some("(none: not created by promo-infra)".into())),
                    after: Some(resource.hash[..12].to_string()),
                    sensitive: false,
                    forces_replacement: false,
                });
            }
            // In place when every changed field can be (a service's reloadable files).
            Some(Step::new(id.clone(), replace_or_update(resource, changes)))
        }
    };
    let step = attached::mark(desired, observed, resource, step);
    minted::mark(resource, minted, step)
}

/// Every attribute of a resource to create, as additions (the canonical form's internal `type`
/// tag left out: the id already says the kind).
fn attributes(canonical: &Value) -> Vec<FieldChange> {
    let mut all = diff(&Value::Object(Default::default()), canonical);
    all.retain(|c| c.path != "type");
    all
}

/// Field-level diff of two canonical forms. Secret markers (`{"secret": NAME, "fingerprint":
/// ...}`) are compared by fingerprint and shown as `(sensitive)`.
pub fn diff(before: &Value, after: &Value) -> Vec<FieldChange> {
    let mut b = BTreeMap::new();
    let mut a = BTreeMap::new();
    flatten("", before, &mut b);
    flatten("", after, &mut a);
    let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (bv, av) = (b.get(k), a.get(k));
            if bv == av {
                return None;
            }
            let sensitive = bv.is_some_and(|v| v.1) || av.is_some_and(|v| v.1);
            // A secret's value is never shown; only whether it is added or removed.
            let side = |v: Option<&(String, bool)>, other: Option<&(String, bool)>| {
                if sensitive {
                    (v.is_some() && other.is_none()).then(|| SENSITIVE.to_string())
                } else {
                    v.map(|v| v.0.clone())
                }
            };
            Some(FieldChange {
                path: k.clone(),
                before: side(bv, av),
                after: side(av, bv),
                sensitive,
                forces_replacement: false,
            })
        })
        .collect()
}

/// Flatten to `path → (display value, sensitive)`.
fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, (String, bool)>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(_)), Some(Value::String(fp))) =
                (map.get("secret"), map.get("fingerprint"))
            {
                out.insert(prefix.to_string(), (fp.clone(), true));
                return;
            }
            // A plain (not secret) environment value reads as the value itself.
            if let (1, Some(Value::String(v))) = (map.len(), map.get("plain")) {
                out.insert(prefix.to_string(), (format!("{v:?}"), false));
                return;
            }
            // Environment-like maps are keyed by name: keep the key visible in the path.
            for (k, v) in map {
                flatten(&join(k), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
            if items.is_empty() {
                out.insert(prefix.to_string(), ("[]".into(), false));
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), (format!("{s:?}"), false));
        }
        other => {
            out.insert(prefix.to_string(), (other.to_string(), false));
        }
    }
}

/// `Replace` when one of `changes` cannot be made in place on `r` (each marked so), else `Update`.
pub(super) fn replace_or_update(r: &Resource, mut changes: Vec<FieldChange>) -> Action {
    for c in &mut changes {
        c.forces_replacement = !r.changes_in_place(&c.path);
    }
    if changes.iter().any(|c| c.forces_replacement) {
        Action::Replace { changes }
    } else {
        Action::Update { changes }
    }
}

/// What a target observes once `d` is applied and running (unit tests of the planner).
#[cfg(test)]
pub(crate) fn observed_as_applied(d: &Desired) -> Observed {
    Observed {
        resources: d
            .resources
            .values()
            .map(|r| {
                let o = ObservedResource {
                    id: r.id.clone(),
                    hash: Some(r.hash.clone()),
                    canonical: r.canonical.clone(),
                    converged: true,
                };
                (r.id.clone(), o)
            })
            .collect(),
        ..Observed::default()
    }
}

#[cfg(test)]
mod tests;
