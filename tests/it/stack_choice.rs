//! Which stack a command acts on without `-f`: `validate`/`generate` every `stacks/*.yaml`;
//! the commands that act on one stack `stacks/promo.yaml`, else the only stack file, else an
//! error listing them; and `status` saying which it shows. Native target: no engine needed.

use crate::common::{BASE, TestContext, Text};

/// `BASE` (stack `shop`) declared as stack `name`.
fn stack_named(name: &str) -> String {
    BASE.replacen("stack: shop\n", &format!("stack: {name}\n"), 1)
}

/// The lines of a plan's output that say what it is of and how much changes.
fn plan_header_and_summary(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| l.starts_with("promo-infra will perform") || l.starts_with("Plan: "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A project whose only stack is `stacks/shop.yaml` (before: `status` and `plan` looked for
/// `stacks/promo.yaml` and failed, while `validate` took shop.yaml): they act on it and say so.
#[test]
fn the_only_stack_file_is_the_one_status_and_plan_act_on_and_name() {
    let p = TestContext::new();
    p.write("stacks/shop.yaml", BASE);
    promo_snapshot!(p.run(&["status", "--target", "native"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    Stack `shop` (stacks/shop.yaml) on target native:

    SERVICE      STATE    HEALTH  IMAGE                       VERSION                                     URL                    UPTIME  CONFIG
    control-api  missing  -       /usr/local/bin/promo-infra  promo-infra 0.1.0                           http://127.0.0.1:5000  -       -
    grafana      missing  -       grafana                     -                                           http://127.0.0.1:3000  -       -
    influxdb     missing  -       /usr/bin/influxd            InfluxDB v1.6.7~rc0 (git: unknown unknown)  http://127.0.0.1:8086  -       -

    Alerts: nowhere to go: SLACK_WEBHOOK_URL is not set (the alert rules run and show on the dashboards; no notification is sent)

    ----- stderr -----
    ");
    let json = p.run(&["status", "--target", "native", "--json"]);
    assert_eq!(json.code, 0, "{}", json.all());
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("status --json");
    assert_eq!(
        (&v["stack"], &v["manifest"], &v["target"]),
        (
            &serde_json::json!("shop"),
            &serde_json::json!("stacks/shop.yaml"),
            &serde_json::json!("native")
        ),
        "{v}"
    );
    let plan = p.run(&["plan", "--target", "native"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    promo_snapshot!(Text::new(plan_header_and_summary(&plan.stdout), p.path()), @"
    promo-infra will perform the following actions on stack `shop` (target native):
    Plan: 9 to add, 0 to change, 0 to destroy.
    ");
}

/// Two stack files and no `stacks/promo.yaml`: every command that acts on one stack is refused,
/// exit 1, naming both and `-f`, and writes nothing (before: "No such file or directory" about
/// a promo.yaml the user never had). `-f` picks one; `validate` still takes both.
#[test]
fn two_stacks_without_promo_yaml_are_refused_naming_both() {
    let p = TestContext::new();
    p.write("stacks/shop.yaml", BASE);
    p.write("stacks/bench.yaml", &stack_named("bench"));
    let before = p.snapshot_tree();
    let refused = promo_snapshot!(p.run(&["status", "--target", "native"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x which stack? ./stacks has no promo.yaml (the default) but 2 stack files: stacks/bench.yaml, stacks/shop.yaml; this command acts on one
      help: pass the one to act on with -f, e.g. `-f stacks/bench.yaml` (or set PROMO_INFRA_FILE)
    ");
    for args in [
        &["plan", "--target", "native"][..],
        &["apply", "--target", "native", "--auto-approve"][..],
        &["destroy", "--target", "native", "--auto-approve"][..],
        &["secrets", "list"][..],
    ] {
        let run = p.run(args);
        assert_eq!(
            (run.code, run.stderr.as_str()),
            (1, refused.stderr.as_str()),
            "{args:?}: {}",
            run.all()
        );
    }
    assert!(p.snapshot_tree() == before, "nothing may be written");

    let picked = p.run(&["-f", "stacks/bench.yaml", "status", "--target", "native"]);
    assert_eq!(picked.code, 0, "{}", picked.all());
    assert_eq!(
        picked.stdout.lines().next(),
        Some("Stack `bench` (stacks/bench.yaml) on target native:"),
        "{}",
        picked.all()
    );
    let valid = p.run(&["validate"]);
    assert_eq!(valid.code, 0, "{}", valid.all());
    assert_eq!(valid.stdout.lines().count(), 2, "{}", valid.all());
}

/// Beside other stacks, `stacks/promo.yaml` stays the default of the commands that act on one.
#[test]
fn promo_yaml_stays_the_default_beside_other_stacks() {
    let p = TestContext::new();
    p.write("stacks/bench.yaml", &stack_named("bench"));
    p.write("stacks/promo.yaml", &stack_named("promo"));
    let run = p.run(&["status", "--target", "native"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stdout.lines().next(),
        Some("Stack `promo` (stacks/promo.yaml) on target native:"),
        "{}",
        run.all()
    );
}
