//! Where the Grafana double follows Grafana 10.2 (and the version-gated behaviours of later
//! releases): provisioning order and folders, `prune`, the admin password of a data dir, Slack
//! validation, alerting delete/reset codes, both version-list shapes, and the UI-edit hook.

use std::path::Path;

use crate::support::{client, send};
use promo_doubles::grafana::{self, GrafanaConfig, GrafanaHandle};
use serde_json::{Value, json};

const TOKEN: &str = "glsa_10_2_token";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

async fn start_with(cfg: GrafanaConfig) -> std::io::Result<GrafanaHandle> {
    grafana::spawn(GrafanaConfig {
        service_account_tokens: vec![TOKEN.into()],
        ..cfg
    })
    .await
}

fn get(g: &GrafanaHandle, path: &str) -> reqwest::RequestBuilder {
    client()
        .get(format!("{}{path}", g.url()))
        .bearer_auth(TOKEN)
}

fn req(g: &GrafanaHandle, m: reqwest::Method, path: &str, body: Value) -> reqwest::RequestBuilder {
    client()
        .request(m, format!("{}{path}", g.url()))
        .bearer_auth(TOKEN)
        .json(&body)
}

#[tokio::test]
async fn alerting_is_provisioned_before_dashboards_and_its_folder_wins() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(
        &p.join("prov/alerting/a.yaml"),
        r#"apiVersion: 1
groups:
  - orgId: 1
    name: g
    folder: "promo-infra: promo"
    interval: 60s
    rules:
      - uid: r1
        title: r1
        condition: C
        for: 5m
        data:
          - refId: C
            datasourceUid: __expr__
            relativeTimeRange: { from: 0, to: 0 }
            model: { type: math, expression: "1" }
"#,
    );
    write(
        &p.join("prov/dashboards/d.yaml"),
        &format!(
            "apiVersion: 1\nproviders:\n  - name: p\n    folder: \"promo-infra: promo\"\n    folderUid: promo\n    options:\n      path: {}\n",
            p.join("dash").display()
        ),
    );
    write(&p.join("dash/m.json"), r#"{"uid": "m", "title": "M"}"#);
    let g = start_with(GrafanaConfig {
        provisioning_dir: Some(p.join("prov")),
        ..GrafanaConfig::default()
    })
    .await
    .unwrap();
    let folders = g.state().folders();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let f = &folders[0];
    assert_eq!(f.title, "promo-infra: promo");
    assert_ne!(
        f.uid, "promo",
        "alerting creates the folder first, with a random uid"
    );
    assert_eq!(f.uid.len(), 14);
    assert_eq!(g.state().dashboard("m").unwrap().folder_uid, f.uid);
    assert_eq!(g.state().alert_rules()[0].folder_uid, f.uid);
    let (st, _) = send(get(&g, "/api/folders/promo")).await;
    assert_eq!(st, 404);
    g.shutdown().await;
}

async fn prune_run(version: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("prov/datasources/ds.yaml");
    let one =
        "apiVersion: 1\nprune: true\ndatasources:\n  - name: A\n    type: influxdb\n    uid: a\n";
    write(
        &ds,
        &format!("{one}  - name: B\n    type: influxdb\n    uid: b\n"),
    );
    let g = start_with(GrafanaConfig {
        provisioning_dir: Some(dir.path().join("prov")),
        version: version.into(),
        ..GrafanaConfig::default()
    })
    .await
    .unwrap();
    write(&ds, one);
    g.state().reload_provisioning().unwrap();
    let names = g
        .state()
        .datasources()
        .iter()
        .map(|d| d.name.clone())
        .collect();
    g.shutdown().await;
    names
}

#[tokio::test]
async fn datasource_prune_is_ignored_before_10_4() {
    assert_eq!(
        prune_run("10.2.3").await,
        ["A", "B"],
        "10.2 keeps the orphan"
    );
    assert_eq!(prune_run("10.4.0").await, ["A"], "10.4 prunes it");
}

async fn login(g: &GrafanaHandle, user: &str, pw: &str) -> u16 {
    let resp = client()
        .get(format!("{}/api/org", g.url()))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

#[tokio::test]
async fn the_configured_admin_password_applies_only_on_the_first_start_of_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = |pw: &str| GrafanaConfig {
        admin_password: pw.into(),
        data_dir: Some(data.clone()),
        ..GrafanaConfig::default()
    };
    let g = start_with(cfg("first-pw")).await.unwrap();
    assert_eq!(login(&g, "admin", "first-pw").await, 200);
    g.shutdown().await;
    let stored = std::fs::read_to_string(data.join("grafana-double-admin.json")).unwrap();
    assert!(
        !stored.contains("first-pw"),
        "only a hash is stored: {stored}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("grafana-double-admin.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A new configured password on the same data dir is ignored.
    let g = start_with(cfg("second-pw")).await.unwrap();
    assert_eq!(login(&g, "admin", "second-pw").await, 401);
    assert_eq!(login(&g, "admin", "first-pw").await, 200);
    assert_eq!(
        g.state().admin_password(),
        "",
        "the double only knows the hash"
    );
    // A password changed through the API is what the next start keeps.
    let (st, body) = send(
        client()
            .put(format!("{}/api/user/password", g.url()))
            .basic_auth("admin", Some("first-pw"))
            .json(&json!({"oldPassword": "first-pw", "newPassword": "third-pw"})),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    g.shutdown().await;
    let g = start_with(cfg("second-pw")).await.unwrap();
    assert_eq!(login(&g, "admin", "third-pw").await, 200);
    assert_eq!(login(&g, "admin", "first-pw").await, 401);
    g.shutdown().await;

    // Without a data dir every start takes the configured password.
    let g = start_with(GrafanaConfig {
        admin_password: "second-pw".into(),
        ..GrafanaConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(login(&g, "admin", "second-pw").await, 200);
    g.shutdown().await;
}

async fn slack_start(settings: &str) -> std::io::Result<GrafanaHandle> {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("prov/alerting/cp.yaml"),
        &format!(
            "apiVersion: 1\ncontactPoints:\n  - orgId: 1\n    name: mkt\n    receivers:\n      - uid: s\n        type: slack\n        settings: {settings}\n"
        ),
    );
    start_with(GrafanaConfig {
        provisioning_dir: Some(dir.path().join("prov")),
        ..GrafanaConfig::default()
    })
    .await
}

#[tokio::test]
async fn an_empty_slack_url_refuses_to_start() {
    let e = slack_start(r##"{ url: "", recipient: "#promo" }"##)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "alerting provisioning: failure to parse file cp.yaml: mkt: token must be specified when using the Slack chat API"
    );
    let e = slack_start(r#"{ url: "", title: "x" }"#).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "alerting provisioning: failure to parse file cp.yaml: mkt: recipient must be specified when using the Slack chat API"
    );
    let g = slack_start(r#"{ url: "https://hooks.slack.example/T/B/X" }"#)
        .await
        .unwrap();
    g.shutdown().await;
    let g = slack_start(r##"{ token: "xoxb-1", recipient: "#promo" }"##)
        .await
        .unwrap();
    g.shutdown().await;
}

#[tokio::test]
async fn alerting_deletes_and_reset_answer_as_10_2() {
    let g = start_with(GrafanaConfig::default()).await.unwrap();
    let base = "/api/v1/provisioning";
    let put = reqwest::Method::PUT;
    let del = reqwest::Method::DELETE;
    let cp = json!({"uid": "s", "name": "mkt", "type": "slack", "settings": {"url": "https://hooks.example/x"}});
    let (st, _) = send(req(
        &g,
        reqwest::Method::POST,
        &format!("{base}/contact-points"),
        cp,
    ))
    .await;
    assert_eq!(st, 202);
    let (st, _) = send(req(
        &g,
        put,
        &format!("{base}/policies"),
        json!({"receiver": "mkt"}),
    ))
    .await;
    assert_eq!(st, 202);
    // In use by the policy: a plain error, hence 500.
    let path = format!("{base}/contact-points/s");
    let (st, body) = send(req(&g, del.clone(), &path, json!({}))).await;
    assert_eq!(
        (st, body["message"].clone()),
        (
            500,
            json!("contact point 'mkt' is currently used by a notification policy")
        )
    );
    // Reset: 202 with the default tree.
    let path = format!("{base}/policies");
    let (st, body) = send(req(&g, del.clone(), &path, json!({}))).await;
    assert_eq!(
        (st, body["receiver"].clone()),
        (202, json!("grafana-default-email"))
    );
    assert_eq!(body, g.state().policy().0);
    // In use no more, then unknown: both 202.
    for uid in ["s", "nope"] {
        let path = format!("{base}/contact-points/{uid}");
        let (st, body) = send(req(&g, del.clone(), &path, json!({}))).await;
        assert_eq!(
            (st, body),
            (202, json!({"message": "contactpoint deleted"})),
            "{uid}"
        );
    }
    let (st, _) = send(req(&g, del, &format!("{base}/alert-rules/nope"), json!({}))).await;
    assert_eq!(st, 204);
    g.shutdown().await;
}

async fn versions_of(version: &str, saves: usize) -> GrafanaHandle {
    let g = start_with(GrafanaConfig {
        version: version.into(),
        ..GrafanaConfig::default()
    })
    .await
    .unwrap();
    for i in 0..saves {
        let body = json!({"dashboard": {"uid": "w", "title": format!("W{i}")}, "overwrite": true});
        let (st, _) = send(req(&g, reqwest::Method::POST, "/api/dashboards/db", body)).await;
        assert_eq!(st, 200);
    }
    g
}

fn version_numbers(list: &Value) -> Vec<i64> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn version_lists_are_bare_arrays_up_to_11_5() {
    for version in ["10.2.3", "11.5.2"] {
        let g = versions_of(version, 3).await;
        let (st, body) = send(get(&g, "/api/dashboards/uid/w/versions?limit=2&start=1")).await;
        assert_eq!((st, version_numbers(&body)), (200, vec![2, 1]), "{version}");
        g.shutdown().await;
    }
}

#[tokio::test]
async fn version_lists_are_pages_with_a_continue_token_from_11_6() {
    let g = versions_of("11.6.0", 5).await;
    let (st, page) = send(get(&g, "/api/dashboards/uid/w/versions?limit=2")).await;
    assert_eq!(st, 200);
    assert_eq!(version_numbers(&page["versions"]), [5, 4]);
    let token = page["continueToken"].as_str().unwrap().to_owned();
    assert!(!token.is_empty());
    let (_, page) = send(get(
        &g,
        &format!("/api/dashboards/uid/w/versions?limit=2&continueToken={token}"),
    ))
    .await;
    assert_eq!(version_numbers(&page["versions"]), [3, 2]);
    let token = page["continueToken"].as_str().unwrap().to_owned();
    let (_, page) = send(get(
        &g,
        &format!("/api/dashboards/uid/w/versions?limit=2&continueToken={token}"),
    ))
    .await;
    assert_eq!(version_numbers(&page["versions"]), [1]);
    assert_eq!(page["continueToken"], "", "last page");
    let (_, all) = send(get(&g, "/api/dashboards/uid/w/versions")).await;
    assert_eq!(version_numbers(&all["versions"]), [5, 4, 3, 2, 1]);
    assert_eq!(all["continueToken"], "");
    let (st, body) = send(get(
        &g,
        "/api/dashboards/uid/w/versions?continueToken=bogus",
    ))
    .await;
    assert_eq!(
        (st, body["message"].clone()),
        (400, json!("invalid continueToken 'bogus'"))
    );
    g.shutdown().await;

    let g = versions_of("12.0.1", 1).await;
    let (_, body) = send(get(&g, "/api/dashboards/uid/w/versions")).await;
    assert_eq!(body["continueToken"], "");
    assert_eq!(version_numbers(&body["versions"]), [1]);
    g.shutdown().await;
}

#[tokio::test]
async fn ui_edit_saves_a_merge_patch_as_the_ui_would() {
    let g = start_with(GrafanaConfig::default()).await.unwrap();
    let post = reqwest::Method::POST;
    let (st, _) = send(req(
        &g,
        post.clone(),
        "/api/folders",
        json!({"uid": "promo", "title": "Promo"}),
    ))
    .await;
    assert_eq!(st, 200);
    let dash = json!({"uid": "m", "title": "M", "tags": ["promo-infra"],
        "panels": [{"id": 1, "title": "p95", "gridPos": {"h": 8, "w": 12}}]});
    let body = json!({"dashboard": dash, "folderUid": "promo", "message": "promo-infra apply"});
    let (st, _) = send(req(&g, post, "/api/dashboards/db", body)).await;
    assert_eq!(st, 200);

    // A marketing person retitles the panel and drops the tags (null removes, RFC 7396).
    let patch = json!({"panels": [{"id": 1, "title": "Temps de réponse", "gridPos": {"h": 8, "w": 12}}], "tags": null});
    let resp = client()
        .post(format!("{}/__double/ui-edit/m", g.url()))
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let saved: Value = resp.json().await.unwrap();
    assert_eq!(
        (saved["version"].clone(), saved["folderUid"].clone()),
        (json!(2), json!("promo"))
    );

    let d = g.state().dashboard("m").unwrap();
    assert_eq!(d.folder_uid, "promo");
    assert_eq!(
        d.data,
        json!({"id": d.id, "uid": "m", "title": "M", "version": 2,
            "panels": [{"id": 1, "title": "Temps de réponse", "gridPos": {"h": 8, "w": 12}}]})
    );
    let v = g.state().versions("m");
    let last = v.last().unwrap();
    assert_eq!(
        (
            last.version,
            last.parent_version,
            last.message.as_str(),
            last.created_by.as_str()
        ),
        (2, 1, "", "admin")
    );
    let (_, got) = send(get(&g, "/api/dashboards/uid/m")).await;
    assert_eq!(got["meta"]["updatedBy"], "admin");

    let resp = client()
        .post(format!("{}/__double/ui-edit/nope", g.url()))
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    g.shutdown().await;
}
