//! Two stacks on one InfluxDB Cloud organisation, as exploratory QA ran them: stack `other`, a
//! copy of `promo-v1` with its own name and dashboard uids but the same `influxdb.bucket`,
//! planned no create for the bucket `promo-v1` made, and its `destroy --volumes` deleted it with
//! `promo-v1`'s data. A bucket the cloud target creates is now marked as its stack's (its
//! description); another stack's is refused, and `destroy --volumes` deletes only a bucket its
//! own stack made (one made by hand is kept, and said so). A renamed stack takes its bucket back
//! the way the refusal says: its description set to the new name.

use super::{OPERATOR, SA_TOKEN, WEBHOOK, start};

/// `promo-v1`'s manifest as stack `other`, with `bucket` as its bucket.
pub(super) fn other(c: &super::Cloud, bucket: &str) -> String {
    let text =
        c.p.read("stacks/promo-v1.yaml")
            .replace("stack: promo-v1", "stack: other")
            .replace("uid: promo-marketing", "uid: other-marketing")
            .replace("uid: k6-technical", "uid: other-technical")
            .replace(
                "home_dashboard: promo-marketing",
                "home_dashboard: other-marketing",
            )
            .replace("bucket: k6 ", &format!("bucket: {bucket} "));
    assert!(text.contains(&format!("bucket: {bucket} ")), "{text}");
    text
}

/// `promo-infra -f stacks/other.yaml ARGS --target cloud` with the cloud credentials.
pub(super) fn run_other(c: &super::Cloud, args: &[&str]) -> crate::common::Run {
    let mut all = vec!["-f", "stacks/other.yaml"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--target", "cloud"]);
    c.p.cmd(&all)
        .envs(&[
            ("GRAFANA_CLOUD_TOKEN", SA_TOKEN),
            ("INFLUX_CLOUD_TOKEN", OPERATOR),
            ("SLACK_WEBHOOK_URL", WEBHOOK),
        ])
        .run()
}

/// Set the description of `bucket` in the InfluxDB double as a user would in InfluxDB Cloud's
/// UI (a PATCH carries the retention rules on Cloud).
async fn describe(c: &super::Cloud, bucket: &promo_doubles::influx2::Bucket, description: &str) {
    let status = reqwest::Client::new()
        .patch(format!("{}/api/v2/buckets/{}", c.influx.url(), bucket.id))
        .header("Authorization", format!("Token {OPERATOR}"))
        .json(&serde_json::json!({
            "description": description,
            "retentionRules": [{ "type": "expire", "everySeconds": bucket.every_seconds }],
        }))
        .send()
        .await
        .expect("InfluxDB double answers")
        .status();
    assert!(status.is_success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_stacks_bucket_is_refused_and_destroy_deletes_only_the_bucket_its_stack_made() {
    let c = start().await;
    c.applied();
    let k6 = c.influx.state().bucket("k6").expect("bucket k6");
    assert_eq!(k6.description, "promo-infra: stack promo-v1");

    // Same bucket: refused, nothing made.
    c.p.write("stacks/other.yaml", &other(&c, "k6"));
    let buckets = c.influx.state().buckets().len();
    promo_snapshot!(run_other(&c, &["plan"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x bucket `k6` in InfluxDB Cloud at http://127.0.0.1:[PORT] (organisation `promo-analyzer`) belongs to stack `promo-v1` (its description is `promo-infra: stack promo-v1`); stack `other` does not take it
      help: two stacks on one InfluxDB Cloud organisation cannot share a bucket: give one of them another `influxdb.bucket` in its manifest, then plan again; if this stack was named `promo-v1` before (a rename), make the bucket this stack's: set its description to `promo-infra: stack other` in InfluxDB Cloud (Load Data → Buckets → the bucket's settings); nothing was changed
    ");
    promo_snapshot!(run_other(&c, &["apply", "--auto-approve"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x bucket `k6` in InfluxDB Cloud at http://127.0.0.1:[PORT] (organisation `promo-analyzer`) belongs to stack `promo-v1` (its description is `promo-infra: stack promo-v1`); stack `other` does not take it
      help: two stacks on one InfluxDB Cloud organisation cannot share a bucket: give one of them another `influxdb.bucket` in its manifest, then plan again; if this stack was named `promo-v1` before (a rename), make the bucket this stack's: set its description to `promo-infra: stack other` in InfluxDB Cloud (Load Data → Buckets → the bucket's settings); nothing was changed
    ");
    assert_eq!(c.influx.state().buckets().len(), buckets);
    assert!(c.influx.state().bucket("k6").is_some());

    // The refusal's way out for a renamed stack works: the bucket's description made
    // `other`'s, `other` plans it as its own (no create), and `promo-v1` is refused in turn.
    let k6 = c.influx.state().bucket("k6").expect("bucket k6");
    describe(&c, &k6, "promo-infra: stack other").await;
    let plan = run_other(&c, &["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(!plan.stdout.contains("database.k6"), "{}", plan.all());
    let refused = c.run(&["plan", "--target", "cloud"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains("belongs to stack `other`"),
        "{}",
        refused.all()
    );
    // Back to `promo-v1`'s, for what follows.
    describe(&c, &k6, "promo-infra: stack promo-v1").await;

    // A bucket made by hand (the organisation's first, `someone-elses`): used as it is, and
    // kept by `destroy --volumes`, which says so.
    c.p.write("stacks/other.yaml", &other(&c, "someone-elses"));
    let applied = run_other(&c, &["apply", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    promo_snapshot!(run_other(&c, &["destroy", "--volumes", "--auto-approve"]).sorted_stderr(), @"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will destroy on stack `other` (target cloud):

      - token.grafana-read
      - token.k6-write
      - datasource.other-influxdb
      - folder.other
      - dashboard.other-marketing
      - dashboard.other-technical
      - alerting.contact_point.other-slack
      - alerting.policy.other
      - alerting.rule_group.other-k6
      - alerting.template.other-messages
      - alerting.rule_group.other-k6
      - alerting.policy.other
      - alerting.contact_point.other-slack
      - alerting.template.other-messages
      - dashboard.other-marketing
      - dashboard.other-technical
      - datasource.other-influxdb
      - folder.other
      - token.grafana-read
      - token.k6-write
    ✓ Destroy complete: 10 object(s) removed.

    ----- stderr -----
    warning: database.someone-elses: bucket `someone-elses` kept: it was not made by promo-infra (or by a version that did not mark its buckets), not by stack `other`; delete it in InfluxDB Cloud if its data should go
    ");
    assert!(c.influx.state().bucket("someone-elses").is_some());

    // Stack `other` applied with a bucket of its own, then its manifest edited to
    // `promo-v1`'s bucket: its plans are refused, but its destroy is not (the stack must be
    // able to go). `destroy --volumes` removes what `other` made and keeps `promo-v1`'s bucket
    // and data, out of its preview, naming whose it is; `promo-v1` is left as it was.
    // (`promo-v1` takes its home dashboard back; `other` sets none: the organisation's home
    // is one.)
    c.applied();
    let mine = |bucket| other(&c, bucket).replace("  home_dashboard: other-marketing\n", "");
    c.p.write("stacks/other.yaml", &mine("other-data"));
    let applied = run_other(&c, &["apply", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    c.p.write("stacks/other.yaml", &mine("k6"));
    assert_eq!(run_other(&c, &["plan"]).code, 1);
    let destroyed = run_other(&c, &["destroy", "--volumes", "--auto-approve"]);
    promo_snapshot!(destroyed.sorted_stderr(), @"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will destroy on stack `other` (target cloud):

      - token.grafana-read
      - token.k6-write
      - datasource.other-influxdb
      - folder.other
      - dashboard.other-marketing
      - dashboard.other-technical
      - alerting.contact_point.other-slack
      - alerting.policy.other
      - alerting.rule_group.other-k6
      - alerting.template.other-messages
      - alerting.rule_group.other-k6
      - alerting.policy.other
      - alerting.contact_point.other-slack
      - alerting.template.other-messages
      - dashboard.other-marketing
      - dashboard.other-technical
      - datasource.other-influxdb
      - folder.other
      - token.grafana-read
      - token.k6-write
    ✓ Destroy complete: 10 object(s) removed.

    ----- stderr -----
    warning: database.k6: bucket `k6` kept: it is stack `promo-v1`'s (its data), not stack `other`'s; `promo-infra -f <promo-v1's manifest> destroy --volumes --target cloud` removes it with that stack
    ");
    assert!(c.influx.state().bucket("k6").is_some());
    let plan = c.run(&["plan", "--target", "cloud", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "promo-v1 intact: {}", plan.all());

    // `promo-v1`'s own: deleted by its `destroy --volumes`.
    let destroyed = c.run(&[
        "destroy",
        "--target",
        "cloud",
        "--volumes",
        "--auto-approve",
    ]);
    assert_eq!(destroyed.code, 0, "{}", destroyed.all());
    assert!(
        destroyed.stdout.contains("database.k6 (its data)"),
        "{}",
        destroyed.all()
    );
    assert!(c.influx.state().bucket("k6").is_none());
}
