//! InfluxDB initialisation: database / bucket and retention, and the scoped tokens of every
//! InfluxDB 2 API (the cloud's, or the stack's own InfluxDB 2): k6's write-only one and
//! Grafana's read-only one.
//!
//! Owns: the 1.x init script, shard durations, the token resources. May not: do IO or talk to
//! InfluxDB.

use std::collections::BTreeMap;

use crate::desired::{Resource, ResourceId, ResourceKind, ResourceSpec, TokenSpec};
use crate::manifest::{Manifest, duration};

/// Name of k6's token resource.
pub const K6_TOKEN_ID: &str = "k6-write";
/// Name of Grafana's token resource.
pub const GRAFANA_TOKEN_ID: &str = "grafana-read";

/// InfluxDB 1.x default shard-group duration for a retention (as `influxd` picks it), in the
/// spelling `SHOW RETENTION POLICIES` normalises to (`1h`, `24h`, `168h`).
pub fn shard_duration(retention: duration::Retention) -> String {
    let hours = match retention.seconds {
        Some(s) if s < 2 * 86_400 => 1,
        Some(s) if s <= 180 * 86_400 => 24,
        _ => 168,
    };
    format!("{hours}h")
}

/// The InfluxQL statements that initialise a 1.x database (no users: their passwords are
/// secrets and reach InfluxDB through the environment).
pub fn v1_statements(m: &Manifest) -> Vec<String> {
    let db = m.influxdb.bucket.as_str();
    let retention =
        duration::parse(&m.influxdb.retention).unwrap_or(duration::Retention { seconds: None });
    vec![
        format!("CREATE DATABASE \"{db}\""),
        format!(
            "ALTER RETENTION POLICY \"autogen\" ON \"{db}\" DURATION {} SHARD DURATION {} DEFAULT",
            retention.influxql(),
            shard_duration(retention)
        ),
    ]
}

/// `influxdb/init/retention.iql` for version 1 (run by the image's init hook and by apply).
pub fn v1_init(m: &Manifest, header: &str) -> String {
    let mut out = header.replace("# ", "-- ").replace("#\n", "--\n");
    for stmt in v1_statements(m) {
        out.push_str(&stmt);
        out.push_str(";\n");
    }
    out
}

/// A scoped token on the stack's bucket: `(resource name, action, .env variable)`.
fn token(
    m: &Manifest,
    (name, action, secret): (&str, &str, &str),
    what: &str,
    fingerprints: &BTreeMap<String, String>,
) -> Resource {
    let bucket = m.influxdb.bucket.as_str();
    Resource::new(
        ResourceId::new(ResourceKind::Token, name),
        vec![ResourceId::new(ResourceKind::Database, bucket)],
        ResourceSpec::Token(TokenSpec {
            description: format!("promo-infra {}: {what}", *m.stack),
            permissions: vec![format!("{action}:buckets/{bucket}")],
            secret: secret.to_string(),
        }),
        fingerprints,
    )
}

/// k6's write-only token on the stack's bucket, kept in `.env` as `secret` (every target with
/// an InfluxDB 2 API: the cloud's, or the stack's own InfluxDB 2).
pub fn k6_token(m: &Manifest, secret: &str, fingerprints: &BTreeMap<String, String>) -> Resource {
    token(
        m,
        (K6_TOKEN_ID, "write", secret),
        "k6 writes metrics",
        fingerprints,
    )
}

/// Grafana's read-only token on the stack's bucket, kept in `.env` as `secret` (every target with
/// an InfluxDB 2 API).
pub fn grafana_token(
    m: &Manifest,
    secret: &str,
    fingerprints: &BTreeMap<String, String>,
) -> Resource {
    token(
        m,
        (GRAFANA_TOKEN_ID, "read", secret),
        "Grafana reads metrics",
        fingerprints,
    )
}
