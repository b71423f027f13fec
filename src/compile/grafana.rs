//! Grafana file provisioning: datasource, dashboard provider and alerting, serialized from
//! typed values. Secrets appear only as `$VAR` references Grafana expands from its environment.
//!
//! Owns: the provisioning files. May not: do IO, or hold a secret value.

use serde::Serialize;
use serde_json::{Value, json};

use super::escape;
use super::services::{INFLUX_PORT, INFLUX_V1_READ_USER};
use crate::manifest::Manifest;
use crate::secrets;

/// Grafana uid of the stack's InfluxDB datasource.
pub fn datasource_uid(m: &Manifest) -> String {
    format!("{}-influxdb", *m.stack)
}

/// Grafana folder holding the stack's dashboards and alert rules.
pub fn folder_uid(m: &Manifest) -> String {
    m.stack.to_string()
}

/// Title of that folder.
pub fn folder_title(m: &Manifest) -> String {
    format!("promo-infra: {}", *m.stack)
}

/// Title of the folder holding the stack's alert rules. Not the dashboards' folder: Grafana
/// 10.2 provisions alerting before dashboards and creates a missing rule folder by title with a
/// random uid; the dashboards provider would then find that folder by its title and ignore
/// `folderUid`, so the dashboards' folder would not have its stable uid `<stack>`
/// (`shared/reference/grafana-10.2-conformance.md`, finding 1).
pub fn alerts_folder_title(m: &Manifest) -> String {
    format!("promo-infra: {} alerts", *m.stack)
}

fn yaml(header: &str, value: &impl Serialize) -> String {
    format!(
        "{header}{}",
        serde_saphyr::to_string(value).unwrap_or_default()
    )
}

/// `provisioning/datasources/promo-infra.yaml`.
/// URL of InfluxDB as Grafana reaches it inside the compose network.
pub fn docker_influx_url() -> String {
    format!("http://influxdb:{INFLUX_PORT}")
}

/// `provisioning/datasources/promo-infra.yaml`, with InfluxDB at `url`. Every value from the
/// manifest goes through [`escape::grafana`]: Grafana interpolates `$` in these files.
pub fn datasource(m: &Manifest, url: &str, header: &str) -> String {
    let i = &m.influxdb;
    let url = escape::grafana(url);
    let (org, bucket) = (escape::grafana(&i.org), escape::grafana(&i.bucket));
    let mut ds = json!({
        "name": format!("InfluxDB ({})", *m.stack),
        "type": "influxdb",
        "uid": datasource_uid(m),
        "access": "proxy",
        "url": url,
        "isDefault": true,
        "editable": false,
        "orgId": 1,
    });
    let per_version = if *i.version == 2 {
        json!({
            "jsonData": {
                "version": "Flux",
                "organization": org,
                "defaultBucket": bucket,
                "timeInterval": "1s",
            },
            "secureJsonData": { "token": format!("${}", secrets::INFLUX_GRAFANA_TOKEN) },
        })
    } else {
        json!({
            "user": INFLUX_V1_READ_USER,
            "jsonData": {
                "dbName": bucket,
                "httpMode": "POST",
                "timeInterval": "1s",
            },
            "secureJsonData": { "password": format!("${}", secrets::INFLUX_V1_READ_PASSWORD) },
        })
    };
    if let (Some(all), serde_json::Value::Object(more)) = (ds.as_object_mut(), per_version) {
        all.extend(more);
    }
    yaml(
        header,
        &json!({
            "apiVersion": 1,
            "prune": true,
            "datasources": [ds],
        }),
    )
}

struct AlertText {
    error_title: &'static str,
    error_summary: String,
    p95_title: &'static str,
    p95_summary: String,
    message_title: &'static str,
    message_text: &'static str,
}

/// A threshold as people write it (`5`, `2.5`, `3000`).
fn threshold_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Rule summaries carry the value that fired (`$values.B`, the reduced query) and the
/// manifest's threshold, written in: a threshold node has no labels to read it from.
fn alert_text(locale: &str, err_pct: f64, p95_ms: f64) -> AlertText {
    let (err, p95) = (threshold_text(err_pct), threshold_text(p95_ms));
    if locale == "en" {
        AlertText {
            error_title: "Error rate critical",
            error_summary: format!(
                "Error rate {{{{ humanize $values.B.Value }}}}% is above {err}%"
            ),
            p95_title: "Response time too slow",
            p95_summary: format!(
                "p95 response time {{{{ humanize $values.B.Value }}}} ms is above {p95} ms"
            ),
            message_title: "{{ if eq .Status \"firing\" }}ALERT{{ else }}RESOLVED{{ end }}: {{ .CommonLabels.alertname }}",
            message_text: "{{ range .Alerts }}Test {{ .Labels.testid }} (promo {{ .Labels.promo_name }}, type {{ .Labels.promo_type }}, environment {{ .Labels.environment }}): {{ .Annotations.summary }}\n{{ end }}",
        }
    } else {
        AlertText {
            error_title: "Taux d'erreur critique",
            error_summary: format!(
                "Taux d'erreur de {{{{ humanize $values.B.Value }}}} %, au-dessus du seuil de {err} %"
            ),
            p95_title: "Temps de réponse trop lent",
            p95_summary: format!(
                "Temps de réponse p95 de {{{{ humanize $values.B.Value }}}} ms, au-dessus du seuil de {p95} ms"
            ),
            message_title: "{{ if eq .Status \"firing\" }}ALERTE{{ else }}RÉSOLU{{ end }} : {{ .CommonLabels.alertname }}",
            message_text: "{{ range .Alerts }}Test {{ .Labels.testid }} (promo {{ .Labels.promo_name }}, type {{ .Labels.promo_type }}, environnement {{ .Labels.environment }}) : {{ .Annotations.summary }}\n{{ end }}",
        }
    }
}

/// Query node A of a rule, for the InfluxDB version in use.
fn query(m: &Manifest, measurement: &str, select_v1: &str, flux_tail: &str) -> Value {
    let ds = datasource_uid(m);
    let model = if *m.influxdb.version == 2 {
        json!({
            "refId": "A",
            "query": format!(
                "from(bucket: \"{}\")\n  |> range(start: -5m)\n  |> filter(fn: (r) => r._measurement == \"{measurement}\" and r._field == \"value\")\n  |> group(columns: [\"testid\", \"promo_name\", \"promo_type\", \"environment\"])\n{flux_tail}",
                *m.influxdb.bucket
            ),
        })
    } else {
        json!({
            "refId": "A",
            "rawQuery": true,
            "resultFormat": "time_series",
            "query": format!(
                "SELECT {select_v1} FROM \"{measurement}\" WHERE time > now() - 5m GROUP BY time(1m), \"testid\", \"promo_name\", \"promo_type\", \"environment\" fill(none)"
            ),
        })
    };
    json!({
        "refId": "A",
        "datasourceUid": ds,
        "relativeTimeRange": { "from": 300, "to": 0 },
        "model": model,
    })
}

fn reduce_and_threshold(threshold: f64) -> [Value; 2] {
    [
        json!({
            "refId": "B",
            "datasourceUid": "__expr__",
            "relativeTimeRange": { "from": 0, "to": 0 },
            "model": { "refId": "B", "type": "reduce", "expression": "A", "reducer": "last", "settings": { "mode": "dropNN" } },
        }),
        json!({
            "refId": "C",
            "datasourceUid": "__expr__",
            "relativeTimeRange": { "from": 0, "to": 0 },
            "model": {
                "refId": "C",
                "type": "threshold",
                "expression": "B",
                "conditions": [{ "evaluator": { "type": "gt", "params": [threshold] } }],
            },
        }),
    ]
}

/// Where the Slack-less variant of the alerting file is generated (see [`alerting_without_slack`]).
pub const ALERTING_WITHOUT_SLACK_DIR: &str = "grafana/alerting-without-slack";

/// The provisioning subdirectories Grafana (10.2) re-reads on `POST
/// /api/admin/provisioning/<name>/reload`: `dashboards` (the providers, and through them the
/// dashboard files), `datasources`, `alerting`. Its other provisioning (plugins, access
/// control) is only read at start.
pub const RELOADABLE_PROVISIONING: [&str; 3] = ["alerting", "dashboards", "datasources"];

/// The reload endpoint (`dashboards`, `datasources`, `alerting`) that makes a running Grafana
/// re-read the generated directory `source` (a `reload_digest` key), if one does.
pub fn reload_kind(source: &str) -> Option<&'static str> {
    if source == ALERTING_WITHOUT_SLACK_DIR {
        return Some("alerting");
    }
    let (parent, last) = source.rsplit_once('/')?;
    let in_provisioning =
        parent.ends_with("/provisioning") || parent.ends_with("/provisioning-without-slack");
    RELOADABLE_PROVISIONING
        .into_iter()
        .find(|kind| in_provisioning && *kind == last)
}

/// `provisioning/alerting/promo-infra.yaml`, or `None` when the stack has no alerting.
pub fn alerting(m: &Manifest, header: &str) -> Option<String> {
    let doc = alerting_doc(m, true)?;
    Some(yaml(header, &doc))
}

/// The alerting file for a stack whose Slack webhook is not set (allowed in preprod): the same
/// rules and templates, no contact point (Grafana 10.2 refuses to start with an empty Slack
/// `url`: it falls back to the chat API and wants a token) and `resetPolicies`, so the policy
/// tree is Grafana's default, which notifies nobody here (its default e-mail contact point has
/// no SMTP server). `None` when the stack declares no Slack contact point. The docker target
/// mounts it over `provisioning/alerting/` when the webhook is missing.
pub fn alerting_without_slack(m: &Manifest, header: &str) -> Option<String> {
    m.alerting.as_ref()?.slack.as_ref()?;
    let mut doc = alerting_doc(m, false)?;
    doc["resetPolicies"] = json!([1]);
    Some(yaml(header, &doc))
}

/// The Slack webhook variable of the stack, when it declares a Slack contact point.
pub fn slack_webhook_env(m: &Manifest) -> Option<&str> {
    m.alerting
        .as_ref()?
        .slack
        .as_ref()
        .map(|s| s.webhook_url_env.as_str())
}

/// Runtime Grafana of a stack whose webhook is not set: no webhook variable, and the Slack-less
/// alerting file mounted over the provisioning's `alerting/` directory. A no-op when the stack
/// has no Slack contact point or the webhook is set in `values` (`.env` or the environment).
pub fn without_unset_slack(
    m: &Manifest,
    spec: &mut crate::desired::ServiceSpec,
    values: &secrets::SecretValues,
) {
    let Some(env) = slack_webhook_env(m) else {
        return;
    };
    if spec.name != "grafana" || values.get(env).is_some() {
        return;
    }
    spec.env.remove(env);
    spec.mounts.push(crate::desired::MountSpec {
        source: crate::desired::MountSource::Generated(ALERTING_WITHOUT_SLACK_DIR.into()),
        target: "/etc/grafana/provisioning/alerting".into(),
        read_only: true,
    });
}

/// The alerting objects of the stack in the provisioning file's shape (the cloud target sends
/// them through the API: [`super::cloud`]).
pub(crate) fn alerting_doc(m: &Manifest, with_slack: bool) -> Option<Value> {
    let alerting = m.alerting.as_ref()?;
    let stack = m.stack.as_str();
    let home = m
        .grafana
        .home_dashboard
        .as_ref()
        .map(|s| s.to_string())
        .or_else(|| m.dashboards.first().map(|d| d.uid.to_string()));
    let err_pct = *alerting.rules.error_rate_critical_pct;
    let p95_ms = *alerting.rules.p95_warning_ms;
    let text = alert_text(&m.locale, err_pct, p95_ms);
    let rule = |uid: String, title: &str, summary: &str, severity: &str, data: Vec<Value>| {
        let mut r = json!({
            "uid": uid,
            "title": title,
            "condition": "C",
            "data": data,
            "noDataState": "OK",
            "execErrState": "Error",
            "for": "1m",
            "labels": { "severity": severity, "team": "marketing", "stack": stack },
            "annotations": { "summary": summary },
            "isPaused": false,
        });
        if let Some(h) = &home {
            r["dashboardUid"] = json!(h);
        }
        r
    };
    let flux_p95 = "  |> quantile(q: 0.95, method: \"exact_mean\")\n  |> map(fn: (r) => ({ r with _time: now() }))";
    let flux_err =
        "  |> mean()\n  |> map(fn: (r) => ({ r with _value: r._value * 100.0, _time: now() }))";
    let mut error_data = vec![query(
        m,
        "http_req_failed",
        "mean(\"value\") * 100",
        flux_err,
    )];
    error_data.extend(reduce_and_threshold(err_pct));
    let mut p95_data = vec![query(
        m,
        "http_req_duration",
        "percentile(\"value\", 95)",
        flux_p95,
    )];
    p95_data.extend(reduce_and_threshold(p95_ms));

    let mut doc = json!({
        "apiVersion": 1,
        "groups": [{
            "orgId": 1,
            "name": format!("{stack}-k6"),
            "folder": alerts_folder_title(m),
            "interval": "30s",
            "rules": [
                rule(format!("{stack}-error-rate"), text.error_title, &text.error_summary, "critical", error_data),
                rule(format!("{stack}-p95"), text.p95_title, &text.p95_summary, "warning", p95_data),
            ],
        }],
        "templates": [{
            "orgId": 1,
            "name": format!("{stack}-messages"),
            "template": format!(
                "{{{{ define \"{stack}.title\" }}}}{}{{{{ end }}}}\n{{{{ define \"{stack}.text\" }}}}{}{{{{ end }}}}",
                text.message_title, text.message_text
            ),
        }],
    });
    if let Some(slack) = alerting.slack.as_ref().filter(|_| with_slack) {
        let mut settings = json!({
            "url": format!("${}", *slack.webhook_url_env),
            "title": format!("{{{{ template \"{stack}.title\" . }}}}"),
            "text": format!("{{{{ template \"{stack}.text\" . }}}}"),
        });
        if let Some(channel) = &slack.channel {
            settings["recipient"] = json!(escape::grafana(channel));
        }
        doc["contactPoints"] = json!([{
            "orgId": 1,
            "name": format!("{stack}-slack"),
            "receivers": [{
                "uid": format!("{stack}-slack"),
                "type": "slack",
                "settings": settings,
                "disableResolveMessage": false,
            }],
        }]);
        doc["policies"] = json!([{
            "orgId": 1,
            "receiver": format!("{stack}-slack"),
            "group_by": ["alertname", "testid"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
        }]);
    }
    Some(doc)
}
