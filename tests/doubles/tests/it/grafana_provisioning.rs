//! File provisioning of the Grafana double: datasources, dashboard providers and alerting,
//! with Grafana's env interpolation rules, read-only enforcement and reload.
#![allow(clippy::disallowed_methods)] // tests read their environment (CI)

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::{client, send};
use promo_doubles::grafana::{self, GrafanaConfig, GrafanaHandle, SpawnOptions};
use serde_json::{Value, json};

const PW: &str = "adm1n-pw";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const DATASOURCES: &str = r#"apiVersion: 1
deleteDatasources:
  - name: Old
    orgId: 1
datasources:
  - name: InfluxDB
    type: influxdb
    uid: influx-k6
    access: proxy
    url: http://${PDBL_INFLUX_HOST}:8086
    isDefault: $PDBL_IS_DEFAULT
    jsonData:
      version: Flux
      organization: $PDBL_ORG
      defaultBucket: k6
      note: "costs $$5 and $PDBL_UNSET_VAR."
    secureJsonData:
      token: $PDBL_INFLUX_TOKEN
  - name: Editable
    type: influxdb
    uid: editable
    url: http://localhost:8086
    editable: true
"#;

const PROVIDERS: &str = r#"apiVersion: 1
providers:
  - name: promo
    orgId: 1
    folder: Marketing
    folderUid: promo
    type: file
    disableDeletion: false
    options:
      path: ${PDBL_DASH_DIR}
"#;

const MARKETING: &str = r#"{
  "uid": "promo-marketing",
  "title": "Promo marketing",
  "id": 77,
  "version": 12,
  "panels": [{"id": 1, "title": "p95", "targets": [{"query": "SELECT ... WHERE $timeFilter", "datasource": {"uid": "${DS_INFLUX}"}}]}]
}"#;

const ALERTING: &str = r#"apiVersion: 1
templates:
  - orgId: 1
    name: promo-tmpl
    template: '{{ define "promo" }}{{ $labels.testid }}{{ end }}'
contactPoints:
  - orgId: 1
    name: marketing-slack
    receivers:
      - uid: slack-mkt
        type: slack
        settings:
          url: $PDBL_SLACK_WEBHOOK
          title: '{{ template "promo" . }}'
policies:
  - orgId: 1
    receiver: marketing-slack
    group_by: ['grafana_folder', 'alertname']
    group_wait: 30s
    repeat_interval: ${PDBL_REPEAT}
groups:
  - orgId: 1
    name: k6-slo
    folder: Promo Alerts
    interval: 60s
    rules:
      - uid: k6-error-rate
        title: k6 error rate above $PDBL_ERR_PCT%
        condition: C
        for: 5m
        labels:
          team: $PDBL_TEAM
        annotations:
          summary: 'error rate {{ $values.B }} for $PDBL_TEAM'
        data:
          - refId: A
            datasourceUid: influx-k6
            relativeTimeRange: { from: 600, to: 0 }
            model:
              query: SELECT count(value) FROM http_reqs WHERE $timeFilter
          - refId: C
            datasourceUid: __expr__
            relativeTimeRange: { from: 0, to: 0 }
            model: { type: threshold, expression: A }
"#;

fn env() -> BTreeMap<String, String> {
    [
        ("PDBL_INFLUX_HOST", "influxdb"),
        ("PDBL_IS_DEFAULT", "true"),
        ("PDBL_ORG", "promo-org"),
        ("PDBL_INFLUX_TOKEN", "tok-123-secret"),
        ("PDBL_SLACK_WEBHOOK", "https://hooks.slack.example/T/B/X"),
        ("PDBL_REPEAT", "4h"),
        ("PDBL_ERR_PCT", "5"),
        ("PDBL_TEAM", "marketing"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A provisioning tree plus the dashboards directory it points at.
fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(&p.join("prov/datasources/influx.yaml"), DATASOURCES);
    write(&p.join("prov/dashboards/promo.yaml"), PROVIDERS);
    write(&p.join("prov/alerting/promo.yaml"), ALERTING);
    write(&p.join("dash/marketing.json"), MARKETING);
    write(
        &p.join("dash/tech/technical.json"),
        r#"{"uid": "k6-technical", "title": "k6 technical", "panels": []}"#,
    );
    write(&p.join("dash/broken.json"), "{ not json");
    dir
}

async fn start(dir: &Path) -> std::io::Result<GrafanaHandle> {
    let mut env = env();
    env.insert(
        "PDBL_DASH_DIR".into(),
        dir.join("dash").display().to_string(),
    );
    grafana::spawn_with(
        GrafanaConfig {
            admin_password: PW.into(),
            provisioning_dir: Some(dir.join("prov")),
            ..GrafanaConfig::default()
        },
        SpawnOptions {
            env,
            ..SpawnOptions::default()
        },
    )
    .await
}

fn admin(
    c: &reqwest::Client,
    g: &GrafanaHandle,
    m: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    c.request(m, format!("{}{path}", g.url()))
        .basic_auth("admin", Some(PW))
}

#[tokio::test]
async fn loads_provisioning_with_grafana_interpolation_rules() {
    let dir = tree();
    let g = start(dir.path()).await.expect("spawn");
    let c = client();
    let get = |p: &str| admin(&c, &g, reqwest::Method::GET, p);

    // Datasources: values interpolated, $$ is a literal $, unset variables are empty.
    let (st, ds) = send(get("/api/datasources/uid/influx-k6")).await;
    assert_eq!(st, 200);
    assert_eq!(ds["url"], "http://influxdb:8086");
    assert_eq!(ds["isDefault"], true);
    assert_eq!(ds["jsonData"]["organization"], "promo-org");
    assert_eq!(ds["jsonData"]["note"], "costs $5 and .");
    assert_eq!(ds["readOnly"], true);
    assert_eq!(ds["secureJsonFields"], json!({"token": true}));
    assert!(!ds.to_string().contains("tok-123-secret"));
    let stored = g.state().datasources();
    let influx = stored.iter().find(|d| d.uid == "influx-k6").unwrap();
    assert_eq!(influx.secure_json_data["token"], "tok-123-secret");
    let (_, editable) = send(get("/api/datasources/uid/editable")).await;
    assert_eq!(editable["readOnly"], false);

    // Dashboards: provisioned into the provider's folder; JSON is never interpolated.
    let (st, d) = send(get("/api/dashboards/uid/promo-marketing")).await;
    assert_eq!(st, 200);
    assert_eq!(d["meta"]["provisioned"], true);
    assert_eq!(d["meta"]["provisionedExternalId"], "marketing.json");
    assert_eq!(d["meta"]["folderUid"], "promo");
    assert_eq!(d["meta"]["folderTitle"], "Marketing");
    assert_eq!(d["meta"]["version"], 1, "the file's version is ignored");
    assert_ne!(d["dashboard"]["id"], 77, "the file's id is ignored");
    assert_eq!(
        d["dashboard"]["panels"][0]["targets"][0]["datasource"]["uid"],
        "${DS_INFLUX}"
    );
    assert_eq!(
        d["dashboard"]["panels"][0]["targets"][0]["query"],
        "SELECT ... WHERE $timeFilter"
    );
    let (st, t) = send(get("/api/dashboards/uid/k6-technical")).await;
    assert_eq!(st, 200);
    assert_eq!(t["meta"]["provisionedExternalId"], "tech/technical.json");
    let warnings = g.state().provisioning_warnings();
    assert!(
        warnings.iter().any(|w| w.contains("broken.json")),
        "{warnings:?}"
    );

    // Alerting: contact point settings and labels interpolated; annotations, query models and
    // templates are not.
    let cps = g.state().contact_points();
    let slack = cps.iter().find(|c| c.uid == "slack-mkt").unwrap();
    assert_eq!(slack.settings["url"], "https://hooks.slack.example/T/B/X");
    assert_eq!(slack.provenance, "file");
    let (policy, prov) = g.state().policy();
    assert_eq!(
        (policy["receiver"].clone(), prov.as_str()),
        (json!("marketing-slack"), "file")
    );
    assert_eq!(policy["repeat_interval"], "4h");
    assert_eq!(
        g.state().templates()[0].template,
        r#"{{ define "promo" }}{{ $labels.testid }}{{ end }}"#
    );
    let (st, rule) = send(get("/api/v1/provisioning/alert-rules/k6-error-rate")).await;
    assert_eq!(st, 200);
    assert_eq!(rule["title"], "k6 error rate above 5%");
    assert_eq!(rule["labels"]["team"], "marketing");
    assert_eq!(
        rule["annotations"]["summary"],
        "error rate {{ $values.B }} for $PDBL_TEAM"
    );
    assert_eq!(
        rule["data"][0]["model"]["query"],
        "SELECT count(value) FROM http_reqs WHERE $timeFilter"
    );
    assert_eq!(rule["provenance"], "file");
    assert_eq!(rule["for"], "5m");
    let folder_uid = rule["folderUID"].as_str().unwrap().to_owned();
    assert_eq!(
        g.state()
            .folders()
            .iter()
            .find(|f| f.uid == folder_uid)
            .unwrap()
            .title,
        "Promo Alerts"
    );
    let (st, grp) = send(get(&format!(
        "/api/v1/provisioning/folder/{folder_uid}/rule-groups/k6-slo"
    )))
    .await;
    assert_eq!((st, grp["interval"].clone()), (200, json!(60)));
    g.shutdown().await;
}

#[tokio::test]
async fn file_provisioned_objects_are_read_only_over_the_api() {
    let dir = tree();
    let g = start(dir.path()).await.expect("spawn");
    let c = client();
    let req = |m, p: &str| admin(&c, &g, m, p);

    let body = json!({"name": "InfluxDB", "type": "influxdb", "url": "http://elsewhere:8086"});
    let (st, resp) =
        send(req(reqwest::Method::PUT, "/api/datasources/uid/influx-k6").json(&body)).await;
    assert_eq!(
        (st, resp),
        (
            403,
            json!({"message": "Cannot update read-only data source"})
        )
    );
    let (st, resp) = send(req(
        reqwest::Method::DELETE,
        "/api/datasources/uid/influx-k6",
    ))
    .await;
    assert_eq!(
        (st, resp),
        (
            403,
            json!({"message": "Cannot delete read-only data source"})
        )
    );
    let ed = json!({"name": "Editable", "type": "influxdb", "url": "http://changed:8086"});
    let (st, _) = send(req(reqwest::Method::PUT, "/api/datasources/uid/editable").json(&ed)).await;
    assert_eq!(st, 200, "editable: true datasources accept API updates");

    let save = json!({"dashboard": {"uid": "promo-marketing", "title": "Promo marketing"}, "folderUid": "promo", "overwrite": true});
    let (st, resp) = send(req(reqwest::Method::POST, "/api/dashboards/db").json(&save)).await;
    assert_eq!(
        (st, resp),
        (400, json!({"message": "Cannot save provisioned dashboard"}))
    );
    let (st, resp) = send(req(
        reqwest::Method::DELETE,
        "/api/dashboards/uid/promo-marketing",
    ))
    .await;
    assert_eq!(
        (st, resp),
        (
            400,
            json!({"message": "provisioned dashboard cannot be deleted"})
        )
    );
    let (st, _) = send(
        req(
            reqwest::Method::POST,
            "/api/dashboards/uid/promo-marketing/restore",
        )
        .json(&json!({"version": 1})),
    )
    .await;
    assert_eq!(st, 400);

    let cp = json!({"name": "marketing-slack", "type": "slack", "settings": {"url": "https://x"}});
    let (st, resp) = send(
        req(
            reqwest::Method::PUT,
            "/api/v1/provisioning/contact-points/slack-mkt",
        )
        .json(&cp),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(
        resp["message"],
        "cannot change provenance from 'file' to 'api'"
    );
    let (st, _) = send(
        req(reqwest::Method::PUT, "/api/v1/provisioning/policies")
            .json(&json!({"receiver": "marketing-slack"})),
    )
    .await;
    assert_eq!(st, 403);
    let (_, rule) = send(req(
        reqwest::Method::GET,
        "/api/v1/provisioning/alert-rules/k6-error-rate",
    ))
    .await;
    let (st, _) = send(
        req(
            reqwest::Method::PUT,
            "/api/v1/provisioning/alert-rules/k6-error-rate",
        )
        .json(&rule),
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = send(req(
        reqwest::Method::DELETE,
        "/api/v1/provisioning/alert-rules/k6-error-rate",
    ))
    .await;
    // Grafana 10.2's delete route turns every refusal into a 500.
    assert_eq!(st, 500);
    assert_eq!(g.state().alert_rules().len(), 1);
    g.shutdown().await;
}

#[tokio::test]
async fn reload_rereads_files_and_is_all_or_nothing() {
    let dir = tree();
    let g = start(dir.path()).await.expect("spawn");
    let c = client();
    let reload = |kind: &str| {
        admin(
            &c,
            &g,
            reqwest::Method::POST,
            &format!("/api/admin/provisioning/{kind}/reload"),
        )
    };

    // Unchanged files do not create versions.
    let (st, body) = send(reload("dashboards")).await;
    assert_eq!(
        (st, body),
        (200, json!({"message": "Dashboards config reloaded"}))
    );
    assert_eq!(g.state().dashboard("promo-marketing").unwrap().version, 1);

    // A changed file is a new version; a removed file deletes its dashboard.
    write(
        &dir.path().join("dash/marketing.json"),
        &MARKETING.replace("Promo marketing", "Promo marketing v2"),
    );
    std::fs::remove_file(dir.path().join("dash/tech/technical.json")).unwrap();
    let (st, _) = send(reload("dashboards")).await;
    assert_eq!(st, 200);
    let d = g.state().dashboard("promo-marketing").unwrap();
    assert_eq!((d.version, d.title.as_str()), (2, "Promo marketing v2"));
    assert!(g.state().dashboard("k6-technical").is_none());

    // Datasources.
    write(
        &dir.path().join("prov/datasources/influx.yaml"),
        &DATASOURCES.replace(":8086\n    isDefault", ":9999\n    isDefault"),
    );
    let (st, body) = send(reload("datasources")).await;
    assert_eq!(
        (st, body),
        (200, json!({"message": "Datasources config reloaded"}))
    );
    let ds = g.state().datasources();
    let influx = ds.iter().find(|d| d.uid == "influx-k6").unwrap();
    assert_eq!(
        (influx.url.as_str(), influx.version),
        ("http://influxdb:9999", 2)
    );

    // A broken alerting file: 500, and nothing changes.
    let before = g.state().alert_rules();
    write(
        &dir.path().join("prov/alerting/promo.yaml"),
        &ALERTING.replace("from: 600, to: 0", "from: 0, to: 0"),
    );
    let (st, body) = send(reload("alerting")).await;
    assert_eq!(st, 500);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("invalid relative time range [From: 0s, To: 0s]"),
        "{body}"
    );
    assert_eq!(g.state().alert_rules(), before);
    write(
        &dir.path().join("prov/alerting/promo.yaml"),
        &ALERTING.replace("title: k6 error rate above", "title: k6 errors above"),
    );
    let (st, body) = send(reload("alerting")).await;
    assert_eq!(
        (st, body),
        (200, json!({"message": "Alerting config reloaded"}))
    );
    assert_eq!(g.state().alert_rules()[0].title, "k6 errors above 5%");

    // The library handle reloads everything too.
    write(
        &dir.path().join("dash/new.json"),
        r#"{"uid": "new-dash", "title": "New"}"#,
    );
    g.state().reload_provisioning().unwrap();
    assert!(g.state().dashboard("new-dash").unwrap().is_provisioned());
    g.shutdown().await;
}

#[tokio::test]
async fn invalid_provisioning_fails_startup_with_grafana_like_errors() {
    // A datasource query with a zero relative time range.
    let dir = tree();
    write(
        &dir.path().join("prov/alerting/promo.yaml"),
        &ALERTING.replace("from: 600, to: 0", "from: 0, to: 0"),
    );
    let err = start(dir.path()).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(
        err.to_string()
            .contains("invalid relative time range [From: 0s, To: 0s]"),
        "{err}"
    );

    // YAML that does not parse.
    let dir = tree();
    write(
        &dir.path().join("prov/datasources/bad.yaml"),
        "datasources: [ {name: x, type: ",
    );
    let err = start(dir.path()).await.unwrap_err();
    assert!(
        err.to_string().contains("failure to parse file bad.yaml"),
        "{err}"
    );

    // Two default datasources.
    let dir = tree();
    write(
        &dir.path().join("prov/datasources/influx.yaml"),
        &DATASOURCES.replace("editable: true", "editable: true\n    isDefault: true"),
    );
    let err = start(dir.path()).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("Only one datasource per organization can be marked as default"),
        "{err}"
    );

    // A policy naming a receiver that does not exist.
    let dir = tree();
    write(
        &dir.path().join("prov/alerting/promo.yaml"),
        &ALERTING.replace("receiver: marketing-slack", "receiver: nobody"),
    );
    let err = start(dir.path()).await.unwrap_err();
    assert!(
        err.to_string().contains("receiver 'nobody' does not exist"),
        "{err}"
    );

    // A bad duration.
    let dir = tree();
    write(
        &dir.path().join("prov/alerting/promo.yaml"),
        &ALERTING.replace("interval: 60s", "interval: soon"),
    );
    let err = start(dir.path()).await.unwrap_err();
    assert!(
        err.to_string().contains("not a valid duration string"),
        "{err}"
    );
}

#[tokio::test]
async fn process_environment_is_used_when_no_override_is_given() {
    let dir = tempfile::tempdir().unwrap();
    // PATH is set in every test environment; use it as a value to interpolate.
    let path = std::env::var("PATH").unwrap_or_default();
    write(
        &dir.path().join("prov/datasources/ds.yaml"),
        "apiVersion: 1\ndatasources:\n  - name: X\n    type: influxdb\n    uid: x\n    url: $PATH\n",
    );
    let g = grafana::spawn(GrafanaConfig {
        provisioning_dir: Some(dir.path().join("prov")),
        ..GrafanaConfig::default()
    })
    .await
    .unwrap();
    let ds: Vec<Value> = g
        .state()
        .datasources()
        .iter()
        .map(|d| json!(d.url))
        .collect();
    assert_eq!(ds, vec![json!(path)]);
    g.shutdown().await;
}
