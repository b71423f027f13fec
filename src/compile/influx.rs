//! InfluxDB initialisation: database / bucket and retention.
//!
//! Owns: the 1.x init script and shard durations. May not: do IO or talk to InfluxDB.

use crate::manifest::{Manifest, duration};

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
