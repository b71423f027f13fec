//! Values known only after apply because the service holding them cannot be read now: a
//! stopped Grafana's folder and dashboards, a stopped InfluxDB's database. They are neither
//! absent nor present to the planner: the plan says they will be checked once their service
//! runs ([`Action::Check`]), and apply reads them then and does what that read calls for.
//!
//! Owns: which service holds a resource ([`host_of`]) and that rule. May not: do IO, print, or
//! know any target's engine.

use std::collections::BTreeSet;

use super::{Action, Observed, Step};
use crate::desired::{Desired, Resource, ResourceId, ResourceKind};

/// The service that holds `id`'s data: the first service reached through its `depends_on`,
/// through other resources only (a dashboard → its folder → `service.grafana`; a database →
/// `service.influxdb`). `None` for services, networks and volumes, and on the cloud target
/// (its objects depend on no service). Depth first, the last dependency first: a resource
/// depending on objects of two services (an alert rule on a folder and a datasource) would be
/// traced to one of them; no target compiles such a resource with service dependencies today
/// (Grafana's datasource and alerting are files of `service.grafana` on docker and native).
pub fn host_of(desired: &Desired, id: &ResourceId) -> Option<ResourceId> {
    if matches!(
        id.kind,
        ResourceKind::Service | ResourceKind::Network | ResourceKind::Volume
    ) {
        return None;
    }
    let mut seen = BTreeSet::new();
    let mut todo = vec![id.clone()];
    while let Some(next) = todo.pop() {
        let Some(r) = desired.resources.get(&next) else {
            continue;
        };
        for d in &r.depends_on {
            if d.kind == ResourceKind::Service {
                return Some(d.clone());
            }
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    None
}

/// What the check of `id`, held by `service`, reads again: `desired` with, of what services
/// hold, only `id` and what it depends on (a dashboard and its folder). Services, networks and
/// volumes stay: a target tells a stopped service from a removed one by them. Another service
/// of the same apply may still be starting (a native Grafana not yet listening while InfluxDB's
/// database is checked), and the service's other objects are other checks' business: a target
/// reads a service's objects only when some are declared, so each of N dashboard checks reads
/// its own dashboard, not all N.
pub fn scoped_to(desired: &Desired, id: &ResourceId, service: &ResourceId) -> Desired {
    let mut needed = BTreeSet::from([id.clone()]);
    let mut todo = vec![id.clone()];
    while let Some(next) = todo.pop() {
        for d in desired
            .resources
            .get(&next)
            .map_or(&[][..], |r| &r.depends_on[..])
        {
            if needed.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    let mut scoped = desired.clone();
    scoped.partial = true;
    scoped.resources.retain(|r, _| match host_of(desired, r) {
        None => true,
        Some(host) => &host == service && needed.contains(r),
    });
    scoped
}

/// Whether a resource of `kind` is checked, not created, while its service cannot be read:
/// what is converged in place (created, updated or left as found), and a token (InfluxDB keeps
/// it while stopped: minting it again would revoke the one k6 and Grafana hold, so it is read
/// again once InfluxDB runs and minted only if it is gone).
fn checked_when_unread(kind: ResourceKind) -> bool {
    kind.updates_in_place() || kind == ResourceKind::Token
}

/// The services that hold a resource a plan may have to check ([`host_of`] of every resource
/// [`checked_when_unread`]): the ones a target reports in [`Observed::unread`] when it cannot
/// read them.
pub fn hosts(desired: &Desired) -> BTreeSet<ResourceId> {
    desired
        .resources
        .keys()
        .filter(|id| checked_when_unread(id.kind))
        .filter_map(|id| host_of(desired, id))
        .collect()
}

/// For `r`, not observed: a check once its service runs when that service could not be read
/// and `r` is [`checked_when_unread`]. `None`: it is absent, to create.
pub(super) fn check(desired: &Desired, observed: &Observed, r: &Resource) -> Option<Step> {
    if !checked_when_unread(r.id.kind) {
        return None;
    }
    let service = host_of(desired, &r.id)?;
    let why = *observed.unread.get(&service)?;
    Some(Step::new(r.id.clone(), Action::Check { service, why }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::desired::{FolderSpec, ResourceSpec};
    use crate::plan::{Unread, observed_as_applied, plan};

    fn folder_on(service: &str) -> Desired {
        let grafana = ResourceId::new(ResourceKind::Service, service);
        Desired::of([
            Resource::new(
                grafana.clone(),
                Vec::new(),
                ResourceSpec::Network { name: "x".into() },
                &BTreeMap::new(),
            ),
            Resource::new(
                ResourceId::new(ResourceKind::Folder, "f"),
                vec![grafana],
                ResourceSpec::Folder(FolderSpec {
                    uid: "f".into(),
                    title: "F".into(),
                }),
                &BTreeMap::new(),
            ),
        ])
    }

    #[test]
    fn a_resource_of_an_unread_service_is_checked_not_created() {
        let d = folder_on("grafana");
        let folder = ResourceId::new(ResourceKind::Folder, "f");
        let grafana = ResourceId::new(ResourceKind::Service, "grafana");
        assert_eq!(host_of(&d, &folder), Some(grafana.clone()));
        assert_eq!(host_of(&d, &grafana), None);
        assert_eq!(hosts(&d), BTreeSet::from([grafana.clone()]));
        let mut o = observed_as_applied(&d);
        o.resources.remove(&folder);
        // Read and absent: created.
        let p = plan(&d, &o, "docker", false);
        assert_eq!(p.steps.len(), 1);
        assert_eq!(p.steps[0].action, Action::Create);
        // Not read: checked once Grafana runs.
        o.unread.insert(grafana.clone(), Unread::Stopped);
        let p = plan(&d, &o, "docker", false);
        let check = Action::Check {
            service: grafana,
            why: Unread::Stopped,
        };
        assert_eq!(p.steps, vec![Step::new(folder, check)]);
        assert_eq!(p.summary().check, 1);
        assert_eq!(
            crate::plan::render(&p),
            "promo-infra will perform the following actions on stack `s` (target docker):\n\n  \
             # folder.f will be checked once service.grafana runs (it cannot be read while grafana is stopped)\n  \
             ~ folder.f (known after apply)\n\n\
             Plan: 0 to add, 0 to change, 0 to destroy, 1 known after apply.\n"
        );
    }
}
