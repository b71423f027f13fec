//! `dashboards diff` (issue 14 item 2) against the docker target's Grafana (the Grafana API
//! double in the stack's container), in the layout a user gets: right after apply every
//! dashboard reads back the same (no perpetual diff from what Grafana adds); a manifest change
//! not applied yet shows as that one field; exit codes like `plan --detailed-exitcode`.

use crate::common::Run;
use crate::docker::EngineStack;
use crate::engine::engine;

fn diff(s: &EngineStack, args: &[&str]) -> Run {
    let mut all = vec!["dashboards", "diff"];
    all.extend_from_slice(args);
    s.run(&all)
        .filter_regex(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:[PORT]")
}

#[test]
fn dashboards_diff_reads_the_live_grafana() {
    if !engine() {
        return;
    }
    let s = EngineStack::new("dashdiff");
    s.apply();
    promo_snapshot!(diff(&s, &["--detailed-exitcode"]), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    Dashboards of stack `[STACK]` in Grafana http://127.0.0.1:[PORT] (changes from generated to Grafana):

      promo-marketing ("Promo Load Analyzer - Marketing View"): same
      k6-technical ("k6 results – technical view"): same

    0 of 2 dashboard(s) differ.

    ----- stderr -----
    "#);

    s.edit(
        "title: \"Promo Load Analyzer - Marketing View\"",
        "title: \"Promo Load Analyzer - Renamed\"",
    );
    promo_snapshot!(diff(&s, &["promo-marketing", "--detailed-exitcode"]), @r#"
    success: false
    exit_code: 2
    ----- stdout -----
    Dashboards of stack `[STACK]` in Grafana http://127.0.0.1:[PORT] (changes from generated to Grafana):

      promo-marketing ("Promo Load Analyzer - Renamed"): 1 change in Grafana
          ~ title: "Promo Load Analyzer - Renamed" → "Promo Load Analyzer - Marketing View"

    1 of 1 dashboard(s) differ.

    ----- stderr -----
    "#);
    promo_snapshot!(diff(&s, &["promo-marketing", "--json"]), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    {
      "format_version": "1.0",
      "stack": "[STACK]",
      "grafana": "http://127.0.0.1:[PORT]",
      "dashboards": [
        {
          "uid": "promo-marketing",
          "title": "Promo Load Analyzer - Renamed",
          "state": "changed",
          "changes": [
            {
              "panel": null,
              "path": "title",
              "before": "\"Promo Load Analyzer - Renamed\"",
              "after": "\"Promo Load Analyzer - Marketing View\""
            }
          ]
        }
      ]
    }

    ----- stderr -----
    "#);
    promo_snapshot!(diff(&s, &["no-such-dashboard"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/promo.yaml has no dashboard with uid `no-such-dashboard`
      help: dashboards in this stack: promo-marketing, k6-technical
    ");
}

/// Someone saves the marketing dashboard in the stack's Grafana as the UI does (the double's
/// `POST /__double/ui-edit/{uid}`, a JSON merge patch), logged in as the stack's admin.
fn ui_edit(s: &EngineStack, uid: &str, patch: serde_json::Value) {
    use promo_infra::grafana::{Auth, Client};
    let grafana = Client::new(
        &format!("http://127.0.0.1:{}", s.grafana_port),
        Auth::Basic {
            user: "promo-admin".into(),
            password: promo_infra::control::Secret::new(s.secret("GRAFANA_ADMIN_PASSWORD")),
        },
        1,
    )
    .expect("client");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (status, body) = rt
        .block_on(grafana.request(
            reqwest::Method::POST,
            &format!("/__double/ui-edit/{uid}"),
            Some(&patch),
        ))
        .expect("ui edit");
    assert!(status.is_success(), "{status} {body}");
}

/// Issue 14's flow on the docker target, in the layout `apply` gives: dashboards are managed
/// through Grafana's API (not file provisioning), so a UI edit is possible; plan names the
/// panel it changed; apply refuses to overwrite it; `dashboards diff` shows the field, `pull`
/// keeps it as an overlay that `generate` applies, and then plan and diff are empty; a later
/// template change is applied in place; a dashboard dropped from the manifest is deleted only
/// with `--prune`.
#[test]
fn a_ui_edit_on_the_docker_target_is_planned_protected_pulled_and_kept() {
    if !engine() {
        return;
    }
    let s = EngineStack::new("dashvc");
    s.apply();
    promo_snapshot!(s.run(&["plan", "--detailed-exitcode"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    No changes. Stack `[STACK]` on target docker matches the configuration.

    ----- stderr -----
    ");

    ui_edit(
        &s,
        "promo-marketing",
        serde_json::json!({"description": "Edited in the UI by marketing"}),
    );
    promo_snapshot!(s.run(&["plan", "--detailed-exitcode"]), @r#"
    success: false
    exit_code: 2
    ----- stdout -----
    promo-infra will perform the following actions on stack `[STACK]` (target docker):

      # dashboard.promo-marketing will be updated in place
      ~ dashboard.promo-marketing
          ~ settings: "[ID]" → "[ID]"

    Plan: 0 to add, 1 to change, 0 to destroy.

    ----- stderr -----
    "#);
    promo_snapshot!(s.run(&["apply", "--auto-approve"]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----
    promo-infra will perform the following actions on stack `[STACK]` (target docker):

      # dashboard.promo-marketing will be updated in place
      ~ dashboard.promo-marketing
          ~ settings: "[ID]" → "[ID]"

    Plan: 0 to add, 1 to change, 0 to destroy.

    ----- stderr -----
    dashboard.promo-marketing: updating
    dashboard.promo-marketing: failed ([TIME])
      x dashboard `promo-marketing` was changed in Grafana http://127.0.0.1:[PORT] (version 2) since promo-infra last pushed it; not overwritten
      help: see the change with `promo-infra dashboards diff promo-marketing`, keep it with `promo-infra dashboards pull promo-marketing` then `promo-infra generate`, or overwrite it with `promo-infra dashboards push promo-marketing --force`
    "#);
    promo_snapshot!(diff(&s, &["promo-marketing", "--detailed-exitcode"]), @r#"
    success: false
    exit_code: 2
    ----- stdout -----
    Dashboards of stack `[STACK]` in Grafana http://127.0.0.1:[PORT] (changes from generated to Grafana):

      promo-marketing ("Promo Load Analyzer - Marketing View"): 1 change in Grafana
          ~ description: "What site visitors experience during a load test: health grade, concurrent users, response time, errors and the cost of the promotion compared with a baseline run." → "Edited in the UI by marketing"

    1 of 1 dashboard(s) differ.

    ----- stderr -----
    "#);
    promo_snapshot!(s.run(&["dashboards", "pull", "promo-marketing"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
      promo-marketing: 1 edit kept in dashboards-src/overrides/[STACK]/promo-marketing.json

    Run `promo-infra generate` to bring the edits into generated/, then commit dashboards-src/overrides/.

    ----- stderr -----
    ");
    promo_snapshot!(s.run(&["generate"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
      ~ generated/[STACK]/grafana/dashboards/promo-marketing.json
    ✓ generated/[STACK]: 0 created, 1 updated, 10 unchanged, 0 removed

    ----- stderr -----
    ");
    promo_snapshot!(s.run(&["generate", "--check"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    ✓ generated/[STACK] is up to date

    ----- stderr -----
    ");
    promo_snapshot!(s.run(&["plan", "--detailed-exitcode"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    No changes. Stack `[STACK]` on target docker matches the configuration.

    ----- stderr -----
    ");
    promo_snapshot!(diff(&s, &["--detailed-exitcode"]), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    Dashboards of stack `[STACK]` in Grafana http://127.0.0.1:[PORT] (changes from generated to Grafana):

      promo-marketing ("Promo Load Analyzer - Marketing View"): same
      k6-technical ("k6 results – technical view"): same

    0 of 2 dashboard(s) differ.

    ----- stderr -----
    "#);

    s.edit(
        "title: \"Promo Load Analyzer - Marketing View\"",
        "title: \"Black Friday\"",
    );
    promo_snapshot!(s.run(&["apply", "--auto-approve"]), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will perform the following actions on stack `[STACK]` (target docker):

      # dashboard.promo-marketing will be updated in place
      ~ dashboard.promo-marketing
          ~ settings: "[ID]" → "[ID]"
          ~ title: "Promo Load Analyzer - Marketing View" → "Black Friday"

    Plan: 0 to add, 1 to change, 0 to destroy.
      ~ generated/[STACK]: 1 file(s) written
    ✓ dashboard.promo-marketing: updated in place

    Apply complete! Resources: 0 added, 1 changed, 0 destroyed.

    SERVICE      STATE    HEALTH   IMAGE                             VERSION  URL                     UPTIME  CONFIG
    control-api  running  healthy  promo-infra:0.1.0                 0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    grafana      running  healthy  promo-infra-grafana-double:0.1.0  0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    influxdb     running  healthy  promo-infra-influxdb:1.6.7-local  1.6.7    http://127.0.0.1:[PORT]  [UPTIME]  current

    ----- stderr -----
    dashboard.promo-marketing: updating
    dashboard.promo-marketing: updated ([TIME])
    "#);
    promo_snapshot!(s.run(&["plan", "--detailed-exitcode"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    No changes. Stack `[STACK]` on target docker matches the configuration.

    ----- stderr -----
    ");
    promo_snapshot!(diff(&s, &["--detailed-exitcode"]), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    Dashboards of stack `[STACK]` in Grafana http://127.0.0.1:[PORT] (changes from generated to Grafana):

      promo-marketing ("Black Friday"): same
      k6-technical ("k6 results – technical view"): same

    0 of 2 dashboard(s) differ.

    ----- stderr -----
    "#);

    let text = s.p.read("stacks/promo.yaml");
    s.p.write(
        "stacks/promo.yaml",
        &text.replacen("  - uid: k6-technical\n    template: k6-technical\n", "", 1),
    );
    promo_snapshot!(s.run(&["plan"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    No changes. Stack `[STACK]` on target docker matches the configuration.
    Note: dashboard.k6-technical exists but the stack no longer declares it; kept (use --prune to destroy it).

    apply also writes 1 generated file(s) first (`promo-infra generate` writes them alone):
      generated/[STACK]/grafana/dashboards/k6-technical.json

    ----- stderr -----
    ");
    promo_snapshot!(s.run(&["apply", "--auto-approve", "--prune"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will perform the following actions on stack `[STACK]` (target docker):

      # dashboard.k6-technical will be destroyed
      - dashboard.k6-technical

    Plan: 0 to add, 0 to change, 1 to destroy.
    ✓ dashboard.k6-technical: destroyed

    Apply complete! Resources: 0 added, 0 changed, 1 destroyed.

    SERVICE      STATE    HEALTH   IMAGE                             VERSION  URL                     UPTIME  CONFIG
    control-api  running  healthy  promo-infra:0.1.0                 0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    grafana      running  healthy  promo-infra-grafana-double:0.1.0  0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    influxdb     running  healthy  promo-infra-influxdb:1.6.7-local  1.6.7    http://127.0.0.1:[PORT]  [UPTIME]  current

    ----- stderr -----
    dashboard.k6-technical: deleting
    dashboard.k6-technical: deleted ([TIME])
    ");
    promo_snapshot!(s.run(&["plan", "--detailed-exitcode"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    No changes. Stack `[STACK]` on target docker matches the configuration.

    ----- stderr -----
    ");
}
