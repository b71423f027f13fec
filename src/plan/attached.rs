//! The stack's network and the containers on it.
//!
//! A container joins its network only when it is created: a service that exists while the
//! network it is declared on is created by this plan (the manifest renamed
//! `targets.docker.network`) is replaced, so it runs on the declared network and not on the one
//! it was created on.
//!
//! A network that containers which are not the stack's are attached to (users run
//! `docker run --network <the stack's network> grafana/k6 …` to reach InfluxDB by name) is never
//! deleted: the engine would refuse it half-way through an apply ("has active endpoints"), and
//! promo-infra never stops nor detaches a container that is not the stack's. So `--prune` keeps
//! it, and the plan says so up front, naming them.
//!
//! Owns: those rules. May not: do IO, print, or know any target's engine.

use super::{Action, FieldChange, InUse, Observed, Step};
use crate::desired::{Desired, Resource, ResourceId, ResourceKind, ResourceSpec};

/// The containers that keep the observed resource `id` from being deleted, if it is a network
/// such containers are attached to.
pub(super) fn in_use<'a>(observed: &'a Observed, id: &ResourceId) -> Option<&'a InUse> {
    observed
        .attached
        .get(id)
        .filter(|used| id.kind == ResourceKind::Network && !used.containers.is_empty())
}

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
