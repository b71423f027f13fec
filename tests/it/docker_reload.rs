//! The docker target's in-place update of a stopped Grafana: an alerting change while Grafana's
//! container is stopped is planned "updated in place" (only the files Grafana reloads changed),
//! and apply called Grafana's reload API on the stopped container, which does not answer, so
//! apply failed. Now the container is started: it reads the files, which hold the change.
//! Real Docker engine, the local images (the Grafana double loads the alerting provisioning).

use crate::docker::{EngineStack, http};
use crate::engine::{docker, engine};

#[test]
fn an_alerting_change_while_grafana_is_stopped_starts_it_with_the_change() {
    if !engine() {
        return;
    }
    let s = EngineStack::new("stopreload");
    s.edit(
        "targets:\n",
        "alerting:\n  slack:\n    webhook_url_env: SLACK_WEBHOOK_URL\n    channel: \"#load\"\n  rules:\n    error_rate_critical_pct: 5\n    p95_warning_ms: 3000\ntargets:\n",
    );
    s.apply();
    let container = format!("{}-grafana-1", s.name);
    let id = || docker(&["inspect", "-f", "{{.Id}} {{.State.Running}}", &container]);
    let before = id();
    assert!(before.trim().ends_with(" true"), "{before}");
    docker(&["stop", &container]);
    s.edit("p95_warning_ms: 3000", "p95_warning_ms: 2500");
    let plan = s.run(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.stdout
            .contains("  # service.grafana will be updated in place\n"),
        "{}",
        plan.all()
    );
    s.apply();
    let after = id();
    assert_eq!(
        after.trim(),
        before.trim(),
        "the same container, running again"
    );
    // Grafana loaded the new threshold (the double's alerting API, third-party to the CLI).
    let password = s.secret("GRAFANA_ADMIN_PASSWORD");
    let (status, body) = http(
        "GET",
        s.grafana_port,
        "/api/v1/provisioning/alert-rules",
        Some(("promo-admin", &password)),
        "",
    );
    assert!(status.contains(" 200"), "{status} {body}");
    let rules: serde_json::Value = serde_json::from_str(&body).expect("alert rules JSON");
    let p95 = rules
        .as_array()
        .and_then(|r| {
            r.iter()
                .find(|r| r["uid"].as_str() == Some(&format!("{}-p95", s.name)))
        })
        .map(ToString::to_string)
        .unwrap_or_else(|| panic!("no p95 rule: {body}"));
    assert!(
        p95.contains("2500") && !p95.contains("3000"),
        "the p95 rule has the new threshold: {p95}"
    );
    let replan = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(replan.code, 0, "re-plan not empty:\n{}", replan.all());
}
