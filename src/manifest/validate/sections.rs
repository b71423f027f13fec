//! Checks of the optional sections: dashboards, alerting, backups, k6 and targets.
//!
//! Owns: what those sections may hold and how their keys relate.
//! May not: parse text, read files or the environment, print.

use std::collections::{BTreeMap, BTreeSet};

use super::rules::{
    MAX_KEEP, PathRule, check_host_port, check_path, check_secret_env, check_text, check_url,
    describe_char, is_plain, is_unix_user, refuse,
};
use super::{check_locale, cron};
use crate::error::Problems;
use crate::manifest::{Manifest, Sp};

pub(super) fn check_dashboards(p: &mut Problems<'_>, m: &Manifest, templates: &BTreeSet<String>) {
    let mut seen: BTreeMap<&str, &Sp<String>> = BTreeMap::new();
    for (i, d) in m.dashboards.iter().enumerate() {
        let key = format!("dashboards[{i}]");
        let uid = d.uid.as_str();
        if !is_plain(uid, 40, "-_", "") {
            refuse(
                p,
                &d.uid,
                format!("{key}.uid: `{uid}` is not a valid Grafana uid"),
                "invalid uid",
                "use 1-40 characters among letters, digits, `-` and `_`",
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
            let hint = match crate::manifest::load::closest(&d.template, &known) {
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
                check_text(p, &format!("{key}.title"), title, 200);
            }
        }
        if let Some(locale) = &d.locale {
            check_locale(p, &format!("{key}.locale"), locale);
        }
        if let Some(vus) = &d.capacity_vus
            && **vus == 0
        {
            p.push(
                vus.pos(),
                format!("{key}.capacity_vus: 0 is out of range"),
                "out of range",
                Some("the VUs at which the site breaks: at least 1 (`promo-infra runs capacity TESTID --apply` measures it)".to_string()),
            );
        }
        let t = &d.thresholds;
        for (name, v, max) in [
            ("p95_ok_ms", &t.p95_ok_ms, f64::MAX),
            ("p95_warn_ms", &t.p95_warn_ms, f64::MAX),
            ("error_ok_pct", &t.error_ok_pct, 100.0),
            ("error_warn_pct", &t.error_warn_pct, 100.0),
        ] {
            check_positive(p, &format!("{key}.thresholds.{name}"), v, max);
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
}

pub(super) fn check_alerting(p: &mut Problems<'_>, m: &Manifest) {
    if let Some(alerting) = &m.alerting {
        if let Some(slack) = &alerting.slack {
            check_secret_env(p, "alerting.slack.webhook_url_env", &slack.webhook_url_env);
            if let Some(channel) = &slack.channel {
                if channel.trim().is_empty() {
                    p.push(
                        channel.pos(),
                        "alerting.slack.channel is empty",
                        "empty",
                        None,
                    );
                } else if channel.contains(['{', '}']) {
                    // Grafana's Slack notifier renders the recipient as a Go template.
                    super::rules::refuse(
                        p,
                        channel,
                        format!(
                            "alerting.slack.channel: `{}` holds `{{` or `}}`: Grafana renders the channel as a template, so an alert's labels (from the test's data) could choose where it goes, and a template error sends it to the webhook's default channel",
                            channel.escape_debug()
                        ),
                        "a template",
                        "write the channel's name, e.g. `#load-testing-alerts`",
                    );
                } else {
                    check_text(p, "alerting.slack.channel", channel, 80);
                }
            }
        }
        let r = &alerting.rules;
        let key = "alerting.rules";
        check_positive(
            p,
            &format!("{key}.error_rate_critical_pct"),
            &r.error_rate_critical_pct,
            100.0,
        );
        check_positive(
            p,
            &format!("{key}.p95_warning_ms"),
            &r.p95_warning_ms,
            f64::MAX,
        );
    }
}

/// A finite number above 0 and at most `max`: a percentage when `max` is 100, else milliseconds.
fn check_positive(p: &mut Problems<'_>, key: &str, v: &Sp<f64>, max: f64) {
    if !v.is_finite() || **v <= 0.0 || **v > max {
        let hint = if max == 100.0 {
            "a percentage above 0 and at most 100"
        } else {
            "a positive number of milliseconds"
        };
        refuse(
            p,
            v,
            format!("{key}: {} is out of range", **v),
            "out of range",
            hint,
        );
    }
}

pub(super) fn check_backup(p: &mut Problems<'_>, m: &Manifest) {
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
        check_path(p, "backup.dir", &b.dir, PathRule::AnyPlain);
        check_path(
            p,
            "backup.project_dir",
            &b.project_dir,
            PathRule::HostAbsolute,
        );
        check_path(p, "backup.binary", &b.binary, PathRule::HostAbsolute);
        check_host_port(p, "backup.influx_rpc", &b.influx_rpc);
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
}

pub(super) fn check_k6(p: &mut Problems<'_>, m: &Manifest) {
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
        check_path(p, "k6.output", &k6.output, PathRule::ProjectRelative);
        if let Some(dir) = &k6.report_dir {
            check_path(p, "k6.report_dir", dir, PathRule::ProjectRelative);
        }
        if let Some(url) = &k6.report_url {
            check_url(p, "k6.report_url", url, false);
            if k6.report_dir.is_none() {
                p.push(
                    url.pos(),
                    "k6.report_url: no `k6.report_dir` says where the reports it serves are written".to_string(),
                    "report_url without report_dir",
                    Some("add `report_dir: reports` (the directory your web server publishes at this URL), or remove `report_url`".to_string()),
                );
            }
        }
    }
}

pub(super) fn check_targets(p: &mut Problems<'_>, m: &Manifest) {
    let net = &m.targets.docker.network;
    if !is_plain(net, 64, "-_.", "-._") {
        refuse(
            p,
            net,
            format!(
                "targets.docker.network: `{}` is not a network name",
                net.escape_debug()
            ),
            "invalid name",
            "letters, digits, `-`, `_`, `.`",
        );
    }
    check_path(
        p,
        "targets.native.data_dir",
        &m.targets.native.data_dir,
        PathRule::ProjectRelative,
    );
    check_path(
        p,
        "targets.native.grafana_homepath",
        &m.targets.native.grafana_homepath,
        PathRule::HostAbsolute,
    );
    check_path(
        p,
        "targets.native.project_dir",
        &m.targets.native.project_dir,
        PathRule::HostAbsolute,
    );
    if let Some(cloud) = &m.targets.cloud {
        check_url(p, "targets.cloud.grafana_url", &cloud.grafana_url, true);
        check_url(p, "targets.cloud.influx_url", &cloud.influx_url, true);
        check_secret_env(
            p,
            "targets.cloud.grafana_token_env",
            &cloud.grafana_token_env,
        );
        check_secret_env(p, "targets.cloud.influx_token_env", &cloud.influx_token_env);
        if let Some(org) = &cloud.influx_org {
            super::rules::check_name(p, "targets.cloud.influx_org", org);
        }
        if let Some(id) = &cloud.pdc_network_id {
            super::rules::check_name(p, "targets.cloud.pdc_network_id", id);
        }
    }
}
