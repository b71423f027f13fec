//! The stack's network and the containers attached to it that are not the stack's (users run
//! `docker run --network <the stack's network> grafana/k6 …` to reach InfluxDB by name).
//!
//! Owns: reading which containers are attached to a network, and removing a network only when
//! none is. May not: stop, remove or detach a container that is not the stack's; print; decide
//! whether a network goes (the plan, or `destroy`, did).

use std::collections::{BTreeMap, BTreeSet};

use super::DockerTarget;
use super::engine::{is_not_found, read_error, write_error};
use crate::desired::{ResourceId, ResourceKind};
use crate::error::{Error, Result};
use crate::plan::InUse;

/// The containers attached to the network `name` (running ones: the engine lists only those
/// with an endpoint), by id → name; `None` when it does not exist.
async fn attached(t: &DockerTarget, name: &str) -> Result<Option<BTreeMap<String, String>>> {
    match t.docker.inspect_network(name, None).await {
        Ok(n) => Ok(Some(
            n.containers
                .unwrap_or_default()
                .into_iter()
                .map(|(id, c)| {
                    let shown = c.name.unwrap_or_else(|| id.chars().take(12).collect());
                    (id, shown)
                })
                .collect(),
        )),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(read_error(&format!("inspecting network {name}"), e)),
    }
}

/// The containers that are not the stack's (not among `ours`, container ids) attached to
/// each observed network of `networks` (id → name on the engine): those with none are left
/// out.
pub(super) async fn foreign_attached(
    t: &DockerTarget,
    networks: Vec<(ResourceId, String)>,
    ours: &BTreeSet<String>,
) -> Result<BTreeMap<ResourceId, InUse>> {
    let found =
        futures_util::future::try_join_all(networks.into_iter().map(|(id, name)| async move {
            let attached = attached(t, &name).await?.unwrap_or_default();
            Ok::<_, Error>((id, name, attached))
        }))
        .await?;
    Ok(found
        .into_iter()
        .filter_map(|(id, network, attached)| {
            let mut containers: Vec<String> = attached
                .into_iter()
                .filter(|(cid, _)| !ours.contains(cid))
                .map(|(_, name)| name)
                .collect();
            containers.sort();
            (!containers.is_empty()).then(|| {
                let id = id.clone();
                (
                    id.clone(),
                    InUse {
                        id,
                        network,
                        containers,
                    },
                )
            })
        })
        .collect())
}

/// What [`remove`] did.
pub(super) enum Removal {
    /// Removed.
    Removed,
    /// There was no such network.
    Absent,
    /// Kept: containers are attached to it (left untouched).
    InUse(InUse),
}

/// Remove the network `name` of the stack unless containers are attached to it: the engine
/// refuses then ("has active endpoints"), and they are named. Called once the stack's own
/// containers are gone, so whatever is still attached is not the stack's.
pub(super) async fn remove(t: &DockerTarget, name: &str) -> Result<Removal> {
    let failed = match t.docker.remove_network(name).await {
        Ok(()) => return Ok(Removal::Removed),
        Err(e) if is_not_found(&e) => return Ok(Removal::Absent),
        Err(e) => e,
    };
    // The engine's refusal of a network in use is a 403 ("has active endpoints"); any other
    // failure is said as it is, whatever is attached.
    if super::engine::status_of(&failed) != Some(403) {
        return Err(write_error(
            &format!("removing network {name}"),
            failed,
            None,
        ));
    }
    match attached(t, name).await? {
        Some(attached) if !attached.is_empty() => {
            let mut containers: Vec<String> = attached.into_values().collect();
            containers.sort();
            Ok(Removal::InUse(InUse {
                id: ResourceId::new(ResourceKind::Network, short_name(t, name)),
                network: name.to_string(),
                containers,
            }))
        }
        Some(_) => Err(write_error(
            &format!("removing network {name}"),
            failed,
            None,
        )),
        None => Ok(Removal::Absent),
    }
}

/// The short name of a network of the stack (`monitoring-net` for `promo_monitoring-net`).
fn short_name(t: &DockerTarget, name: &str) -> String {
    name.strip_prefix(&format!("{}_", t.ctx.stack))
        .unwrap_or(name)
        .to_string()
}

/// The error of a network step that cannot remove `used`: the containers were attached after
/// the plan was made (it keeps a network they were attached to then).
pub(super) fn in_use_error(used: &InUse) -> Error {
    Error::docker(format!(
        "removing network {}: {} attached to it and not the stack's (promo-infra never stops nor detaches it)",
        used.network,
        used.are()
    ))
    .with_help(format!(
        "{}, then run `promo-infra apply --prune` again",
        used.how_to_free()
    ))
}
