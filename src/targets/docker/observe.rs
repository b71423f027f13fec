//! Observe: the stack's network, volumes and containers, found by compose's project label (and
//! by name for networks and volumes made by hand), in the terms plan compares.
//!
//! Owns: reading the stack's objects from the engine, and which service reads go beside it.
//! May not: change anything on the engine, print, or read the environment.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{ContainerInspectResponse, ContainerSummary, ContainerSummaryStateEnum};
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
};
use serde_json::Value;

use super::engine::{is_not_found, read_error};
use super::reconstruct::reconstruct;
use super::service_reads::{ServiceRead, with_service_reads};
use super::{DockerTarget, labels};
use crate::desired::{Desired, MountSource, ResourceId, ResourceKind, ResourceSpec, ServiceSpec};
use crate::error::Result;
use crate::plan::{Observed, ObservedResource, Unread};
use crate::targets::common::{self, Found};
use crate::targets::grafana_api::{self, Attempts};

/// Every container (running or not) carrying all of `labels` (`key=value`); `what` names the
/// listing in an error.
pub async fn list_labelled(
    t: &DockerTarget,
    labels: Vec<String>,
    what: &str,
) -> Result<Vec<ContainerSummary>> {
    let filters = HashMap::from([("label", labels)]);
    t.docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| read_error(what, e))
}

/// `docker inspect` of one container.
pub async fn inspect(t: &DockerTarget, name: &str) -> Result<ContainerInspectResponse> {
    t.docker
        .inspect_container(name, None)
        .await
        .map_err(|e| read_error(&format!("inspecting container {name}"), e))
}

/// The stack's containers, by compose service (one-off containers excluded).
pub async fn containers(t: &DockerTarget) -> Result<BTreeMap<String, Vec<ContainerSummary>>> {
    let list = list_labelled(
        t,
        vec![format!("{}={}", labels::PROJECT, t.ctx.stack)],
        "listing the stack's containers",
    )
    .await?;
    let mut by_service: BTreeMap<String, Vec<ContainerSummary>> = BTreeMap::new();
    for c in list {
        let labels = c.labels.clone().unwrap_or_default();
        if labels.get(labels::ONEOFF).is_some_and(|v| v == "True") {
            continue;
        }
        if let Some(service) = labels.get(labels::SERVICE) {
            by_service.entry(service.clone()).or_default().push(c);
        }
    }
    for list in by_service.values_mut() {
        list.sort_by(|a, b| a.names.cmp(&b.names));
    }
    Ok(by_service)
}

/// Name of a listed container, without the leading `/`.
pub fn summary_name(c: &ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .or_else(|| c.id.clone())
        .unwrap_or_default()
}

/// Health as shown in a listing's status (`Up 3 minutes (healthy)`).
pub fn summary_health(c: &ContainerSummary) -> &'static str {
    let status = c.status.as_deref().unwrap_or("");
    if status.contains("(healthy)") {
        "healthy"
    } else if status.contains("(unhealthy)") {
        "unhealthy"
    } else if status.contains("(health: starting)") {
        "starting"
    } else {
        "-"
    }
}

/// `spec` with the host ports the container `c` really publishes: a service moved to another
/// port in the manifest still answers at its old one until it is replaced.
fn as_published(spec: &ServiceSpec, c: &ContainerSummary) -> ServiceSpec {
    let mut s = spec.clone();
    for p in &mut s.ports {
        let published = c.ports.iter().flatten().find_map(|q| {
            (q.private_port == p.container_port)
                .then_some(q.public_port)
                .flatten()
        });
        p.host_port = published.unwrap_or(p.host_port);
    }
    s
}

/// Whether a listed container runs and is healthy: Docker says so, or Docker's first check has
/// not run yet and the service answers its health URL.
async fn summary_converged(c: &ContainerSummary, spec: Option<&ServiceSpec>) -> bool {
    if c.state != Some(ContainerSummaryStateEnum::RUNNING) {
        return false;
    }
    match (summary_health(c), spec) {
        ("healthy", _) => true,
        ("starting", Some(s)) => super::ready::answers_now(&as_published(s, c)).await,
        _ => false,
    }
}

fn short_name(stack: &str, name: &str, label: Option<&String>) -> String {
    label.cloned().unwrap_or_else(|| {
        name.strip_prefix(&format!("{stack}_"))
            .unwrap_or(name)
            .to_string()
    })
}

/// The canonical form and hash of a network or volume as it exists: its identity is its name,
/// so one made by docker-compose (or by hand) with the right name is the same resource.
fn named_resource(id: &ResourceId, full_name: &str) -> ObservedResource {
    let spec = if id.kind == ResourceKind::Network {
        ResourceSpec::Network {
            name: full_name.to_string(),
        }
    } else {
        ResourceSpec::Volume {
            name: full_name.to_string(),
        }
    };
    ObservedResource::found(id, spec)
}

fn project_filter(t: &DockerTarget) -> HashMap<&'static str, Vec<String>> {
    HashMap::from([(
        "label",
        vec![format!("{}={}", labels::PROJECT, t.ctx.stack)],
    )])
}

/// The networks carrying the stack's project label.
pub async fn networks(t: &DockerTarget) -> Result<Vec<bollard::models::Network>> {
    let filters = project_filter(t);
    t.docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(|e| read_error("listing the stack's networks", e))
}

/// The volumes carrying the stack's project label.
pub async fn volumes(t: &DockerTarget) -> Result<Vec<bollard::models::Volume>> {
    let filters = project_filter(t);
    t.docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map(|v| v.volumes.unwrap_or_default())
        .map_err(|e| read_error("listing the stack's volumes", e))
}

/// Observe the stack: the engine's objects, and at the same time what the services' own APIs
/// report (InfluxDB's databases; Grafana's folder and dashboards), used where the service is up.
pub async fn observe(t: &DockerTarget, desired: &Desired) -> Result<Observed> {
    let reads = vec![
        // Like Grafana's below: one silent attempt on speculation, again with retries if it
        // failed although InfluxDB's container turned out to run.
        ServiceRead::new(
            "influxdb",
            common::read_databases(&t.ctx, desired, "docker", Attempts::Once),
        )
        .or_again(common::read_databases(
            &t.ctx,
            desired,
            "docker",
            Attempts::Retried,
        )),
        // Grafana's client retries (and warns) while Grafana does not answer: on speculation it
        // makes one silent attempt, and reads again with retries only if that failed although
        // Grafana's container turned out to run.
        ServiceRead::new(
            "grafana",
            grafana_api::read_stack(&t.ctx, desired, grafana_api::Attempts::Once),
        )
        .or_again(grafana_api::read_stack(
            &t.ctx,
            desired,
            grafana_api::Attempts::Retried,
        )),
    ];
    let mut observed = with_service_reads(observe_engine(t, desired), reads, |o| {
        o.converged && moved_ports(desired, o).is_none()
    })
    .await?;
    // A service that runs on other ports than the manifest's (the plan replaces it): what it
    // holds is read where it runs, never at the new port, where nothing (or someone else's
    // program) answers.
    let moved: Vec<_> = observed
        .resources
        .iter()
        .filter(|(_, o)| o.converged)
        .filter_map(|(id, o)| Some((id.clone(), moved_ports(desired, o)?)))
        .collect();
    if moved.is_empty() {
        return Ok(observed);
    }
    let mut running = desired.clone();
    for (id, ports) in &moved {
        if let Some(ResourceSpec::Service(s)) = running.resources.get_mut(id).map(|r| &mut r.spec) {
            s.ports.clone_from(ports);
        }
    }
    for (id, _) in &moved {
        let found = match id.name.as_str() {
            "influxdb" => {
                common::read_databases(&t.ctx, &running, "docker", Attempts::Retried).await?
            }
            "grafana" => {
                grafana_api::read_stack(&t.ctx, &running, grafana_api::Attempts::Retried).await?
            }
            _ => Vec::new(),
        };
        observed.extend(found);
    }
    Ok(observed)
}

/// The ports a service publishes as it runs (its canonical form), when they are not the ones
/// the manifest declares for it.
fn moved_ports(desired: &Desired, o: &ObservedResource) -> Option<Vec<crate::desired::PortSpec>> {
    let Some(ResourceSpec::Service(want)) = desired.resources.get(&o.id).map(|r| &r.spec) else {
        return None;
    };
    let running: Vec<crate::desired::PortSpec> =
        serde_json::from_value(o.canonical.get("ports")?.clone()).ok()?;
    (running != want.ports).then_some(running)
}

/// The services holding a resource the plan compares (Grafana's dashboards, InfluxDB's database)
/// whose API is not read ([`with_service_reads`] reads only a converged one), and why
/// ([`common::unread`]): a container that does not answer, or is stopped (it keeps what it
/// held), or no container while its data volume is kept. `observed` has the volumes;
/// `converged` is per service of `containers`.
fn unread(
    desired: &Desired,
    observed: &Observed,
    containers: &BTreeMap<String, Vec<ContainerSummary>>,
    converged: &[bool],
) -> BTreeMap<ResourceId, Unread> {
    common::unread(desired, |host| {
        match containers.keys().position(|s| *s == host.name) {
            Some(i) if converged[i] => Found::Answers,
            Some(_) => {
                let running = containers[&host.name]
                    .iter()
                    .any(|c| c.state == Some(ContainerSummaryStateEnum::RUNNING));
                if running {
                    Found::Runs
                } else {
                    Found::Down {
                        stopped: true,
                        kept: true,
                    }
                }
            }
            None => {
                let Some(ResourceSpec::Service(s)) = desired.resources.get(host).map(|r| &r.spec)
                else {
                    return Found::Down {
                        stopped: false,
                        kept: false,
                    };
                };
                // The very volume it mounts (one under another name is replaced: empty).
                let kept = s.mounts.iter().any(|m| match &m.source {
                    MountSource::Volume(v) => {
                        let id = ResourceId::new(ResourceKind::Volume, v.clone());
                        let want = desired.resources.get(&id).map(|r| r.hash.as_str());
                        observed
                            .resources
                            .get(&id)
                            .is_some_and(|o| o.hash.as_deref() == want)
                    }
                    MountSource::Generated(_) => false,
                });
                Found::Down {
                    stopped: false,
                    kept,
                }
            }
        }
    })
}

/// The stack's network, volumes and containers as the engine reports them.
/// The engine's objects of the stack alone (what `destroy` removes): the services' own APIs
/// are not read, so a stack whose InfluxDB refuses `.env`'s password, or whose Grafana does
/// not answer, can still be destroyed.
pub(super) async fn observe_engine(t: &DockerTarget, desired: &Desired) -> Result<Observed> {
    let stack = t.ctx.stack.as_str();
    let (containers, networks, volumes) = tokio::try_join!(containers(t), networks(t), volumes(t))?;
    let mut observed = Observed::default();
    for n in networks {
        let name = n.name.unwrap_or_default();
        let labels = n.labels.unwrap_or_default();
        let id = ResourceId::new(
            ResourceKind::Network,
            short_name(stack, &name, labels.get(labels::NETWORK)),
        );
        observed
            .resources
            .insert(id.clone(), named_resource(&id, &name));
    }
    for v in volumes {
        let id = ResourceId::new(
            ResourceKind::Volume,
            short_name(stack, &v.name, v.labels.get(labels::VOLUME)),
        );
        observed
            .resources
            .insert(id.clone(), named_resource(&id, &v.name));
    }
    // Declared networks and volumes that exist without the project label (made by hand or by
    // an older tool) are found by name.
    let missing: Vec<(&ResourceId, &str)> = desired
        .resources
        .values()
        .filter(|r| !observed.resources.contains_key(&r.id))
        .filter_map(|r| match &r.spec {
            ResourceSpec::Network { name } | ResourceSpec::Volume { name } => {
                Some((&r.id, name.as_str()))
            }
            _ => None,
        })
        .collect();
    let found =
        futures_util::future::try_join_all(missing.into_iter().map(|(id, name)| async move {
            let exists = if id.kind == ResourceKind::Network {
                match t.docker.inspect_network(name, None).await {
                    Ok(_) => true,
                    Err(e) if is_not_found(&e) => false,
                    Err(e) => return Err(read_error(&format!("inspecting network {name}"), e)),
                }
            } else {
                match t.docker.inspect_volume(name).await {
                    Ok(_) => true,
                    Err(e) if is_not_found(&e) => false,
                    Err(e) => return Err(read_error(&format!("inspecting volume {name}"), e)),
                }
            };
            Ok(exists.then(|| named_resource(id, name)))
        }))
        .await?;
    observed.extend(found.into_iter().flatten());

    let spec_of = |id: &ResourceId| {
        desired.resources.get(id).and_then(|r| match &r.spec {
            ResourceSpec::Service(s) => Some(s.as_ref()),
            _ => None,
        })
    };
    // Whether each service runs and is healthy: a container Docker still calls `starting` is
    // asked directly, all of them at once.
    let converged = futures_util::future::join_all(containers.iter().map(|(service, list)| {
        let spec = spec_of(&ResourceId::new(ResourceKind::Service, service.clone()));
        async move { list.len() == 1 && summary_converged(&list[0], spec).await }
    }))
    .await;
    observed.unread = unread(desired, &observed, &containers, &converged);
    // Containers that are not the stack's attached to its networks: such a network is kept.
    let ours: std::collections::BTreeSet<String> = containers
        .values()
        .flatten()
        .filter_map(|c| c.id.clone())
        .collect();
    let networks: Vec<(ResourceId, String)> = observed
        .resources
        .values()
        .filter(|o| o.id.kind == ResourceKind::Network)
        .filter_map(|o| Some((o.id.clone(), o.canonical.get("name")?.as_str()?.to_string())))
        .collect();
    observed.attached = super::network::foreign_attached(t, networks, &ours).await?;
    for ((service, list), converged) in containers.into_iter().zip(converged) {
        let id = ResourceId::new(ResourceKind::Service, service.clone());
        // Down for sure: every container exited (or dead). One still `created` may be in the
        // middle of its start, its published ports already bound (an apply killed there), and
        // a paused or restarting one holds them: not down.
        if list.iter().all(|c| {
            matches!(
                c.state,
                Some(ContainerSummaryStateEnum::EXITED | ContainerSummaryStateEnum::DEAD)
            )
        }) {
            observed.stopped.insert(id.clone());
        }
        let desired_spec = spec_of(&id);
        let first = &list[0];
        let first_labels = first.labels.clone().unwrap_or_default();
        let ours = list.len() == 1 && first_labels.contains_key(labels::HASH);
        let resource = match desired_spec {
            Some(spec) if !ours => {
                // Made by something else (docker-compose up), or duplicated: reconstruct what
                // it runs so the plan shows how it would be changed; it is then replaced.
                let inspect = inspect(t, &summary_name(first)).await?;
                let image_defaults = match inspect.config.as_ref().and_then(|c| c.image.clone()) {
                    Some(image) => t
                        .docker
                        .inspect_image(&image)
                        .await
                        .ok()
                        .and_then(|i| i.config),
                    None => None,
                };
                let mut canonical = reconstruct(
                    &id,
                    spec,
                    &inspect,
                    image_defaults.as_ref(),
                    stack,
                    &t.ctx.generated_dir,
                );
                if list.len() > 1
                    && let Value::Object(map) = &mut canonical
                {
                    map.insert(
                        "containers".into(),
                        Value::from(list.iter().map(summary_name).collect::<Vec<_>>()),
                    );
                }
                ObservedResource {
                    id: id.clone(),
                    hash: None,
                    canonical,
                    converged,
                }
            }
            _ => {
                // Updated in place since it was created: the record says what it runs now.
                let reloaded = fs_err::read(super::execute::reload_record(t, &service))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<super::execute::ReloadRecord>(&b).ok())
                    .filter(|rec| first.id.as_deref() == Some(rec.container.as_str()));
                let (hash, canonical) = match reloaded {
                    Some(rec) => (Some(rec.hash), rec.canonical),
                    None => (
                        first_labels.get(labels::HASH).cloned(),
                        first_labels
                            .get(labels::CANONICAL)
                            .and_then(|c| serde_json::from_str(c).ok())
                            .unwrap_or(Value::Null),
                    ),
                };
                ObservedResource {
                    id: id.clone(),
                    hash,
                    canonical,
                    converged,
                }
            }
        };
        observed.resources.insert(id, resource);
    }
    Ok(observed)
}
