//! `destroy`: remove the stack's containers and networks, and its volumes when asked.
//!
//! Owns: finding every object of the stack (by label and by our fixed names) and removing it.
//! May not: print, read the environment, or touch objects of another stack (a container that
//! is not the stack's attached to its network keeps the network: see [`network`]).

use super::engine::{is_not_found, read_error, write_error};
use super::execute::remove_container;
use super::network::{self, Removal};
use super::observe::{self, summary_name};
use super::{DockerTarget, labels};
use crate::desired::{Desired, ResourceSpec};
use crate::error::Result;
use crate::targets::{Destroyed, retry};

/// Remove the stack's containers and networks, and its volumes when `volumes`. Returns what was
/// removed (`container promo-grafana-1`, ...), in order, and the networks kept because
/// containers that are not the stack's are attached to them (never stopped nor detached).
pub async fn destroy(t: &DockerTarget, desired: &Desired, volumes: bool) -> Result<Destroyed> {
    let stack = t.ctx.stack.as_str();
    let mut removed = Vec::new();
    let by_service = super::observe::containers(t).await?;
    let mut names: Vec<String> = by_service.values().flatten().map(summary_name).collect();
    // Our fixed names too (a container being created when an apply was killed has them).
    for r in desired.resources.values() {
        if let ResourceSpec::Service(s) = &r.spec {
            let n = labels::container_name(stack, &s.name);
            if !names.contains(&n) {
                match t.docker.inspect_container(&n, None).await {
                    Ok(_) => names.push(n),
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(read_error(&format!("inspecting container {n}"), e)),
                }
            }
        }
    }
    names.sort();
    let results = futures_util::future::join_all(names.iter().map(|n| async move {
        retry(&format!("removing container {n}"), 4, || {
            remove_container(t, n)
        })
        .await
    }))
    .await;
    for (n, r) in names.iter().zip(results) {
        r?;
        removed.push(format!("container {n}"));
    }
    let mut networks: Vec<String> = observe::networks(t)
        .await?
        .into_iter()
        .filter_map(|n| n.name)
        .collect();
    let mut volume_names: Vec<String> = if volumes {
        observe::volumes(t)
            .await?
            .into_iter()
            .map(|v| v.name)
            .collect()
    } else {
        Vec::new()
    };
    for r in desired.resources.values() {
        match &r.spec {
            ResourceSpec::Network { name } if !networks.contains(name) => {
                networks.push(name.clone())
            }
            ResourceSpec::Volume { name } if volumes && !volume_names.contains(name) => {
                volume_names.push(name.clone());
            }
            _ => {}
        }
    }
    networks.sort();
    volume_names.sort();
    // The stack's containers are gone: a container still attached to a network is not the
    // stack's. The network is kept for it, untouched, and the rest still goes.
    let mut kept = Vec::new();
    for n in networks {
        match retry(&format!("removing network {n}"), 4, || {
            network::remove(t, &n)
        })
        .await?
        {
            Removal::Removed => removed.push(format!("network {n}")),
            Removal::Absent => {}
            Removal::InUse(used) => kept.push(used),
        }
    }
    for v in volume_names {
        let r = retry(&format!("removing volume {v}"), 4, || async {
            match t
                .docker
                .remove_volume(&v, None::<bollard::query_parameters::RemoveVolumeOptions>)
                .await
            {
                Ok(()) => Ok(true),
                Err(e) if is_not_found(&e) => Ok(false),
                Err(e) => Err(write_error(
                    &format!("removing volume {v}"),
                    e,
                    Some("a container outside the stack still uses it; remove it first".into()),
                )),
            }
        })
        .await?;
        if r {
            removed.push(format!("volume {v}"));
        }
    }
    Ok(Destroyed { removed, kept })
}
