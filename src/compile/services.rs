//! The stack's services (InfluxDB, Grafana, control API) as target-neutral specs. The compose
//! file and the docker target are both derived from these, so they cannot disagree.
//!
//! Owns: the service specs and the URLs people use to reach Grafana and the control API.
//! May not: do IO, read the environment, or know secret values (only their names).

use std::collections::BTreeMap;

use crate::desired::{EnvValue, HealthSpec, MountSource, MountSpec, PortSpec, ServiceSpec};
use crate::manifest::{Manifest, duration};
use crate::secrets;

/// Container port of InfluxDB.
pub const INFLUX_PORT: u16 = 8086;
/// Container port of Grafana.
pub const GRAFANA_PORT: u16 = 3000;
/// Container port of the control API.
pub const CONTROL_PORT: u16 = 5000;
/// Named volume holding InfluxDB data.
pub const INFLUX_VOLUME: &str = "influxdb-data";
/// Named volume holding Grafana's database.
pub const GRAFANA_VOLUME: &str = "grafana-data";
/// InfluxDB 1.x user Grafana reads with.
pub const INFLUX_V1_READ_USER: &str = "grafana";
/// InfluxDB 1.x user k6 writes with.
pub const INFLUX_V1_WRITE_USER: &str = "k6";

fn plain(s: impl Into<String>) -> EnvValue {
    EnvValue::Plain(s.into())
}
fn secret(s: &str) -> EnvValue {
    EnvValue::Secret(s.into())
}

fn wget_health(port: u16, path: &str, start_period_s: u32) -> HealthSpec {
    HealthSpec {
        test: vec![
            "CMD-SHELL".into(),
            format!("wget -q -O /dev/null http://127.0.0.1:{port}{path} || exit 1"),
        ],
        interval_s: 5,
        timeout_s: 3,
        retries: 12,
        start_period_s,
    }
}

fn port(host_ip: &str, host_port: u32, container_port: u16) -> PortSpec {
    PortSpec {
        host_ip: host_ip.to_string(),
        host_port: u16::try_from(host_port).unwrap_or(0),
        container_port,
    }
}

/// Grafana's public URL: the manifest's, or where its port is published.
pub fn grafana_url(m: &Manifest) -> String {
    m.grafana.url.as_ref().map_or_else(
        || browser_url(&m.grafana.bind, *m.grafana.port),
        |u| u.trim_end_matches('/').to_string(),
    )
}

/// Environment variables from `(name, value)` pairs.
fn vars<const N: usize>(pairs: [(&str, EnvValue); N]) -> BTreeMap<String, EnvValue> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A service with the stack's defaults: the image's own command, no environment, ports, mounts,
/// health check or dependencies, restarted unless stopped; compile adds the config digests.
fn base(name: &str, image: &str) -> ServiceSpec {
    ServiceSpec {
        name: name.into(),
        image: image.into(),
        command: Vec::new(),
        env: BTreeMap::new(),
        ports: Vec::new(),
        mounts: Vec::new(),
        health: HealthSpec::default(),
        depends_on: Vec::new(),
        restart: "unless-stopped".into(),
        config_digest: BTreeMap::new(),
        reload_digest: BTreeMap::new(),
        init_env: BTreeMap::new(),
    }
}

/// A named volume of the stack mounted read-write at `target`.
fn volume_mount(volume: &str, target: &str) -> MountSpec {
    MountSpec {
        source: MountSource::Volume(volume.into()),
        target: target.into(),
        read_only: false,
    }
}

/// A generated directory (under `generated/<stack>/`) mounted read-only at `target`.
fn generated_mount(rel: &str, target: &str) -> MountSpec {
    MountSpec {
        source: MountSource::Generated(rel.into()),
        target: target.into(),
        read_only: true,
    }
}

/// The URL a browser on this machine uses for a service bound to `bind`.
fn browser_url(bind: &str, port: u32) -> String {
    crate::net::url(bind, super::valid_port(port), crate::net::Audience::Browser)
}

/// The control API's URL as seen from a browser on the host.
pub fn control_api_url(m: &Manifest) -> String {
    browser_url(&m.control_api.bind, *m.control_api.port)
}

/// Every service of the stack, sorted by name.
pub fn services(m: &Manifest) -> Vec<ServiceSpec> {
    let mut out = vec![influxdb(m), grafana(m)];
    if *m.control_api.enabled {
        out.push(control_api(m));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn influxdb(m: &Manifest) -> ServiceSpec {
    let i = &m.influxdb;
    let retention = duration::parse(&i.retention).unwrap_or(duration::Retention { seconds: None });
    let mut env = BTreeMap::new();
    let (data_path, health, mut mounts) = if *i.version == 2 {
        env.extend(vars([
            ("DOCKER_INFLUXDB_INIT_MODE", plain("setup")),
            (
                "DOCKER_INFLUXDB_INIT_USERNAME",
                plain(i.admin_user.as_str()),
            ),
            (
                "DOCKER_INFLUXDB_INIT_PASSWORD",
                secret(secrets::INFLUX_ADMIN_PASSWORD),
            ),
            ("DOCKER_INFLUXDB_INIT_ORG", plain(i.org.as_str())),
            ("DOCKER_INFLUXDB_INIT_BUCKET", plain(i.bucket.as_str())),
            (
                "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN",
                secret(secrets::INFLUX_ADMIN_TOKEN),
            ),
            ("INFLUXD_REPORTING_DISABLED", plain("true")),
        ]));
        let health = HealthSpec {
            test: vec!["CMD".into(), "influx".into(), "ping".into()],
            interval_s: 5,
            timeout_s: 3,
            retries: 12,
            start_period_s: 10,
        };
        ("/var/lib/influxdb2", health, Vec::new())
    } else {
        env.extend(vars([
            ("INFLUXDB_DB", plain(i.bucket.as_str())),
            ("INFLUXDB_HTTP_AUTH_ENABLED", plain("true")),
            ("INFLUXDB_ADMIN_USER", plain(i.admin_user.as_str())),
            (
                "INFLUXDB_ADMIN_PASSWORD",
                secret(secrets::INFLUX_ADMIN_PASSWORD),
            ),
            ("INFLUXDB_READ_USER", plain(INFLUX_V1_READ_USER)),
            (
                "INFLUXDB_READ_USER_PASSWORD",
                secret(secrets::INFLUX_V1_READ_PASSWORD),
            ),
            ("INFLUXDB_WRITE_USER", plain(INFLUX_V1_WRITE_USER)),
            (
                "INFLUXDB_WRITE_USER_PASSWORD",
                secret(secrets::INFLUX_V1_WRITE_PASSWORD),
            ),
            ("INFLUXDB_REPORTING_DISABLED", plain("true")),
        ]));
        let mounts = vec![generated_mount(
            "influxdb/init",
            "/docker-entrypoint-initdb.d",
        )];
        (
            "/var/lib/influxdb",
            wget_health(INFLUX_PORT, "/ping", 5),
            mounts,
        )
    };
    mounts.insert(0, volume_mount(INFLUX_VOLUME, data_path));
    // The retention of the first start only: the database resource converges it afterwards, so a
    // retention change is an update of the database, not a new container.
    let init_env = if *i.version == 2 {
        vars([(
            "DOCKER_INFLUXDB_INIT_RETENTION",
            plain(retention.go_duration()),
        )])
    } else {
        BTreeMap::new()
    };
    ServiceSpec {
        env,
        init_env,
        ports: vec![port(&i.bind, *i.port, INFLUX_PORT)],
        mounts,
        health,
        ..base("influxdb", &i.image)
    }
}

fn grafana(m: &Manifest) -> ServiceSpec {
    let g = &m.grafana;
    let mut env = BTreeMap::new();
    env.extend(vars([
        ("GF_SECURITY_ADMIN_USER", plain(g.admin_user.as_str())),
        (
            "GF_SECURITY_ADMIN_PASSWORD",
            secret(secrets::GRAFANA_ADMIN_PASSWORD),
        ),
        (
            "GF_SECURITY_SECRET_KEY",
            secret(secrets::GRAFANA_SECRET_KEY),
        ),
        ("GF_AUTH_ANONYMOUS_ENABLED", plain("false")),
        ("GF_USERS_ALLOW_SIGN_UP", plain("false")),
        ("GF_ANALYTICS_REPORTING_ENABLED", plain("false")),
        ("GF_ANALYTICS_CHECK_FOR_UPDATES", plain("false")),
        ("GF_SERVER_ROOT_URL", plain(grafana_url(m))),
    ]));
    if !g.plugins.is_empty() {
        let list: Vec<&str> = g.plugins.iter().map(|p| p.as_str()).collect();
        env.insert("GF_INSTALL_PLUGINS".into(), plain(list.join(",")));
    }
    // Secrets the provisioning files interpolate (`$VAR`): values reach Grafana through its
    // environment, never through a file.
    if *m.influxdb.version == 2 {
        env.insert(
            secrets::INFLUX_GRAFANA_TOKEN.into(),
            secret(secrets::INFLUX_GRAFANA_TOKEN),
        );
    } else {
        env.insert(
            secrets::INFLUX_V1_READ_PASSWORD.into(),
            secret(secrets::INFLUX_V1_READ_PASSWORD),
        );
    }
    if let Some(slack) = m.alerting.as_ref().and_then(|a| a.slack.as_ref()) {
        env.insert(
            slack.webhook_url_env.to_string(),
            secret(&slack.webhook_url_env),
        );
    }
    ServiceSpec {
        command: Vec::new(),
        env,
        ports: vec![port(&g.bind, *g.port, GRAFANA_PORT)],
        mounts: vec![
            volume_mount(GRAFANA_VOLUME, "/var/lib/grafana"),
            generated_mount("grafana/provisioning", "/etc/grafana/provisioning"),
        ],
        health: wget_health(GRAFANA_PORT, "/api/health", 10),
        depends_on: vec!["influxdb".into()],
        ..base("grafana", &g.image)
    }
}

fn control_api(m: &Manifest) -> ServiceSpec {
    let c = &m.control_api;
    let mut env = BTreeMap::new();
    env.extend(vars([
        (
            secrets::CONTROL_API_TOKEN,
            secret(secrets::CONTROL_API_TOKEN),
        ),
        (
            secrets::CONTROL_API_STOP_PASSWORD,
            secret(secrets::CONTROL_API_STOP_PASSWORD),
        ),
        ("PROMO_INFRA_CORS_ORIGIN", plain(grafana_url(m))),
        (
            "PROMO_INFRA_GRAFANA_URL",
            plain(format!("http://grafana:{GRAFANA_PORT}")),
        ),
    ]));
    // Credentials of the "stopped by hand" annotation the control API posts to Grafana.
    env.extend(vars([
        (
            "PROMO_INFRA_GRAFANA_USER",
            plain(m.grafana.admin_user.as_str()),
        ),
        (
            secrets::GRAFANA_ADMIN_PASSWORD,
            secret(secrets::GRAFANA_ADMIN_PASSWORD),
        ),
        ("PROMO_INFRA_LOCALE", plain(m.locale.as_str())),
        ("PROMO_INFRA_STACK", plain(m.stack.as_str())),
    ]));
    ServiceSpec {
        command: vec![
            "control-api".into(),
            "--listen".into(),
            format!("0.0.0.0:{CONTROL_PORT}"),
        ],
        env,
        ports: vec![port(&c.bind, *c.port, CONTROL_PORT)],
        health: wget_health(CONTROL_PORT, "/health", 2),
        depends_on: vec!["grafana".into()],
        ..base("control-api", &c.image)
    }
}
