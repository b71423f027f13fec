//! The InfluxDB 2 double's HTTP API, exercised over 127.0.0.1.
#![allow(clippy::disallowed_methods)] // tests read their environment (CI)

use std::io::Write;

use crate::support::{client, send};
use promo_doubles::FaultSpec;
use promo_doubles::influx2::{self, Influx2Config, Influx2Handle};
use serde_json::{Value, json};

const TOKEN: &str = "operator-token-abc";

async fn start_setup() -> Influx2Handle {
    influx2::spawn(Influx2Config {
        setup: Some(crate::support::influx2_setup(TOKEN)),
        ..Influx2Config::default()
    })
    .await
    .expect("spawn influx2 double")
}

fn auth(rb: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
    rb.header("Authorization", format!("Token {token}"))
}

#[tokio::test]
async fn health_ping_and_onboarding() {
    let h = influx2::spawn(Influx2Config::default()).await.unwrap();
    assert!(h.addr().ip().is_loopback());
    let c = client();
    let u = h.url();
    let (st, body) = send(c.get(format!("{u}/health"))).await;
    assert_eq!(st, 200);
    assert_eq!(body["status"], "pass");
    assert_eq!(body["message"], "ready for queries and writes");
    assert_eq!(body["name"], "influxdb");
    assert_eq!(body["version"], "2.7.10-double");
    let resp = c.get(format!("{u}/ping")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(resp.headers()["x-influxdb-build"], "OSS");

    let (st, body) = send(c.get(format!("{u}/api/v2/setup"))).await;
    assert_eq!((st, body), (200, json!({"allowed": true})));
    let (st, body) = send(c.get(format!("{u}/api/v2/buckets"))).await;
    assert_eq!(
        (st, body),
        (
            401,
            json!({"code": "unauthorized", "message": "unauthorized access"})
        )
    );

    let (st, body) = send(c.post(format!("{u}/api/v2/setup")).json(&json!({
        "username": "admin", "password": "short", "org": "promo", "bucket": "k6"
    })))
    .await;
    assert_eq!(st, 400, "{body}");
    let (st, body) = send(c.post(format!("{u}/api/v2/setup")).json(&json!({
        "username": "admin", "password": "password123", "org": "promo", "bucket": "k6",
        "retentionPeriodSeconds": 172_800
    })))
    .await;
    assert_eq!(st, 201, "{body}");
    let token = body["auth"]["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 64);
    assert_eq!(body["user"]["name"], "admin");
    assert_eq!(body["org"]["name"], "promo");
    assert_eq!(body["bucket"]["name"], "k6");
    assert_eq!(
        body["bucket"]["retentionRules"],
        json!([{"type": "expire", "everySeconds": 172_800, "shardGroupDurationSeconds": 86_400}])
    );
    assert_eq!(h.operator_token().as_deref(), Some(token.as_str()));

    let (_, body) = send(c.get(format!("{u}/api/v2/setup"))).await;
    assert_eq!(body, json!({"allowed": false}));
    let (st, body) = send(c.post(format!("{u}/api/v2/setup")).json(&json!({
        "username": "x", "password": "password123", "org": "o", "bucket": "b"
    })))
    .await;
    assert_eq!(
        (st, body),
        (
            422,
            json!({"code": "conflict", "message": "onboarding has already been completed"})
        )
    );

    let (st, orgs) = send(auth(c.get(format!("{u}/api/v2/orgs")), &token)).await;
    assert_eq!(st, 200);
    assert_eq!(orgs["orgs"][0]["name"], "promo");
    let (st, body) = send(auth(c.get(format!("{u}/api/v2/orgs?org=nope")), &token)).await;
    assert_eq!((st, body["code"].clone()), (404, json!("not found")));
    h.shutdown().await;
}

#[tokio::test]
async fn buckets_and_retention() {
    let h = start_setup().await;
    let c = client();
    let u = h.url();
    let (st, body) = send(auth(c.get(format!("{u}/api/v2/buckets?name=k6")), TOKEN)).await;
    assert_eq!(st, 200);
    let k6 = &body["buckets"][0];
    assert_eq!(k6["retentionRules"][0]["everySeconds"], 604_800);
    assert_eq!(k6["retentionRules"][0]["shardGroupDurationSeconds"], 86_400);
    let org_id = k6["orgID"].as_str().unwrap().to_owned();
    let (_, all) = send(auth(c.get(format!("{u}/api/v2/buckets?org=promo")), TOKEN)).await;
    let names: Vec<&str> = all["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["k6", "_monitoring", "_tasks"]);

    let (st, b) = send(auth(c.post(format!("{u}/api/v2/buckets")), TOKEN).json(&json!({
        "orgID": org_id, "name": "k6_baseline", "retentionRules": [{"type": "expire", "everySeconds": 3600}]
    }))).await;
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["retentionRules"][0]["shardGroupDurationSeconds"], 3600);
    let id = b["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 16);
    let (st, body) = send(
        auth(c.post(format!("{u}/api/v2/buckets")), TOKEN)
            .json(&json!({"orgID": org_id, "name": "k6_baseline"})),
    )
    .await;
    assert_eq!(
        (st, body),
        (
            422,
            json!({"code": "conflict", "message": "bucket with name k6_baseline already exists"})
        )
    );
    let (st, body) = send(auth(c.post(format!("{u}/api/v2/buckets")), TOKEN).json(&json!({
        "orgID": org_id, "name": "tiny", "retentionRules": [{"type": "expire", "everySeconds": 60}]
    }))).await;
    assert_eq!(st, 422, "{body}");

    // PATCH the retention: the shard group duration follows the default for the new period.
    let (st, b) = send(
        auth(c.patch(format!("{u}/api/v2/buckets/{id}")), TOKEN).json(&json!({
            "retentionRules": [{"type": "expire", "everySeconds": 30 * 86_400}]
        })),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        b["retentionRules"],
        json!([{"type": "expire", "everySeconds": 2_592_000, "shardGroupDurationSeconds": 86_400}])
    );
    assert_eq!(
        h.state().bucket("k6_baseline").unwrap().every_seconds,
        2_592_000
    );
    let (st, b) = send(
        auth(c.patch(format!("{u}/api/v2/buckets/{id}")), TOKEN)
            .json(&json!({"retentionRules": []})),
    )
    .await;
    assert_eq!(
        (st, b["retentionRules"][0]["everySeconds"].clone()),
        (200, json!(2_592_000)),
        "empty rules leave the retention as it was (OSS bucketUpdate.toInfluxDB)"
    );
    let (st, b) = send(auth(c.get(format!("{u}/api/v2/buckets/{id}")), TOKEN)).await;
    assert_eq!((st, b["name"].clone()), (200, json!("k6_baseline")));

    let resp = auth(c.delete(format!("{u}/api/v2/buckets/{id}")), TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let (st, body) = send(auth(c.get(format!("{u}/api/v2/buckets/{id}")), TOKEN)).await;
    assert_eq!(
        (st, body),
        (
            404,
            json!({"code": "not found", "message": "bucket not found"})
        )
    );
    h.shutdown().await;
}

#[tokio::test]
async fn writes_are_counted_per_measurement() {
    let h = start_setup().await;
    let c = client();
    let u = h.url();
    let body = "http_reqs,testid=promo_1,method=GET,status=200 value=1 1700000000000\n\
                http_reqs,testid=promo_1,method=GET,status=500 value=1 1700000000001\n\
                http_req_duration,testid=promo_1,name=http://shop/a\\ b value=123.4 1700000000002\n\
                vus value=10i 1700000000003\n";
    let resp = auth(
        c.post(format!("{u}/api/v2/write?org=promo&bucket=k6&precision=ms")),
        TOKEN,
    )
    .body(body)
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let counts = h.state().point_counts("k6");
    assert_eq!(counts["http_reqs"], 2);
    assert_eq!(counts["http_req_duration"], 1);
    assert_eq!(counts["vus"], 1);
    assert_eq!(h.state().total_points("k6"), 4);
    let pts = h.state().points("k6");
    assert_eq!(pts[0].time, 1_700_000_000_000_000_000);
    assert_eq!(pts[2].tags["name"], "http://shop/a b");

    // gzip bodies are accepted, and the org defaults to the token's org.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"checks,check=ok value=1\n").unwrap();
    let resp = auth(c.post(format!("{u}/api/v2/write?bucket=k6")), TOKEN)
        .header("Content-Encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let (st, dbl) = send(c.get(format!("{u}/__double/points?bucket=k6&limit=2"))).await;
    assert_eq!(st, 200);
    assert_eq!(dbl["total"], 5);
    assert_eq!(dbl["measurements"]["checks"], 1);
    assert_eq!(dbl["points"].as_array().unwrap().len(), 2);
    assert_eq!(dbl["points"][1]["measurement"], "checks");

    // Errors.
    let (st, body) = send(
        auth(
            c.post(format!("{u}/api/v2/write?org=promo&bucket=nope")),
            TOKEN,
        )
        .body("m value=1"),
    )
    .await;
    assert_eq!(
        (st, body),
        (
            404,
            json!({"code": "not found", "message": "bucket \"nope\" not found"})
        )
    );
    let (st, body) = send(
        auth(
            c.post(format!("{u}/api/v2/write?org=nope&bucket=k6")),
            TOKEN,
        )
        .body("m value=1"),
    )
    .await;
    assert_eq!(
        (st, body["message"].clone()),
        (404, json!("organization name \"nope\" not found"))
    );
    let (st, body) = send(
        c.post(format!("{u}/api/v2/write?org=promo&bucket=k6"))
            .body("m value=1"),
    )
    .await;
    assert_eq!((st, body["code"].clone()), (401, json!("unauthorized")));
    let (st, body) = send(
        auth(
            c.post(format!("{u}/api/v2/write?org=promo&bucket=k6")),
            "wrong",
        )
        .body("m value=1"),
    )
    .await;
    assert_eq!(st, 401, "{body}");
    let (st, body) = send(
        auth(
            c.post(format!("{u}/api/v2/write?org=promo&bucket=k6")),
            TOKEN,
        )
        .body("m value=1\nm value=oops"),
    )
    .await;
    assert_eq!(st, 400);
    assert_eq!(body["code"], "invalid");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("unable to parse 'm value=oops'"),
        "{body}"
    );
    let (st, _) = send(
        auth(
            c.post(format!("{u}/api/v2/write?org=promo&bucket=k6&precision=h")),
            TOKEN,
        )
        .body("m value=1"),
    )
    .await;
    assert_eq!(st, 400);
    let (st, body) = send(
        auth(
            c.post(format!("{u}/api/v2/write?org=promo&bucket=k6")),
            TOKEN,
        )
        .body(""),
    )
    .await;
    assert_eq!(
        (st, body["message"].clone()),
        (400, json!("writing requires points"))
    );
    assert_eq!(
        h.state().total_points("k6"),
        5,
        "rejected batches write nothing"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn authorizations_scope_writes() {
    let h = start_setup().await;
    let c = client();
    let u = h.url();
    let bucket = h.state().bucket("k6").unwrap();
    let create = |perms: Value| {
        auth(c.post(format!("{u}/api/v2/authorizations")), TOKEN).json(&json!({
            "orgID": bucket.org_id, "description": "k6 writer", "permissions": perms
        }))
    };
    let (st, a) = send(create(json!([
        {"action": "write", "resource": {"type": "buckets", "id": bucket.id, "orgID": bucket.org_id}},
        {"action": "read", "resource": {"type": "buckets", "id": bucket.id, "orgID": bucket.org_id}}
    ]))).await;
    assert_eq!(st, 201, "{a}");
    assert_eq!(a["status"], "active");
    assert_eq!(a["description"], "k6 writer");
    let writer = a["token"].as_str().unwrap().to_owned();
    let (st, r) = send(create(
        json!([{"action": "read", "resource": {"type": "buckets", "orgID": bucket.org_id}}]),
    ))
    .await;
    assert_eq!(st, 201);
    let reader = r["token"].as_str().unwrap().to_owned();
    let (st, _) = send(create(
        json!([{"action": "fly", "resource": {"type": "buckets"}}]),
    ))
    .await;
    assert_eq!(st, 400);

    let w = |t: &str| {
        auth(c.post(format!("{u}/api/v2/write?org=promo&bucket=k6")), t).body("vus value=1i")
    };
    let resp = w(&writer).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let (st, body) = send(w(&reader)).await;
    assert_eq!((st, body["code"].clone()), (403, json!("forbidden")));
    assert_eq!(h.state().point_counts("k6")["vus"], 1);

    // A scoped token cannot manage authorizations or see other buckets.
    let (st, body) = send(auth(c.post(format!("{u}/api/v2/authorizations")), &writer).json(&json!({
        "orgID": bucket.org_id, "permissions": [{"action": "read", "resource": {"type": "buckets"}}]
    }))).await;
    assert_eq!((st, body["code"].clone()), (403, json!("forbidden")));
    let (st, list) = send(auth(c.get(format!("{u}/api/v2/buckets")), &writer)).await;
    assert_eq!(st, 200);
    assert_eq!(list["buckets"].as_array().unwrap().len(), 1);
    let (st, list) = send(auth(c.get(format!("{u}/api/v2/authorizations")), TOKEN)).await;
    assert_eq!(st, 200);
    assert_eq!(list["authorizations"].as_array().unwrap().len(), 3);
    assert_eq!(h.state().authorizations().len(), 3);

    let id = a["id"].as_str().unwrap();
    let resp = auth(c.delete(format!("{u}/api/v2/authorizations/{id}")), TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let (st, _) = send(w(&writer)).await;
    assert_eq!(st, 401, "a deleted token no longer authenticates");
    h.shutdown().await;
}

#[tokio::test]
async fn faults_and_request_log() {
    let h = start_setup().await;
    let c = client();
    let u = h.url();
    let (st, _) = send(
        c.post(format!("{u}/__double/faults"))
            .json(&json!({"status": 429, "count": 1, "path_prefix": "/api/v2/write"})),
    )
    .await;
    assert_eq!(st, 200);
    let resp = auth(
        c.post(format!("{u}/api/v2/write?org=promo&bucket=k6")),
        TOKEN,
    )
    .body("m value=1")
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    let resp = auth(
        c.post(format!("{u}/api/v2/write?org=promo&bucket=k6")),
        TOKEN,
    )
    .body("m value=1")
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    h.state().inject_fault(FaultSpec::server_error(503, 1));
    let (st, _) = send(c.get(format!("{u}/health"))).await;
    assert_eq!(st, 503);
    assert_eq!(h.state().total_points("k6"), 1);
    let (_, log) = send(c.get(format!("{u}/__double/requests"))).await;
    let log = log.as_array().unwrap();
    assert!(
        log.iter()
            .any(|r| r["path"] == "/api/v2/write" && r["status"] == 429 && r["injected"] == true)
    );
    assert!(
        log.iter()
            .any(|r| r["path"] == "/api/v2/write" && r["status"] == 204 && r["auth"] == "token")
    );
    assert!(!serde_json::to_string(log).unwrap().contains(TOKEN));
    h.shutdown().await;
}
