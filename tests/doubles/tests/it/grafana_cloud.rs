//! The Grafana double's service accounts, role checks, Cloud token refusal and the alerting
//! provenance rules the cloud target relies on, exercised over 127.0.0.1.
#![allow(clippy::disallowed_methods)] // tests read their environment (CI)

use crate::support::{client, send};
use promo_doubles::grafana::{self, GrafanaConfig, GrafanaHandle, Role};
use serde_json::{Value, json};

const PW: &str = "s3cret-pw";

async fn start(version: &str) -> GrafanaHandle {
    grafana::spawn(GrafanaConfig {
        admin_user: "admin".into(),
        admin_password: PW.into(),
        version: version.into(),
        ..GrafanaConfig::default()
    })
    .await
    .expect("spawn grafana double")
}

fn admin(c: &reqwest::Client, m: reqwest::Method, url: String) -> reqwest::RequestBuilder {
    c.request(m, url).basic_auth("admin", Some(PW))
}

fn bearer(
    c: &reqwest::Client,
    m: reqwest::Method,
    url: String,
    token: &str,
) -> reqwest::RequestBuilder {
    c.request(m, url).bearer_auth(token)
}

/// `POST /api/serviceaccounts` as the admin; returns (status, body).
async fn create_account(g: &GrafanaHandle, name: &str, role: &str) -> (u16, Value) {
    let url = format!("{}/api/serviceaccounts", g.url());
    send(admin(&client(), reqwest::Method::POST, url).json(&json!({"name": name, "role": role})))
        .await
}

/// `POST /api/serviceaccounts/{id}/tokens` as the admin; returns (status, body).
async fn create_token(g: &GrafanaHandle, id: i64, name: &str) -> (u16, Value) {
    let url = format!("{}/api/serviceaccounts/{id}/tokens", g.url());
    send(admin(&client(), reqwest::Method::POST, url).json(&json!({"name": name}))).await
}

/// Creates a service account with `role` and one token; returns (account id, key).
async fn account_with_token(g: &GrafanaHandle, name: &str, role: &str) -> (i64, String) {
    let (st, sa) = create_account(g, name, role).await;
    assert_eq!(st, 201, "{sa}");
    let id = sa["id"].as_i64().expect("id");
    let (st, tok) = create_token(g, id, &format!("{name}-token")).await;
    assert_eq!(st, 200, "{tok}");
    (id, tok["key"].as_str().expect("key").to_owned())
}

#[tokio::test]
async fn service_account_token_is_shown_once_and_authenticates() {
    let g = start("10.2.3").await;
    let c = client();
    let u = g.url();
    let (st, sa) = create_account(&g, "promo infra", "Editor").await;
    assert_eq!(st, 201, "{sa}");
    assert_eq!(
        (
            sa["name"].clone(),
            sa["login"].clone(),
            sa["role"].clone(),
            sa["isDisabled"].clone(),
            sa["tokens"].clone()
        ),
        (
            json!("promo infra"),
            json!("sa-promo-infra"),
            json!("Editor"),
            json!(false),
            json!(0)
        )
    );
    let id = sa["id"].as_i64().unwrap();
    let tokens = format!("{u}/api/serviceaccounts/{id}/tokens");
    let (st, tok) = create_token(&g, id, "ci").await;
    assert_eq!(st, 200, "{tok}");
    let key = tok["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("glsa_"), "{key}");
    assert_eq!(tok["name"], "ci");
    // Shown once: the token list never carries the key.
    let (st, list) = send(admin(&c, reqwest::Method::GET, tokens.clone())).await;
    assert_eq!(st, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "ci");
    assert!(list[0].get("key").is_none(), "{list}");
    assert!(!list.to_string().contains(&key));
    // A second token of the same name is refused.
    let (st, _) = create_token(&g, id, "ci").await;
    assert_eq!(st, 409);
    // The key authenticates.
    let (st, org) = send(bearer(
        &c,
        reqwest::Method::GET,
        format!("{u}/api/org"),
        &key,
    ))
    .await;
    assert_eq!(st, 200, "{org}");
    assert_eq!(g.state().service_accounts()[0].role, Role::Editor);
    // Unknown account, bad role.
    let (st, _) = create_token(&g, 999, "x").await;
    assert_eq!(st, 404);
    let (st, body) = create_account(&g, "x", "Owner").await;
    assert_eq!(
        (st, body["message"].clone()),
        (400, json!("invalid role value: Owner"))
    );
    // Deleting the token revokes it.
    let tid = list[0]["id"].as_i64().unwrap();
    let (st, _) = send(admin(
        &c,
        reqwest::Method::DELETE,
        format!("{tokens}/{tid}"),
    ))
    .await;
    assert_eq!(st, 200);
    let (st, _) = send(bearer(
        &c,
        reqwest::Method::GET,
        format!("{u}/api/org"),
        &key,
    ))
    .await;
    assert_eq!(st, 401);
    g.shutdown().await;
}

#[tokio::test]
async fn roles_are_enforced_for_writes() {
    let g = start("10.2.3").await;
    let c = client();
    let u = g.url();
    let (_, viewer) = account_with_token(&g, "reader", "Viewer").await;
    let (_, editor) = account_with_token(&g, "writer", "Editor").await;
    let (_, adm) = account_with_token(&g, "boss", "Admin").await;
    let dash =
        |title: &str| json!({"dashboard": {"title": title, "uid": title}, "overwrite": true});
    let save = format!("{u}/api/dashboards/db");

    let (st, body) =
        send(bearer(&c, reqwest::Method::POST, save.clone(), &viewer).json(&dash("v"))).await;
    assert_eq!(st, 403, "{body}");
    assert_eq!(body["title"], "Access denied");
    assert_eq!(
        body["message"],
        "You'll need additional permissions to perform this action. Permissions needed: role Editor"
    );
    let (st, _) = send(bearer(
        &c,
        reqwest::Method::GET,
        format!("{u}/api/search"),
        &viewer,
    ))
    .await;
    assert_eq!(st, 200, "a viewer reads");
    let (st, body) =
        send(bearer(&c, reqwest::Method::POST, save.clone(), &editor).json(&dash("e"))).await;
    assert_eq!(st, 200, "{body}");
    // Datasource writes and the alerting provisioning API need Admin.
    let ds = json!({"name": "x", "type": "influxdb", "access": "proxy", "url": "http://i:8086"});
    let dsu = format!("{u}/api/datasources");
    let (st, _) = send(bearer(&c, reqwest::Method::POST, dsu.clone(), &editor).json(&ds)).await;
    assert_eq!(st, 403);
    let (st, body) = send(bearer(&c, reqwest::Method::POST, dsu, &adm).json(&ds)).await;
    assert_eq!(st, 200, "{body}");
    let pol = format!("{u}/api/v1/provisioning/policies");
    let (st, _) = send(bearer(&c, reqwest::Method::GET, pol.clone(), &editor)).await;
    assert_eq!(st, 403);
    let (st, _) = send(bearer(&c, reqwest::Method::GET, pol, &adm)).await;
    assert_eq!(st, 200);
    // Only an Admin manages service accounts.
    let (st, _) = send(
        bearer(
            &c,
            reqwest::Method::POST,
            format!("{u}/api/serviceaccounts"),
            &editor,
        )
        .json(&json!({"name": "sneaky"})),
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(g.state().service_accounts().len(), 3);
    g.shutdown().await;
}

#[tokio::test]
async fn a_grafana_com_access_policy_token_is_refused_like_grafana_cloud() {
    let g = start("10.2.3").await;
    let c = client();
    // A Cloud Access Policy token (grafana.com API) does not authenticate on the instance API.
    let glc = "glc_eyJvIjoiMTIzIiwibiI6InByb21vIiwiayI6ImFiYyIsIm0iOnsiciI6InVzIn19";
    let (st, body) = send(bearer(
        &c,
        reqwest::Method::GET,
        format!("{}/api/folders", g.url()),
        glc,
    ))
    .await;
    assert_eq!(
        (st, body),
        (
            401,
            json!({"message": "Invalid API key", "messageId": "api-key.invalid", "statusCode": 401, "traceID": ""})
        )
    );
    g.shutdown().await;
}

fn cp(uid: &str) -> Value {
    json!({"uid": uid, "name": uid, "type": "slack", "settings": {"recipient": "#a", "token": "xoxb-1"}})
}

fn rule(uid: &str) -> Value {
    json!({
        "uid": uid, "title": uid, "ruleGroup": "slo", "folderUID": "alerts", "condition": "C",
        "data": [
            {"refId": "A", "datasourceUid": "influx", "relativeTimeRange": {"from": 600, "to": 0}, "model": {}},
            {"refId": "C", "datasourceUid": "__expr__", "model": {"type": "threshold"}}
        ]
    })
}

#[tokio::test]
async fn provenance_locks_ui_edits_unless_the_header_was_sent() {
    let g = start("11.0.0").await;
    let c = client();
    let u = g.url();
    let prov = format!("{u}/api/v1/provisioning");
    let ui = format!("{u}/__double/ui-edit-alerting");
    let post = |url: String, body: Value| admin(&c, reqwest::Method::POST, url).json(&body);

    // Contact points: without the header `api`, locked; with it (11.0+) none, editable.
    let (st, body) = send(post(format!("{prov}/contact-points"), cp("locked"))).await;
    assert_eq!((st, body["provenance"].clone()), (202, json!("api")));
    let (st, body) = send(
        post(format!("{prov}/contact-points"), cp("free")).header("X-Disable-Provenance", "true"),
    )
    .await;
    assert_eq!((st, body["provenance"].clone()), (202, json!("")));
    let edit = json!({"settings": {"recipient": "#b"}});
    let (st, body) = send(post(format!("{ui}/contact-points/locked"), edit.clone())).await;
    assert_eq!(
        (st, body["message"].clone()),
        (
            400,
            json!("cannot edit contact point 'locked' in the UI: its provenance is 'api'")
        )
    );
    let (st, body) = send(post(format!("{ui}/contact-points/free"), edit.clone())).await;
    assert_eq!(
        (st, body["settings"]["recipient"].clone()),
        (200, json!("#b"))
    );
    let (st, _) = send(post(format!("{ui}/contact-points/nope"), edit)).await;
    assert_eq!(st, 404);

    // Rules (through a rule group) and the policy tree.
    let (st, _) = send(post(
        format!("{u}/api/folders"),
        json!({"uid": "alerts", "title": "Alerts"}),
    ))
    .await;
    assert_eq!(st, 200);
    let group = format!("{prov}/folder/alerts/rule-groups/slo");
    let (st, body) = send(
        admin(&c, reqwest::Method::PUT, group.clone())
            .json(&json!({"interval": 60, "rules": [rule("r-api")]})),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = send(post(
        format!("{ui}/alert-rules/r-api"),
        json!({"title": "x"}),
    ))
    .await;
    assert_eq!(st, 400, "{body}");
    let (st, body) = send(
        admin(&c, reqwest::Method::PUT, group.clone())
            .header("X-Disable-Provenance", "")
            .json(&json!({"interval": 60, "rules": [rule("r-api")]})),
    )
    .await;
    assert_eq!(
        (st, body["rules"][0]["provenance"].clone()),
        (200, json!("")),
        "the header's presence (even empty) disables provenance"
    );
    let (st, body) = send(post(
        format!("{ui}/alert-rules/r-api"),
        json!({"title": "renamed"}),
    ))
    .await;
    assert_eq!(
        (st, body["title"].clone()),
        (200, json!("renamed")),
        "{body}"
    );

    let tree = json!({"receiver": "locked", "group_by": ["alertname"]});
    let (st, _) =
        send(admin(&c, reqwest::Method::PUT, format!("{prov}/policies")).json(&tree)).await;
    assert_eq!(st, 202);
    let (st, _) = send(post(format!("{ui}/policies"), json!({"receiver": "free"}))).await;
    assert_eq!(st, 400);
    let (st, _) = send(
        admin(&c, reqwest::Method::PUT, format!("{prov}/policies"))
            .header("X-Disable-Provenance", "true")
            .json(&tree),
    )
    .await;
    assert_eq!(st, 403, "api -> none is refused for policies");
    let (st, _) = send(admin(
        &c,
        reqwest::Method::DELETE,
        format!("{prov}/policies"),
    ))
    .await;
    assert_eq!(st, 202);
    let (st, _) = send(
        admin(&c, reqwest::Method::PUT, format!("{prov}/policies"))
            .header("X-Disable-Provenance", "true")
            .json(&tree),
    )
    .await;
    assert_eq!(st, 202);
    let (st, body) = send(post(format!("{ui}/policies"), json!({"receiver": "free"}))).await;
    assert_eq!((st, body["receiver"].clone()), (200, json!("free")));

    // 11.0+: DELETE of a rule group is 204, then the group is gone.
    let (st, _) = send(admin(&c, reqwest::Method::DELETE, group.clone())).await;
    assert_eq!(st, 204);
    let (st, _) = send(admin(&c, reqwest::Method::GET, group.clone())).await;
    assert_eq!(st, 404);
    let (st, _) = send(admin(&c, reqwest::Method::DELETE, group)).await;
    assert_eq!(st, 404);
    g.shutdown().await;
}

#[tokio::test]
async fn grafana_10_2_locks_notification_objects_and_has_no_rule_group_delete() {
    let g = start("10.2.3").await;
    let c = client();
    let u = g.url();
    let prov = format!("{u}/api/v1/provisioning");
    let (st, body) = send(
        admin(&c, reqwest::Method::POST, format!("{prov}/contact-points"))
            .header("X-Disable-Provenance", "true")
            .json(&cp("cp")),
    )
    .await;
    assert_eq!((st, body["provenance"].clone()), (202, json!("api")));
    let (st, _) = send(
        admin(
            &c,
            reqwest::Method::POST,
            format!("{u}/__double/ui-edit-alerting/contact-points/cp"),
        )
        .json(&json!({"settings": {"recipient": "#b"}})),
    )
    .await;
    assert_eq!(st, 400);
    let (st, _) = send(admin(
        &c,
        reqwest::Method::DELETE,
        format!("{prov}/folder/alerts/rule-groups/slo"),
    ))
    .await;
    assert_eq!(st, 405);
    g.shutdown().await;
}
