//! InfluxDB initialisation as a resource, against a real influxd 1.6: database, retention and
//! least-privilege users converge, and a re-plan after apply is empty.

use promo_infra::compile;
use promo_infra::desired::{DatabaseSpec, ResourceKind, ResourceSpec};
use promo_infra::influx::{self, Endpoint};
use promo_infra::plan::{self, Action, Observed};
use promo_infra::secrets::SecretValues;

use crate::influxd::RealInfluxd;

const V1: &str = r#"stack: itest
environment: preprod
influxdb:
  version: 1
  image: influxdb:1.8
  bucket: k6
  retention: 4w
grafana:
  image: grafana/grafana:10.2.3
"#;

fn desired(text: &str) -> (promo_infra::desired::Desired, DatabaseSpec) {
    let manifest = promo_infra::manifest::parse("itest.yaml", text).expect("manifest");
    let loaded = promo_infra::manifest::Loaded {
        manifest,
        source: promo_infra::error::Source::new("itest.yaml", text),
        rel_path: "stacks/itest.yaml".into(),
    };
    let d = compile::compile(
        &loaded,
        &compile::Templates::builtin(),
        &SecretValues::default(),
    )
    .expect("compile");
    let spec = d
        .resources
        .values()
        .find_map(|r| match &r.spec {
            ResourceSpec::Database(s) => Some(s.clone()),
            _ => None,
        })
        .expect("a database resource");
    (d, spec)
}

fn secrets() -> SecretValues {
    SecretValues::from_pairs([
        ("INFLUXDB_ADMIN_PASSWORD".to_string(), "a1".repeat(16)),
        ("INFLUXDB_GRAFANA_PASSWORD".to_string(), "b2".repeat(16)),
        ("INFLUXDB_K6_PASSWORD".to_string(), "c3".repeat(16)),
    ])
}

async fn observed(
    ep: &Endpoint,
    d: &promo_infra::desired::Desired,
    spec: &DatabaseSpec,
) -> Observed {
    let id = d
        .resources
        .keys()
        .find(|id| id.kind == ResourceKind::Database)
        .expect("id")
        .clone();
    let mut o = Observed::default();
    if let Some(found) = influx::observe(ep, spec, &secrets())
        .await
        .expect("observe")
    {
        o.resources
            .insert(id.clone(), influx::observed_resource(&id, found));
    }
    o
}

/// Only the database resource of a plan (the services are another target's business here).
fn database_steps(p: &plan::Plan) -> Vec<&plan::Step> {
    p.steps
        .iter()
        .filter(|s| s.id.kind == ResourceKind::Database)
        .collect()
}

async fn query(url: &str, user: &str, pw: &str, q: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{url}/query"))
        .basic_auth(user, Some(pw))
        .form(&[("q", q), ("db", "k6")])
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn database_users_and_retention_converge_and_replan_is_empty() {
    let server = RealInfluxd::start(true);
    let ep = Endpoint { url: server.url() };
    let (d, spec) = desired(V1);

    let first = plan::plan(&d, &observed(&ep, &d, &spec).await, "test", false);
    assert!(matches!(database_steps(&first)[0].action, Action::Create));

    influx::apply(&ep, &spec, &secrets()).await.expect("apply");
    let again = plan::plan(&d, &observed(&ep, &d, &spec).await, "test", false);
    assert!(
        database_steps(&again).is_empty(),
        "re-plan after apply: {}",
        plan::render(&again)
    );

    // Applying again changes nothing and does not fail (idempotent).
    influx::apply(&ep, &spec, &secrets())
        .await
        .expect("second apply");

    // Least privilege: k6 writes but cannot read; grafana reads but cannot write.
    let write = reqwest::Client::new()
        .post(format!("{}/write?db=k6", server.url()))
        .basic_auth("k6", Some("c3".repeat(16)))
        .body("http_reqs,testid=t1 value=1")
        .send()
        .await
        .expect("write");
    assert_eq!(write.status().as_u16(), 204);
    let denied = query(
        &server.url(),
        "k6",
        &"c3".repeat(16),
        "SELECT count(value) FROM http_reqs",
    )
    .await;
    assert!(denied.to_string().contains("not authorized"), "{denied}");
    let read = query(
        &server.url(),
        "grafana",
        &"b2".repeat(16),
        "SELECT count(value) FROM http_reqs",
    )
    .await;
    assert_eq!(read["results"][0]["series"][0]["values"][0][1], 1, "{read}");
    let bad_write = reqwest::Client::new()
        .post(format!("{}/write?db=k6", server.url()))
        .basic_auth("grafana", Some("b2".repeat(16)))
        .body("http_reqs,testid=t1 value=1")
        .send()
        .await
        .expect("write");
    assert_eq!(bad_write.status().as_u16(), 403);
}

#[tokio::test]
async fn a_retention_change_is_planned_applied_and_replans_empty() {
    let server = RealInfluxd::start(true);
    let ep = Endpoint { url: server.url() };
    let (_, spec) = desired(V1);
    influx::apply(&ep, &spec, &secrets()).await.expect("apply");

    let (d2, spec2) = desired(&V1.replace("retention: 4w", "retention: 12h"));
    let p = plan::plan(&d2, &observed(&ep, &d2, &spec2).await, "test", false);
    let steps = database_steps(&p);
    let Action::Update { changes } = &steps[0].action else {
        panic!("expected a change: {}", plan::render(&p))
    };
    let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        ["retention", "shard_duration"],
        "{}",
        plan::render(&p)
    );
    assert_eq!(changes[0].before.as_deref(), Some("\"672h\""));
    assert_eq!(changes[0].after.as_deref(), Some("\"12h\""));

    influx::apply(&ep, &spec2, &secrets())
        .await
        .expect("apply change");
    let after = plan::plan(&d2, &observed(&ep, &d2, &spec2).await, "test", false);
    assert!(
        database_steps(&after).is_empty(),
        "{}",
        plan::render(&after)
    );
    let rp = query(
        &server.url(),
        "promo-admin",
        &"a1".repeat(16),
        "SHOW RETENTION POLICIES ON k6",
    )
    .await;
    assert_eq!(
        rp["results"][0]["series"][0]["values"][0][1], "12h0m0s",
        "{rp}"
    );

    // infinite works too.
    let (d3, spec3) = desired(&V1.replace("retention: 4w", "retention: infinite"));
    influx::apply(&ep, &spec3, &secrets())
        .await
        .expect("apply infinite");
    assert!(
        database_steps(&plan::plan(
            &d3,
            &observed(&ep, &d3, &spec3).await,
            "test",
            false
        ))
        .is_empty()
    );
}

#[tokio::test]
async fn wrong_admin_password_is_a_clear_error_without_the_password() {
    let server = RealInfluxd::start(true);
    let ep = Endpoint { url: server.url() };
    let (_, spec) = desired(V1);
    influx::apply(&ep, &spec, &secrets()).await.expect("apply");
    let wrong =
        SecretValues::from_pairs([("INFLUXDB_ADMIN_PASSWORD".to_string(), "ff".repeat(16))]);
    let err = influx::observe(&ep, &spec, &wrong)
        .await
        .expect_err("must fail")
        .to_string();
    // A library error (not CLI output) carrying the server's own words, which differ between
    // InfluxDB versions: the URL and the refusal are in it, the password is not.
    assert!(err.contains(&server.url()), "{err}");
    assert!(
        err.contains("authentication failed") || err.contains("authorization failed"),
        "{err}"
    );
    assert!(!err.contains(&"ff".repeat(16)));
}

/// A TCP proxy in front of `upstream` that records every byte clients send, one buffer per
/// connection, to count the HTTP requests a command makes.
async fn recording_proxy(
    upstream: String,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = tokio::net::TcpStream::connect(&upstream)
                .await
                .expect("upstream");
            let record = record.clone();
            let slot = {
                let mut all = record.lock().expect("lock");
                all.push(Vec::new());
                all.len() - 1
            };
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let back = tokio::spawn(async move { tokio::io::copy(&mut sr, &mut cw).await });
                let mut buf = [0u8; 8192];
                while let Ok(n @ 1..) = cr.read(&mut buf).await {
                    record.lock().expect("lock")[slot].extend_from_slice(&buf[..n]);
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = sw.shutdown().await;
                let _ = back.await;
            });
        }
    });
    (url, seen)
}

fn requests(seen: &std::sync::Mutex<Vec<Vec<u8>>>) -> usize {
    let all = seen.lock().expect("lock");
    all.iter()
        .map(|c| c.windows(12).filter(|w| w == b"POST /query ").count())
        .sum()
}

/// Fails on the old observe (five requests, one statement each, for the converged database):
/// one request now answers the database, its retention and its users' grants; a missing user
/// (the server stops at its `SHOW GRANTS`) and a missing database still read correctly.
#[tokio::test]
async fn observe_reads_a_converged_database_in_one_request() {
    let server = RealInfluxd::start(true);
    let (url, seen) = recording_proxy(format!("127.0.0.1:{}", server.http_port())).await;
    let ep = Endpoint { url };
    let (_, spec) = desired(V1);
    influx::apply(&ep, &spec, &secrets()).await.expect("apply");
    let before = requests(&seen);
    let found = influx::observe(&ep, &spec, &secrets())
        .await
        .expect("observe");
    assert_eq!(found.as_ref(), Some(&spec));
    assert_eq!(requests(&seen) - before, 1);

    // A declared user is missing: the others are still read, with their grants.
    let admin = ("promo-admin", "a1".repeat(16));
    query(&server.url(), admin.0, &admin.1, "DROP USER \"grafana\"").await;
    let mut without = spec.clone();
    without.users.retain(|u| u.name != "grafana");
    assert_eq!(without.users.len(), spec.users.len() - 1);
    let found = influx::observe(&ep, &spec, &secrets())
        .await
        .expect("observe");
    assert_eq!(found, Some(without));

    // The database is gone: nothing to observe.
    query(&server.url(), admin.0, &admin.1, "DROP DATABASE \"k6\"").await;
    let found = influx::observe(&ep, &spec, &secrets())
        .await
        .expect("observe");
    assert_eq!(found, None);
}
