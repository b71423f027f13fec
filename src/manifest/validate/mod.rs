//! Semantic checks, run before anything touches disk or network. Every problem is reported
//! at once, each at the line and column of the value at fault.
//!
//! Owns: what a typed manifest may hold beyond its types (names, ranges, paths, ports, the
//! relations between keys). The checks of one value are in `rules`, the optional sections
//! (dashboards, alerting, backups, k6, targets) in `sections`.
//! May not: parse text, read files or the environment, print. What a check refuses, the JSON
//! Schema (`model`) refuses too where JSON Schema can say it; keep them in step
//! (`tests/it/schema_agreement.rs`).

mod image;
mod rules;
mod sections;

use std::collections::BTreeSet;

use super::{Environment, Manifest, Sp, cron, duration};
use crate::error::Problems;
use rules::{check_name, check_ports, check_url, is_plain, refuse};

/// Languages dashboards, alerts and the STOP page exist in.
pub const LOCALES: [&str; 2] = ["fr", "en"];

/// InfluxDB keeps durations as 64-bit nanoseconds: 2562047h is the largest whole number of hours.
const MAX_RETENTION_SECONDS: u64 = 2_562_047 * 3600;

/// Record every problem of `m` in `p`.
pub(super) fn check(p: &mut Problems<'_>, m: &Manifest, templates: &BTreeSet<String>) {
    check_stack_name(p, &m.stack);
    check_locale(p, "locale", &m.locale);
    check_influx(p, m);
    check_grafana(p, m);
    image::check_image(p, "control_api.image", &m.control_api.image);
    let mut ports: Vec<(&str, &Sp<u32>, &Sp<String>)> = vec![
        ("influxdb.port", &m.influxdb.port, &m.influxdb.bind),
        ("grafana.port", &m.grafana.port, &m.grafana.bind),
    ];
    if *m.control_api.enabled {
        ports.push(("control_api.port", &m.control_api.port, &m.control_api.bind));
    }
    check_ports(p, &ports);
    check_rpc_clash(p, m, &ports);
    sections::check_dashboards(p, m, templates);
    sections::check_alerting(p, m);
    sections::check_backup(p, m);
    sections::check_k6(p, m);
    sections::check_targets(p, m);
}

/// `backup.influx_rpc` as written (InfluxDB 1.x's RPC bind on the native target, a host
/// port there) must not be one of the service ports. Only an explicit value: the default
/// (`127.0.0.1:8088`) is InfluxDB's own, which the docker target never publishes, and `apply`'s
/// port pre-flight checks it on the native target.
fn check_rpc_clash(p: &mut Problems<'_>, m: &Manifest, ports: &[(&str, &Sp<u32>, &Sp<String>)]) {
    let Some(rpc) = m.backup.as_ref().map(|b| &b.influx_rpc) else {
        return;
    };
    if *m.influxdb.version != 1 || rpc.pos().is_none() {
        return;
    }
    let Some((host, port)) = rpc.rsplit_once(':') else {
        return;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: Option<std::net::IpAddr> = match host {
        "localhost" => Some(std::net::Ipv4Addr::LOCALHOST.into()),
        h => h.parse().ok(),
    };
    let (Some(ip), Ok(port)) = (ip, port.parse::<u32>()) else {
        return;
    };
    let clash = ports.iter().find(|(_, other, bind)| {
        ***other == port
            && bind
                .parse::<std::net::IpAddr>()
                .is_ok_and(|b| b == ip || b.is_unspecified() || ip.is_unspecified())
    });
    if let Some((key, _, _)) = clash {
        p.push(
            rpc.pos(),
            format!("backup.influx_rpc: port {port} is already used by {key}"),
            "port clash",
            Some(
                "give backup.influx_rpc a port of its own (InfluxDB binds it on the native target)"
                    .to_string(),
            ),
        );
    }
}

fn check_influx(p: &mut Problems<'_>, m: &Manifest) {
    let influx = &m.influxdb;
    if !matches!(*influx.version, 1 | 2) {
        refuse(
            p,
            &influx.version,
            format!("influxdb.version: {} is not supported", *influx.version),
            "must be 1 or 2",
            "use 2 (buckets, tokens, Flux) or 1 (databases, InfluxQL)",
        );
    }
    image::check_image(p, "influxdb.image", &influx.image);
    check_name(p, "influxdb.org", &influx.org);
    if check_name(p, "influxdb.bucket", &influx.bucket) {
        check_bucket(p, *influx.version, &influx.bucket);
    }
    check_name(p, "influxdb.admin_user", &influx.admin_user);
    let retention = &influx.retention;
    match duration::parse(retention) {
        Err(e) => refuse(
            p,
            retention,
            format!(
                "influxdb.retention: `{}` is not a duration: {e}",
                **retention
            ),
            "not a duration",
            "write e.g. `30d`, `12h`, `4w`, `1h30m` or `infinite`",
        ),
        Ok(r) if r.seconds.is_some_and(|s| s > MAX_RETENTION_SECONDS) => refuse(
            p,
            retention,
            format!(
                "influxdb.retention: `{}` is longer than InfluxDB's maximum of 2562047h (about 292 years)",
                **retention
            ),
            "too long",
            "InfluxDB stores durations as 64-bit nanoseconds; write at most `2562047h`, or `infinite` to keep data forever",
        ),
        Ok(r) if r.seconds.is_some_and(|s| s < 3600) => refuse(
            p,
            retention,
            format!(
                "influxdb.retention: `{}` is shorter than InfluxDB's minimum of 1h",
                **retention
            ),
            "too short",
            "use at least `1h`, or `infinite`",
        ),
        Ok(_) => {}
    }
}

fn check_grafana(p: &mut Problems<'_>, m: &Manifest) {
    let g = &m.grafana;
    image::check_image(p, "grafana.image", &g.image);
    check_name(p, "grafana.admin_user", &g.admin_user);
    if m.environment.get() == &Environment::Prod && g.admin_user.as_str() == "admin" {
        p.push(
            g.admin_user.pos().or(m.environment.pos()),
            "grafana.admin_user: `admin` is a default credential, refused for `environment: prod`",
            "default admin login",
            Some("set `grafana.admin_user` to a name of your own; its password is generated into .env".to_string()),
        );
    }
    for plugin in &g.plugins {
        if !is_plain(plugin, 100, "-_.", "-.") {
            refuse(
                p,
                plugin,
                format!(
                    "grafana.plugins: `{}` is not a plugin id",
                    plugin.escape_debug()
                ),
                "not a plugin id",
                "use the id from grafana.com, e.g. `grafana-clock-panel`",
            );
        }
    }
    let uids: Vec<&str> = m.dashboards.iter().map(|d| d.uid.as_str()).collect();
    if let Some(home) = &g.home_dashboard
        && !uids.contains(&home.as_str())
    {
        let hint = match super::load::closest(home, &uids) {
            Some(s) => format!(
                "did you mean `{s}`? Declared dashboards: {}",
                uids.join(", ")
            ),
            None => format!("declared dashboards: {}", uids.join(", ")),
        };
        refuse(
            p,
            home,
            format!("grafana.home_dashboard: no dashboard has uid `{}`", **home),
            "unknown dashboard",
            hint,
        );
    }
    if let Some(url) = &g.url {
        check_url(p, "grafana.url", url, false);
    }
}

/// What a valid name still cannot be as the bucket (database): a dot-led name (`.`, `..` are
/// path segments in the URLs the bucket goes into); on InfluxDB 2, a name InfluxDB reserves
/// (`_`-led: `_monitoring`, `_tasks`) or one holding `.<Flux macro>`, which Grafana 10.2
/// rewrites inside every Flux query of the dashboards and alerts
/// ([`crate::k6::testid::FLUX_MACROS`]); on 1.x, `_internal`, InfluxDB's own statistics.
fn check_bucket(p: &mut Problems<'_>, version: u8, bucket: &Sp<String>) {
    let why = if bucket.starts_with('.') {
        Some("a name starting with `.` is a path segment in the URLs it goes into".to_string())
    } else if version == 2 && bucket.starts_with('_') {
        Some("InfluxDB 2 reserves names starting with `_` for its system buckets".to_string())
    } else if version == 1 && bucket.as_str() == "_internal" {
        Some("`_internal` is InfluxDB's own statistics database".to_string())
    } else if version == 2 {
        crate::k6::testid::flux_macro_after_dot(bucket).map(|word| {
            format!("it contains `.{word}`, which Grafana 10.2 replaces inside every Flux query: the dashboards and alerts would read another bucket")
        })
    } else {
        None
    };
    if let Some(why) = why {
        refuse(
            p,
            bucket,
            format!(
                "influxdb.bucket: `{}` cannot be the bucket: {why}",
                **bucket
            ),
            "not usable as the bucket",
            "choose another name (letters, digits, `-`, `_`), e.g. `k6`",
        );
    }
}

fn check_stack_name(p: &mut Problems<'_>, name: &Sp<String>) {
    let ok = is_plain(name, 24, "-", "-")
        && !name.chars().any(|c| c.is_ascii_uppercase())
        && !name.ends_with('-');
    if !ok {
        let suggestion: String = name
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .trim_matches('-')
            .chars()
            .take(24)
            .collect();
        refuse(
            p,
            name,
            format!("stack: `{}` is not a valid stack name", **name),
            "must match [a-z0-9-], 1-24 characters",
            format!("the stack name prefixes containers and Grafana uids; try `{suggestion}`"),
        );
    }
}

fn check_locale(p: &mut Problems<'_>, key: &str, locale: &Sp<String>) {
    if !LOCALES.contains(&locale.as_str()) {
        refuse(
            p,
            locale,
            format!("{key}: `{}` is not a supported language", **locale),
            "unsupported language",
            "use `fr` or `en`",
        );
    }
}
