//! `secrets rotate` and the Slack-less preprod stack on the REAL Docker engine, with the local
//! stack of `tests/fixtures/stacks/local.yaml` (real InfluxDB 1.6, the Grafana API double,
//! promo-infra's control API). Helpers and the skip/fail rule come from `docker.rs`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::docker::{EngineStack, base64, control_api_built, engine};

/// One HTTP/1.0 request to `base` (`http://127.0.0.1:PORT`); returns (status, body).
fn http(base: &str, method: &str, path: &str, auth: &str, body: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_string())
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64(&format!("{user}:{password}")))
}

/// The URL `status --json` gives for a service.
fn url_of(s: &EngineStack, service: &str) -> String {
    let r = s.run(&["status", "--json"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let rows: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    rows["services"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["service"] == service)
        .and_then(|row| row["url"].as_str())
        .unwrap_or_else(|| panic!("no {service} in {rows}"))
        .to_string()
}

/// The `3. restart: ...` line of a rotation's preview.
fn restarts(out: &str) -> String {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("3. restart: "))
        .unwrap_or_else(|| panic!("no restart line in:\n{out}"))
        .to_string()
}

fn rotate(s: &EngineStack, name: &str) -> crate::common::Run {
    let r = s.run(&[
        "secrets",
        "rotate",
        name,
        "--auto-approve",
        "--health-timeout",
        "120",
    ]);
    assert_eq!(r.code, 0, "rotate {name}:\n{}", r.all());
    r
}

/// Fails on the old code: there was no `secrets rotate`.
#[test]
fn rotate_changes_each_secret_live_then_in_env_and_restarts_only_what_reads_it() {
    if !engine() {
        return;
    }
    let s = EngineStack::new("rotate");
    s.apply();
    let influx = url_of(&s, "influxdb");
    let grafana = url_of(&s, "grafana");
    let mut seen_values = Vec::new();
    let mut outputs = Vec::new();

    // InfluxDB 1.x write user: SET PASSWORD live; the container reads it at start.
    let old = s.secret("INFLUXDB_K6_PASSWORD");
    let r = promo_snapshot!(rotate(&s, "INFLUXDB_K6_PASSWORD"), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will rotate INFLUXDB_K6_PASSWORD (the value is never shown):

      1. live change: InfluxDB: SET PASSWORD FOR "k6" (as "promo-admin")
      2. .env: the new value replaces the old one (atomic write)
      3. restart: service.influxdb

    promo-infra will perform the following actions on stack `[STACK]` (target docker):

      # service.influxdb must be replaced
    -/+ service.influxdb
          ~ env.INFLUXDB_WRITE_USER_PASSWORD: (sensitive) → (sensitive) # forces replacement

    Plan: 1 to add, 0 to change, 1 to destroy.
    ✓ service.influxdb: restarted with the new value
    ✓ INFLUXDB_K6_PASSWORD rotated: changed live, saved in generated/[STACK]/.env
    SERVICE      STATE    HEALTH   IMAGE                             VERSION  URL                     UPTIME  CONFIG
    control-api  running  healthy  promo-infra:0.1.0                 0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    grafana      running  healthy  promo-infra-grafana-double:0.1.0  0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    influxdb     running  healthy  promo-infra-influxdb:1.6.7-local  1.6.7    http://127.0.0.1:[PORT]  [UPTIME]  current

    ----- stderr -----
    service.influxdb: replacing
    service.influxdb: replaced and healthy ([TIME])
    "#);
    assert_eq!(restarts(&r.stdout), "service.influxdb");
    let new = s.secret("INFLUXDB_K6_PASSWORD");
    assert!(new != old && new.len() == 32, "a new 16-byte hex value");
    let line = "http_reqs,testid=rotate value=1";
    assert_eq!(
        http(&influx, "POST", "/write?db=k6", &basic("k6", &new), line).0,
        204,
        "the new password writes"
    );
    assert_eq!(
        http(&influx, "POST", "/write?db=k6", &basic("k6", &old), line).0,
        401,
        "the old password is refused"
    );
    seen_values.extend([old, new]);
    outputs.push(r.all());

    // Grafana admin password through Grafana's API; Grafana and the control API restart.
    let old = s.secret("GRAFANA_ADMIN_PASSWORD");
    let r = promo_snapshot!(rotate(&s, "GRAFANA_ADMIN_PASSWORD"), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will rotate GRAFANA_ADMIN_PASSWORD (the value is never shown):

      1. live change: Grafana: change the password of "promo-admin" through its API (PUT /api/user/password)
      2. .env: the new value replaces the old one (atomic write)
      3. restart: service.control-api, service.grafana

    promo-infra will perform the following actions on stack `[STACK]` (target docker):

      # service.control-api must be replaced
    -/+ service.control-api
          ~ env.GRAFANA_ADMIN_PASSWORD: (sensitive) → (sensitive) # forces replacement

      # service.grafana must be replaced
    -/+ service.grafana
          ~ env.GF_SECURITY_ADMIN_PASSWORD: (sensitive) → (sensitive) # forces replacement

    Plan: 2 to add, 0 to change, 2 to destroy.
    ✓ service.grafana: restarted with the new value
    ✓ service.control-api: restarted with the new value
    ✓ GRAFANA_ADMIN_PASSWORD rotated: changed live, saved in generated/[STACK]/.env
    SERVICE      STATE    HEALTH   IMAGE                             VERSION  URL                     UPTIME  CONFIG
    control-api  running  healthy  promo-infra:0.1.0                 0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    grafana      running  healthy  promo-infra-grafana-double:0.1.0  0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    influxdb     running  healthy  promo-infra-influxdb:1.6.7-local  1.6.7    http://127.0.0.1:[PORT]  [UPTIME]  current

    ----- stderr -----
    service.grafana: replacing
    service.grafana: replaced and healthy ([TIME])
    service.control-api: replacing
    service.control-api: replaced and healthy ([TIME])
    "#);
    let want = if control_api_built() {
        "service.control-api, service.grafana"
    } else {
        "service.grafana"
    };
    assert_eq!(restarts(&r.stdout), want);
    let new = s.secret("GRAFANA_ADMIN_PASSWORD");
    assert_ne!(new, old);
    assert_eq!(
        http(&grafana, "GET", "/api/org", &basic("promo-admin", &new), "").0,
        200
    );
    assert_eq!(
        http(&grafana, "GET", "/api/org", &basic("promo-admin", &old), "").0,
        401
    );
    seen_values.extend([old, new]);
    outputs.push(r.all());

    // Control API token: nothing to change live, the control API restarts with it.
    if control_api_built() {
        let control = url_of(&s, "control-api");
        let old = s.secret("CONTROL_API_TOKEN");
        let r = promo_snapshot!(rotate(&s, "CONTROL_API_TOKEN"), @"
        success: true
        exit_code: 0
        ----- stdout -----
        promo-infra will rotate CONTROL_API_TOKEN (the value is never shown):

          1. live change: none: the services read it when they start, the restart below applies it
          2. .env: the new value replaces the old one (atomic write)
          3. restart: service.control-api

        promo-infra will perform the following actions on stack `[STACK]` (target docker):

          # service.control-api must be replaced
        -/+ service.control-api
              ~ env.CONTROL_API_TOKEN: (sensitive) → (sensitive) # forces replacement

        Plan: 1 to add, 0 to change, 1 to destroy.
        ✓ service.control-api: restarted with the new value
        ✓ CONTROL_API_TOKEN rotated: changed live, saved in generated/[STACK]/.env
        SERVICE      STATE    HEALTH   IMAGE                             VERSION  URL                     UPTIME  CONFIG
        control-api  running  healthy  promo-infra:0.1.0                 0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
        grafana      running  healthy  promo-infra-grafana-double:0.1.0  0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
        influxdb     running  healthy  promo-infra-influxdb:1.6.7-local  1.6.7    http://127.0.0.1:[PORT]  [UPTIME]  current

        ----- stderr -----
        service.control-api: replacing
        service.control-api: replaced and healthy ([TIME])
        ");
        assert_eq!(restarts(&r.stdout), "service.control-api");
        let new = s.secret("CONTROL_API_TOKEN");
        assert_ne!(new, old);
        let path = "/api/tests/current";
        // Accepted: 404 "no test running" (nothing runs), never 401.
        let (code, body) = http(&control, "GET", path, &format!("Bearer {new}"), "");
        assert!(code == 200 || code == 404, "{code} {body}");
        assert_eq!(
            http(&control, "GET", path, &format!("Bearer {old}"), "").0,
            401
        );
        seen_values.extend([old, new]);
        outputs.push(r.all());
    }

    // The InfluxDB admin itself (authenticates with the old password to set the new one).
    let old = s.secret("INFLUXDB_ADMIN_PASSWORD");
    let r = promo_snapshot!(rotate(&s, "INFLUXDB_ADMIN_PASSWORD"), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will rotate INFLUXDB_ADMIN_PASSWORD (the value is never shown):

      1. live change: InfluxDB: SET PASSWORD FOR "promo-admin" (as "promo-admin")
      2. .env: the new value replaces the old one (atomic write)
      3. restart: service.influxdb

    promo-infra will perform the following actions on stack `[STACK]` (target docker):

      # service.influxdb must be replaced
    -/+ service.influxdb
          ~ env.INFLUXDB_ADMIN_PASSWORD: (sensitive) → (sensitive) # forces replacement

    Plan: 1 to add, 0 to change, 1 to destroy.
    ✓ service.influxdb: restarted with the new value
    ✓ INFLUXDB_ADMIN_PASSWORD rotated: changed live, saved in generated/[STACK]/.env
    SERVICE      STATE    HEALTH   IMAGE                             VERSION  URL                     UPTIME  CONFIG
    control-api  running  healthy  promo-infra:0.1.0                 0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    grafana      running  healthy  promo-infra-grafana-double:0.1.0  0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    influxdb     running  healthy  promo-infra-influxdb:1.6.7-local  1.6.7    http://127.0.0.1:[PORT]  [UPTIME]  current

    ----- stderr -----
    service.influxdb: replacing
    service.influxdb: replaced and healthy ([TIME])
    "#);
    let admin = r
        .stdout
        .split("SET PASSWORD FOR \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("admin user named")
        .to_string();
    let new = s.secret("INFLUXDB_ADMIN_PASSWORD");
    let q = "/query?q=SHOW%20DATABASES";
    assert_eq!(http(&influx, "GET", q, &basic(&admin, &new), "").0, 200);
    assert_eq!(http(&influx, "GET", q, &basic(&admin, &old), "").0, 401);
    seen_values.extend([old, new]);
    outputs.push(r.all());

    // A rotation interrupted after the live change (Grafana already has the new password, .env
    // still the old one beside the kept new one): the next rotate resumes with the kept value,
    // so the only password Grafana accepts is not lost.
    let old = s.secret("GRAFANA_ADMIN_PASSWORD");
    let kept = "0123456789abcdef0123456789abcdef";
    let body = format!(r#"{{"oldPassword":"{old}","newPassword":"{kept}","confirmNew":"{kept}"}}"#);
    let (code, resp) = http(
        &grafana,
        "PUT",
        "/api/user/password",
        &basic("promo-admin", &old),
        &body,
    );
    assert_eq!(code, 200, "{resp}");
    let env_path = format!("generated/{}/.env", s.name);
    let env = s.p.read(&env_path);
    s.p.write(
        &env_path,
        &format!("{env}PROMO_INFRA_ROTATING_GRAFANA_ADMIN_PASSWORD={kept}\n"),
    );
    let r = promo_snapshot!(rotate(&s, "GRAFANA_ADMIN_PASSWORD"), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will rotate GRAFANA_ADMIN_PASSWORD (the value is never shown), resuming an interrupted rotation with the value kept in .env:

      1. live change: Grafana: change the password of "promo-admin" through its API (PUT /api/user/password)
      2. .env: the new value replaces the old one (atomic write)
      3. restart: service.control-api, service.grafana

    promo-infra will perform the following actions on stack `[STACK]` (target docker):

      # service.control-api must be replaced
    -/+ service.control-api
          ~ env.GRAFANA_ADMIN_PASSWORD: (sensitive) → (sensitive) # forces replacement

      # service.grafana must be replaced
    -/+ service.grafana
          ~ env.GF_SECURITY_ADMIN_PASSWORD: (sensitive) → (sensitive) # forces replacement

    Plan: 2 to add, 0 to change, 2 to destroy.
    ✓ service.grafana: restarted with the new value
    ✓ service.control-api: restarted with the new value
    ✓ GRAFANA_ADMIN_PASSWORD rotated: changed live, saved in generated/[STACK]/.env
    SERVICE      STATE    HEALTH   IMAGE                             VERSION  URL                     UPTIME  CONFIG
    control-api  running  healthy  promo-infra:0.1.0                 0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    grafana      running  healthy  promo-infra-grafana-double:0.1.0  0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    influxdb     running  healthy  promo-infra-influxdb:1.6.7-local  1.6.7    http://127.0.0.1:[PORT]  [UPTIME]  current

    ----- stderr -----
    service.grafana: replacing
    service.grafana: replaced and healthy ([TIME])
    service.control-api: replacing
    service.control-api: replaced and healthy ([TIME])
    "#);
    assert_eq!(s.secret("GRAFANA_ADMIN_PASSWORD"), kept);
    assert_eq!(
        http(&grafana, "GET", "/api/org", &basic("promo-admin", kept), "").0,
        200
    );
    seen_values.extend([old, kept.to_string()]);
    outputs.push(r.all());

    // Converged: nothing left to do, everything healthy; the data written survived.
    let plan = promo_snapshot!(s.run(&["plan", "--detailed-exitcode"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    No changes. Stack `[STACK]` on target docker matches the configuration.

    ----- stderr -----
    ");
    s.assert_healthy();
    outputs.push(plan.all());
    let env = s.p.read(&format!("generated/{}/.env", s.name));
    // .env is a FILE (never printed); its pending lines are snapshotted nowhere.
    assert!(
        !env.contains("PROMO_INFRA_ROTATING_"),
        "no pending line left"
    );
    // A secret never appears: a negative check is exactly `!contains`.
    for out in &outputs {
        for v in &seen_values {
            assert!(!out.contains(v.as_str()), "a secret value was printed");
        }
    }
}

const ALERTING: &str = r##"
alerting:
  slack:
    webhook_url_env: SLACK_WEBHOOK_URL
    channel: "#load-tests"
  rules:
    error_rate_critical_pct: 5
    p95_warning_ms: 3000
"##;

fn grafana_json(s: &EngineStack, grafana: &str, path: &str) -> serde_json::Value {
    let auth = basic("promo-admin", &s.secret("GRAFANA_ADMIN_PASSWORD"));
    let (code, body) = http(grafana, "GET", path, &auth, "");
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// Fails on the old code: without a webhook, apply refused after the plan was shown (and
/// docker compose's `${SLACK_WEBHOOK_URL:?}`) — the stack could not come up.
#[test]
fn slackless_preprod_apply_comes_up_healthy_and_says_alerts_have_nowhere_to_go() {
    if !engine() {
        return;
    }
    let s = EngineStack::new("noslack");
    let text = s.p.read("stacks/promo.yaml");
    s.p.write("stacks/promo.yaml", &format!("{text}{ALERTING}"));

    // The note comes before the plan.
    promo_snapshot!(s.run(&["plan"]), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    warning: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards). To send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/[STACK]/.env or export SLACK_WEBHOOK_URL, then apply
    warning: CONTROL_API_STOP_PASSWORD, CONTROL_API_TOKEN, GRAFANA_ADMIN_PASSWORD, GRAFANA_SECRET_KEY, INFLUXDB_ADMIN_PASSWORD, INFLUXDB_GRAFANA_PASSWORD, INFLUXDB_K6_PASSWORD not in generated/[STACK]/.env yet: apply generates them first, so services show as changed until then
    promo-infra will perform the following actions on stack `[STACK]` (target docker):

      # network.monitoring-net will be created
      + network.monitoring-net
          + name: "[STACK]_monitoring-net"

      # volume.grafana-data will be created
      + volume.grafana-data
          + name: "[STACK]_grafana-data"

      # volume.influxdb-data will be created
      + volume.influxdb-data
          + name: "[STACK]_influxdb-data"

      # service.control-api will be created
      + service.control-api
          + command[0]: "control-api"
          + command[1]: "--listen"
          + command[2]: "0.0.0.0:5000"
          + depends_on[0]: "grafana"
          + env.CONTROL_API_STOP_PASSWORD: (sensitive)
          + env.CONTROL_API_TOKEN: (sensitive)
          + env.GRAFANA_ADMIN_PASSWORD: (sensitive)
          + env.PROMO_INFRA_CORS_ORIGIN: "http://127.0.0.1:[PORT]"
          + env.PROMO_INFRA_GRAFANA_URL: "http://grafana:3000"
          + env.PROMO_INFRA_GRAFANA_USER: "promo-admin"
          + env.PROMO_INFRA_LOCALE: "en"
          + env.PROMO_INFRA_STACK: "[STACK]"
          + health.interval_s: 5
          + health.retries: 12
          + health.start_period_s: 2
          + health.test[0]: "CMD-SHELL"
          + health.test[1]: "wget -q -O /dev/null http://127.0.0.1:5000/health || exit 1"
          + health.timeout_s: 3
          + image: "promo-infra:0.1.0"
          + mounts: []
          + name: "control-api"
          + ports[0].container_port: 5000
          + ports[0].host_ip: "127.0.0.1"
          + ports[0].host_port: [PORT]
          + restart: "unless-stopped"

      # service.grafana will be created
      + service.grafana
          + command: []
          + depends_on[0]: "influxdb"
          + env.GF_ANALYTICS_CHECK_FOR_UPDATES: "false"
          + env.GF_ANALYTICS_REPORTING_ENABLED: "false"
          + env.GF_AUTH_ANONYMOUS_ENABLED: "false"
          + env.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: "/var/lib/grafana/dashboards/promo-marketing.json"
          + env.GF_SECURITY_ADMIN_PASSWORD: (sensitive)
          + env.GF_SECURITY_ADMIN_USER: "promo-admin"
          + env.GF_SECURITY_SECRET_KEY: (sensitive)
          + env.GF_SERVER_ROOT_URL: "http://127.0.0.1:[PORT]"
          + env.GF_USERS_ALLOW_SIGN_UP: "false"
          + env.INFLUXDB_GRAFANA_PASSWORD: (sensitive)
          + health.interval_s: 5
          + health.retries: 12
          + health.start_period_s: 10
          + health.test[0]: "CMD-SHELL"
          + health.test[1]: "wget -q -O /dev/null http://127.0.0.1:3000/api/health || exit 1"
          + health.timeout_s: 3
          + image: "promo-infra-grafana-double:0.1.0"
          + mounts[0].read_only: false
          + mounts[0].source.volume: "grafana-data"
          + mounts[0].target: "/var/lib/grafana"
          + mounts[1].read_only: true
          + mounts[1].source.generated: "grafana/provisioning"
          + mounts[1].target: "/etc/grafana/provisioning"
          + mounts[2].read_only: true
          + mounts[2].source.generated: "grafana/dashboards"
          + mounts[2].target: "/var/lib/grafana/dashboards"
          + mounts[3].read_only: true
          + mounts[3].source.generated: "grafana/alerting-without-slack"
          + mounts[3].target: "/etc/grafana/provisioning/alerting"
          + name: "grafana"
          + ports[0].container_port: 3000
          + ports[0].host_ip: "127.0.0.1"
          + ports[0].host_port: [PORT]
          + reload_digest.grafana/alerting-without-slack: "[HASH]"
          + reload_digest.grafana/dashboards: "[HASH]"
          + reload_digest.grafana/provisioning/alerting: "[HASH]"
          + reload_digest.grafana/provisioning/dashboards: "[HASH]"
          + reload_digest.grafana/provisioning/datasources: "[HASH]"
          + restart: "unless-stopped"

      # service.influxdb will be created
      + service.influxdb
          + command: []
          + depends_on: []
          + env.INFLUXDB_ADMIN_PASSWORD: (sensitive)
          + env.INFLUXDB_ADMIN_USER: "promo-admin"
          + env.INFLUXDB_DB: "k6"
          + env.INFLUXDB_HTTP_AUTH_ENABLED: "true"
          + env.INFLUXDB_READ_USER: "grafana"
          + env.INFLUXDB_READ_USER_PASSWORD: (sensitive)
          + env.INFLUXDB_REPORTING_DISABLED: "true"
          + env.INFLUXDB_WRITE_USER: "k6"
          + env.INFLUXDB_WRITE_USER_PASSWORD: (sensitive)
          + health.interval_s: 5
          + health.retries: 12
          + health.start_period_s: 5
          + health.test[0]: "CMD-SHELL"
          + health.test[1]: "wget -q -O /dev/null http://127.0.0.1:8086/ping || exit 1"
          + health.timeout_s: 3
          + image: "promo-infra-influxdb:1.6.7-local"
          + mounts[0].read_only: false
          + mounts[0].source.volume: "influxdb-data"
          + mounts[0].target: "/var/lib/influxdb"
          + mounts[1].read_only: true
          + mounts[1].source.generated: "influxdb/init"
          + mounts[1].target: "/docker-entrypoint-initdb.d"
          + name: "influxdb"
          + ports[0].container_port: 8086
          + ports[0].host_ip: "127.0.0.1"
          + ports[0].host_port: [PORT]
          + restart: "unless-stopped"

      # database.k6 will be created
      + database.k6
          + name: "k6"
          + org: null
          + retention: "672h"
          + shard_duration: "24h"
          + users[0].name: "grafana"
          + users[0].password_secret: "INFLUXDB_GRAFANA_PASSWORD"
          + users[0].privilege: "READ"
          + users[1].name: "k6"
          + users[1].password_secret: "INFLUXDB_K6_PASSWORD"
          + users[1].privilege: "WRITE"
          + users[2].name: "promo-admin"
          + users[2].password_secret: "INFLUXDB_ADMIN_PASSWORD"
          + users[2].privilege: "ALL"
          + version: 1

    Plan: 7 to add, 0 to change, 0 to destroy.

    ----- stderr -----
    "#);
    promo_snapshot!(s.apply().sorted_stderr(), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    warning: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards). To send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/[STACK]/.env or export SLACK_WEBHOOK_URL, then apply
    promo-infra will perform the following actions on stack `[STACK]` (target docker):

      # network.monitoring-net will be created
      + network.monitoring-net
          + name: "[STACK]_monitoring-net"

      # volume.grafana-data will be created
      + volume.grafana-data
          + name: "[STACK]_grafana-data"

      # volume.influxdb-data will be created
      + volume.influxdb-data
          + name: "[STACK]_influxdb-data"

      # service.control-api will be created
      + service.control-api
          + command[0]: "control-api"
          + command[1]: "--listen"
          + command[2]: "0.0.0.0:5000"
          + depends_on[0]: "grafana"
          + env.CONTROL_API_STOP_PASSWORD: (sensitive)
          + env.CONTROL_API_TOKEN: (sensitive)
          + env.GRAFANA_ADMIN_PASSWORD: (sensitive)
          + env.PROMO_INFRA_CORS_ORIGIN: "http://127.0.0.1:[PORT]"
          + env.PROMO_INFRA_GRAFANA_URL: "http://grafana:3000"
          + env.PROMO_INFRA_GRAFANA_USER: "promo-admin"
          + env.PROMO_INFRA_LOCALE: "en"
          + env.PROMO_INFRA_STACK: "[STACK]"
          + health.interval_s: 5
          + health.retries: 12
          + health.start_period_s: 2
          + health.test[0]: "CMD-SHELL"
          + health.test[1]: "wget -q -O /dev/null http://127.0.0.1:5000/health || exit 1"
          + health.timeout_s: 3
          + image: "promo-infra:0.1.0"
          + mounts: []
          + name: "control-api"
          + ports[0].container_port: 5000
          + ports[0].host_ip: "127.0.0.1"
          + ports[0].host_port: [PORT]
          + restart: "unless-stopped"

      # service.grafana will be created
      + service.grafana
          + command: []
          + depends_on[0]: "influxdb"
          + env.GF_ANALYTICS_CHECK_FOR_UPDATES: "false"
          + env.GF_ANALYTICS_REPORTING_ENABLED: "false"
          + env.GF_AUTH_ANONYMOUS_ENABLED: "false"
          + env.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH: "/var/lib/grafana/dashboards/promo-marketing.json"
          + env.GF_SECURITY_ADMIN_PASSWORD: (sensitive)
          + env.GF_SECURITY_ADMIN_USER: "promo-admin"
          + env.GF_SECURITY_SECRET_KEY: (sensitive)
          + env.GF_SERVER_ROOT_URL: "http://127.0.0.1:[PORT]"
          + env.GF_USERS_ALLOW_SIGN_UP: "false"
          + env.INFLUXDB_GRAFANA_PASSWORD: (sensitive)
          + health.interval_s: 5
          + health.retries: 12
          + health.start_period_s: 10
          + health.test[0]: "CMD-SHELL"
          + health.test[1]: "wget -q -O /dev/null http://127.0.0.1:3000/api/health || exit 1"
          + health.timeout_s: 3
          + image: "promo-infra-grafana-double:0.1.0"
          + mounts[0].read_only: false
          + mounts[0].source.volume: "grafana-data"
          + mounts[0].target: "/var/lib/grafana"
          + mounts[1].read_only: true
          + mounts[1].source.generated: "grafana/provisioning"
          + mounts[1].target: "/etc/grafana/provisioning"
          + mounts[2].read_only: true
          + mounts[2].source.generated: "grafana/dashboards"
          + mounts[2].target: "/var/lib/grafana/dashboards"
          + mounts[3].read_only: true
          + mounts[3].source.generated: "grafana/alerting-without-slack"
          + mounts[3].target: "/etc/grafana/provisioning/alerting"
          + name: "grafana"
          + ports[0].container_port: 3000
          + ports[0].host_ip: "127.0.0.1"
          + ports[0].host_port: [PORT]
          + reload_digest.grafana/alerting-without-slack: "[HASH]"
          + reload_digest.grafana/dashboards: "[HASH]"
          + reload_digest.grafana/provisioning/alerting: "[HASH]"
          + reload_digest.grafana/provisioning/dashboards: "[HASH]"
          + reload_digest.grafana/provisioning/datasources: "[HASH]"
          + restart: "unless-stopped"

      # service.influxdb will be created
      + service.influxdb
          + command: []
          + depends_on: []
          + env.INFLUXDB_ADMIN_PASSWORD: (sensitive)
          + env.INFLUXDB_ADMIN_USER: "promo-admin"
          + env.INFLUXDB_DB: "k6"
          + env.INFLUXDB_HTTP_AUTH_ENABLED: "true"
          + env.INFLUXDB_READ_USER: "grafana"
          + env.INFLUXDB_READ_USER_PASSWORD: (sensitive)
          + env.INFLUXDB_REPORTING_DISABLED: "true"
          + env.INFLUXDB_WRITE_USER: "k6"
          + env.INFLUXDB_WRITE_USER_PASSWORD: (sensitive)
          + health.interval_s: 5
          + health.retries: 12
          + health.start_period_s: 5
          + health.test[0]: "CMD-SHELL"
          + health.test[1]: "wget -q -O /dev/null http://127.0.0.1:8086/ping || exit 1"
          + health.timeout_s: 3
          + image: "promo-infra-influxdb:1.6.7-local"
          + mounts[0].read_only: false
          + mounts[0].source.volume: "influxdb-data"
          + mounts[0].target: "/var/lib/influxdb"
          + mounts[1].read_only: true
          + mounts[1].source.generated: "influxdb/init"
          + mounts[1].target: "/docker-entrypoint-initdb.d"
          + name: "influxdb"
          + ports[0].container_port: 8086
          + ports[0].host_ip: "127.0.0.1"
          + ports[0].host_port: [PORT]
          + restart: "unless-stopped"

      # database.k6 will be created
      + database.k6
          + name: "k6"
          + org: null
          + retention: "672h"
          + shard_duration: "24h"
          + users[0].name: "grafana"
          + users[0].password_secret: "INFLUXDB_GRAFANA_PASSWORD"
          + users[0].privilege: "READ"
          + users[1].name: "k6"
          + users[1].password_secret: "INFLUXDB_K6_PASSWORD"
          + users[1].privilege: "WRITE"
          + users[2].name: "promo-admin"
          + users[2].password_secret: "INFLUXDB_ADMIN_PASSWORD"
          + users[2].privilege: "ALL"
          + version: 1

    Plan: 7 to add, 0 to change, 0 to destroy.
      ~ generated/[STACK]: 19 file(s) written
    ✓ network.monitoring-net: created
    ✓ volume.grafana-data: created
    ✓ volume.influxdb-data: created
    ✓ service.influxdb: created
    ✓ service.grafana: created
    ✓ database.k6: created
    ✓ service.control-api: created

    Apply complete! Resources: 7 added, 0 changed, 0 destroyed.

    SERVICE      STATE    HEALTH   IMAGE                             VERSION  URL                     UPTIME  CONFIG
    control-api  running  healthy  promo-infra:0.1.0                 0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    grafana      running  healthy  promo-infra-grafana-double:0.1.0  0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    influxdb     running  healthy  promo-infra-influxdb:1.6.7-local  1.6.7    http://127.0.0.1:[PORT]  [UPTIME]  current

    Alerts: nowhere to go: SLACK_WEBHOOK_URL is not set (the alert rules run and show on the dashboards; no notification is sent)

    ----- stderr -----
    database.k6: created ([TIME])
    database.k6: creating
    network.monitoring-net: created ([TIME])
    network.monitoring-net: creating
    service.control-api: created and healthy ([TIME])
    service.control-api: creating
    service.grafana: created and healthy ([TIME])
    service.grafana: creating
    service.influxdb: created and healthy ([TIME])
    service.influxdb: creating
    volume.grafana-data: created ([TIME])
    volume.grafana-data: creating
    volume.influxdb-data: created ([TIME])
    volume.influxdb-data: creating
    "#);
    s.assert_healthy();
    promo_snapshot!(s.run(&["status"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    SERVICE      STATE    HEALTH   IMAGE                             VERSION  URL                     UPTIME  CONFIG
    control-api  running  healthy  promo-infra:0.1.0                 0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    grafana      running  healthy  promo-infra-grafana-double:0.1.0  0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    influxdb     running  healthy  promo-infra-influxdb:1.6.7-local  1.6.7    http://127.0.0.1:[PORT]  [UPTIME]  current

    Alerts: nowhere to go: SLACK_WEBHOOK_URL is not set (the alert rules run and show on the dashboards; no notification is sent)

    ----- stderr -----
    ");

    // The rules exist (the dashboards' alert state works); no Slack contact point, and the
    // policy tree does not route to one.
    let grafana = url_of(&s, "grafana");
    let rules = grafana_json(&s, &grafana, "/api/v1/provisioning/alert-rules");
    let mut uids: Vec<&str> = rules
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["uid"].as_str())
        .collect();
    uids.sort_unstable();
    assert_eq!(
        uids,
        [format!("{}-error-rate", s.name), format!("{}-p95", s.name)]
    );
    let slack_uid = format!("{}-slack", s.name);
    let cps = grafana_json(&s, &grafana, "/api/v1/provisioning/contact-points");
    // Grafana's JSON (third-party; ids and order vary): no Slack contact point in it.
    assert!(
        !cps.to_string().contains(&slack_uid) && !cps.to_string().contains("\"slack\""),
        "{cps}"
    );
    let policy = grafana_json(&s, &grafana, "/api/v1/provisioning/policies");
    assert_ne!(policy["receiver"], slack_uid, "{policy}");

    // Setting the webhook later: plan shows Grafana changing, apply brings the contact point.
    let hook = "http://127.0.0.1:9/hooks/s3cr3t-webh00k";
    let env_path = format!("generated/{}/.env", s.name);
    let env = s.p.read(&env_path);
    s.p.write(&env_path, &format!("{env}SLACK_WEBHOOK_URL={hook}\n"));
    let plan = promo_snapshot!(s.run(&["plan", "--detailed-exitcode"]), @r#"
    success: false
    exit_code: 2
    ----- stdout -----
    promo-infra will perform the following actions on stack `[STACK]` (target docker):

      # service.grafana must be replaced
    -/+ service.grafana
          + env.SLACK_WEBHOOK_URL: (none) → (sensitive) # forces replacement
          - mounts[3].read_only: true → (none) # forces replacement
          - mounts[3].source.generated: "grafana/alerting-without-slack" → (none) # forces replacement
          - mounts[3].target: "/etc/grafana/provisioning/alerting" → (none) # forces replacement
          - reload_digest.grafana/alerting-without-slack: "[HASH]" → (none)

    Plan: 1 to add, 0 to change, 1 to destroy.

    ----- stderr -----
    "#);
    let apply = promo_snapshot!(s.apply(), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will perform the following actions on stack `[STACK]` (target docker):

      # service.grafana must be replaced
    -/+ service.grafana
          + env.SLACK_WEBHOOK_URL: (none) → (sensitive) # forces replacement
          - mounts[3].read_only: true → (none) # forces replacement
          - mounts[3].source.generated: "grafana/alerting-without-slack" → (none) # forces replacement
          - mounts[3].target: "/etc/grafana/provisioning/alerting" → (none) # forces replacement
          - reload_digest.grafana/alerting-without-slack: "[HASH]" → (none)

    Plan: 1 to add, 0 to change, 1 to destroy.
    ✓ service.grafana: replaced

    Apply complete! Resources: 1 added, 0 changed, 1 destroyed.

    SERVICE      STATE    HEALTH   IMAGE                             VERSION  URL                     UPTIME  CONFIG
    control-api  running  healthy  promo-infra:0.1.0                 0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    grafana      running  healthy  promo-infra-grafana-double:0.1.0  0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    influxdb     running  healthy  promo-infra-influxdb:1.6.7-local  1.6.7    http://127.0.0.1:[PORT]  [UPTIME]  current

    Alerts: Slack #load-tests (webhook from SLACK_WEBHOOK_URL)

    ----- stderr -----
    service.grafana: replacing
    service.grafana: replaced and healthy ([TIME])
    "#);
    s.assert_healthy();
    let cps = grafana_json(&s, &grafana, "/api/v1/provisioning/contact-points");
    // Grafana's JSON (third-party; ids and order vary): the Slack contact point is in it.
    assert!(cps.to_string().contains(&slack_uid), "{cps}");
    let policy = grafana_json(&s, &grafana, "/api/v1/provisioning/policies");
    assert_eq!(policy["receiver"], format!("{}-slack", s.name), "{policy}");
    let status = promo_snapshot!(s.run(&["status"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    SERVICE      STATE    HEALTH   IMAGE                             VERSION  URL                     UPTIME  CONFIG
    control-api  running  healthy  promo-infra:0.1.0                 0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    grafana      running  healthy  promo-infra-grafana-double:0.1.0  0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    influxdb     running  healthy  promo-infra-influxdb:1.6.7-local  1.6.7    http://127.0.0.1:[PORT]  [UPTIME]  current

    Alerts: Slack #load-tests (webhook from SLACK_WEBHOOK_URL)

    ----- stderr -----
    ");
    // The webhook (a secret) never appears: a negative check is exactly `!contains`.
    for out in [plan.all(), apply.all(), status.all()] {
        assert!(!out.contains("s3cr3t-webh00k"), "the webhook was printed");
    }
}
