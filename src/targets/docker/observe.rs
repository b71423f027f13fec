//! Observe: the stack's network, volumes and containers, found by compose's project label (and
//! by name for networks and volumes made by hand), in the terms plan compares.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{ContainerInspectResponse, ContainerSummary, ContainerSummaryStateEnum};
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
};
use serde_json::Value;

use super::engine::{is_not_found, read_error};
use super::{DockerTarget, labels, secret_vars};
use crate::desired::{
    Desired, EnvValue, HealthSpec, MountSource, MountSpec, PortSpec, Resource, ResourceId,
    ResourceKind, ResourceSpec, ServiceSpec, sha256_hex,
};
use crate::error::Result;
use crate::plan::{Observed, ObservedResource};

/// The stack's containers, by compose service (one-off containers excluded).
pub async fn containers(t: &DockerTarget) -> Result<BTreeMap<String, Vec<ContainerSummary>>> {
    let filters = HashMap::from([(
        "label",
        vec![format!("{}={}", labels::PROJECT, t.ctx.stack)],
    )]);
    let list = t
        .docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| read_error("listing the stack's containers", e))?;
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

/// Whether a listed container runs and is healthy.
fn summary_converged(c: &ContainerSummary) -> bool {
    c.state == Some(ContainerSummaryStateEnum::RUNNING) && summary_health(c) == "healthy"
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
    let r = Resource::new(id.clone(), Vec::new(), spec, &BTreeMap::new());
    ObservedResource {
        id: id.clone(),
        hash: Some(r.hash),
        canonical: r.canonical,
        converged: true,
    }
}

/// Observe the stack.
pub async fn observe(t: &DockerTarget, desired: &Desired) -> Result<Observed> {
    let stack = t.ctx.stack.as_str();
    let filters = HashMap::from([("label", vec![format!("{}={stack}", labels::PROJECT)])]);
    let (containers, networks, volumes) = tokio::try_join!(
        containers(t),
        async {
            t.docker
                .list_networks(Some(
                    ListNetworksOptionsBuilder::new().filters(&filters).build(),
                ))
                .await
                .map_err(|e| read_error("listing the stack's networks", e))
        },
        async {
            t.docker
                .list_volumes(Some(
                    ListVolumesOptionsBuilder::new().filters(&filters).build(),
                ))
                .await
                .map_err(|e| read_error("listing the stack's volumes", e))
        },
    )?;
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
    for v in volumes.volumes.unwrap_or_default() {
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
    for o in found.into_iter().flatten() {
        observed.resources.insert(o.id.clone(), o);
    }

    for (service, list) in containers {
        let id = ResourceId::new(ResourceKind::Service, service.clone());
        let desired_spec = desired.resources.get(&id).and_then(|r| match &r.spec {
            ResourceSpec::Service(s) => Some(s.as_ref()),
            _ => None,
        });
        let first = &list[0];
        let first_labels = first.labels.clone().unwrap_or_default();
        let ours = list.len() == 1 && first_labels.contains_key(labels::HASH);
        let resource = match desired_spec {
            Some(spec) if !ours => {
                // Made by something else (docker-compose up), or duplicated: reconstruct what
                // it runs so the plan shows how it would be changed; it is then replaced.
                let name = summary_name(first);
                let inspect = t
                    .docker
                    .inspect_container(&name, None)
                    .await
                    .map_err(|e| read_error(&format!("inspecting container {name}"), e))?;
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
                    converged: list.len() == 1 && summary_converged(first),
                }
            }
            _ => ObservedResource {
                id: id.clone(),
                hash: first_labels.get(labels::HASH).cloned(),
                canonical: first_labels
                    .get(labels::CANONICAL)
                    .and_then(|c| serde_json::from_str(c).ok())
                    .unwrap_or(Value::Null),
                converged: list.len() == 1 && summary_converged(first),
            },
        };
        observed.resources.insert(id, resource);
    }
    observe_databases(t, desired, &mut observed).await?;
    Ok(observed)
}

/// The host endpoint of the stack's InfluxDB (its published port), when declared.
pub fn influx_endpoint(desired: &Desired) -> Option<crate::influx::Endpoint> {
    let id = ResourceId::new(ResourceKind::Service, "influxdb");
    let ResourceSpec::Service(s) = &desired.resources.get(&id)?.spec else {
        return None;
    };
    let p = s.ports.first()?;
    let host = if p.host_ip == "0.0.0.0" || p.host_ip.is_empty() {
        "127.0.0.1"
    } else {
        p.host_ip.as_str()
    };
    Some(crate::influx::Endpoint {
        url: format!("http://{host}:{}", p.host_port),
    })
}

/// Databases (InfluxDB database/bucket, retention, users) are observed over InfluxDB's HTTP API
/// when its container runs; otherwise they count as absent (apply creates them idempotently
/// once InfluxDB is healthy).
async fn observe_databases(
    t: &DockerTarget,
    desired: &Desired,
    observed: &mut Observed,
) -> Result<()> {
    let influx_id = ResourceId::new(ResourceKind::Service, "influxdb");
    let running = observed
        .resources
        .get(&influx_id)
        .is_some_and(|o| o.converged);
    let Some(ep) = influx_endpoint(desired) else {
        return Ok(());
    };
    if !running {
        return Ok(());
    }
    for r in desired.resources.values() {
        if let ResourceSpec::Database(spec) = &r.spec {
            match crate::influx::observe(&ep, spec, &t.ctx.secrets).await {
                Ok(Some(found)) => {
                    observed
                        .resources
                        .insert(r.id.clone(), crate::influx::observed_resource(&r.id, found));
                }
                Ok(None) => {}
                // Not answering yet (starting): absent for now; apply converges it.
                Err(crate::error::Error::Transient { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Rebuild a service's canonical form from `docker inspect`, in the terms of the desired spec
/// (which variables are secrets, which mounts are generated files), so plan can diff it.
pub fn reconstruct(
    id: &ResourceId,
    want: &ServiceSpec,
    c: &ContainerInspectResponse,
    image: Option<&bollard::models::ImageConfig>,
    stack: &str,
    generated_dir: &std::path::Path,
) -> Value {
    let config = c.config.clone().unwrap_or_default();
    let host = c.host_config.clone().unwrap_or_default();
    let image_env: Vec<String> = image.and_then(|i| i.env.clone()).unwrap_or_default();
    let secrets = secret_vars(want);
    let mut fingerprints = BTreeMap::new();
    let mut env = BTreeMap::new();
    for kv in config.env.unwrap_or_default() {
        let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
        if !want.env.contains_key(k) && image_env.contains(&kv) {
            continue; // the image's own default, not part of the service's configuration
        }
        match secrets.get(k) {
            Some(name) => {
                fingerprints.insert(name.to_string(), sha256_hex(v.as_bytes()));
                env.insert(k.to_string(), EnvValue::Secret(name.to_string()));
            }
            None => {
                env.insert(k.to_string(), EnvValue::Plain(v.to_string()));
            }
        }
    }
    let image_cmd = image.and_then(|i| i.cmd.clone()).unwrap_or_default();
    let cmd = config.cmd.unwrap_or_default();
    let command = if cmd == image_cmd && want.command.is_empty() {
        Vec::new()
    } else {
        cmd
    };
    let mut ports: Vec<PortSpec> = Vec::new();
    for (key, bindings) in host.port_bindings.unwrap_or_default() {
        let container_port = key
            .split('/')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        for b in bindings.unwrap_or_default() {
            ports.push(PortSpec {
                host_ip: b
                    .host_ip
                    .filter(|h| !h.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".into()),
                host_port: b.host_port.and_then(|p| p.parse().ok()).unwrap_or(0),
                container_port,
            });
        }
    }
    let port_rank = |p: &PortSpec| {
        want.ports
            .iter()
            .position(|w| w.container_port == p.container_port)
            .unwrap_or(usize::MAX)
    };
    ports.sort_by_key(|p| (port_rank(p), p.container_port, p.host_port));
    let mut mounts: Vec<MountSpec> = c
        .mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let source = m.source.unwrap_or_default();
            let is_volume = m.typ.as_deref() == Some("volume");
            let source = if is_volume {
                let name = m.name.unwrap_or(source);
                MountSource::Volume(
                    name.strip_prefix(&format!("{stack}_"))
                        .unwrap_or(&name)
                        .to_string(),
                )
            } else {
                let path = std::path::Path::new(&source);
                MountSource::Generated(
                    path.strip_prefix(generated_dir)
                        .map_or_else(|_| source.clone(), |rel| rel.display().to_string()),
                )
            };
            MountSpec {
                source,
                target: m.destination.unwrap_or_default(),
                read_only: !m.rw.unwrap_or(true),
            }
        })
        .collect();
    let mount_rank = |m: &MountSpec| {
        want.mounts
            .iter()
            .position(|w| w.target == m.target)
            .unwrap_or(usize::MAX)
    };
    mounts.sort_by(|a, b| {
        mount_rank(a)
            .cmp(&mount_rank(b))
            .then(a.target.cmp(&b.target))
    });
    let ns = |v: Option<i64>| u32::try_from(v.unwrap_or(0) / 1_000_000_000).unwrap_or(0);
    let health = config.healthcheck.map_or(
        HealthSpec {
            test: Vec::new(),
            interval_s: 0,
            timeout_s: 0,
            retries: 0,
            start_period_s: 0,
        },
        |h| HealthSpec {
            test: h.test.unwrap_or_default(),
            interval_s: ns(h.interval),
            timeout_s: ns(h.timeout),
            retries: u32::try_from(h.retries.unwrap_or(0)).unwrap_or(0),
            start_period_s: ns(h.start_period),
        },
    );
    let restart = host
        .restart_policy
        .and_then(|r| r.name)
        .map_or_else(|| "no".to_string(), |n| n.to_string());
    let spec = ServiceSpec {
        name: want.name.clone(),
        image: config.image.unwrap_or_default(),
        command,
        env,
        ports,
        mounts,
        health,
        // Not visible on a container: taken as declared.
        depends_on: want.depends_on.clone(),
        restart,
        // Bind mounts are live: the container sees the files as they are now.
        config_digest: want.config_digest.clone(),
    };
    Resource::new(
        id.clone(),
        Vec::new(),
        ResourceSpec::Service(Box::new(spec)),
        &fingerprints,
    )
    .canonical
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use serde_json::json;

    use super::*;

    fn want() -> ServiceSpec {
        ServiceSpec {
            name: "influxdb".into(),
            image: "influxdb:1.8".into(),
            command: Vec::new(),
            env: BTreeMap::from([
                ("A".to_string(), EnvValue::Plain("1".into())),
                ("PW".to_string(), EnvValue::Secret("PW_SECRET".into())),
            ]),
            ports: vec![PortSpec {
                host_ip: "127.0.0.1".into(),
                host_port: 8087,
                container_port: 8086,
            }],
            mounts: vec![
                MountSpec {
                    source: MountSource::Volume("data".into()),
                    target: "/var/lib/influxdb".into(),
                    read_only: false,
                },
                MountSpec {
                    source: MountSource::Generated("influxdb/init".into()),
                    target: "/docker-entrypoint-initdb.d".into(),
                    read_only: true,
                },
            ],
            health: HealthSpec {
                test: vec![
                    "CMD-SHELL".into(),
                    "wget -q http://127.0.0.1:8086/ping".into(),
                ],
                interval_s: 5,
                timeout_s: 3,
                retries: 12,
                start_period_s: 5,
            },
            depends_on: Vec::new(),
            restart: "unless-stopped".into(),
            config_digest: BTreeMap::from([("influxdb/init".to_string(), "abc".to_string())]),
        }
    }

    /// What `docker inspect` shows for a container docker-compose 1.29 made from the file.
    fn inspect(host_port: &str) -> ContainerInspectResponse {
        serde_json::from_value(json!({
            "Config": {
                "Image": "influxdb:1.8",
                "Cmd": ["influxd"],
                "Env": ["PW=s3cret", "A=1", "PATH=/usr/bin:/bin"],
                "Healthcheck": {"Test": ["CMD-SHELL", "wget -q http://127.0.0.1:8086/ping"],
                    "Interval": 5_000_000_000i64, "Timeout": 3_000_000_000i64, "Retries": 12,
                    "StartPeriod": 5_000_000_000i64}
            },
            "HostConfig": {
                "PortBindings": {"8086/tcp": [{"HostIp": "127.0.0.1", "HostPort": host_port}]},
                "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0}
            },
            "Mounts": [
                {"Type": "bind", "Source": "/p/generated/s/influxdb/init",
                 "Destination": "/docker-entrypoint-initdb.d", "Mode": "ro", "RW": false},
                {"Type": "volume", "Name": "s_data", "Source": "/var/lib/docker/volumes/s_data/_data",
                 "Destination": "/var/lib/influxdb", "Driver": "local", "Mode": "rw", "RW": true}
            ]
        }))
        .expect("inspect json")
    }

    fn image() -> bollard::models::ImageConfig {
        serde_json::from_value(json!({"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["influxd"]}))
            .expect("image json")
    }

    #[test]
    fn a_compose_made_container_reconstructs_to_the_desired_canonical_form() {
        let id = ResourceId::new(ResourceKind::Service, "influxdb");
        let got = reconstruct(
            &id,
            &want(),
            &inspect("8087"),
            Some(&image()),
            "s",
            Path::new("/p/generated/s"),
        );
        let fingerprints = BTreeMap::from([("PW_SECRET".to_string(), sha256_hex(b"s3cret"))]);
        let expected = Resource::new(
            id,
            Vec::new(),
            ResourceSpec::Service(Box::new(want())),
            &fingerprints,
        );
        assert_eq!(got, expected.canonical);
        assert!(
            !got.to_string().contains("s3cret"),
            "no secret value in the canonical form"
        );
    }

    #[test]
    fn a_differing_field_shows_in_the_diff_and_secrets_stay_sensitive() {
        let id = ResourceId::new(ResourceKind::Service, "influxdb");
        let got = reconstruct(
            &id,
            &want(),
            &inspect("9999"),
            Some(&image()),
            "s",
            Path::new("/p/generated/s"),
        );
        let want_r = Resource::new(
            id,
            Vec::new(),
            ResourceSpec::Service(Box::new(want())),
            &BTreeMap::from([("PW_SECRET".to_string(), "other".to_string())]),
        );
        let changes = crate::plan::diff(&got, &want_r.canonical);
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec!["env.PW", "ports[0].host_port"], "{changes:?}");
        assert!(changes[0].sensitive && changes[0].before.is_none());
        assert_eq!(changes[1].before.as_deref(), Some("9999"));
    }
}
