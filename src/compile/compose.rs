//! `docker-compose.yml`, serialized from the service specs.
//!
//! Owns: the compose file's shape. May not: do IO, or hold a secret value (only `${VAR}`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::escape;
use crate::desired::{EnvValue, MountSource, ServiceSpec};

#[derive(Serialize)]
struct Compose<'a> {
    services: BTreeMap<&'a str, Service>,
    networks: BTreeMap<&'a str, Empty>,
    volumes: BTreeMap<String, Empty>,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct Service {
    image: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    command: Vec<String>,
    restart: String,
    environment: BTreeMap<String, String>,
    ports: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<String>,
    networks: Vec<String>,
    healthcheck: Health,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    depends_on: BTreeMap<String, DependsOn>,
}

#[derive(Serialize)]
struct Health {
    test: Vec<String>,
    interval: String,
    timeout: String,
    retries: u32,
    start_period: String,
}

#[derive(Serialize)]
struct DependsOn {
    condition: &'static str,
}

/// How a secret is written in the compose file: a `${VAR}` reference that fails loudly when
/// `.env` lacks it (a token InfluxDB mints is there once `promo-infra apply` has minted it).
pub fn secret_ref(name: &str) -> String {
    if crate::secrets::is_minted(name) {
        format!("${{{name}:?is minted by promo-infra apply (not by generate)}}")
    } else {
        format!("${{{name}:?is not set in .env: see promo-infra secrets list}}")
    }
}

/// Render the compose file.
pub fn render(stack: &str, network: &str, services: &[ServiceSpec], header: &str) -> String {
    let header = format!(
        "{header}# The compose project is this directory's name; from elsewhere: docker compose -p {stack} -f <this file> up -d\n"
    );
    let mut volumes = BTreeMap::new();
    let mut out_services = BTreeMap::new();
    for s in services {
        let environment = s
            .env
            .iter()
            .chain(&s.init_env)
            .map(|(k, v)| {
                let value = match v {
                    EnvValue::Plain(p) => escape::compose(p),
                    EnvValue::Secret(name) => secret_ref(name),
                };
                (k.clone(), value)
            })
            .collect();
        let mounts = s
            .mounts
            .iter()
            .map(|m| {
                let source = match &m.source {
                    MountSource::Volume(v) => {
                        volumes.insert(v.clone(), Empty {});
                        v.clone()
                    }
                    MountSource::Generated(p) => format!("./{p}"),
                };
                let ro = if m.read_only { ":ro" } else { "" };
                escape::compose(&format!("{source}:{}{ro}", m.target))
            })
            .collect();
        out_services.insert(
            s.name.as_str(),
            Service {
                image: escape::compose(&s.image),
                command: s.command.iter().map(|c| escape::compose(c)).collect(),
                restart: s.restart.clone(),
                environment,
                ports: s
                    .ports
                    .iter()
                    .map(|p| {
                        escape::compose(&format!(
                            "{}:{}",
                            escape::host_port(&p.host_ip, p.host_port),
                            p.container_port
                        ))
                    })
                    .collect(),
                volumes: mounts,
                networks: vec![escape::compose(network)],
                healthcheck: Health {
                    test: s.health.test.iter().map(|t| escape::compose(t)).collect(),
                    interval: format!("{}s", s.health.interval_s),
                    timeout: format!("{}s", s.health.timeout_s),
                    retries: s.health.retries,
                    start_period: format!("{}s", s.health.start_period_s),
                },
                depends_on: s
                    .depends_on
                    .iter()
                    .map(|d| {
                        (
                            d.clone(),
                            DependsOn {
                                condition: "service_healthy",
                            },
                        )
                    })
                    .collect(),
            },
        );
    }
    let compose = Compose {
        services: out_services,
        networks: BTreeMap::from([(network, Empty {})]),
        volumes,
    };
    let body = serde_saphyr::to_string(&compose).unwrap_or_default();
    format!("{header}{body}")
}
