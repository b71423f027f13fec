//! The Grafana double's HTTP API, exercised over 127.0.0.1.
#![allow(clippy::disallowed_methods)] // tests read their environment (CI)

use crate::support::{client, send};
use axum::response::IntoResponse;
use promo_doubles::FaultSpec;
use promo_doubles::grafana::{self, GrafanaConfig, GrafanaHandle};
use serde_json::{Value, json};

const TOKEN: &str = "glsa_test_token_0123456789";

async fn start() -> GrafanaHandle {
    grafana::spawn(GrafanaConfig {
        admin_user: "admin".into(),
        admin_password: "s3cret-pw".into(),
        service_account_tokens: vec![TOKEN.into()],
        provisioning_dir: None,
        version: "10.2.3".into(),
        ..GrafanaConfig::default()
    })
    .await
    .expect("spawn grafana double")
}

struct Api {
    base: String,
    c: reqwest::Client,
}

impl Api {
    fn new(g: &GrafanaHandle) -> Self {
        Self {
            base: g.url(),
            c: client(),
        }
    }
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.c
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
    }
    fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.c
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(&body)
    }
    fn put(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.c
            .put(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(&body)
    }
    fn delete(&self, path: &str) -> reqwest::RequestBuilder {
        self.c
            .delete(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
    }
    fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.c
            .request(method, format!("{}{path}", self.base))
            .basic_auth("admin", Some("s3cret-pw"))
    }
}

#[tokio::test]
async fn health_needs_no_auth_and_reports_version() {
    let g = start().await;
    assert!(g.addr().ip().is_loopback());
    let api = Api::new(&g);
    let (st, body) = send(api.c.get(format!("{}/api/health", g.url()))).await;
    assert_eq!(st, 200);
    assert_eq!(
        body,
        json!({"commit": "double", "database": "ok", "version": "10.2.3"})
    );
    g.shutdown().await;
}

#[tokio::test]
async fn auth_is_required_and_checked() {
    let g = start().await;
    let api = Api::new(&g);
    let url = format!("{}/api/search", g.url());
    let (st, body) = send(api.c.get(&url)).await;
    assert_eq!((st, body), (401, json!({"message": "Unauthorized"})));
    let (st, body) = send(api.c.get(&url).basic_auth("admin", Some("wrong"))).await;
    assert_eq!(st, 401);
    assert_eq!(body["message"], "Invalid username or password");
    let (st, body) = send(api.c.get(&url).bearer_auth("glsa_nope")).await;
    assert_eq!(st, 401);
    assert_eq!(body["message"], "Invalid API key");
    let (st, _) = send(api.c.get(&url).basic_auth("admin", Some("s3cret-pw"))).await;
    assert_eq!(st, 200);
    let (st, _) = send(api.get("/api/search")).await;
    assert_eq!(st, 200);
    let (st, body) = send(api.get("/api/org")).await;
    assert_eq!((st, body["id"].clone()), (200, json!(1)));
    let (st, body) = send(api.get("/api/nope")).await;
    assert_eq!((st, body), (404, json!({"message": "Not found"})));
    g.shutdown().await;
}

#[tokio::test]
async fn anonymous_visitors_read_only_when_anonymous_access_is_on() {
    let g = grafana::spawn(GrafanaConfig {
        anonymous: true,
        ..GrafanaConfig::default()
    })
    .await
    .expect("spawn");
    let c = client();
    let (st, _) = send(c.get(format!("{}/api/search", g.url()))).await;
    assert_eq!(st, 200);
    let (st, _) = send(
        c.post(format!("{}/api/folders", g.url()))
            .json(&json!({"title": "x"})),
    )
    .await;
    assert_eq!(st, 401);
    g.shutdown().await;
}

#[tokio::test]
async fn datasource_health_connects_to_the_datasource_as_the_plugin_does() {
    let g = start().await;
    let api = Api::new(&g);
    // An InfluxDB stand-in: SHOW MEASUREMENTS as `grafana` / `pw`, else 401.
    let influx = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let influx_url = format!("http://{}", influx.local_addr().expect("addr"));
    let app = axum::Router::new().route(
        "/query",
        axum::routing::get(|headers: axum::http::HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            // base64("grafana:pw")
            if auth == "Basic Z3JhZmFuYTpwdw==" {
                axum::Json(json!({"results": [{"series": [{"values": [["http_reqs"], ["vus"]]}]}]}))
                    .into_response()
            } else {
                (axum::http::StatusCode::UNAUTHORIZED, "{}").into_response()
            }
        }),
    );
    let server = tokio::spawn(async move { axum::serve(influx, app).await });
    let ds = |uid: &str, url: &str, password: &str| {
        json!({
            "name": uid, "type": "influxdb", "uid": uid, "access": "proxy", "url": url,
            "user": "grafana", "jsonData": {"dbName": "k6"},
            "secureJsonData": {"password": password}
        })
    };
    for body in [
        ds("good", &influx_url, "pw"),
        ds("wrong-password", &influx_url, "nope"),
        ds("nothing-there", "http://127.0.0.1:9", "pw"),
    ] {
        let (st, b) = send(api.post("/api/datasources", body)).await;
        assert_eq!(st, 200, "{b}");
    }
    let health = |uid: &str| send(api.get(&format!("/api/datasources/uid/{uid}/health")));
    assert_eq!(
        health("good").await,
        (
            200,
            json!({"status": "OK", "message": "datasource is working. 2 measurements found"})
        )
    );
    assert_eq!(
        health("wrong-password").await,
        (
            400,
            json!({"status": "ERROR", "message": "error reading InfluxDB. Status Code: 401"})
        )
    );
    let (st, b) = health("nothing-there").await;
    assert_eq!((st, b["status"].clone()), (400, json!("ERROR")), "{b}");
    assert_eq!(
        health("unknown").await,
        (
            500,
            json!({"message": "Unable to load datasource metadata"})
        )
    );
    assert_eq!(
        health("bad$uid").await,
        (400, json!({"message": "UID is invalid"}))
    );
    server.abort();
    g.shutdown().await;
}

#[tokio::test]
async fn datasources_crud_and_errors() {
    let g = start().await;
    let api = Api::new(&g);
    let ds = json!({
        "name": "InfluxDB", "type": "influxdb", "uid": "influx-k6", "access": "proxy",
        "url": "http://influxdb:8086", "isDefault": true,
        "jsonData": {"version": "Flux", "organization": "promo", "defaultBucket": "k6"},
        "secureJsonData": {"token": "supersecret"}
    });
    let (st, body) = send(api.post("/api/datasources", ds.clone())).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["message"], "Datasource added");
    assert_eq!(body["name"], "InfluxDB");
    assert_eq!(
        body["datasource"]["secureJsonFields"],
        json!({"token": true})
    );
    assert!(!body.to_string().contains("supersecret"));

    let (st, body) = send(api.post("/api/datasources", ds.clone())).await;
    assert_eq!(
        (st, body),
        (
            409,
            json!({"message": "data source with the same name already exists"})
        )
    );

    let (st, body) = send(api.get("/api/datasources/uid/influx-k6")).await;
    assert_eq!(st, 200);
    assert_eq!(body["jsonData"]["defaultBucket"], "k6");
    assert_eq!(body["readOnly"], false);
    assert_eq!(body["version"], 1);
    assert!(body.get("secureJsonData").is_none());
    let (st, body) = send(api.get("/api/datasources/name/InfluxDB")).await;
    assert_eq!((st, body["uid"].clone()), (200, json!("influx-k6")));
    let (st, list) = send(api.get("/api/datasources")).await;
    assert_eq!(st, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1));

    let mut upd = ds.clone();
    upd["url"] = json!("http://influxdb2:8086");
    upd.as_object_mut().unwrap().remove("secureJsonData");
    let (st, body) = send(api.put("/api/datasources/uid/influx-k6", upd)).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["message"], "Datasource updated");
    assert_eq!(body["datasource"]["url"], "http://influxdb2:8086");
    assert_eq!(body["datasource"]["version"], 2);
    // Secure fields survive an update that does not resend them.
    assert_eq!(
        body["datasource"]["secureJsonFields"],
        json!({"token": true})
    );

    let (st, _) = send(api.get("/api/datasources/uid/missing")).await;
    assert_eq!(st, 404);
    let (st, body) = send(api.delete("/api/datasources/uid/influx-k6")).await;
    assert_eq!(
        (st, body["message"].clone()),
        (200, json!("Data source deleted"))
    );
    assert!(g.state().datasources().is_empty());
    g.shutdown().await;
}

#[tokio::test]
async fn folders_crud_and_version_check() {
    let g = start().await;
    let api = Api::new(&g);
    let (st, f) = send(api.post("/api/folders", json!({"uid": "promo", "title": "Promo"}))).await;
    assert_eq!(st, 200, "{f}");
    assert_eq!(
        (f["uid"].clone(), f["version"].clone()),
        (json!("promo"), json!(1))
    );
    assert_eq!(f["url"], "/dashboards/f/promo/promo");
    let (st, _) = send(api.post("/api/folders", json!({"uid": "promo", "title": "Other"}))).await;
    assert_eq!(st, 409);
    let (st, body) = send(api.post("/api/folders", json!({"title": ""}))).await;
    assert_eq!(
        (st, body),
        (400, json!({"message": "folder title cannot be empty"}))
    );
    let (st, list) = send(api.get("/api/folders")).await;
    assert_eq!(st, 200);
    assert_eq!(list[0]["uid"], "promo");

    let (st, body) = send(api.put(
        "/api/folders/promo",
        json!({"title": "Promo 2", "version": 0}),
    ))
    .await;
    assert_eq!(st, 412);
    assert_eq!(
        body,
        json!({"message": "the folder has been changed by someone else", "status": "version-mismatch"})
    );
    let (st, body) = send(api.put(
        "/api/folders/promo",
        json!({"title": "Promo 2", "version": 1}),
    ))
    .await;
    assert_eq!(
        (st, body["version"].clone(), body["title"].clone()),
        (200, json!(2), json!("Promo 2"))
    );
    let (st, body) = send(api.put(
        "/api/folders/promo",
        json!({"title": "Promo 3", "overwrite": true}),
    ))
    .await;
    assert_eq!((st, body["version"].clone()), (200, json!(3)));

    // Deleting a folder deletes its dashboards.
    let (st, _) = send(api.post(
        "/api/dashboards/db",
        json!({"dashboard": {"title": "In folder", "uid": "inf"}, "folderUid": "promo"}),
    ))
    .await;
    assert_eq!(st, 200);
    let (st, body) = send(api.delete("/api/folders/promo")).await;
    assert_eq!(
        (st, body["message"].clone()),
        (200, json!("Folder Promo 3 deleted"))
    );
    assert!(g.state().dashboard("inf").is_none());
    let (st, body) = send(api.get("/api/folders/promo")).await;
    assert_eq!(
        (st, body["message"].clone()),
        (404, json!("folder not found"))
    );
    g.shutdown().await;
}

#[tokio::test]
async fn dashboards_save_get_and_documented_errors() {
    let g = start().await;
    let api = Api::new(&g);
    send(api.post("/api/folders", json!({"uid": "promo", "title": "Promo"}))).await;
    let dash = json!({"id": null, "uid": "promo-k6", "title": "Promo k6", "tags": ["k6", "managed-by:promo-infra"], "panels": []});
    let (st, body) = send(api.post(
        "/api/dashboards/db",
        json!({"dashboard": dash, "folderUid": "promo", "message": "first", "overwrite": false}),
    ))
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["uid"], "promo-k6");
    assert_eq!(body["version"], 1);
    assert_eq!(body["slug"], "promo-k6");
    assert_eq!(body["url"], "/d/promo-k6/promo-k6");
    let id = body["id"].as_i64().unwrap();

    let (st, got) = send(api.get("/api/dashboards/uid/promo-k6")).await;
    assert_eq!(st, 200);
    assert_eq!(got["dashboard"]["id"], id);
    assert_eq!(got["dashboard"]["version"], 1);
    assert_eq!(got["meta"]["version"], 1);
    assert_eq!(got["meta"]["folderUid"], "promo");
    assert_eq!(got["meta"]["folderTitle"], "Promo");
    assert_eq!(got["meta"]["provisioned"], false);
    assert_eq!(got["meta"]["slug"], "promo-k6");
    assert!(got["meta"]["created"].as_str().unwrap().ends_with('Z'));

    // Stale version, no overwrite: 412 version-mismatch (with or without the numeric id).
    let stale = json!({"uid": "promo-k6", "title": "Promo k6", "version": 0});
    let (st, body) = send(api.post(
        "/api/dashboards/db",
        json!({"dashboard": stale, "folderUid": "promo"}),
    ))
    .await;
    assert_eq!(st, 412);
    assert_eq!(
        body,
        json!({"message": "The dashboard has been changed by someone else", "status": "version-mismatch"})
    );
    let (st, _) = send(api.post("/api/dashboards/db", json!({"dashboard": {"id": id, "uid": "promo-k6", "title": "Promo k6", "version": 7}, "folderUid": "promo"}))).await;
    assert_eq!(st, 412);
    // Current version: accepted; overwrite: accepted whatever the version.
    let (st, body) = send(api.post("/api/dashboards/db", json!({"dashboard": {"uid": "promo-k6", "title": "Promo k6", "version": 1}, "folderUid": "promo", "message": "second"}))).await;
    assert_eq!((st, body["version"].clone()), (200, json!(2)));
    let (st, body) = send(api.post("/api/dashboards/db", json!({"dashboard": {"uid": "promo-k6", "title": "Promo k6"}, "folderUid": "promo", "overwrite": true, "message": "third"}))).await;
    assert_eq!((st, body["version"].clone()), (200, json!(3)));

    // Same title in the same folder, different uid: 412 name-exists.
    let (st, body) = send(api.post(
        "/api/dashboards/db",
        json!({"dashboard": {"uid": "other", "title": "Promo k6"}, "folderUid": "promo"}),
    ))
    .await;
    assert_eq!(st, 412);
    assert_eq!(
        body,
        json!({"message": "A dashboard with the same name in the folder already exists", "status": "name-exists"})
    );
    // Same title elsewhere is fine.
    let (st, _) = send(api.post("/api/dashboards/db", json!({"dashboard": {"uid": "other", "title": "Promo k6", "tags": ["managed-by:promo-infra"]}}))).await;
    assert_eq!(st, 200);

    // uid rules and empty title.
    let long = "a".repeat(41);
    let (st, body) = send(api.post(
        "/api/dashboards/db",
        json!({"dashboard": {"uid": long, "title": "Long"}}),
    ))
    .await;
    assert_eq!(
        (st, body),
        (400, json!({"message": "uid too long, max 40 characters"}))
    );
    let (st, body) = send(api.post(
        "/api/dashboards/db",
        json!({"dashboard": {"uid": "a/b", "title": "Bad"}}),
    ))
    .await;
    assert_eq!(
        (st, body),
        (400, json!({"message": "uid contains illegal characters"}))
    );
    let (st, body) =
        send(api.post("/api/dashboards/db", json!({"dashboard": {"title": "  "}}))).await;
    assert_eq!(
        (st, body),
        (
            400,
            json!({"message": "Dashboard title cannot be empty", "status": "empty-name"})
        )
    );
    let (st, body) = send(api.post(
        "/api/dashboards/db",
        json!({"dashboard": {"title": "X"}, "folderUid": "nope"}),
    ))
    .await;
    assert_eq!((st, body), (404, json!({"message": "Folder not found"})));
    let (st, body) = send(
        api.c
            .post(format!("{}/api/dashboards/db", g.url()))
            .bearer_auth(TOKEN)
            .body("{not json"),
    )
    .await;
    assert_eq!((st, body), (400, json!({"message": "bad request data"})));

    // Leaving out the folder moves the dashboard to the root.
    let (st, _) = send(api.post(
        "/api/dashboards/db",
        json!({"dashboard": {"uid": "promo-k6", "title": "Promo k6 moved"}, "overwrite": true}),
    ))
    .await;
    assert_eq!(st, 200);
    assert_eq!(g.state().dashboard("promo-k6").unwrap().folder_uid, "");

    // Search.
    let (st, hits) = send(api.get("/api/search?type=dash-db&query=promo")).await;
    assert_eq!(st, 200);
    let uids: Vec<&str> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids, vec!["other", "promo-k6"]);
    let (_, hits) = send(api.get("/api/search?tag=managed-by:promo-infra")).await;
    assert_eq!(hits.as_array().unwrap().len(), 1);
    assert_eq!(hits[0]["uid"], "other");
    let (_, hits) = send(api.get("/api/search?type=dash-folder")).await;
    assert_eq!(hits[0]["type"], "dash-folder");
    let (_, hits) = send(api.get("/api/search?limit=1&page=2&type=dash-db")).await;
    assert_eq!(hits.as_array().unwrap().len(), 1);
    assert_eq!(hits[0]["uid"], "promo-k6");

    let (st, body) = send(api.delete("/api/dashboards/uid/other")).await;
    assert_eq!(
        (st, body["message"].clone()),
        (200, json!("Dashboard Promo k6 deleted"))
    );
    let (st, body) = send(api.get("/api/dashboards/uid/other")).await;
    assert_eq!(
        (st, body),
        (
            404,
            json!({"message": "Dashboard not found", "status": "not-found"})
        )
    );
    g.shutdown().await;
}

#[tokio::test]
async fn version_history_and_restore_keep_messages() {
    let g = start().await;
    let api = Api::new(&g);
    for (i, title) in ["v1 title", "v2 title", "v3 title"].iter().enumerate() {
        let (st, body) = send(api.post(
            "/api/dashboards/db",
            json!({
                "dashboard": {"uid": "hist", "title": title},
                "overwrite": true, "message": format!("promo-infra apply {}", i + 1)
            }),
        ))
        .await;
        assert_eq!((st, body["version"].clone()), (200, json!(i + 1)));
    }
    let (st, versions) = send(api.get("/api/dashboards/uid/hist/versions")).await;
    assert_eq!(st, 200);
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 3);
    assert_eq!(versions[0]["version"], 3, "newest first");
    assert_eq!(versions[0]["message"], "promo-infra apply 3");
    assert_eq!(versions[2]["message"], "promo-infra apply 1");
    assert!(versions[0].get("data").is_none());

    let (st, v1) = send(api.get("/api/dashboards/uid/hist/versions/1")).await;
    assert_eq!(st, 200);
    assert_eq!(v1["data"]["title"], "v1 title");
    let (st, _) = send(api.get("/api/dashboards/uid/hist/versions/99")).await;
    assert_eq!(st, 404);

    let (st, body) =
        send(api.post("/api/dashboards/uid/hist/restore", json!({"version": 1}))).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["version"], 4);
    assert_eq!(body["status"], "success");
    let (_, got) = send(api.get("/api/dashboards/uid/hist")).await;
    assert_eq!(got["dashboard"]["title"], "v1 title");
    let (_, versions) = send(api.get("/api/dashboards/uid/hist/versions?limit=2")).await;
    assert_eq!(versions.as_array().unwrap().len(), 2);
    assert_eq!(versions[0]["restoredFrom"], 1);
    assert_eq!(versions[0]["message"], "Restored from version 1");
    assert_eq!(versions[0]["parentVersion"], 3);
    assert_eq!(g.state().versions("hist").len(), 4);
    let (st, _) = send(api.post("/api/dashboards/uid/hist/restore", json!({"version": 42}))).await;
    assert_eq!(st, 404);
    g.shutdown().await;
}

#[tokio::test]
async fn annotations_add_and_filter() {
    let g = start().await;
    let api = Api::new(&g);
    send(api.post(
        "/api/dashboards/db",
        json!({"dashboard": {"uid": "promo-k6", "title": "P"}}),
    ))
    .await;
    let (st, body) = send(api.post(
        "/api/annotations",
        json!({
            "dashboardUID": "promo-k6", "panelId": 2, "time": 1_000, "timeEnd": 5_000,
            "tags": ["k6", "promo", "t1"], "text": "test t1"
        }),
    ))
    .await;
    assert_eq!(st, 200);
    assert_eq!(body["message"], "Annotation added");
    let id1 = body["id"].as_i64().unwrap();
    let (_, body) = send(api.post(
        "/api/annotations",
        json!({"time": 10_000, "tags": ["k6", "aborted"], "text": "org-wide"}),
    ))
    .await;
    let id2 = body["id"].as_i64().unwrap();
    assert_ne!(id1, id2);
    let (st, body) = send(api.post("/api/annotations", json!({"time": 1}))).await;
    assert_eq!(st, 400, "{body}");

    let (_, all) = send(api.get("/api/annotations")).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(all[0]["id"], id2, "newest first");
    let (_, f) = send(api.get("/api/annotations?tags=k6&tags=promo")).await;
    assert_eq!(f.as_array().unwrap().len(), 1);
    assert_eq!(f[0]["timeEnd"], 5_000);
    assert_eq!(f[0]["dashboardUID"], "promo-k6");
    assert_eq!(f[0]["panelId"], 2);
    let (_, f) = send(api.get("/api/annotations?dashboardUID=promo-k6")).await;
    assert_eq!(f.as_array().unwrap().len(), 1);
    let (_, f) = send(api.get("/api/annotations?from=6000&to=20000")).await;
    assert_eq!(f[0]["id"], id2);
    assert_eq!(f.as_array().unwrap().len(), 1);
    let (_, f) = send(api.get("/api/annotations?limit=1")).await;
    assert_eq!(f.as_array().unwrap().len(), 1);
    assert_eq!(g.state().annotations().len(), 2);
    g.shutdown().await;
}

#[tokio::test]
async fn alerting_provisioning_api() {
    let g = start().await;
    let api = Api::new(&g);
    let base = "/api/v1/provisioning";
    send(api.post(
        "/api/folders",
        json!({"uid": "alerts", "title": "Promo Alerts"}),
    ))
    .await;

    // Contact points.
    let (st, cp) = send(api.post(
        &format!("{base}/contact-points"),
        json!({
            "uid": "slack-mkt", "name": "marketing-slack", "type": "slack",
            "settings": {"url": "https://hooks.example/x"}
        }),
    ))
    .await;
    assert_eq!(st, 202, "{cp}");
    assert_eq!(cp["provenance"], "api");
    let (st, _) = send(api.post(
        &format!("{base}/contact-points"),
        json!({"name": "x", "type": "slack"}),
    ))
    .await;
    assert_eq!(st, 400);
    let (_, list) = send(api.get(&format!("{base}/contact-points?name=marketing-slack"))).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // 10.2 ignores X-Disable-Provenance on contact points: the provenance stays `api`.
    let (st, body) = send(api.put(&format!("{base}/contact-points/slack-mkt"), json!({
        "name": "marketing-slack", "type": "slack", "settings": {"url": "https://hooks.example/y"}
    })).header("X-Disable-Provenance", "true")).await;
    assert_eq!(st, 202, "{body}");
    let (_, list) = send(api.get(&format!("{base}/contact-points?name=marketing-slack"))).await;
    assert_eq!(list[0]["provenance"], "api");
    let (st, body) = send(api.put(&format!("{base}/contact-points/slack-mkt"), json!({
        "name": "marketing-slack", "type": "slack", "settings": {"url": "https://hooks.example/y"}
    }))).await;
    assert_eq!(
        (st, body["message"].clone()),
        (202, json!("contactpoint updated"))
    );

    // Policies.
    let (st, p) = send(api.get(&format!("{base}/policies"))).await;
    assert_eq!(
        (st, p["receiver"].clone()),
        (200, json!("grafana-default-email"))
    );
    let (st, body) =
        send(api.put(&format!("{base}/policies"), json!({"receiver": "nobody"}))).await;
    assert_eq!(st, 400, "{body}");
    let (st, _) = send(api.put(&format!("{base}/policies"), json!({
        "receiver": "marketing-slack", "group_by": ["grafana_folder", "alertname"],
        "routes": [{"receiver": "marketing-slack", "object_matchers": [["team", "=", "marketing"]]}]
    }))).await;
    assert_eq!(st, 202);
    let (_, p) = send(api.get(&format!("{base}/policies"))).await;
    assert_eq!(p["provenance"], "api");
    assert_eq!(p["routes"][0]["object_matchers"][0][2], "marketing");
    // A contact point in use by the policy cannot be deleted.
    let (st, _) = send(api.delete(&format!("{base}/contact-points/slack-mkt"))).await;
    assert_eq!(st, 500);
    let (st, body) = send(api.delete(&format!("{base}/policies"))).await;
    assert_eq!(
        (st, body["receiver"].clone()),
        (202, json!("grafana-default-email"))
    );
    let (st, _) = send(api.delete(&format!("{base}/contact-points/slack-mkt"))).await;
    assert_eq!(st, 202);

    // Templates.
    let (st, t) = send(
        api.put(
            &format!("{base}/templates/promo-tmpl"),
            json!({"template": "{{ define \"x\" }}hi{{ end }}"}),
        )
        .header("X-Disable-Provenance", "true"),
    )
    .await;
    assert_eq!(
        (st, t["provenance"].clone()),
        (202, json!("api")),
        "10.2 ignores X-Disable-Provenance on templates"
    );
    let (_, ts) = send(api.get(&format!("{base}/templates"))).await;
    assert_eq!(ts[0]["name"], "promo-tmpl");
    let (st, _) = send(api.delete(&format!("{base}/templates/promo-tmpl"))).await;
    assert_eq!(st, 204);
    let (st, _) = send(api.get(&format!("{base}/templates/promo-tmpl"))).await;
    assert_eq!(st, 404);

    // Alert rules.
    let rule = json!({
        "uid": "k6-err", "title": "k6 error rate", "ruleGroup": "k6-slo", "folderUID": "alerts",
        "orgID": 1, "condition": "C", "for": "5m", "noDataState": "NoData", "execErrState": "Error",
        "labels": {"severity": "critical"}, "annotations": {"summary": "{{ $values.B }}"},
        "data": [
            {"refId": "A", "datasourceUid": "influx-k6", "relativeTimeRange": {"from": 600, "to": 0}, "model": {"query": "x"}},
            {"refId": "C", "datasourceUid": "__expr__", "relativeTimeRange": {"from": 0, "to": 0}, "model": {"type": "threshold"}}
        ]
    });
    let (st, r) = send(api.post(&format!("{base}/alert-rules"), rule.clone())).await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(r["provenance"], "api");
    assert_eq!(r["for"], "5m");
    assert_eq!(r["annotations"]["summary"], "{{ $values.B }}");
    let (st, _) = send(api.post(&format!("{base}/alert-rules"), rule.clone())).await;
    assert_eq!(st, 409);
    let mut bad = rule.clone();
    bad["uid"] = json!("k6-bad");
    bad["title"] = json!("bad");
    bad["data"][0]["relativeTimeRange"] = json!({"from": 0, "to": 0});
    let (st, body) = send(api.post(&format!("{base}/alert-rules"), bad)).await;
    assert_eq!(st, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("invalid relative time range [From: 0s, To: 0s]"),
        "{body}"
    );
    let (st, got) = send(api.get(&format!("{base}/alert-rules/k6-err"))).await;
    assert_eq!((st, got["ruleGroup"].clone()), (200, json!("k6-slo")));
    let (_, all) = send(api.get(&format!("{base}/alert-rules"))).await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    // api -> none is allowed for rules.
    let mut upd = rule.clone();
    upd["title"] = json!("k6 error rate (edited)");
    let (st, r) = send(
        api.put(&format!("{base}/alert-rules/k6-err"), upd)
            .header("X-Disable-Provenance", "true"),
    )
    .await;
    assert_eq!(
        (st, r["provenance"].clone(), r["title"].clone()),
        (200, json!(""), json!("k6 error rate (edited)"))
    );

    // Rule groups.
    let (st, grp) = send(api.get(&format!("{base}/folder/alerts/rule-groups/k6-slo"))).await;
    assert_eq!((st, grp["interval"].clone()), (200, json!(60)));
    let mut r2 = rule.clone();
    r2["uid"] = json!("k6-p95");
    r2["title"] = json!("p95 high");
    let (st, grp) = send(api.put(
        &format!("{base}/folder/alerts/rule-groups/k6-slo"),
        json!({"interval": 120, "rules": [r2]}),
    ))
    .await;
    assert_eq!(st, 200, "{grp}");
    assert_eq!(grp["interval"], 120);
    assert_eq!(
        grp["rules"].as_array().unwrap().len(),
        1,
        "rules left out of the group are deleted"
    );
    assert!(g.state().alert_rules().iter().all(|r| r.uid != "k6-err"));
    let (st, _) = send(api.get(&format!("{base}/folder/alerts/rule-groups/none"))).await;
    assert_eq!(st, 404);
    let (st, _) = send(api.delete(&format!("{base}/alert-rules/k6-p95"))).await;
    assert_eq!(st, 204);
    assert!(g.state().alert_rules().is_empty());
    g.shutdown().await;
}

#[tokio::test]
async fn admin_password_rotation() {
    let g = start().await;
    let api = Api::new(&g);
    // Service-account tokens cannot do it.
    let (st, _) = send(api.put(
        "/api/admin/users/1/password",
        json!({"password": "new-password-1"}),
    ))
    .await;
    assert_eq!(st, 403);
    let (st, body) = send(
        api.admin(reqwest::Method::PUT, "/api/admin/users/1/password")
            .json(&json!({"password": "new-password-1"})),
    )
    .await;
    assert_eq!(
        (st, body),
        (200, json!({"message": "User password updated"}))
    );
    assert_eq!(g.state().admin_password(), "new-password-1");
    let (st, _) = send(api.admin(reqwest::Method::GET, "/api/search")).await;
    assert_eq!(st, 401, "the old password no longer works");
    let new_admin = |m, p: &str| {
        api.c
            .request(m, format!("{}{p}", g.url()))
            .basic_auth("admin", Some("new-password-1"))
    };
    let (st, _) = send(new_admin(reqwest::Method::GET, "/api/search")).await;
    assert_eq!(st, 200);
    let (st, _) = send(
        new_admin(reqwest::Method::PUT, "/api/admin/users/9/password")
            .json(&json!({"password": "xxxxxxxx"})),
    )
    .await;
    assert_eq!(st, 404);

    let (st, body) = send(
        new_admin(reqwest::Method::PUT, "/api/user/password")
            .json(&json!({"oldPassword": "wrong", "newPassword": "third-pw"})),
    )
    .await;
    assert_eq!(
        (st, body),
        (401, json!({"message": "Invalid old password"}))
    );
    let (st, body) = send(
        new_admin(reqwest::Method::PUT, "/api/user/password")
            .json(&json!({"oldPassword": "new-password-1", "newPassword": "third-pw"})),
    )
    .await;
    assert_eq!(
        (st, body),
        (200, json!({"message": "User password changed"}))
    );
    assert_eq!(g.state().admin_password(), "third-pw");
    g.shutdown().await;
}

#[tokio::test]
async fn injected_faults_over_http_and_handle() {
    let g = start().await;
    let api = Api::new(&g);
    let (st, _) = send(
        api.c
            .post(format!("{}/__double/faults", g.url()))
            .json(&json!({"status": 429, "count": 2, "path_prefix": "/api/dashboards"})),
    )
    .await;
    assert_eq!(st, 200);
    let (st, _) = send(api.get("/api/search")).await;
    assert_eq!(st, 200, "other paths are not affected");
    for _ in 0..2 {
        let resp = api
            .post(
                "/api/dashboards/db",
                json!({"dashboard": {"uid": "f", "title": "F"}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 429);
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["message"], "Too Many Requests");
    }
    let (st, _) = send(api.post(
        "/api/dashboards/db",
        json!({"dashboard": {"uid": "f", "title": "F"}}),
    ))
    .await;
    assert_eq!(st, 200, "the third try goes through");
    assert_eq!(
        g.state().versions("f").len(),
        1,
        "faulted requests have no effect"
    );

    g.state().inject_fault(FaultSpec::server_error(503, 1));
    let resp = api.get("/api/health").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    g.state()
        .inject_fault(FaultSpec::server_error(500, 1).on_path("/api/folders"));
    let (st, _) = send(api.get("/api/folders")).await;
    assert_eq!(st, 500);
    let (st, _) = send(api.get("/api/folders")).await;
    assert_eq!(st, 200);
    let (st, _) = send(
        api.c
            .post(format!("{}/__double/faults", g.url()))
            .json(&json!({"status": 200})),
    )
    .await;
    assert_eq!(st, 400);

    // The request log: method, path, status, whether injected; never credentials.
    let (st, log) = send(api.c.get(format!("{}/__double/requests", g.url()))).await;
    assert_eq!(st, 200);
    let log = log.as_array().unwrap().clone();
    let injected = log.iter().filter(|r| r["injected"] == true).count();
    assert_eq!(injected, 4);
    assert!(log.iter().any(|r| r["path"] == "/api/dashboards/db"
        && r["status"] == 200
        && r["method"] == "POST"
        && r["auth"] == "bearer"));
    assert!(!serde_json::to_string(&log).unwrap().contains(TOKEN));
    // The log read over HTTP was taken before its own request was recorded.
    assert_eq!(g.state().requests().len(), log.len() + 1);
    g.shutdown().await;
}

#[tokio::test]
async fn reload_requires_basic_admin_and_works_without_dir() {
    let g = start().await;
    let api = Api::new(&g);
    let (st, body) = send(api.post("/api/admin/provisioning/dashboards/reload", json!({}))).await;
    assert_eq!(st, 403, "{body}");
    for (kind, msg) in [
        ("dashboards", "Dashboards config reloaded"),
        ("datasources", "Datasources config reloaded"),
        ("alerting", "Alerting config reloaded"),
    ] {
        let (st, body) = send(api.admin(
            reqwest::Method::POST,
            &format!("/api/admin/provisioning/{kind}/reload"),
        ))
        .await;
        assert_eq!((st, body), (200, json!({"message": msg})));
    }
    g.shutdown().await;
}
