//! What a target reports it found, in the terms the plan compares: its part of
//! `(Desired, Observed) → Plan`.
//!
//! Owns: the observed state's types, and how a found resource gets the same canonical form and
//! hash as a desired one. May not: do IO or know any target's engine.

use std::collections::BTreeMap;

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

/// Everything a target observed for a stack.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// By id.
    pub resources: BTreeMap<ResourceId, ObservedResource>,
}

impl Extend<ObservedResource> for Observed {
    /// Add what a read found, each by its id (a later one replaces an earlier one).
    fn extend<I: IntoIterator<Item = ObservedResource>>(&mut self, found: I) {
        self.resources
            .extend(found.into_iter().map(|o| (o.id.clone(), o)));
    }
}
