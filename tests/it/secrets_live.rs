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
    let r = promo_snapshot!(
        @named "rotate_influxdb_k6_password",
        rotate(&s, "INFLUXDB_K6_PASSWORD")
    );
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
    let r = promo_snapshot!(
        @named "rotate_grafana_admin_password",
        rotate(&s, "GRAFANA_ADMIN_PASSWORD")
    );
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
        let r = promo_snapshot!(@named "rotate_control_api_token", rotate(&s, "CONTROL_API_TOKEN"));
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
    let r = promo_snapshot!(
        @named "rotate_influxdb_admin_password",
        rotate(&s, "INFLUXDB_ADMIN_PASSWORD")
    );
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
    let r = promo_snapshot!(
        @named "rotate_grafana_admin_password_resumed",
        rotate(&s, "GRAFANA_ADMIN_PASSWORD")
    );
    assert_eq!(s.secret("GRAFANA_ADMIN_PASSWORD"), kept);
    assert_eq!(
        http(&grafana, "GET", "/api/org", &basic("promo-admin", kept), "").0,
        200
    );
    seen_values.extend([old, kept.to_string()]);
    outputs.push(r.all());

    // The same for InfluxDB's admin password: InfluxDB has the kept value, .env still the old
    // one beside it. The observe that starts the rotation logged in with the old one (401),
    // so the rotation could not resume; it now logs in with the kept value and resumes.
    let old = s.secret("INFLUXDB_ADMIN_PASSWORD");
    let kept = "fedcba9876543210fedcba9876543210";
    let set = format!("/query?q=SET%20PASSWORD%20FOR%20%22{admin}%22%20%3D%20%27{kept}%27");
    let (code, resp) = http(&influx, "POST", &set, &basic(&admin, &old), "");
    assert_eq!(code, 200, "{resp}");
    let env = s.p.read(&env_path);
    s.p.write(
        &env_path,
        &format!("{env}PROMO_INFRA_ROTATING_INFLUXDB_ADMIN_PASSWORD={kept}\n"),
    );
    let r = promo_snapshot!(
        @named "rotate_influxdb_admin_password_resumed",
        rotate(&s, "INFLUXDB_ADMIN_PASSWORD")
    );
    assert_eq!(s.secret("INFLUXDB_ADMIN_PASSWORD"), kept);
    assert_eq!(http(&influx, "GET", q, &basic(&admin, kept), "").0, 200);
    assert_eq!(http(&influx, "GET", q, &basic(&admin, &old), "").0, 401);
    seen_values.extend([old, kept.to_string()]);
    outputs.push(r.all());

    // Converged: nothing left to do, everything healthy; the data written survived.
    let plan = s.run(&["plan", "--detailed-exitcode"]);
    let all = plan.all();
    crate::docker::no_changes(plan);
    s.assert_healthy();
    outputs.push(all);
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
    promo_snapshot!(@named "slackless_plan", s.run(&["plan"]));
    promo_snapshot!(@named "slackless_apply", s.apply().sorted_stderr());
    s.assert_healthy();
    promo_snapshot!(@named "slackless_status", s.run(&["status"]));

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
    let plan = promo_snapshot!(@named "webhook_set_plan", s.run(&["plan", "--detailed-exitcode"]));
    let apply = promo_snapshot!(@named "webhook_set_apply", s.apply());
    s.assert_healthy();
    let cps = grafana_json(&s, &grafana, "/api/v1/provisioning/contact-points");
    // Grafana's JSON (third-party; ids and order vary): the Slack contact point is in it.
    assert!(cps.to_string().contains(&slack_uid), "{cps}");
    let policy = grafana_json(&s, &grafana, "/api/v1/provisioning/policies");
    assert_eq!(policy["receiver"], format!("{}-slack", s.name), "{policy}");
    let status = promo_snapshot!(@named "webhook_set_status", s.run(&["status"]));
    // The webhook (a secret) never appears: a negative check is exactly `!contains`.
    for out in [plan.all(), apply.all(), status.all()] {
        assert!(!out.contains("s3cr3t-webh00k"), "the webhook was printed");
    }
}
