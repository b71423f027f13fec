//! `plan --out FILE` and `apply FILE` (issue 13 item 1) on a real Docker engine, in the layout
//! a user gets: a saved plan is applied exactly, without asking, and refused once the
//! configuration or the stack has moved since it was made; nothing changes when it is refused.

use crate::common::Run;
use crate::docker::EngineStack;
use crate::engine::engine;

const TITLE: &str = "title: \"Promo Load Analyzer - Marketing View\"";

fn dashboard(s: &EngineStack) -> String {
    s.p.read(&format!(
        "generated/{}/grafana/dashboards/promo-marketing.json",
        s.name
    ))
}

fn refused(r: &Run) {
    assert_eq!(r.code, 1, "{}", r.all());
}

#[test]
fn a_saved_plan_is_applied_exactly_and_refused_once_stale() {
    if !engine() {
        return;
    }
    let s = EngineStack::new("saved");
    // Before the first apply `.env` has no secrets: apply would generate them, so a saved
    // plan could not be what runs.
    let cold = s.run(&["plan", "--out", "cold.plan"]);
    refused(&cold);
    promo_snapshot!(cold, @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x cannot save a plan of stack `[STACK]`: generated/[STACK]/.env has no value yet for CONTROL_API_STOP_PASSWORD, CONTROL_API_TOKEN, GRAFANA_ADMIN_PASSWORD, GRAFANA_SECRET_KEY, INFLUXDB_ADMIN_PASSWORD, INFLUXDB_GRAFANA_PASSWORD, INFLUXDB_K6_PASSWORD; apply would generate them, so the saved plan would not be what runs
      help: run `promo-infra generate` first (it creates the missing secrets), then `promo-infra plan --out FILE`
    ");
    assert!(
        !s.dir().join("cold.plan").exists(),
        "a refused plan writes no file"
    );
    s.apply();

    // A dashboard change, planned and saved: the file's diff, then where the plan is.
    s.edit(TITLE, "title: \"Flash Sale A\"");
    promo_snapshot!(s.run(&["plan", "--out", "a.plan"]), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will perform the following actions on stack `[STACK]` (target docker):

      # dashboard.promo-marketing will be updated in place
      ~ dashboard.promo-marketing
          ~ settings: "[ID]" → "[ID]"
          ~ title: "Promo Load Analyzer - Marketing View" → "Flash Sale A"

    Plan: 0 to add, 1 to change, 0 to destroy.

    apply also writes 1 generated file(s) first (`promo-infra generate` writes them alone):
      generated/[STACK]/grafana/dashboards/promo-marketing.json

    Saved the plan to: a.plan

    To perform exactly these actions, run:
      promo-infra apply a.plan

    ----- stderr -----
    "#);
    let applied = s.run(&["apply", "a.plan"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    assert!(dashboard(&s).contains("\"title\": \"Flash Sale A\""));
    let again = s.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        again.code,
        0,
        "the saved plan converged the stack:\n{}",
        again.all()
    );

    // The same file again: the stack moved (it was applied).
    promo_snapshot!(s.run(&["apply", "a.plan"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x the saved plan `a.plan` is stale: stack `[STACK]` on target docker (another apply, or a change outside promo-infra) changed since it was made
      help: run `promo-infra -f stacks/promo.yaml plan --out a.plan` again, review it, then apply it
    ");

    // Saved, then the manifest changes again: refused, nothing written or changed.
    s.edit("title: \"Flash Sale A\"", "title: \"Flash Sale B\"");
    assert_eq!(s.run(&["plan", "--out", "b.plan"]).code, 0);
    s.edit("title: \"Flash Sale B\"", "title: \"Flash Sale C\"");
    // Everything but the dashboard render cache must stay as it was.
    let before = s.p.project_files();
    promo_snapshot!(s.run(&["apply", "b.plan"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x the saved plan `b.plan` is stale: the configuration of stack `[STACK]` (the manifest, a template in dashboards-src/, or generated/[STACK]/.env) changed since it was made
      help: run `promo-infra -f stacks/promo.yaml plan --out b.plan` again, review it, then apply it
    ");
    assert!(
        s.p.project_files() == before,
        "a refused saved plan changes no file"
    );
    assert!(dashboard(&s).contains("\"title\": \"Flash Sale A\""));

    // Not a plan file; a plan of another stack file than the one given.
    s.p.write("notes.txt", "hello\n");
    promo_snapshot!(s.run(&["apply", "notes.txt"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x `notes.txt` is not a promo-infra plan file: expected value at line 1 column 1
      help: make one with `promo-infra plan --out FILE`, then `promo-infra apply FILE`
    ");
    assert_eq!(s.run(&["plan", "--out", "c.plan"]).code, 0);
    promo_snapshot!(s.run(&["-f", "stacks/other.yaml", "apply", "c.plan"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x the saved plan `c.plan` is of stacks/promo.yaml, not of the stack file given with -f / PROMO_INFRA_FILE
      help: apply a saved plan without -f (the file names its stack), or make a plan of that stack
    ");
    let c = s.run(&["apply", "c.plan"]);
    assert_eq!(c.code, 0, "{}", c.all());
    assert!(dashboard(&s).contains("\"title\": \"Flash Sale C\""));
}

/// A saved plan carries its own target and `--prune`: giving either with it is refused before
/// the file is even read.
#[test]
fn a_saved_plan_takes_no_target_or_prune_flag() {
    let p = crate::common::TestContext::with_repo_stacks();
    let mut runs = crate::common::Runs::default();
    for flag in ["--target=native", "--prune"] {
        runs.push(
            format!("apply promo.plan {flag}"),
            p.run(&["apply", "promo.plan", flag]),
        );
    }
    promo_snapshot!(runs, @"
    === apply promo.plan --target=native ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: the argument '[PLANFILE]' cannot be used with '--target <TARGET>'

    Usage: promo-infra apply <PLANFILE>

    For more information, try '--help'.

    === apply promo.plan --prune ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: the argument '[PLANFILE]' cannot be used with '--prune'

    Usage: promo-infra apply <PLANFILE>

    For more information, try '--help'.
    ");
}
