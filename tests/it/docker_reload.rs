//! The docker target and a stopped Grafana container:
//! - an alerting change while it is stopped is planned "updated in place" (only the files
//!   Grafana reloads changed), and apply called Grafana's reload API on the stopped container,
//!   which does not answer, so apply failed. Now the container is started: it reads the files,
//!   which hold the change;
//! - its host port taken by another program while it is stopped: apply started it and Docker
//!   failed mid-apply. Now apply refuses before it changes anything.
//!
//! Real Docker engine, the local images (the Grafana double loads the alerting provisioning).

use crate::docker::{EngineStack, http};
use crate::engine::{docker, engine};

/// Stop the applied stack's Grafana container, which runs: its `"<id> <running>"` as docker
/// inspect says it (a probe for later), and that answer before the stop.
fn stop_grafana(s: &EngineStack) -> (impl Fn() -> String, String) {
    let container = format!("{}-grafana-1", s.name);
    let inspected = container.clone();
    let id = move || docker(&["inspect", "-f", "{{.Id}} {{.State.Running}}", &inspected]);
    let before = id();
    assert!(before.trim().ends_with(" true"), "{before}");
    docker(&["stop", &container]);
    (id, before)
}

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
    let (id, before) = stop_grafana(&s);
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

/// Grafana's container stopped, and another program took its host port meanwhile: the plan
/// starts it again, and apply refuses before it changes anything, naming `grafana.port` and
/// the holder (before: stopped containers were not in the port check, and Docker failed the
/// start mid-apply). Once the port is free, apply starts the same container.
#[test]
fn a_stopped_container_whose_port_was_taken_is_refused_before_any_change() {
    if !engine() {
        return;
    }
    let s = EngineStack::new("porttaken");
    s.apply();
    let (id, before) = stop_grafana(&s);
    let taker =
        std::net::TcpListener::bind(("127.0.0.1", s.grafana_port)).expect("take Grafana's port");
    let run = s.run(&["apply", "--auto-approve"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let refusal = run
        .stderr_from("  x cannot apply")
        .filter(&s.grafana_port.to_string(), "[GRAFANA_PORT]");
    promo_snapshot!(refusal, @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x cannot apply: 1 host port(s) already in use; nothing was changed
      |   - grafana.port = [GRAFANA_PORT] (stacks/promo.yaml:20:9): 127.0.0.1:[GRAFANA_PORT] is already in use by pid [PID] (it-[ID])
      help: stop what holds the port, or choose another port in the manifest, then apply again
    ");
    assert_eq!(
        id().trim(),
        before.trim().replace(" true", " false"),
        "the refused apply started or replaced Grafana's container"
    );
    drop(taker);
    s.apply();
    assert_eq!(
        id().trim(),
        before.trim(),
        "the same container, running again"
    );
    let replan = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(replan.code, 0, "re-plan not empty:\n{}", replan.all());
}
