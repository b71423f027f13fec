//! The organisation's home dashboard is one preference for a whole Grafana. Two stacks on one
//! Grafana Cloud stack that both set `grafana.home_dashboard` took it from each other at every
//! apply, and each plan showed only `home: false → true`, with nothing to say why (README said
//! to set it in one stack only). The plan now says which stack holds it and what to do.

use super::shared_org::{other, run_other};
use super::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stacks_setting_the_home_dashboard_are_told_they_take_it_from_each_other() {
    let c = start().await;
    c.applied();
    c.p.write("stacks/other.yaml", &other(&c, "k6-other"));
    let applied = run_other(&c, &["apply", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    promo_snapshot!(c.run(&["plan", "--target", "cloud"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will perform the following actions on stack `promo-v1` (target cloud):

      # dashboard.promo-marketing will be updated in place
      ~ dashboard.promo-marketing
          ~ home: false → true

    Warning: the organisation's home dashboard is `other-marketing`, stack `other`'s dashboard: this stack's `grafana.home_dashboard` takes it (dashboard.promo-marketing), and if stack `other` sets it too, each one's apply takes it from the other: keep it in one of the two manifests
    Plan: 0 to add, 1 to change, 0 to destroy.

    ----- stderr -----
    ");
    // The way out: `home_dashboard` kept in one manifest. `other`'s plan then clears the
    // preference it holds, and says nothing; `promo-v1` takes the home without a warning.
    let text = c.p.read("stacks/other.yaml");
    let without = text
        .lines()
        .filter(|l| !l.contains("home_dashboard:"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(without, text);
    c.p.write("stacks/other.yaml", &format!("{without}\n"));
    promo_snapshot!(run_other(&c, &["plan"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will perform the following actions on stack `other` (target cloud):

      # dashboard.other-marketing will be updated in place
      ~ dashboard.other-marketing
          ~ home: true → false

    Plan: 0 to add, 1 to change, 0 to destroy.

    ----- stderr -----
    ");
    let applied = run_other(&c, &["apply", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    promo_snapshot!(c.run(&["apply", "--target", "cloud", "--auto-approve"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will perform the following actions on stack `promo-v1` (target cloud):

      # dashboard.promo-marketing will be updated in place
      ~ dashboard.promo-marketing
          ~ home: false → true

    Plan: 0 to add, 1 to change, 0 to destroy.
    ✓ dashboard.promo-marketing: updated in place

    Apply complete! Resources: 0 added, 1 changed, 0 destroyed.

    SERVICE   STATE    HEALTH   IMAGE        VERSION  URL                     UPTIME  CONFIG
    grafana   running  healthy  8/8 objects  10.2.3   http://127.0.0.1:[PORT]  -       current
    influxdb  running  healthy  3/3 objects  cloud    http://127.0.0.1:[PORT]  -       current

    Alerts: Slack #load-testing-alerts (webhook from SLACK_WEBHOOK_URL)

    ----- stderr -----
    dashboard.promo-marketing: updating
    dashboard.promo-marketing: updated ([TIME])
    ");
}
