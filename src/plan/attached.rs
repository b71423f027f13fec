//! A container joins its network only when it is created: a service that exists while the
//! network it is declared on is created by this plan (the manifest renamed
//! `targets.docker.network`) is replaced, so it runs on the declared network and not on the one
//! it was created on.
//!
//! Owns: that rule. May not: do IO, print, or know any target's engine.

use super::{Action, FieldChange, Observed, Step};
use crate::desired::{Desired, Resource, ResourceKind, ResourceSpec};

/// Mark in `step` (or make a step) that the existing service `r` must be replaced to join a
/// network this plan creates.
pub(super) fn mark(
    desired: &Desired,
    observed: &Observed,
    r: &Resource,
    step: Option<Step>,
) -> Option<Step> {
    if !matches!(r.spec, ResourceSpec::Service(_)) || !observed.resources.contains_key(&r.id) {
        return step;
    }
    let Some(network) = r.depends_on.iter().find(|d| {
        d.kind == ResourceKind::Network
            && desired.resources.contains_key(d)
            && !observed.resources.contains_key(d)
    }) else {
        return step;
    };
    let change = FieldChange {
        path: "network".into(),
        before: Some("(another network)".into()),
        after: Some(format!("{:?} (created by this plan)", network.name)),
        sensitive: false,
        forces_replacement: true,
    };
    let mut step = step.unwrap_or_else(|| Step::new(r.id.clone(), Action::Start));
    let mut changes = match std::mem::replace(&mut step.action, Action::Start) {
        Action::Replace { changes } | Action::Update { changes } => changes,
        Action::Start => Vec::new(),
        other => {
            step.action = other;
            return Some(step);
        }
    };
    changes.push(change);
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    step.action = super::replace_or_update(r, changes);
    Some(step)
}
