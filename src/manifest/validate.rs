//! Semantic checks, run before anything touches disk or network. Every problem is reported
//! at once, each at the line and column of the value at fault.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::{Environment, Manifest, Sp, cron, duration};
use crate::error::{ManifestErrors, Problems, Source};

/// Languages dashboards, alerts and the STOP page exist in.
pub const LOCALES: [&str; 2] = ["fr", "en"];

/// Validate a parsed manifest. `templates` lists the dashboard templates that exist.
pub fn validate(
    manifest: &Manifest,
    source: &Source,
    templates: &BTreeSet<String>,
) -> Result<(), ManifestErrors> {
    let mut p = Problems::new(source);
    let m = manifest;

    check_stack_name(&mut p, &m.stack);
    check_locale(&mut p, "locale", &m.locale);

    // InfluxDB
    if !matches!(*m.influxdb.version, 1 | 2) {
        p.push(
            m.influxdb.version.pos(),
            format!("influxdb.version: {} is not supported", *m.influxdb.version),
            "must be 1 or 2",
            Some("use 2 (buckets, tokens, Flux) or 1 (databases, InfluxQL)".to_string()),
        );
    }
    check_image(&mut p, "influxdb.image", &m.influxdb.image);
    check_name(&mut p, "influxdb.org", &m.influxdb.org);
    check_name(&mut p, "influxdb.bucket", &m.influxdb.bucket);
    check_name(&mut p, "influxdb.admin_user", &m.influxdb.admin_user);
    match duration::parse(&m.influxdb.retention) {
        Err(e) => p.push(
            m.influxdb.retention.pos(),
            format!(
                "influxdb.retention: `{}` is not a duration: {e}",
                *m.influxdb.retention
            ),
            "not a duration",
            Some("write e.g. `30d`, `12h`, `4w`, `1h30m` or `infinite`".to_string()),
        ),
        Ok(r) if r.seconds.is_some_and(|s| s > MAX_RETENTION_SECONDS) => p.push(
            m.influxdb.retention.pos(),
            format!(
                "influxdb.retention: `{}` is longer than InfluxDB's maximum of 2562047h (about 292 years)",
                *m.influxdb.retention
            ),
            "too long",
            Some("InfluxDB stores durations as 64-bit nanoseconds; write at most `2562047h`, or `infinite` to keep data forever".to_string()),
        ),
        Ok(r) if r.seconds.is_some_and(|s| s < 3600) => p.push(
            m.influxdb.retention.pos(),
            format!(
                "influxdb.retention: `{}` is shorter than InfluxDB's minimum of 1h",
                *m.influxdb.retention
            ),
            "too short",
            Some("use at least `1h`, or `infinite`".to_string()),
        ),
        Ok(_) => {}
    }

    // Grafana
    check_image(&mut p, "grafana.image", &m.grafana.image);
    check_name(&mut p, "grafana.admin_user", &m.grafana.admin_user);
    if m.environment.get() == &Environment::Prod && m.grafana.admin_user.as_str() == "admin" {
        p.push(
            m.grafana.admin_user.pos().or(m.environment.pos()),
            "grafana.admin_user: `admin` is a default credential, refused for `environment: prod`",
            "default admin login",
            Some("set `grafana.admin_user` to a name of your own; its password is generated into .env".to_string()),
        );
    }
    for plugin in &m.grafana.plugins {
        if plugin.is_empty()
            || plugin.len() > 100
            || plugin.starts_with(['-', '.'])
            || !plugin
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            p.push(
                plugin.pos(),
                format!(
                    "grafana.plugins: `{}` is not a plugin id",
                    plugin.escape_debug()
                ),
                "not a plugin id",
                Some("use the id from grafana.com, e.g. `grafana-clock-panel`".to_string()),
            );
        }
    }
    let uids: Vec<&str> = m.dashboards.iter().map(|d| d.uid.as_str()).collect();
    if let Some(home) = &m.grafana.home_dashboard
        && !uids.contains(&home.as_str())
    {
        let hint = match super::load::closest(home, &uids) {
            Some(s) => format!(
                "did you mean `{s}`? Declared dashboards: {}",
                uids.join(", ")
            ),
            None => format!("declared dashboards: {}", uids.join(", ")),
        };
        p.push(
            home.pos(),
            format!("grafana.home_dashboard: no dashboard has uid `{}`", **home),
            "unknown dashboard",
            Some(hint),
        );
    }
    if let Some(url) = &m.grafana.url {
        check_url(&mut p, "grafana.url", url, false);
    }

    // Control API
    check_image(&mut p, "control_api.image", &m.control_api.image);

    // Ports and addresses
    let mut ports: Vec<(&str, &Sp<u32>, &Sp<String>)> = vec![
        ("influxdb.port", &m.influxdb.port, &m.influxdb.bind),
        ("grafana.port", &m.grafana.port, &m.grafana.bind),
    ];
    if *m.control_api.enabled {
        ports.push(("control_api.port", &m.control_api.port, &m.control_api.bind));
    }
    check_ports(&mut p, &ports);

    // Dashboards
    let mut seen: BTreeMap<&str, &Sp<String>> = BTreeMap::new();
    for (i, d) in m.dashboards.iter().enumerate() {
        let key = format!("dashboards[{i}]");
        let uid = d.uid.as_str();
        if uid.is_empty()
            || uid.len() > 40
            || !uid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            p.push(
                d.uid.pos(),
                format!("{key}.uid: `{uid}` is not a valid Grafana uid"),
                "invalid uid",
                Some("use 1-40 characters among letters, digits, `-` and `_`".to_string()),
            );
        }
        if let Some(first) = seen.insert(uid, &d.uid) {
            let at = first
                .pos()
                .map(|p| format!(" (first at line {})", p.line))
                .unwrap_or_default();
            p.push(
                d.uid.pos(),
                format!("{key}.uid: `{uid}` is declared twice{at}"),
                "duplicate uid",
                Some("every dashboard needs its own uid".to_string()),
            );
        }
        if !templates.contains(d.template.as_str()) {
            let known: Vec<&str> = templates.iter().map(String::as_str).collect();
            let hint = match super::load::closest(&d.template, &known) {
                Some(s) => format!("did you mean `{s}`? Templates: {}", known.join(", ")),
                None => format!(
                    "templates are dashboards-src/<name>.json.hbs; found: {}",
                    known.join(", ")
                ),
            };
            p.push(
                d.template.pos(),
                format!("{key}.template: no template named `{}`", *d.template),
                "unknown template",
                Some(hint),
            );
        }
        if let Some(title) = &d.title {
            if title.trim().is_empty() {
                p.push(
                    title.pos(),
                    format!("{key}.title is empty"),
                    "empty title",
                    None,
                );
            } else {
                check_text(&mut p, &format!("{key}.title"), title, 200);
            }
        }
        if let Some(locale) = &d.locale {
            check_locale(&mut p, &format!("{key}.locale"), locale);
        }
        let t = &d.thresholds;
        for (name, v, max) in [
            ("p95_ok_ms", &t.p95_ok_ms, f64::MAX),
            ("p95_warn_ms", &t.p95_warn_ms, f64::MAX),
            ("error_ok_pct", &t.error_ok_pct, 100.0),
            ("error_warn_pct", &t.error_warn_pct, 100.0),
        ] {
            if !v.is_finite() || **v <= 0.0 || **v > max {
                p.push(
                    v.pos(),
                    format!("{key}.thresholds.{name}: {} is out of range", **v),
                    "out of range",
                    Some(
                        if max == 100.0 {
                            "a percentage above 0 and at most 100"
                        } else {
                            "a positive number of milliseconds"
                        }
                        .to_string(),
                    ),
                );
            }
        }
        for (ok_name, ok, warn_name, warn) in [
            ("p95_ok_ms", &t.p95_ok_ms, "p95_warn_ms", &t.p95_warn_ms),
            (
                "error_ok_pct",
                &t.error_ok_pct,
                "error_warn_pct",
                &t.error_warn_pct,
            ),
        ] {
            if **ok >= **warn {
                p.push(
                    warn.pos().or(ok.pos()),
                    format!(
                        "{key}.thresholds: {warn_name} ({}) must be greater than {ok_name} ({})",
                        **warn, **ok
                    ),
                    "not above the ok value",
                    Some(
                        "green < ok <= orange < warn <= red: the warn value must be the larger one"
                            .to_string(),
                    ),
                );
            }
        }
    }

    // Alerting
    if let Some(alerting) = &m.alerting {
        if let Some(slack) = &alerting.slack {
            check_secret_env(
                &mut p,
                "alerting.slack.webhook_url_env",
                &slack.webhook_url_env,
            );
            if let Some(channel) = &slack.channel {
                if channel.trim().is_empty() {
                    p.push(
                        channel.pos(),
                        "alerting.slack.channel is empty",
                        "empty",
                        None,
                    );
                } else {
                    check_text(&mut p, "alerting.slack.channel", channel, 80);
                }
            }
        }
        let r = &alerting.rules;
        if !(r.error_rate_critical_pct.is_finite()
            && *r.error_rate_critical_pct > 0.0
            && *r.error_rate_critical_pct <= 100.0)
        {
            p.push(
                r.error_rate_critical_pct.pos(),
                format!(
                    "alerting.rules.error_rate_critical_pct: {} is out of range",
                    *r.error_rate_critical_pct
                ),
                "out of range",
                Some("a percentage above 0 and at most 100".to_string()),
            );
        }
        if !(r.p95_warning_ms.is_finite() && *r.p95_warning_ms > 0.0) {
            p.push(
                r.p95_warning_ms.pos(),
                format!(
                    "alerting.rules.p95_warning_ms: {} is out of range",
                    *r.p95_warning_ms
                ),
                "out of range",
                Some("a positive number of milliseconds".to_string()),
            );
        }
    }

    // Backups
    if let Some(b) = &m.backup {
        if let Some(bad) = b
            .schedule
            .chars()
            .find(|&c| !(c == ' ' || c.is_ascii_alphanumeric() || "*,/-".contains(c)))
        {
            p.push(
                b.schedule.pos(),
                format!(
                    "backup.schedule: {} is not allowed in a cron schedule",
                    describe_char(bad)
                ),
                "not a cron character",
                Some("one line of five fields separated by spaces, using digits, names (mon, jan), `*`, `,`, `/` and `-`: `0 3 * * *`".to_string()),
            );
        } else if let Err(e) = cron::parse(&b.schedule) {
            p.push(
                b.schedule.pos(),
                format!(
                    "backup.schedule: `{}` is not a valid cron schedule: {e}",
                    *b.schedule
                ),
                "invalid cron",
                Some("five fields, evaluated in UTC: `0 3 * * *` runs daily at 03:00".to_string()),
            );
        }
        check_path(&mut p, "backup.dir", &b.dir, PathRule::AnyPlain);
        check_path(
            &mut p,
            "backup.project_dir",
            &b.project_dir,
            PathRule::HostAbsolute,
        );
        check_path(&mut p, "backup.binary", &b.binary, PathRule::HostAbsolute);
        check_host_port(&mut p, "backup.influx_rpc", &b.influx_rpc);
        if !is_unix_user(&b.user) {
            p.push(
                b.user.pos(),
                format!("backup.user: `{}` is not a user name", *b.user),
                "invalid user",
                None,
            );
        }
        let k = &b.keep;
        for (name, v) in [
            ("last", &k.last),
            ("daily", &k.daily),
            ("weekly", &k.weekly),
            ("monthly", &k.monthly),
        ] {
            if **v > MAX_KEEP {
                p.push(
                    v.pos(),
                    format!("backup.keep.{name}: {} is more than {MAX_KEEP}", **v),
                    "too many",
                    Some(format!(
                        "keep at most {MAX_KEEP} backups per rule (that is over 27 years of daily backups)"
                    )),
                );
            }
        }
        if [&k.last, &k.daily, &k.weekly, &k.monthly]
            .iter()
            .all(|v| ***v == 0)
        {
            p.push(
                [&k.last, &k.daily, &k.weekly, &k.monthly]
                    .iter()
                    .find_map(|v| v.pos())
                    .or(b.schedule.pos()),
                "backup.keep: the rotation policy keeps nothing",
                "no keep rule",
                Some("set at least one of keep.last, keep.daily, keep.weekly, keep.monthly above 0 (restic refuses an empty policy too)".to_string()),
            );
        }
    }

    // k6
    if let Some(k6) = &m.k6 {
        let v = k6.version.strip_prefix('v').unwrap_or("");
        if v.split('.').count() != 3
            || !v
                .split('.')
                .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
        {
            p.push(
                k6.version.pos(),
                format!(
                    "k6.version: `{}` is not a k6 release",
                    k6.version.escape_debug()
                ),
                "not vX.Y.Z",
                Some("write the release tag, e.g. `v0.47.0`".to_string()),
            );
        }
        for ext in &k6.extensions {
            let ok = ext.split_once('@').is_some_and(|(module, version)| {
                !module.is_empty()
                    && !version.is_empty()
                    && !module.starts_with(['-', '.', '/'])
                    && !version.starts_with(['-', '.'])
                    && module
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._~/-".contains(c))
                    && version
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
            }) && ext.len() <= 300;
            if !ok {
                p.push(
                    ext.pos(),
                    format!(
                        "k6.extensions: `{}` is not `module@version`",
                        ext.escape_debug()
                    ),
                    "not module@version",
                    Some("e.g. `github.com/grafana/xk6-output-influxdb@v0.4.1`".to_string()),
                );
            }
        }
        check_path(&mut p, "k6.output", &k6.output, PathRule::ProjectRelative);
    }

    // Targets
    let net = &m.targets.docker.network;
    if net.is_empty()
        || net.len() > 64
        || net.starts_with(['-', '.', '_'])
        || !net
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        p.push(
            net.pos(),
            format!(
                "targets.docker.network: `{}` is not a network name",
                net.escape_debug()
            ),
            "invalid name",
            Some("letters, digits, `-`, `_`, `.`".to_string()),
        );
    }
    check_path(
        &mut p,
        "targets.native.data_dir",
        &m.targets.native.data_dir,
        PathRule::ProjectRelative,
    );
    check_path(
        &mut p,
        "targets.native.grafana_homepath",
        &m.targets.native.grafana_homepath,
        PathRule::HostAbsolute,
    );
    check_path(
        &mut p,
        "targets.native.project_dir",
        &m.targets.native.project_dir,
        PathRule::HostAbsolute,
    );
    if let Some(cloud) = &m.targets.cloud {
        check_url(
            &mut p,
            "targets.cloud.grafana_url",
            &cloud.grafana_url,
            true,
        );
        check_url(&mut p, "targets.cloud.influx_url", &cloud.influx_url, true);
        check_secret_env(
            &mut p,
            "targets.cloud.grafana_token_env",
            &cloud.grafana_token_env,
        );
        check_secret_env(
            &mut p,
            "targets.cloud.influx_token_env",
            &cloud.influx_token_env,
        );
    }

    p.finish()
}

fn check_stack_name(p: &mut Problems<'_>, name: &Sp<String>) {
    let ok = !name.is_empty()
        && name.len() <= 24
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
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
        p.push(
            name.pos(),
            format!("stack: `{}` is not a valid stack name", **name),
            "must match [a-z0-9-], 1-24 characters",
            Some(format!(
                "the stack name prefixes containers and Grafana uids; try `{suggestion}`"
            )),
        );
    }
}

fn check_locale(p: &mut Problems<'_>, key: &str, locale: &Sp<String>) {
    if !LOCALES.contains(&locale.as_str()) {
        p.push(
            locale.pos(),
            format!("{key}: `{}` is not a supported language", **locale),
            "unsupported language",
            Some("use `fr` or `en`".to_string()),
        );
    }
}

/// InfluxDB keeps durations as 64-bit nanoseconds: 2562047h is the largest whole number of hours.
const MAX_RETENTION_SECONDS: u64 = 2_562_047 * 3600;

/// Upper bound of each `backup.keep` rule (so the policy's sum can never overflow either).
const MAX_KEEP: u32 = 10_000;

/// Environment variables a secret name (`*_env`) may not name: the stack's own secrets, the
/// prefixes Grafana, InfluxDB, Docker, k6 and promo-infra read their settings from (a Slack
/// variable named `GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION` would override hardening), and the
/// variables every process depends on.
const RESERVED_ENV_PREFIXES: [&str; 7] = [
    "GF_",
    "INFLUXDB_",
    "INFLUXD_",
    "DOCKER_",
    "K6_",
    "PROMO_INFRA_",
    "LD_",
];
const RESERVED_ENV_NAMES: [&str; 16] = [
    crate::secrets::GRAFANA_ADMIN_PASSWORD,
    crate::secrets::GRAFANA_SECRET_KEY,
    crate::secrets::CONTROL_API_TOKEN,
    crate::secrets::CONTROL_API_STOP_PASSWORD,
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "PWD",
    "TMPDIR",
    "TZ",
    "LANG",
    "IFS",
    "HOSTNAME",
    "NO_COLOR",
];

/// A character as an error message names it (`a line break`, `` `$` ``, `U+0007`).
fn describe_char(c: char) -> String {
    match c {
        '\n' => "a line break".into(),
        '\r' => "a carriage return".into(),
        '\t' => "a tab".into(),
        ' ' => "a space".into(),
        '`' => "a backtick".into(),
        c if c.is_control() => format!("the control character U+{:04X}", u32::from(c)),
        c => format!("`{c}`"),
    }
}

/// Free text (titles, channel): one line, no control characters, at most `max` characters.
fn check_text(p: &mut Problems<'_>, key: &str, value: &Sp<String>, max: usize) {
    if let Some(bad) = value.chars().find(|c| c.is_control()) {
        p.push(
            value.pos(),
            format!("{key}: {} is not allowed here", describe_char(bad)),
            "control character",
            Some("write it on one line, without control characters".to_string()),
        );
    } else if value.chars().count() > max {
        p.push(
            value.pos(),
            format!("{key}: longer than {max} characters"),
            "too long",
            Some(format!("shorten it to at most {max} characters")),
        );
    }
}

fn check_image(p: &mut Problems<'_>, key: &str, image: &Sp<String>) {
    if !is_image_reference(image) {
        p.push(
            image.pos(),
            format!("{key}: `{}` is not an image reference", image.escape_debug()),
            "invalid image",
            Some("write `[registry[:port]/]name[:tag][@sha256:<digest>]` with lowercase names, e.g. `influxdb:2.7`".to_string()),
        );
        return;
    }
    let name_part = image.rsplit('/').next().unwrap_or("");
    let tag = name_part.split_once(':').map(|(_, t)| t);
    let pinned = image.contains("@sha256:") || tag.is_some_and(|t| !t.is_empty() && t != "latest");
    if !pinned {
        p.push(
            image.pos(),
            format!("{key}: `{}` is not pinned to a version", **image),
            "unpinned image",
            Some("add an explicit tag such as `:2.7` (never `latest`: `influxdb:latest` moved to InfluxDB 3)".to_string()),
        );
    }
}

/// Docker's reference grammar (distribution/reference), without the rarely used corners:
/// `[host[:port]/]component(/component)*[:tag][@sha256:<64 hex>]`.
fn is_image_reference(image: &str) -> bool {
    if image.is_empty() || image.len() > 255 {
        return false;
    }
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let ok = d.strip_prefix("sha256:").is_some_and(|h| {
            h.len() == 64
                && h.chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        });
        if !ok {
            return false;
        }
    }
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].split_once(':') {
        Some((_, t)) => (&rest[..rest.len() - t.len() - 1], Some(t)),
        None => (rest, None),
    };
    if let Some(t) = tag {
        let mut chars = t.chars();
        let ok = t.len() <= 128
            && chars
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !ok {
            return false;
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 {
        let first = parts[0];
        let is_host = first.contains(['.', ':']) || first == "localhost";
        if is_host {
            let (host, port) = match first.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (first, None),
            };
            let host_ok = !host.is_empty()
                && !host.starts_with(['-', '.'])
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c));
            if !host_ok || port.is_some_and(|p| p.parse::<u16>().is_err()) {
                return false;
            }
            parts.remove(0);
        }
    }
    parts.iter().all(|c| {
        !c.is_empty()
            && c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
    })
}

fn check_name(p: &mut Problems<'_>, key: &str, value: &Sp<String>) {
    if value.is_empty()
        || value.len() > 100
        || value.starts_with('-')
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    {
        p.push(
            value.pos(),
            format!("{key}: `{}` is not a valid name", value.escape_debug()),
            "invalid name",
            Some(
                "use 1-100 letters, digits, `-`, `_`, `.` or `@`, not starting with `-`"
                    .to_string(),
            ),
        );
    }
}

fn check_env_name(p: &mut Problems<'_>, key: &str, value: &Sp<String>) -> bool {
    let mut chars = value.chars();
    let ok = value.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        p.push(
            value.pos(),
            format!(
                "{key}: `{}` is not a valid environment variable name",
                value.escape_debug()
            ),
            "invalid variable name",
            Some(
                "letters, digits and `_`, not starting with a digit, e.g. `SLACK_WEBHOOK_URL`"
                    .to_string(),
            ),
        );
    }
    ok
}

/// The name of a variable holding a secret the user provides: valid, and none of the
/// variables the stack itself uses (see [`RESERVED_ENV_NAMES`]).
fn check_secret_env(p: &mut Problems<'_>, key: &str, value: &Sp<String>) {
    if !check_env_name(p, key, value) {
        return;
    }
    let upper = value.to_ascii_uppercase();
    let reserved = RESERVED_ENV_NAMES.contains(&upper.as_str())
        || RESERVED_ENV_PREFIXES
            .iter()
            .any(|pre| upper.starts_with(pre));
    if reserved {
        p.push(
            value.pos(),
            format!(
                "{key}: `{}` is a variable the stack itself uses or reserves",
                **value
            ),
            "reserved variable",
            Some(format!(
                "choose a name of your own such as `SLACK_WEBHOOK_URL`; names starting with {} and {} are reserved",
                RESERVED_ENV_PREFIXES.join(", "),
                RESERVED_ENV_NAMES.join(", ")
            )),
        );
    }
}

/// An http(s) URL in canonical form, with no credentials, query or fragment, and only
/// characters that need no quoting in any generated file (no `$`, quotes, `%`, spaces...).
fn check_url(p: &mut Problems<'_>, key: &str, value: &Sp<String>, https_only: bool) {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~:/[]".contains(c);
    let parsed = url::Url::parse(value).ok();
    let ok = parsed.as_ref().is_some_and(|u| {
        let scheme_ok = if https_only {
            u.scheme() == "https"
        } else {
            matches!(u.scheme(), "http" | "https")
        };
        scheme_ok
            && u.host_str().is_some_and(|h| !h.is_empty())
            && u.username().is_empty()
            && u.password().is_none()
            && u.query().is_none()
            && u.fragment().is_none()
    }) && value.len() <= 2000
        && value.chars().all(allowed);
    if !ok {
        p.push(
            value.pos(),
            format!(
                "{key}: `{}` is not a valid {}URL",
                value.escape_debug(),
                if https_only { "https " } else { "" }
            ),
            "invalid URL",
            Some(
                if https_only {
                    "cloud APIs are only reached over https://; write `https://host[:port][/path]` with letters, digits, `-._~:/`, no credentials, query or fragment"
                } else {
                    "write `http(s)://host[:port][/path]` with letters, digits, `-._~:/`, no credentials, query or fragment"
                }
                .to_string(),
            ),
        );
    }
}

/// What a path field may be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PathRule {
    /// Relative to the project, no `..`, nothing starting with `-`; letters, digits, `._+@,=~-`.
    ProjectRelative,
    /// Absolute path on the production host; letters, digits, spaces, `%` and `._+@,=~-`.
    HostAbsolute,
    /// `backup.dir`: absolute (a separate disk) or relative to the project; same characters as
    /// host paths; no `..` anywhere.
    AnyPlain,
}

fn check_path(p: &mut Problems<'_>, key: &str, value: &Sp<String>, rule: PathRule) {
    let host_chars = rule != PathRule::ProjectRelative;
    let allowed = |c: char| {
        c.is_ascii_alphanumeric() || "/._+@,=~-".contains(c) || (host_chars && " %".contains(c))
    };
    let absolute = value.starts_with('/');
    let trimmed = value.trim_start_matches('/').trim_end_matches('/');
    let components: Vec<&str> = if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    };
    let problem: Option<String> = if value.is_empty() {
        Some("is empty".into())
    } else if value.len() > 1024 {
        Some("is longer than 1024 bytes".into())
    } else if let Some(bad) = value.chars().find(|&c| !allowed(c)) {
        Some(format!("contains {}", describe_char(bad)))
    } else if rule == PathRule::ProjectRelative && absolute {
        Some("must be relative to the project directory".into())
    } else if rule == PathRule::HostAbsolute && !absolute {
        Some("must be an absolute path".into())
    } else if components.is_empty() {
        Some("names no directory".into())
    } else if components.iter().any(|c| c.is_empty()) {
        Some("contains an empty component (`//`)".into())
    } else if components.contains(&"..") {
        Some("contains `..`".into())
    } else if components.contains(&".") {
        Some("contains a `.` component".into())
    } else if components
        .iter()
        .any(|c| c.starts_with(['-', ' ']) || c.ends_with(' '))
    {
        Some("has a component starting with `-` or starting/ending with a space".into())
    } else {
        None
    };
    if let Some(problem) = problem {
        let hint = match rule {
            PathRule::ProjectRelative => {
                "write a path inside the project with letters, digits and `._+@,=~-`, e.g. `data`"
            }
            PathRule::HostAbsolute => {
                "write a plain absolute path (letters, digits, spaces, `%`, `._+@,=~-`), e.g. `/opt/promo-infra`"
            }
            PathRule::AnyPlain => {
                "write a plain path (letters, digits, spaces, `%`, `._+@,=~-`), absolute like `/mnt/backups` or relative to the project like `backups`, without `..`"
            }
        };
        p.push(
            value.pos(),
            format!("{key}: `{}` {problem}", value.escape_debug()),
            "not a plain path",
            Some(hint.to_string()),
        );
    }
}

/// `host:port` with a host name, an IPv4 address or a bracketed IPv6 address.
fn check_host_port(p: &mut Problems<'_>, key: &str, value: &Sp<String>) {
    let ok = value.rsplit_once(':').is_some_and(|(host, port)| {
        let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'))
        {
            inner.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            !host.is_empty()
                && host.len() <= 253
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                && !host.starts_with(['-', '.'])
        };
        host_ok && port.parse::<u16>().is_ok_and(|n| n > 0)
    });
    if !ok {
        p.push(
            value.pos(),
            format!("{key}: `{}` is not a host:port address", **value),
            "not host:port",
            Some("write the InfluxDB RPC bind-address, e.g. `127.0.0.1:8088`".to_string()),
        );
    }
}

fn is_unix_user(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && name.len() <= 32
}

fn check_ports(p: &mut Problems<'_>, ports: &[(&str, &Sp<u32>, &Sp<String>)]) {
    let mut used: Vec<(IpAddr, u32, &str)> = Vec::new();
    for (key, port, bind) in ports {
        let addr: Option<IpAddr> = bind.parse().ok();
        if addr.is_none() {
            let bind_key = key.replace(".port", ".bind");
            p.push(
                bind.pos(),
                format!("{bind_key}: `{}` is not an IP address", ***bind),
                "not an IP address",
                Some(
                    "use `127.0.0.1` (default, this host only) or `0.0.0.0` (every interface)"
                        .to_string(),
                ),
            );
        }
        if !(1..=65535).contains(&***port) {
            p.push(
                port.pos(),
                format!("{key}: {} is not a port", ***port),
                "must be 1-65535",
                Some("choose a free host port between 1 and 65535".to_string()),
            );
            continue;
        }
        let Some(addr) = addr else { continue };
        if let Some((_, _, other)) = used.iter().find(|(a, n, _)| {
            *n == ***port && (*a == addr || a.is_unspecified() || addr.is_unspecified())
        }) {
            p.push(
                port.pos(),
                format!("{key}: port {} is already used by {other}", ***port),
                "port clash",
                Some(format!("give {key} a port of its own")),
            );
        }
        used.push((addr, ***port, key));
    }
}
