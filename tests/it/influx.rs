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
