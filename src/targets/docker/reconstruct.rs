//! Reconstruct a container's configuration from `docker inspect`, in the terms of the desired
//! spec, so a container made by docker-compose (or an older promo-infra) can be diffed.
//!
//! Owns: the mapping from an inspected container back to a [`ServiceSpec`]'s canonical form.
//! May not: talk to the engine (it is given the inspect output), print, or read the environment.

use std::collections::BTreeMap;

use bollard::models::ContainerInspectResponse;
use serde_json::Value;

use super::secret_vars;
use crate::desired::{
    EnvValue, HealthSpec, MountSource, MountSpec, PortSpec, Resource, ResourceId, ResourceSpec,
    ServiceSpec, sha256_hex,
};

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
        if want.init_env.contains_key(k) {
            continue; // first-start setup, not part of the content hash
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
    let health = config
        .healthcheck
        .map_or_else(HealthSpec::default, |h| HealthSpec {
            test: h.test.unwrap_or_default(),
            interval_s: ns(h.interval),
            timeout_s: ns(h.timeout),
            retries: u32::try_from(h.retries.unwrap_or(0)).unwrap_or(0),
            start_period_s: ns(h.start_period),
        });
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
        reload_digest: want.reload_digest.clone(),
        init_env: BTreeMap::new(),
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
    use crate::desired::ResourceKind;

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
            reload_digest: BTreeMap::new(),
            init_env: BTreeMap::new(),
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

    fn reconstructed(host_port: &str) -> (ResourceId, Value) {
        let id = ResourceId::new(ResourceKind::Service, "influxdb");
        let got = reconstruct(
            &id,
            &want(),
            &inspect(host_port),
            Some(&image()),
            "s",
            Path::new("/p/generated/s"),
        );
        (id, got)
    }

    #[test]
    fn a_compose_made_container_reconstructs_to_the_desired_canonical_form() {
        let (id, got) = reconstructed("8087");
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
        let (id, got) = reconstructed("9999");
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
