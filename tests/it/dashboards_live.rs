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
