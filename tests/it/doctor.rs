//! `doctor`: each check's fail (or warn) case produced on purpose, reported with its fix.

use std::os::unix::fs::PermissionsExt;

use crate::common::{BASE, Run, TestContext};

fn env_line(p: &TestContext, name: &str, value: &str) {
    let env = p.read("generated/shop/.env");
    let text: String = env
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{name}=")) {
                format!("{name}={value}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    p.write("generated/shop/.env", &text);
    let path = p.path().join("generated/shop/.env");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// Only the lines (and their fix) of the checks named.
pub(crate) fn only(mut run: Run, checks: &[&str]) -> Run {
    let mut keep = String::new();
    let mut on = false;
    for line in run.stdout.lines() {
        if line.starts_with('[') {
            let check = line
                .split_once(']')
                .map_or("", |(_, rest)| rest.trim_start());
            on = checks.iter().any(|c| check.starts_with(&format!("{c}: ")));
        }
        if on || line.starts_with("Doctor") {
            keep.push_str(line);
            keep.push('\n');
        }
    }
    run.stdout = keep;
    run
}

#[test]
fn env_checks_fail_with_their_fix_and_change_nothing() {
    let p = TestContext::new();
    p.write("stacks/promo.yaml", BASE);
    let slack = [("SLACK_WEBHOOK_URL", "https://hooks.slack.test/x")];
    let doctor = ["doctor", "--target", "native"];
    // The lines that read `.env` (the others depend on what runs on this machine: see
    // doctor_live.rs); those that need it are skipped while it cannot be read.
    let lines = [
        ".env",
        "secrets",
        "services",
        "service control-api",
        "service grafana",
        "service influxdb",
    ];
    let run = |env: &[(&str, &str)]| only(p.run_env(&doctor, env), &lines);
    let skipped = [
        ".env",
        "secrets",
        "services",
        "datasource",
        "grants",
        "data",
    ];
    let mut runs = crate::common::Runs::default();
    runs.push("no .env yet", run(&slack));
    assert_eq!(p.run_env(&["generate"], &slack).code, 0);
    env_line(&p, "GRAFANA_ADMIN_PASSWORD", "changeme");
    runs.push("default password", run(&slack));
    env_line(&p, "GRAFANA_ADMIN_PASSWORD", "");
    runs.push("empty password", run(&slack));
    let path = p.path().join("generated/shop/.env");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let before = p.snapshot_tree();
    runs.push(".env mode 0644", only(p.run_env(&doctor, &slack), &skipped));
    assert_eq!(p.snapshot_tree(), before, "doctor changed a file");
    promo_snapshot!(runs, @"
    === no .env yet ===
    success: false
    exit_code: 1
    ----- stdout -----
    Doctor for stack `shop`:
    [fail] .env: ./generated/shop/.env does not exist
             fix: a new stack: run `promo-infra generate` to create it (mode 0600); a stack applied before: restore the .env it was applied with (its data keeps InfluxDB's and Grafana's admin secrets, which new ones do not open)
    [fail] secrets: not set: CONTROL_API_STOP_PASSWORD, CONTROL_API_TOKEN, GRAFANA_ADMIN_PASSWORD, GRAFANA_SECRET_KEY, INFLUXDB_ADMIN_PASSWORD, INFLUXDB_ADMIN_TOKEN
             fix: a new stack: run `promo-infra generate` to create them; a stack applied before: restore them in .env as it was (its data keeps InfluxDB's and Grafana's admin secrets)
    [fail] service control-api: missing: not deployed on this target (never applied, or destroyed)
             fix: `promo-infra apply --target native` to create it
    [fail] service grafana: missing: not deployed on this target (never applied, or destroyed)
             fix: `promo-infra apply --target native` to create it
    [fail] service influxdb: missing: not deployed on this target (never applied, or destroyed)
             fix: `promo-infra apply --target native` to create it

    ----- stderr -----

    === default password ===
    success: false
    exit_code: 1
    ----- stdout -----
    Doctor for stack `shop`:
    [ok]   .env: ./generated/shop/.env is private (mode 0600)
    [warn] secrets: GRAFANA_ADMIN_PASSWORD is a well-known default password
             fix: delete the GRAFANA_ADMIN_PASSWORD line in ./generated/shop/.env and run `promo-infra generate`, then `promo-infra apply --target native`
    [fail] service control-api: missing: not deployed on this target (never applied, or destroyed)
             fix: `promo-infra apply --target native` to create it
    [fail] service grafana: missing: not deployed on this target (never applied, or destroyed)
             fix: `promo-infra apply --target native` to create it
    [fail] service influxdb: missing: not deployed on this target (never applied, or destroyed)
             fix: `promo-infra apply --target native` to create it

    ----- stderr -----

    === empty password ===
    success: false
    exit_code: 1
    ----- stdout -----
    Doctor for stack `shop`:
    [ok]   .env: ./generated/shop/.env is private (mode 0600)
    [fail] secrets: not set: GRAFANA_ADMIN_PASSWORD
             fix: a new stack: run `promo-infra generate` to create them; a stack applied before: restore them in .env as it was (its data keeps InfluxDB's and Grafana's admin secrets)
    [fail] service control-api: missing: not deployed on this target (never applied, or destroyed)
             fix: `promo-infra apply --target native` to create it
    [fail] service grafana: missing: not deployed on this target (never applied, or destroyed)
             fix: `promo-infra apply --target native` to create it
    [fail] service influxdb: missing: not deployed on this target (never applied, or destroyed)
             fix: `promo-infra apply --target native` to create it

    ----- stderr -----

    === .env mode 0644 ===
    success: false
    exit_code: 1
    ----- stdout -----
    Doctor for stack `shop`:
    [fail] .env: secrets file `./generated/shop/.env`: has mode 0644: group or others may read or change the secrets in it
             fix: `chmod 600 ./generated/shop/.env` (and rotate the secrets if others may have read them: `promo-infra secrets rotate NAME --target native`); nothing was changed
    [skip] secrets: skipped (needs .env)
    [skip] services: skipped (needs .env)
    [skip] datasource: skipped (needs .env)
    [skip] grants: skipped (needs .env)
    [skip] data: skipped (needs .env)

    ----- stderr -----
    ");
}

/// The cloud target's tokens are needed only there: `doctor --target native` of a stack that
/// also declares `targets.cloud` does not fail on them; `--target cloud` does, naming them.
#[test]
fn cloud_only_tokens_are_checked_only_on_the_cloud_target() {
    let p = TestContext::new();
    let cloud = "targets:\n  cloud:\n    grafana_url: https://example.grafana.net\n    grafana_token_env: GRAFANA_CLOUD_TOKEN\n    influx_url: https://example.cloud2.influxdata.com\n    influx_token_env: INFLUX_CLOUD_TOKEN\n";
    p.write("stacks/promo.yaml", &format!("{BASE}{cloud}"));
    let slack = [("SLACK_WEBHOOK_URL", "https://hooks.slack.test/x")];
    assert_eq!(p.run_env(&["generate"], &slack).code, 0);
    let secrets = |target: &str| {
        let run = p.run_env(&["doctor", "--target", target], &slack);
        run.stdout
            .lines()
            .find(|l| l.contains(" secrets: "))
            .unwrap_or_else(|| panic!("no secrets line:\n{}", run.all()))
            .to_string()
    };
    assert_eq!(secrets("native"), "[ok]   secrets: 11 set, none a default");
    assert_eq!(
        secrets("cloud"),
        "[fail] secrets: not set: GRAFANA_CLOUD_TOKEN, INFLUX_CLOUD_TOKEN"
    );
}

/// The Slack webhook is provided by the user, never generated: a preprod stack runs without it
/// on the docker and native targets (a warning with how to add it, as `plan`'s note), while
/// `environment: prod`, or the cloud target that provisions the contact point from it, needs
/// it (a fail whose fix is to add or export it, never `generate`).
#[test]
fn a_missing_slack_webhook_is_a_warning_in_preprod_and_a_fail_in_prod() {
    let p = TestContext::new();
    p.write("stacks/promo.yaml", BASE);
    assert_eq!(p.run(&["generate"]).code, 0);
    let secrets = |target: &str| only(p.run(&["doctor", "--target", target]), &["secrets"]);
    let mut runs = crate::common::Runs::default();
    runs.push("preprod, native", secrets("native"));
    runs.push("preprod, docker", secrets("docker"));
    runs.push("preprod, cloud", secrets("cloud"));
    let prod = BASE
        .replace("environment: preprod", "environment: prod")
        .replace("admin_user: admin", "admin_user: ops");
    p.write("stacks/promo.yaml", &prod);
    runs.push("prod, native", secrets("native"));
    promo_snapshot!(runs, @"
    === preprod, native ===
    success: false
    exit_code: 1
    ----- stdout -----
    Doctor for stack `shop`:
    [warn] secrets: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards)
             fix: to send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to ./generated/shop/.env or export SLACK_WEBHOOK_URL, then `promo-infra apply --target native`

    ----- stderr -----

    === preprod, docker ===
    success: false
    exit_code: 1
    ----- stdout -----
    Doctor for stack `shop`:
    [warn] secrets: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards)
             fix: to send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to ./generated/shop/.env or export SLACK_WEBHOOK_URL, then `promo-infra apply`

    ----- stderr -----

    === preprod, cloud ===
    success: false
    exit_code: 1
    ----- stdout -----
    Doctor for stack `shop`:
    [fail] secrets: not set: SLACK_WEBHOOK_URL
             fix: add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to ./generated/shop/.env or export SLACK_WEBHOOK_URL (the cloud target provisions the Slack contact point from it)

    ----- stderr -----

    === prod, native ===
    success: false
    exit_code: 1
    ----- stdout -----
    Doctor for stack `shop`:
    [fail] secrets: not set: SLACK_WEBHOOK_URL
             fix: add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to ./generated/shop/.env or export SLACK_WEBHOOK_URL (required by `environment: prod`)

    ----- stderr -----
    ");
}

/// With the stack's InfluxDB and Grafana not running, their service lines fail once each and
/// every check that asks them is skipped, naming which one is down (not a fail of its own);
/// the clock, which needs one service to answer, is skipped as none runs (it warned "start
/// the stack" before, as the service lines say already).
#[test]
fn checks_that_ask_a_service_that_is_down_are_skipped() {
    let p = TestContext::new();
    p.write("stacks/promo.yaml", BASE);
    let slack = [("SLACK_WEBHOOK_URL", "https://hooks.slack.test/x")];
    assert_eq!(p.run_env(&["generate"], &slack).code, 0);
    // A recorded run: the data check asks InfluxDB for its points.
    record_run(&p.path().join("generated/shop/run"), "shop", "preprod");
    let lines = [
        "service influxdb",
        "service grafana",
        "datasource",
        "grants",
        "data",
        "clock",
    ];
    let run = p.run_env(&["doctor", "--target", "native"], &slack);
    promo_snapshot!(only(run, &lines), @"
    success: false
    exit_code: 1
    ----- stdout -----
    Doctor for stack `shop`:
    [fail] service grafana: missing: not deployed on this target (never applied, or destroyed)
             fix: `promo-infra apply --target native` to create it
    [fail] service influxdb: missing: not deployed on this target (never applied, or destroyed)
             fix: `promo-infra apply --target native` to create it
    [skip] datasource: skipped (needs grafana and influxdb, which are down: see their service lines)
    [skip] grants: skipped (needs influxdb, which is down: see its service line)
    [skip] data: skipped (needs influxdb, which is down: see its service line)
    [skip] clock: skipped (needs influxdb, grafana and control-api, which are down: see their service lines)

    ----- stderr -----
    ");
}

/// A run of `stack` (test id `<stack>-20261128-100000`, completed) recorded under `dir`, the
/// stack's run directory; nothing writes its points.
pub(crate) fn record_run(dir: &std::path::Path, stack: &str, environment: &str) {
    use promo_infra::k6::run::Ending;
    use promo_infra::runs::record::{self, FORMAT_VERSION, RunFile};
    let testid = format!("{stack}-20261128-100000");
    record::write(
        &dir.join(&testid),
        &RunFile {
            format_version: FORMAT_VERSION.into(),
            testid: testid.clone(),
            stack: stack.into(),
            promo: "black-friday".into(),
            promo_type: "discount".into(),
            environment: environment.into(),
            intensity: None,
            baseline: None,
            started_at: "2026-11-28T10:00:00Z".into(),
            ended_at: Some("2026-11-28T10:05:00Z".into()),
            ending: Some(Ending::Completed),
            stopped_by: None,
            exit_code: Some(0),
            grade: None,
            summary: std::path::PathBuf::from(format!(
                "generated/{stack}/run/{testid}/summary.json"
            )),
            dashboard_url: String::new(),
        },
    )
    .expect("record");
}
