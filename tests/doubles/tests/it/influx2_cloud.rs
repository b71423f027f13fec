//! The InfluxDB 2 double's least-privilege tokens, DBRP mappings, v1 `/query` and `/write`,
//! and the Cloud Serverless differences, exercised over 127.0.0.1.
#![allow(clippy::disallowed_methods)] // tests read their environment (CI)

use crate::support::{client, send};
use promo_doubles::influx2::{self, Influx2Config, Influx2Handle, Product};
use serde_json::{Value, json};

const TOKEN: &str = "operator-token-cloud";

async fn start(cloud: bool) -> Influx2Handle {
    let cfg = Influx2Config {
        setup: Some(crate::support::influx2_setup(TOKEN)),
        ..Influx2Config::default()
    };
    let product = if cloud {
        Product::CloudServerless
    } else {
        Product::Oss
    };
    influx2::spawn_as(cfg, product)
        .await
        .expect("spawn influx2 double")
}

fn tok(rb: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
    rb.header("Authorization", format!("Token {token}"))
}

struct Ids {
    org: String,
    bucket: String,
}

fn ids(h: &Influx2Handle) -> Ids {
    let b = h.state().bucket("k6").expect("k6 bucket");
    Ids {
        org: b.org_id,
        bucket: b.id,
    }
}

/// Creates a token with one bucket permission; returns (authorization JSON, token).
async fn scoped_token(h: &Influx2Handle, action: &str) -> (Value, String) {
    let i = ids(h);
    let (st, a) = send(
        tok(client().post(format!("{}/api/v2/authorizations", h.url())), TOKEN).json(&json!({
            "orgID": i.org, "description": format!("k6 {action}"),
            "permissions": [{"action": action, "resource": {"type": "buckets", "id": i.bucket, "orgID": i.org}}]
        })),
    )
    .await;
    assert_eq!(st, 201, "{a}");
    let t = a["token"].as_str().expect("token").to_owned();
    (a, t)
}

async fn map_k6(h: &Influx2Handle) -> Value {
    let i = ids(h);
    let (st, d) = send(
        tok(client().post(format!("{}/api/v2/dbrps", h.url())), TOKEN).json(&json!({
            "orgID": i.org, "bucketID": i.bucket, "database": "k6", "retention_policy": "autogen"
        })),
    )
    .await;
    assert_eq!(st, 201, "{d}");
    d
}

#[tokio::test]
async fn dbrp_mappings_crud() {
    let h = start(false).await;
    let c = client();
    let u = h.url();
    let i = ids(&h);
    let d = map_k6(&h).await;
    assert_eq!(
        (
            d["database"].clone(),
            d["retention_policy"].clone(),
            d["default"].clone(),
            d["bucketID"].clone()
        ),
        (json!("k6"), json!("autogen"), json!(true), json!(i.bucket)),
        "the first mapping of a database becomes its default"
    );
    let id = d["id"].as_str().unwrap();
    let (st, body) = send(
        tok(c.post(format!("{u}/api/v2/dbrps")), TOKEN).json(&json!({
            "orgID": i.org, "bucketID": i.bucket, "database": "k6", "retention_policy": "autogen"
        })),
    )
    .await;
    assert_eq!(st, 409, "{body}");
    let (st, body) = send(tok(c.get(format!("{u}/api/v2/dbrps")), TOKEN)).await;
    assert_eq!(
        (st, body["message"].clone()),
        (400, json!("either \"org\" or \"orgID\" must be provided"))
    );
    let (st, list) = send(tok(
        c.get(format!("{u}/api/v2/dbrps?org=promo&db=k6")),
        TOKEN,
    ))
    .await;
    assert_eq!(st, 200);
    assert_eq!(list["content"].as_array().unwrap().len(), 1);
    let one = format!("{u}/api/v2/dbrps/{id}?orgID={}", i.org);
    let (st, got) = send(tok(c.get(&one), TOKEN)).await;
    assert_eq!((st, got["content"]["id"].clone()), (200, json!(id)));
    let (st, got) =
        send(tok(c.patch(&one), TOKEN).json(&json!({"retention_policy": "weekly"}))).await;
    assert_eq!(
        (st, got["content"]["retention_policy"].clone()),
        (200, json!("weekly"))
    );
    let resp = tok(c.delete(&one), TOKEN).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let (st, _) = send(tok(c.get(&one), TOKEN)).await;
    assert_eq!(st, 404);
    assert!(h.state().dbrps().is_empty());
    h.shutdown().await;
}

#[tokio::test]
async fn a_write_only_token_cannot_read_and_a_read_only_token_cannot_write() {
    let h = start(false).await;
    let c = client();
    let u = h.url();
    map_k6(&h).await;
    let (_, writer) = scoped_token(&h, "write").await;
    let (_, reader) = scoped_token(&h, "read").await;
    let line = "http_reqs,scenario=promo value=1i 1700000000000000000";

    // v2 write.
    let w2 = format!("{u}/api/v2/write?org=promo&bucket=k6");
    let resp = tok(c.post(&w2), &writer).body(line).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let (st, body) = send(tok(c.post(&w2), &reader).body(line)).await;
    assert_eq!(
        (st, body),
        (
            403,
            json!({"code": "forbidden", "message": "insufficient permissions for write"})
        )
    );
    // v1 write through the DBRP, the token as the v1 password (k6's built-in output).
    let resp = c
        .post(format!("{u}/write?db=k6&u=k6&p={writer}"))
        .body(line)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let resp = c
        .post(format!("{u}/write?db=k6&precision=s"))
        .basic_auth("k6", Some(&writer))
        .body("http_reqs value=2i 1700000000")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let (st, body) = send(c.post(format!("{u}/write?db=k6&p={reader}")).body(line)).await;
    assert_eq!(
        (st, body["message"].clone()),
        (403, json!("insufficient permissions for write"))
    );
    let (st, body) = send(tok(c.post(format!("{u}/write?db=nope")), &writer).body(line)).await;
    assert_eq!(
        (st, body),
        (
            404,
            json!({"code": "not found", "message": "no dbrp mapping found"})
        )
    );
    let (st, body) = send(tok(c.post(format!("{u}/write")), &writer).body(line)).await;
    assert_eq!((st, body["message"].clone()), (400, json!("missing db")));
    assert_eq!(h.state().total_points("k6"), 3);
    let logged = format!("{:?}", h.state().requests());
    assert!(
        !logged.contains(&writer) && !logged.contains(&reader),
        "{logged}"
    );
    assert!(logged.contains("p=(redacted)"), "{logged}");

    // InfluxQL read through the DBRP.
    let q = |token: &str| c.get(format!("{u}/query?db=k6&q=SHOW%20MEASUREMENTS&p={token}"));
    let (st, body) = send(q(&reader)).await;
    assert_eq!(
        (st, body),
        (
            200,
            json!({"results": [{"statement_id": 0, "series": [{"name": "measurements", "columns": ["name"], "values": [["http_reqs"]]}]}]})
        )
    );
    let (st, body) = send(q(&writer)).await;
    assert_eq!(
        (st, body),
        (
            403,
            json!({"code": "forbidden", "message": "insufficient permissions for read"})
        )
    );
    let (st, _) = send(c.get(format!("{u}/query?db=k6&q=SHOW%20MEASUREMENTS"))).await;
    assert_eq!(st, 401, "no credentials");
    let (st, body) = send(tok(
        c.get(format!("{u}/query?db=other&q=SHOW%20MEASUREMENTS")),
        &reader,
    ))
    .await;
    assert_eq!(
        (st, body["results"][0]["error"].clone()),
        (200, json!("database not found: other"))
    );

    // Flux (OSS): the bucket must be readable.
    let flux = json!({"query": "from(bucket: \"k6\") |> range(start: -1h)", "type": "flux"});
    let (st, body) =
        send(tok(c.post(format!("{u}/api/v2/query?org=promo")), &writer).json(&flux)).await;
    assert_eq!(
        (st, body["message"].clone()),
        (
            404,
            json!("failed to initialize execute state: could not find bucket \"k6\"")
        )
    );
    let (st, body) =
        send(tok(c.post(format!("{u}/api/v2/query?org=promo")), &reader).json(&flux)).await;
    assert_eq!((st, body["code"].clone()), (501, json!("not implemented")));
    h.shutdown().await;
}

#[tokio::test]
async fn bucket_patch_without_retention_rules_keeps_the_retention() {
    let h = start(false).await;
    let c = client();
    let u = h.url();
    let id = ids(&h).bucket;
    let url = format!("{u}/api/v2/buckets/{id}");
    for body in [
        json!({"description": "promo"}),
        json!({"retentionRules": []}),
    ] {
        let (st, b) = send(tok(c.patch(&url), TOKEN).json(&body)).await;
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["retentionRules"][0]["everySeconds"], 604_800, "{body}");
    }
    let (st, b) = send(
        tok(c.patch(&url), TOKEN)
            .json(&json!({"retentionRules": [{"type": "expire", "everySeconds": 0}]})),
    )
    .await;
    assert_eq!(
        (st, b["retentionRules"].clone()),
        (200, json!([])),
        "0 = infinite"
    );
    h.shutdown().await;
}

#[tokio::test]
async fn cloud_serverless_differences() {
    let h = start(true).await;
    let c = client();
    let u = h.url();
    let i = ids(&h);
    // Flux is not supported.
    let (st, body) = send(
        tok(c.post(format!("{u}/api/v2/query")), TOKEN)
            .json(&json!({"query": "from(bucket: \"k6\") |> range(start: -1h)"})),
    )
    .await;
    assert_eq!((st, body["code"].clone()), (501, json!("not implemented")));
    // A bucket PATCH must carry retentionRules.
    let url = format!("{u}/api/v2/buckets/{}", i.bucket);
    let (st, body) = send(tok(c.patch(&url), TOKEN).json(&json!({"description": "x"}))).await;
    assert_eq!(
        (st, body),
        (
            403,
            json!({"code": "forbidden", "message": "retentionRules is required when updating a bucket on InfluxDB Cloud"})
        )
    );
    let (st, body) = send(
        tok(c.patch(&url), TOKEN)
            .json(&json!({"retentionRules": [{"type": "expire", "everySeconds": 86_400}]})),
    )
    .await;
    assert_eq!(
        (st, body["retentionRules"][0]["everySeconds"].clone()),
        (200, json!(86_400))
    );
    // The token is shown once: list and get answer "redacted".
    let (a, token) = scoped_token(&h, "write").await;
    assert_eq!(token.len(), 64);
    let id = a["id"].as_str().unwrap();
    let (st, got) = send(tok(c.get(format!("{u}/api/v2/authorizations/{id}")), TOKEN)).await;
    assert_eq!((st, got["token"].clone()), (200, json!("redacted")));
    let (_, list) = send(tok(c.get(format!("{u}/api/v2/authorizations")), TOKEN)).await;
    assert!(
        list["authorizations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["token"] == "redacted"),
        "{list}"
    );
    assert!(!list.to_string().contains(&token));
    // InfluxQL through a DBRP works in serverless mode.
    map_k6(&h).await;
    let (st, body) = send(tok(c.get(format!("{u}/query?q=SHOW%20DATABASES")), TOKEN)).await;
    assert_eq!(
        (st, body),
        (
            200,
            json!({"results": [{"statement_id": 0, "series": [{"name": "databases", "columns": ["name"], "values": [["k6"]]}]}]})
        )
    );
    h.shutdown().await;
}
