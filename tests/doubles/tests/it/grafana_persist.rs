//! The Grafana double's `[paths] data` state across restarts (as Grafana's `grafana.db`) and the
//! org preferences / home dashboard API.

use std::path::{Path, PathBuf};

use crate::support::{client, send};
use promo_doubles::grafana::{self, GrafanaConfig, GrafanaHandle};
use serde_json::{Value, json};

const TOKEN: &str = "glsa_persist_token_0123456789";
const SECRET: &str = "influx-secret-token-42";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn cfg(data: Option<PathBuf>, prov: Option<PathBuf>) -> GrafanaConfig {
    GrafanaConfig {
        service_account_tokens: vec![TOKEN.into()],
        provisioning_dir: prov,
        data_dir: data,
        ..GrafanaConfig::default()
    }
}

async fn start(data: Option<PathBuf>, prov: Option<PathBuf>) -> GrafanaHandle {
    grafana::spawn(cfg(data, prov))
        .await
        .expect("spawn grafana double")
}

/// Sends `method path` with the token and an optional JSON body.
async fn call(g: &GrafanaHandle, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client()
        .request(m, format!("{}{path}", g.url()))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    send(req).await
}

async fn ok(g: &GrafanaHandle, method: &str, path: &str, body: Option<Value>) -> Value {
    let (st, v) = call(g, method, path, body).await;
    assert!((200..300).contains(&st), "{method} {path}: {st} {v}");
    v
}

fn save_body(uid: &str, title: &str, folder: &str, version: i64, message: &str) -> Value {
    json!({
        "dashboard": {"uid": uid, "title": title, "version": version, "panels": [], "tags": ["k6"]},
        "folderUid": folder, "message": message, "overwrite": false,
    })
}

/// The parts of a dashboard's history a restart must keep.
async fn history(g: &GrafanaHandle, uid: &str) -> Vec<(i64, i64, String)> {
    let v = ok(
        g,
        "GET",
        &format!("/api/dashboards/uid/{uid}/versions"),
        None,
    )
    .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["id"].as_i64().unwrap(),
                x["version"].as_i64().unwrap(),
                x["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn api_made_objects_and_preferences_survive_a_restart_on_the_same_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let g = start(Some(data.clone()), None).await;
    ok(
        &g,
        "POST",
        "/api/folders",
        Some(json!({"uid": "promo", "title": "Promo"})),
    )
    .await;
    ok(
        &g,
        "POST",
        "/api/datasources",
        Some(json!({
            "name": "InfluxDB", "type": "influxdb", "uid": "influx-k6", "url": "http://influx:8086",
            "jsonData": {"version": "Flux"}, "secureJsonData": {"token": SECRET},
        })),
    )
    .await;
    ok(
        &g,
        "POST",
        "/api/dashboards/db",
        Some(save_body("mkt", "Marketing", "promo", 0, "first")),
    )
    .await;
    ok(
        &g,
        "POST",
        "/api/dashboards/db",
        Some(save_body("mkt", "Marketing", "promo", 1, "second")),
    )
    .await;
    ok(
        &g,
        "POST",
        "/api/annotations",
        Some(json!({"dashboardUID": "mkt", "time": 1000, "text": "run 1", "tags": ["k6"]})),
    )
    .await;
    ok(
        &g,
        "POST",
        "/api/v1/provisioning/contact-points",
        Some(json!({
            "uid": "slack-mkt", "name": "marketing-slack", "type": "slack",
            "settings": {"url": "https://hooks.example/x"},
        })),
    )
    .await;
    ok(
        &g,
        "PUT",
        "/api/org/preferences",
        Some(json!({"homeDashboardUID": "mkt", "timezone": "utc"})),
    )
    .await;
    let before_history = history(&g, "mkt").await;
    let before_dash = ok(&g, "GET", "/api/dashboards/uid/mkt", None).await;
    let before_state = (
        g.state().folders(),
        g.state().annotations(),
        g.state().contact_points(),
    );
    let max_id = before_state
        .0
        .iter()
        .map(|f| f.id)
        .chain(g.state().dashboards().iter().map(|d| d.id))
        .max()
        .unwrap();
    g.shutdown().await;

    let stored = std::fs::read_to_string(data.join("grafana-double-db.json")).unwrap();
    assert!(
        !stored.contains(SECRET),
        "secure values are not written: {stored}"
    );

    let g = start(Some(data.clone()), None).await;
    assert_eq!(history(&g, "mkt").await, before_history);
    assert_eq!(before_history.len(), 2);
    let after_dash = ok(&g, "GET", "/api/dashboards/uid/mkt", None).await;
    assert_eq!(after_dash, before_dash);
    assert_eq!(
        (
            g.state().folders(),
            g.state().annotations(),
            g.state().contact_points()
        ),
        before_state
    );
    let ds = ok(&g, "GET", "/api/datasources/uid/influx-k6", None).await;
    assert_eq!(
        (
            ds["url"].clone(),
            ds["jsonData"].clone(),
            ds["secureJsonFields"].clone()
        ),
        (
            json!("http://influx:8086"),
            json!({"version": "Flux"}),
            json!({"token": true})
        )
    );
    assert_eq!(
        ok(&g, "GET", "/api/org/preferences", None).await,
        json!({"homeDashboardUID": "mkt", "timezone": "utc"})
    );
    assert_eq!(
        ok(&g, "GET", "/api/dashboards/home", None).await,
        json!({"redirectUri": "/d/mkt/marketing"})
    );
    // Ids continue after the stored ones, and the next save is version 3.
    let other = ok(
        &g,
        "POST",
        "/api/dashboards/db",
        Some(save_body("other", "Other", "", 0, "")),
    )
    .await;
    assert!(
        other["id"].as_i64().unwrap() > max_id,
        "{other} after id {max_id}"
    );
    let v3 = ok(
        &g,
        "POST",
        "/api/dashboards/db",
        Some(save_body("mkt", "Marketing", "promo", 2, "third")),
    )
    .await;
    assert_eq!(v3["version"], 3);
    g.shutdown().await;

    // Without a data dir nothing is kept.
    let g = start(None, None).await;
    assert_eq!(
        call(&g, "GET", "/api/dashboards/uid/mkt", None).await.0,
        404
    );
    g.shutdown().await;
}

const PROVIDERS: &str = "apiVersion: 1\nproviders:\n  - name: keep\n    folder: Kept\n    options:\n      path: {KEEP}\n";
const GONE_PROVIDER: &str =
    "apiVersion: 1\nproviders:\n  - name: gone\n    options:\n      path: {GONE}\n";

fn dash_file(uid: &str, title: &str) -> String {
    json!({"uid": uid, "title": title, "panels": []}).to_string()
}

#[tokio::test]
async fn provisioned_dashboards_are_reconciled_with_the_files_at_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (data, prov) = (dir.path().join("data"), dir.path().join("prov"));
    let (keep, gone) = (dir.path().join("keep"), dir.path().join("gone"));
    write(
        &prov.join("dashboards/keep.yaml"),
        &PROVIDERS.replace("{KEEP}", &keep.display().to_string()),
    );
    write(
        &prov.join("dashboards/gone.yaml"),
        &GONE_PROVIDER.replace("{GONE}", &gone.display().to_string()),
    );
    write(&keep.join("a.json"), &dash_file("prov-a", "Prov A"));
    write(&keep.join("b.json"), &dash_file("prov-b", "Prov B"));
    write(&gone.join("c.json"), &dash_file("prov-c", "Prov C"));
    let g = start(Some(data.clone()), Some(prov.clone())).await;
    ok(
        &g,
        "POST",
        "/api/dashboards/db",
        Some(save_body("api", "Api", "", 0, "by api")),
    )
    .await;
    let a_before = g.state().dashboard("prov-a").unwrap();
    assert!(g.state().dashboard("prov-c").is_some());
    g.shutdown().await;

    // The provider `gone` is removed, and a file of `keep`.
    std::fs::remove_file(prov.join("dashboards/gone.yaml")).unwrap();
    std::fs::remove_file(keep.join("b.json")).unwrap();
    let g = start(Some(data.clone()), Some(prov.clone())).await;
    let mut uids: Vec<String> = g.state().dashboards().into_iter().map(|d| d.uid).collect();
    uids.sort();
    assert_eq!(uids, ["api", "prov-a"]);
    // An unchanged file makes no new version: the stored dashboard is the one kept.
    assert_eq!(g.state().dashboard("prov-a").unwrap(), a_before);
    assert_eq!(history(&g, "api").await.len(), 1);
    g.shutdown().await;
    // What the reconciliation left is what the data dir holds for the next start.
    let g = start(Some(data), None).await;
    let mut uids: Vec<String> = g.state().dashboards().into_iter().map(|d| d.uid).collect();
    uids.sort();
    assert_eq!(
        uids,
        ["api", "prov-a"],
        "no provisioning dir: stored rows stay"
    );
    g.shutdown().await;
}

#[tokio::test]
async fn org_preferences_put_replaces_patch_changes_and_home_follows_them() {
    let g = start(None, None).await;
    ok(
        &g,
        "POST",
        "/api/dashboards/db",
        Some(save_body("home-1", "Promo Home", "", 0, "")),
    )
    .await;
    assert_eq!(ok(&g, "GET", "/api/org/preferences", None).await, json!({}));
    let home = ok(&g, "GET", "/api/dashboards/home", None).await;
    assert_eq!(
        (
            home["dashboard"]["title"].clone(),
            home["meta"]["folderTitle"].clone()
        ),
        (json!("Home"), json!("General"))
    );

    let refused = [
        (
            json!({"homeDashboardUID": "nope"}),
            404,
            "Dashboard not found",
        ),
        (json!({"theme": "pink"}), 400, "Invalid theme"),
    ];
    for (body, status, message) in refused {
        for method in ["PUT", "PATCH"] {
            assert_eq!(
                call(&g, method, "/api/org/preferences", Some(body.clone())).await,
                (status, json!({"message": message})),
                "{method} {body}"
            );
        }
    }
    assert_eq!(
        call(
            &g,
            "PUT",
            "/api/org/preferences",
            Some(json!({"timezone": 5}))
        )
        .await,
        (400, json!({"message": "bad request data"}))
    );
    assert_eq!(ok(&g, "GET", "/api/org/preferences", None).await, json!({}));

    let put = json!({"theme": "dark", "homeDashboardUID": "home-1", "timezone": "utc", "weekStart": "monday"});
    assert_eq!(
        ok(&g, "PUT", "/api/org/preferences", Some(put)).await,
        json!({"message": "Preferences updated"})
    );
    ok(
        &g,
        "PATCH",
        "/api/org/preferences",
        Some(json!({"timezone": "browser"})),
    )
    .await;
    assert_eq!(
        ok(&g, "GET", "/api/org/preferences", None).await,
        json!({"theme": "dark", "homeDashboardUID": "home-1", "timezone": "browser", "weekStart": "monday"})
    );
    assert_eq!(
        ok(&g, "GET", "/api/dashboards/home", None).await,
        json!({"redirectUri": "/d/home-1/promo-home"})
    );
    // PUT replaces: what it omits goes back to the default.
    ok(
        &g,
        "PUT",
        "/api/org/preferences",
        Some(json!({"timezone": "utc"})),
    )
    .await;
    assert_eq!(
        ok(&g, "GET", "/api/org/preferences", None).await,
        json!({"timezone": "utc"})
    );
    // PATCH sets and clears (`""`) the home dashboard.
    ok(
        &g,
        "PATCH",
        "/api/org/preferences",
        Some(json!({"homeDashboardUID": "home-1"})),
    )
    .await;
    assert_eq!(
        ok(&g, "GET", "/api/org/preferences", None).await,
        json!({"homeDashboardUID": "home-1", "timezone": "utc"})
    );
    ok(
        &g,
        "PATCH",
        "/api/org/preferences",
        Some(json!({"homeDashboardUID": ""})),
    )
    .await;
    assert_eq!(
        ok(&g, "GET", "/api/org/preferences", None).await,
        json!({"timezone": "utc"})
    );
    // A deleted home dashboard falls back to the built-in home.
    ok(
        &g,
        "PATCH",
        "/api/org/preferences",
        Some(json!({"homeDashboardUID": "home-1"})),
    )
    .await;
    ok(&g, "DELETE", "/api/dashboards/uid/home-1", None).await;
    assert_eq!(
        ok(&g, "GET", "/api/org/preferences", None).await,
        json!({"timezone": "utc"})
    );
    let home = ok(&g, "GET", "/api/dashboards/home", None).await;
    assert_eq!(home["dashboard"]["title"], "Home");
    g.shutdown().await;
}

#[tokio::test]
async fn an_unreadable_state_file_fails_the_start_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write(&data.join("grafana-double-db.json"), "{not json");
    let err = grafana::spawn(cfg(Some(data.clone()), None))
        .await
        .expect_err("a broken state file must fail the start");
    let msg = err.to_string();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(
        msg.starts_with(&format!(
            "{}: not a Grafana double state file (",
            data.join("grafana-double-db.json").display()
        )) && msg.ends_with("); remove it to start the data dir afresh"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("grafana-double-db.json")).unwrap(),
        "{not json"
    );
}
