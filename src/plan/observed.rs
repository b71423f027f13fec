//! What a target reports it found, in the terms the plan compares: its part of
//! `(Desired, Observed) → Plan`.
//!
//! Owns: the observed state's types, and how a found resource gets the same canonical form and
//! hash as a desired one. May not: do IO or know any target's engine.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::desired::ResourceId;

/// What a target found for one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedResource {
    /// Identity, in the same terms as the desired resource.
    pub id: ResourceId,
    /// Content hash recorded when promo-infra created it (`None`: made by something else,
    /// e.g. `docker-compose up`).
    pub hash: Option<String>,
    /// Its canonical form as far as the target can reconstruct it (for field diffs).
    pub canonical: Value,
    /// Whether it is healthy / running as it should (a stopped container must be started).
    pub converged: bool,
}

impl ObservedResource {
    /// A resource found as `spec` (a converged database, network, Grafana object...): its
    /// canonical form and hash computed exactly as the desired resource's are, so an unchanged
    /// one plans as no change.
    pub fn found(id: &ResourceId, spec: crate::desired::ResourceSpec) -> Self {
        Self::found_with(id, spec, &BTreeMap::new())
    }

    /// [`Self::found`] for a resource holding secrets it never shows back: `sent` has the
    /// fingerprint of each value last sent to it, by secret name.
    pub fn found_with(
        id: &ResourceId,
        spec: crate::desired::ResourceSpec,
        sent: &BTreeMap<String, String>,
    ) -> Self {
        let r = crate::desired::Resource::new(id.clone(), Vec::new(), spec, sent);
        Self {
            id: id.clone(),
            hash: Some(r.hash),
            canonical: r.canonical,
            converged: true,
        }
    }
}

/// Why what a service holds (a database, Grafana's folder and dashboards) could not be read:
/// the plan then says those resources are known only after apply, never that they are absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unread {
    /// The service exists but is stopped (an exited container).
    Stopped,
    /// The service runs but does not answer as healthy.
    NotAnswering,
    /// The service does not run (no container, no live process) while its data is kept (a
    /// volume, a data directory): what it held is still there.
    NotRunning,
}

impl Unread {
    /// How a plan says it of `service` (`grafana`): `while grafana is stopped`.
    pub fn while_(self, service: &str) -> String {
        match self {
            Self::Stopped => format!("while {service} is stopped"),
            Self::NotAnswering => format!("while {service} does not answer"),
            Self::NotRunning => format!("while {service} does not run"),
        }
    }
}

/// A network of the stack that containers which are not the stack's are attached to (a
/// `docker run --network <stack's network> grafana/k6 …`): it is kept, never deleted under them,
/// and they are never stopped nor detached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InUse {
    /// The network.
    pub id: ResourceId,
    /// Its name on the target (`promo_monitoring-net`).
    pub network: String,
    /// The containers attached to it that are not the stack's, by name, sorted.
    pub containers: Vec<String>,
}

impl InUse {
    /// `container k6-run is` / `containers a, b are` (what a sentence says of them).
    pub fn are(&self) -> String {
        match self.containers.as_slice() {
            [one] => format!("container {one} is"),
            many => format!("containers {} are", many.join(", ")),
        }
    }

    /// What frees the network (their owner's call, never promo-infra's): stop them, or detach
    /// them from it.
    pub fn how_to_free(&self) -> String {
        let (them, it) = if self.containers.len() == 1 {
            ("it", "it")
        } else {
            ("them", "each")
        };
        let disconnect: Vec<String> = self
            .containers
            .iter()
            .map(|c| format!("`docker network disconnect {} {c}`", self.network))
            .collect();
        format!(
            "stop {them} (`docker stop {}`) or detach {it} ({})",
            self.containers.join(" "),
            disconnect.join(", ")
        )
    }
}

/// Everything a target observed for a stack.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// By id.
    pub resources: BTreeMap<ResourceId, ObservedResource>,
    /// Services whose contents could not be read, and why: a resource they hold
    /// ([`super::host_of`]) that is not in `resources` is unknown, not absent.
    pub unread: BTreeMap<ResourceId, Unread>,
    /// The stack's networks that containers which are not the stack's are attached to, by id
    /// (the docker target; none elsewhere).
    pub attached: BTreeMap<ResourceId, InUse>,
    /// What the target found that a plan should say, not a resource (the cloud's organisation
    /// home dashboard held by another stack); `destroy` does not show them.
    pub warnings: Vec<String>,
    /// Services found down: an exited container, a killed process whose pidfile is left. They
    /// hold no host port while down, so starting them again needs their ports free (a running
    /// one that does not answer holds its own).
    pub stopped: BTreeSet<ResourceId>,
}

impl Extend<ObservedResource> for Observed {
    /// Add what a read found, each by its id (a later one replaces an earlier one).
    fn extend<I: IntoIterator<Item = ObservedResource>>(&mut self, found: I) {
        self.resources
            .extend(found.into_iter().map(|o| (o.id.clone(), o)));
    }
}
