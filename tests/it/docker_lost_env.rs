//! A project cloned again on a host whose Docker volumes outlived the old checkout: its `.env`
//! (git-ignored) is gone, the stack's data is not. `generate` alone, the command such a
//! project starts with, made new InfluxDB and Grafana admin secrets over that data, and `plan`
//! then planned as usual. Now `generate` looks at the engine and refuses as `plan` does,
//! writing nothing; restoring `.env` gets back. Real Docker engine, the local images.

use crate::docker::EngineStack;
use crate::engine::engine;

#[test]
fn generate_alone_makes_no_new_secret_over_kept_volumes() {
    if !engine() {
        return;
    }
    let s = EngineStack::new("lostenv");
    s.apply();
    let destroyed = s.run(&["destroy", "--auto-approve"]);
    assert_eq!(destroyed.code, 0, "{}", destroyed.all());
    let env = format!("generated/{}/.env", s.name);
    let kept = s.p.read(&env);
    std::fs::remove_file(s.dir().join(&env)).expect("remove .env");
    let before = s.p.snapshot_tree();
    promo_snapshot!(s.run(&["generate"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x secrets file `[TEMP]/generated/[STACK]/.env`: INFLUXDB_ADMIN_PASSWORD, GRAFANA_ADMIN_PASSWORD, GRAFANA_SECRET_KEY are missing, but stack `[STACK]` on target docker still has the data made with them (volume.grafana-data, volume.influxdb-data): a new value would not open it, so none is generated
      help: restore generated/[STACK]/.env as it was when the stack was applied (a copy, another checkout or machine, a password manager), then run the command again; if that data belongs to another checkout of stack `[STACK]` on this machine, give this one another `stack:` name instead; to start over without that data, `promo-infra destroy --volumes --target docker` deletes it, then `promo-infra apply --target docker` makes a new stack; nothing was changed
    ");
    assert!(
        s.p.snapshot_tree() == before,
        "a refused generate writes nothing (no new .env)"
    );
    // The advice works: the restored `.env` opens the kept data.
    s.p.write(&env, &kept);
    std::fs::set_permissions(
        s.dir().join(&env),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod .env");
    let generated = s.run(&["generate"]);
    assert_eq!(generated.code, 0, "{}", generated.all());
    s.apply();
}

/// An engine that is configured but does not answer cannot be asked: `generate` still makes a
/// first `.env` (a new project on a machine whose engine is down), and says what it could not
/// check and what to do if the stack ran there.
#[test]
fn generate_says_when_it_could_not_ask_the_engine() {
    let p = crate::common::TestContext::new();
    p.write("stacks/promo.yaml", crate::common::BASE);
    // A socket path that exists but is no socket: the engine "does not answer", at once.
    p.write("docker.sock", "");
    let host = format!("unix://{}/docker.sock", p.path().display());
    promo_snapshot!(p.cmd(&["generate"]).env("DOCKER_HOST", &host).run(), @"
    success: true
    exit_code: 0
    ----- stdout -----
      + generated/shop/cron/promo-infra-shop-backup
      + generated/shop/docker-compose.yml
      + generated/shop/grafana/alerting-without-slack/promo-infra.yaml
      + generated/shop/grafana/dashboards/shop-marketing.json
      + generated/shop/grafana/dashboards/shop-tech.json
      + generated/shop/grafana/provisioning/alerting/promo-infra.yaml
      + generated/shop/grafana/provisioning/datasources/promo-infra.yaml
      + generated/shop/native/grafana.ini
      + generated/shop/native/grafana/provisioning-without-slack/alerting/promo-infra.yaml
      + generated/shop/native/grafana/provisioning-without-slack/datasources/promo-infra.yaml
      + generated/shop/native/grafana/provisioning/alerting/promo-infra.yaml
      + generated/shop/native/grafana/provisioning/datasources/promo-infra.yaml
      + generated/shop/systemd/promo-infra-shop-backup.service
      + generated/shop/systemd/promo-infra-shop-backup.timer
      + generated/shop/systemd/promo-infra-shop-control-api.service
      + generated/shop/systemd/promo-infra-shop-grafana.service
      + generated/shop/systemd/promo-infra-shop-influxdb.service
      + generated/shop/.env (0600, 6 secrets generated)
    warning: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards). To send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/shop/.env or export SLACK_WEBHOOK_URL, then apply
    warning: stack `shop`: generated GRAFANA_ADMIN_PASSWORD, GRAFANA_SECRET_KEY, INFLUXDB_ADMIN_PASSWORD, INFLUXDB_ADMIN_TOKEN without looking for data made with earlier values on target docker (the engine at unix://[TEMP]/docker.sock does not answer: Connection refused (os error 111)); if this stack was applied there with another .env, restore that .env before `promo-infra apply`
    ✓ generated/shop: 17 created, 0 updated, 0 unchanged, 0 removed

    ----- stderr -----
    ");
    assert!(p.path().join("generated/shop/.env").is_file());
}

/// InfluxDB 2 on kept data, `.env` having lost only the operator token: the refusal is the one
/// that says to restore `.env` (the data was made by InfluxDB 2 with that token), not the one
/// for 1.x data under `version: 2`, whose test looks for the 1.x users' passwords in `.env`.
/// `generate` refuses the same way. The restored line gets back.
#[test]
fn an_influxdb2_env_that_lost_only_its_token_is_told_to_restore_it() {
    if !engine() {
        return;
    }
    let s = EngineStack::new("v2lost");
    s.edit(crate::docker_v2::V1, crate::docker_v2::V2);
    s.apply();
    let destroyed = s.run(&["destroy", "--auto-approve"]);
    assert_eq!(destroyed.code, 0, "{}", destroyed.all());
    let env = format!("generated/{}/.env", s.name);
    let kept = s.p.read(&env);
    let without: String = kept
        .lines()
        .filter(|l| !l.starts_with("INFLUXDB_ADMIN_TOKEN="))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without, kept);
    s.p.write(&env, &without);
    let before = s.p.snapshot_tree();
    let plan = promo_snapshot!(s.run(&["plan"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x secrets file `[TEMP]/generated/[STACK]/.env`: INFLUXDB_ADMIN_TOKEN is missing, but stack `[STACK]` on target docker still has the data made with it (volume.influxdb-data): a new value would not open it, so none is generated
      help: restore generated/[STACK]/.env as it was when the stack was applied (a copy, another checkout or machine, a password manager), then run the command again; if that data belongs to another checkout of stack `[STACK]` on this machine, give this one another `stack:` name instead; to start over without that data, `promo-infra destroy --volumes --target docker` deletes it, then `promo-infra apply --target docker` makes a new stack; nothing was changed
    ");
    let generate = s.run(&["generate"]);
    assert_eq!(
        (generate.code, generate.stderr.as_str()),
        (1, plan.stderr.as_str())
    );
    assert!(s.p.snapshot_tree() == before, "nothing written");
    s.p.write(&env, &kept);
    s.apply();
}

/// `.env` no longer holds the password InfluxDB accepts (edited by hand, restored from an
/// older copy): `destroy` must still remove the stack. It read the services' own APIs (the
/// databases, as a plan does) and failed on InfluxDB's 401; what it removes is the engine's.
#[test]
fn a_stack_whose_env_influxdb_refuses_can_still_be_destroyed() {
    if !engine() {
        return;
    }
    let s = EngineStack::new("wrongpw");
    s.apply();
    let env = format!("generated/{}/.env", s.name);
    let text = s.p.read(&env);
    let old = s.secret("INFLUXDB_ADMIN_PASSWORD");
    s.p.write(
        &env,
        &text.replace(&old, "0000000000000000ffffffffffffffff"),
    );
    let plan = s.run(&["plan"]);
    assert_eq!(
        plan.code,
        1,
        "a plan needs InfluxDB's answer: {}",
        plan.all()
    );
    let destroyed = s.run(&["destroy", "--volumes", "--auto-approve"]);
    assert_eq!(destroyed.code, 0, "{}", destroyed.all());
    assert!(
        crate::engine::docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={}", s.name)
        ])
        .trim()
        .is_empty(),
        "no container left"
    );
}
