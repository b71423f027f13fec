//! The control API (`promo-infra control-api`) against a running `promo-infra k6 run`:
//! real influxd 1.6 (k6 points), the stand-in k6 (SIGINT), the Grafana **double**
//! (`promo_doubles::grafana`) for annotations, a local Slack webhook receiver, and a real
//! headless Chromium for the STOP page.

use std::time::Duration;

use promo_doubles::grafana::{self, GrafanaConfig};
use serde_json::{Value, json};

use crate::common::{Run, TestContext, free_port};
use crate::influxd::RealInfluxd;
use crate::standin::{
    Proc, Standins, Webhook, add_env, assert_no_secret, run_dir, secret, spawn_promo, wait_until,
};
use crate::stop_session;

pub fn manifest(influx_port: u16, grafana_url: &str, control_port: u16, locale: &str) -> String {
    let grafana_port = grafana_url.rsplit(':').next().unwrap_or("3000");
    format!(
        r##"stack: shop
environment: preprod
locale: {locale}
influxdb:
  version: 1
  image: influxdb:1.8
  port: {influx_port}
  bucket: k6
grafana:
  image: grafana/grafana:10.2.3
  port: {grafana_port}
  admin_user: admin
  url: {grafana_url}
  home_dashboard: shop-marketing
control_api:
  enabled: true
  port: {control_port}
dashboards:
  - uid: shop-marketing
    template: marketing
    thresholds: {{ p95_ok_ms: 1000, p95_warn_ms: 2000, error_ok_pct: 0.1, error_warn_pct: 1 }}
alerting:
  slack:
    webhook_url_env: SLACK_WEBHOOK_URL
    channel: "#alerts"
k6:
  version: v0.47.0
  output: bin/k6-custom
"##
    )
}

/// Everything a stop test needs, running.
pub struct Rig {
    pub p: TestContext,
    pub standins: Standins,
    pub grafana: grafana::GrafanaHandle,
    pub webhook: Webhook,
    pub control_port: u16,
    pub control: Option<Proc>,
    pub influx: Option<RealInfluxd>,
}

impl Rig {
    pub async fn start(locale: &str, with_influx: bool) -> Self {
        let influx = with_influx.then(|| RealInfluxd::start(true));
        // Without influxd: a port nothing listens on (never handed out again here).
        let influx_port = influx
            .as_ref()
            .map_or_else(|| free_port().port(), RealInfluxd::http_port);
        let p = TestContext::new();
        // The Grafana double needs the generated admin password: generate first with a
        // placeholder URL, then start the double and point the manifest at it.
        let control_guard = free_port();
        let control_port = control_guard.port();
        p.write(
            "stacks/shop.yaml",
            &manifest(influx_port, "http://127.0.0.1:3999", control_port, locale),
        );
        let g = p.run(&["-f", "stacks/shop.yaml", "generate"]);
        assert_eq!(g.code, 0, "{}", g.all());
        let grafana = grafana::spawn(GrafanaConfig {
            admin_user: "admin".into(),
            admin_password: secret(&p, "shop", "GRAFANA_ADMIN_PASSWORD"),
            ..GrafanaConfig::default()
        })
        .await
        .expect("grafana double");
        if let Some(port) = url::Url::parse(&grafana.url()).ok().and_then(|u| u.port()) {
            crate::common::register_port(port);
        }
        p.write(
            "stacks/shop.yaml",
            &manifest(influx_port, &grafana.url(), control_port, locale),
        );
        let webhook = Webhook::start().await;
        add_env(&p, "shop", &format!("SLACK_WEBHOOK_URL={}", webhook.url));
        if let Some(i) = &influx {
            setup_influx(
                &i.url(),
                &secret(&p, "shop", "INFLUXDB_K6_PASSWORD"),
                &secret(&p, "shop", "INFLUXDB_GRAFANA_PASSWORD"),
            )
            .await;
        }
        p.write("tests/checkout.js", "export default function () {}\n");
        // Let the control port go now: commands run before `start_control` must find nothing
        // there (refused), not a held socket that never answers. It stays out of this process's
        // other tests (registry).
        drop(control_guard);
        Self {
            p,
            standins: Standins::new(),
            grafana,
            webhook,
            control_port,
            control: None,
            influx,
        }
    }

    pub fn api(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.control_port)
    }

    /// `GET /api/tests/current` once `k6 run` has registered k6's pid (it does right after
    /// starting k6).
    pub async fn current_with_pid(&self) -> Value {
        let http = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let r = http
                .get(self.api("/api/tests/current"))
                .bearer_auth(self.token())
                .send()
                .await
                .expect("current");
            if r.status() == 200 {
                let v: Value = r.json().await.expect("json");
                if v["pid"].is_i64() {
                    return v;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "k6 run did not register with the control API"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn token(&self) -> String {
        secret(&self.p, "shop", "CONTROL_API_TOKEN")
    }

    pub async fn start_control(&mut self) {
        self.start_control_with(&[]).await;
    }

    pub async fn start_control_with(&mut self, flags: &[&str]) {
        let mut args = vec![
            "-f",
            "stacks/shop.yaml",
            "control-api",
            "--grace-secs",
            "10",
        ];
        args.extend_from_slice(flags);
        let proc = spawn_promo(&self.p, &args, &[], "control-api");
        let url = self.api("/health");
        let http = reqwest::Client::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(&url).send().await
                && r.status() == 200
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "control API did not become healthy"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.control = Some(proc);
    }

    /// Start `k6 run` with the stand-in in "until SIGINT" mode; wait until the run record exists.
    pub fn start_run(&self, extra_env: &[(&str, &str)]) -> Proc {
        let path = self.standins.path_env();
        let records = self.standins.records.path().display().to_string();
        let mut env = vec![
            ("PATH", path.as_str()),
            ("STANDIN_DIR", records.as_str()),
            ("STANDIN_MODE", "until-sigint"),
        ];
        env.extend_from_slice(extra_env);
        let run = spawn_promo(
            &self.p,
            &[
                "-f",
                "stacks/shop.yaml",
                "k6",
                "run",
                "tests/checkout.js",
                "--promo",
                "black-friday",
                "--promo-type",
                "flash-sale",
                "--intensity",
                "high",
            ],
            &env,
            "promo-infra k6 run",
        );
        let dir = run_dir(&self.p, "shop");
        wait_until(
            "the run record and the stand-in k6",
            Duration::from_secs(30),
            || dir.join("k6-run.json").exists() && self.standins.ready(),
        );
        run
    }

    /// Insta settings for an exact snapshot of a text no CLI run printed (a Slack message, an
    /// annotation, the STOP page): the dashboard's time range as `[EPOCH_MS]`, then the common
    /// filters (ports, the project dir, …). Replace the test id by `[TESTID]` before comparing.
    pub fn text_settings(&self) -> insta::Settings {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(r"\b(from|to)=\d{13}\b", "$1=[EPOCH_MS]");
        for (re, with) in crate::common::filters(Some(self.p.path())) {
            settings.add_filter(&re, with);
        }
        settings
    }

    /// How `k6 run` ended (waited for, 30 s at most), its test id as `[TESTID]` and the
    /// dashboard's time range (the real clock) as `[EPOCH_MS]`.
    pub fn outcome(&self, run: Proc) -> Run {
        let (code, out, err) = run.wait_output(Duration::from_secs(30));
        let run = Run::new(code, out, err, self.p.path())
            .filter_regex(r"\b(from|to)=\d{13}\b", "$1=[EPOCH_MS]");
        if self.standins.records.path().join("k6-call.json").exists() {
            run.filter(&self.current_testid(), "[TESTID]")
        } else {
            run
        }
    }

    /// The test id the running stand-in k6 was given (its `testid=` tag).
    pub fn current_testid(&self) -> String {
        let argv: Vec<String> =
            serde_json::from_value(self.standins.call()["argv"].clone()).expect("argv");
        argv.iter()
            .find_map(|a| a.strip_prefix("testid="))
            .expect("testid tag")
            .to_string()
    }
}

async fn influx_query(url: &str, user: &str, pw: &str, q: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{url}/query"))
        .basic_auth(user, Some(pw))
        .form(&[("q", q), ("db", "k6")])
        .send()
        .await
        .expect("influx query")
        .json()
        .await
        .expect("json")
}

const INFLUX_ADMIN: (&str, &str) = ("root", "root-password-for-tests");

/// Admin user, database `k6`, the write-only `k6` user and the read-only `grafana` user with
/// the passwords from `.env`, as `apply` makes them.
async fn setup_influx(url: &str, k6_password: &str, grafana_password: &str) {
    let (u, pw) = INFLUX_ADMIN;
    for q in [
        format!("CREATE USER {u} WITH PASSWORD '{pw}' WITH ALL PRIVILEGES"),
        "CREATE DATABASE k6".to_string(),
        format!("CREATE USER k6 WITH PASSWORD '{k6_password}'"),
        "GRANT WRITE ON k6 TO k6".to_string(),
        format!("CREATE USER grafana WITH PASSWORD '{grafana_password}'"),
        "GRANT READ ON k6 TO grafana".to_string(),
    ] {
        let v = influx_query(url, u, pw, &q).await;
        assert!(
            v.get("error").is_none() && v["results"][0].get("error").is_none(),
            "{q}: {v}"
        );
    }
}

fn annotations_of(g: &grafana::GrafanaHandle, testid: &str) -> Vec<grafana::Annotation> {
    g.state()
        .annotations()
        .into_iter()
        .filter(|a| a.tags.iter().any(|t| t == testid))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_stop_sends_sigint_exports_summary_annotates_and_grades() {
    let mut rig = Rig::start("en", true).await;
    rig.start_control().await;
    let http = reqwest::Client::new();
    let token = rig.token();

    // Health without auth; the API needs the token; no test yet → 404 with a clear message.
    let h: Value = http
        .get(rig.api("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    let r = http
        .get(rig.api("/api/tests/current"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let r = http
        .get(rig.api("/api/tests/current"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "no test is running", "{body}");
    assert_eq!(
        body["hint"],
        "start one with `promo-infra -f stacks/shop.yaml k6 run SCRIPT`: it registers the run with this API",
        "{body}"
    );
    let r = http
        .post(rig.api("/api/tests/stop"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // A test runs (stand-in k6: p95 1500 ms, 0 % errors → grade C, 70/100).
    let run = rig.start_run(&[("STANDIN_P95", "1500"), ("STANDIN_ERR_RATE", "0")]);
    // k6 run registered with the API before k6 started, then again with k6's pid.
    let cur = rig.current_with_pid().await;
    let testid = cur["testid"].as_str().expect("testid").to_string();
    assert!(testid.starts_with("black-friday_"), "{cur}");
    assert_eq!(cur["promo"], "black-friday");
    assert_eq!(cur["promo_type"], "flash-sale");
    let call = rig.standins.call();
    assert_eq!(cur["pid"], call["pid"], "the record names the k6 process");
    assert!(cur["started_at"].as_str().unwrap().ends_with('Z'));

    // CORS: the Grafana origin may call the API, any other origin is refused (preflight too).
    let grafana_origin = rig.grafana.url();
    let pre = http
        .request(reqwest::Method::OPTIONS, rig.api("/api/tests/stop"))
        .header("Origin", &grafana_origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(
        pre.headers()["access-control-allow-origin"],
        grafana_origin.as_str()
    );
    let evil = http
        .request(reqwest::Method::OPTIONS, rig.api("/api/tests/stop"))
        .header("Origin", "http://evil.example")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 403);
    assert!(evil.headers().get("access-control-allow-origin").is_none());
    let evil = http
        .post(rig.api("/api/tests/stop"))
        .header("Origin", "http://evil.example")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        evil.status(),
        403,
        "a cross-origin stop is refused even with the token"
    );

    // Without the token (or with a wrong one): 401, and k6 got nothing.
    let r = http.post(rig.api("/api/tests/stop")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(rig.api("/api/tests/stop"))
        .bearer_auth("0".repeat(64))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // STOP page: Basic auth required; a forged form is refused.
    let r = http
        .get(rig.api(&format!("/stop?testid={testid}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let pw = secret(&rig.p, "shop", "CONTROL_API_STOP_PASSWORD");
    let r = http
        .post(rig.api("/stop"))
        .basic_auth("marketing", Some(&pw))
        .form(&[("testid", testid.as_str()), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The wrong testid is not stopped.
    let r = http
        .post(rig.api("/api/tests/stop"))
        .bearer_auth(&token)
        .json(&json!({"testid": "some-other-test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(rig.standins.signals(), "", "nothing reached k6 so far");

    // With the token: SIGINT, k6 flushes and exits; the answer says what happened.
    let r = http
        .post(rig.api("/api/tests/stop"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["testid"], testid.as_str());
    assert_eq!(report["signals"], json!(["SIGINT"]));
    assert_eq!(report["exited"], true, "{report}");
    assert!(
        report["annotation"].as_str().unwrap().starts_with("posted"),
        "{report}"
    );
    assert_eq!(rig.standins.signals(), "SIGINT\n");

    // `k6 run` passes k6's exit code through and reports the stop and the grade.
    // k6's exit code passed through, the stop and the grade, the dashboard URL.
    let outcome = promo_snapshot!(rig.outcome(run), @"
    success: false
    exit_code: 105
    ----- stdout -----
    stand-in k6 done
    test [TESTID]: stopped by hand (API); grade C (70/100): p95 1500 ms, errors 0.00 %
    summary: generated/shop/run/[TESTID]/summary.json
    dashboard: http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=[EPOCH_MS]&to=[EPOCH_MS]

    ----- stderr -----
    promo-infra: STOP button ready: test [TESTID] registered with the control API at http://127.0.0.1:[PORT]
    promo-infra: test [TESTID]: [TEMP_OTHER]/k6
    promo-infra: dashboard: http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=[EPOCH_MS]&to=now&refresh=5s
    promo-infra: stop requested by API: asked k6 to stop gracefully (SIGINT; it flushes its metrics)
    ");
    let summary = run_dir(&rig.p, "shop").join(&testid).join("summary.json");
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).expect("summary exported"))
            .unwrap();
    assert_eq!(s["metrics"]["http_req_duration"]["p(95)"], 1500.0);
    let rec: Value = serde_json::from_str(
        &std::fs::read_to_string(summary.with_file_name("outcome.json")).expect("outcome record"),
    )
    .unwrap();
    assert_eq!(rec["ending"], "stopped", "{rec}");
    assert_eq!(rec["stopped_by"], "API", "{rec}");
    assert_eq!(rec["exit_code"], 105, "{rec}");
    assert_eq!(rec["grade"]["letter"], "C", "{rec}");
    assert!(
        !run_dir(&rig.p, "shop").join("k6-run.json").exists(),
        "record removed"
    );

    // Every tag and variable reached k6; no secret in its argv.
    let argv: Vec<String> = serde_json::from_value(call["argv"].clone()).unwrap();
    let influx_url = rig.influx.as_ref().unwrap().url();
    let want: Vec<String> = [
        "run",
        "--out",
        &format!("influxdb={influx_url}/k6"),
        "--tag",
        &format!("testid={testid}"),
        "--tag",
        "environment=preprod",
        "--tag",
        "promo_type=flash-sale",
        "--tag",
        "promo_name=black-friday",
        "--summary-export",
        &format!("generated/shop/run/{testid}/summary.json"),
        "tests/checkout.js",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(argv, want);
    assert_no_secret(&rig.p, "shop", &argv.join(" "), "k6's argv");
    let env = &call["env"];
    assert_eq!(env["K6_INFLUXDB_USERNAME"], "k6");
    assert_eq!(
        env["K6_INFLUXDB_PASSWORD"],
        secret(&rig.p, "shop", "INFLUXDB_K6_PASSWORD").as_str()
    );
    assert_eq!(env["TESTID"], testid.as_str());
    assert_eq!(env["PROMO_NAME"], "black-friday");
    assert_eq!(env["PROMO_TYPE"], "flash-sale");
    assert_eq!(env["INTENSITY"], "high");
    assert_eq!(env["ENVIRONMENT"], "preprod");

    // The points are in the real InfluxDB, tagged; the flush after SIGINT landed too.
    assert_eq!(rig.standins.writes(), "ok 3\nok 2\n");
    let (u, pw) = INFLUX_ADMIN;
    let v = influx_query(
        &influx_url,
        u,
        pw,
        &format!("SELECT count(\"value\") FROM \"http_req_duration\" WHERE \"testid\" = '{testid}' AND \"promo_name\" = 'black-friday' AND \"promo_type\" = 'flash-sale' AND \"environment\" = 'preprod'"),
    )
    .await;
    assert_eq!(v["results"][0]["series"][0]["values"][0][1], 5, "{v}");

    // Grafana double: start point, "stopped by hand", end region: kinds, tags and texts exact
    // (sorted: the control API's annotation and the wrapper's region race).
    let mut ann: Vec<String> = annotations_of(&rig.grafana, &testid)
        .iter()
        .map(|a| {
            let kind = if a.time_end > a.time {
                "region"
            } else {
                "point"
            };
            format!("{kind} [{}] {}", a.tags.join(","), a.text).replace(&testid, "[TESTID]")
        })
        .collect();
    ann.sort();
    let text = ann.join("\n");
    rig.text_settings()
        .bind(|| insta::assert_snapshot!(text, @"
        point [k6,promo-infra,[TESTID],black-friday,aborted,stopped-by-hand] Stopped by hand (API) — [TESTID]
        point [k6,promo-infra,[TESTID],black-friday,start] Load test started [TESTID] (black-friday, flash-sale)
        region [k6,promo-infra,[TESTID],black-friday,aborted,stopped-by-hand] Load test stopped by hand [TESTID] — grade C (70/100)
        "));

    // Slack: one message, English, grade C.
    let msgs = rig.webhook.messages();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let text = msgs[0].replace(&testid, "[TESTID]");
    rig.text_settings()
        .bind(|| insta::assert_snapshot!(text, @"
        :large_orange_circle: Load test stopped by hand: *black-friday* (flash-sale) — `[TESTID]`
        Grade *C* (70/100) · p95: 1500 ms · errors: 0.00 % · requests: 100
        Stopped by API
        Dashboard: http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=[EPOCH_MS]&to=[EPOCH_MS]
        "));

    // Afterwards: no test.
    let r = http
        .get(rig.api("/api/tests/current"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // No secret in anything the commands printed.
    let control = rig.control.take().unwrap();
    nix_sigterm(control.pid());
    let (code, cout, cerr) = control.wait_output(Duration::from_secs(10));
    assert_eq!(code, 0, "control API stops cleanly on SIGTERM: {cerr}");
    let all = format!("{}{cout}{cerr}{}", outcome.all(), msgs.join("\n"));
    assert_no_secret(&rig.p, "shop", &all, "k6 run / control-api / Slack");
    assert!(
        !all.contains(&rig.webhook.url),
        "the webhook URL is a secret"
    );
}

fn nix_sigterm(pid: i32) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn force_escalates_only_when_asked_and_after_the_grace_period() {
    let mut rig = Rig::start("fr", false).await;
    rig.start_control().await;
    // A k6 that ignores SIGINT: the graceful stop cannot finish.
    let run = rig.start_run(&[("STANDIN_IGNORE_SIGINT", "1")]);
    let http = reqwest::Client::new();
    let token = rig.token();
    let t0 = std::time::Instant::now();
    let r = http
        .post(rig.api("/api/tests/stop"))
        .bearer_auth(&token)
        .json(&json!({"grace_s": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        202,
        "still running after the grace period: accepted, not forced"
    );
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["signals"], json!(["SIGINT"]));
    assert_eq!(report["exited"], false);
    let text = report["message"]
        .as_str()
        .unwrap()
        .replace(&rig.current_testid(), "[TESTID]");
    rig.text_settings()
        .bind(|| insta::assert_snapshot!(text, @r#"SIGINT sent; k6 is still finishing after 1 s (teardown, flush). POST again with {"force": true} to escalate"#));
    assert!(t0.elapsed() >= Duration::from_secs(1));
    let r = http
        .post(rig.api("/api/tests/stop"))
        .bearer_auth(&token)
        .json(&json!({"grace_s": 1, "force": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["exited"], true, "{report}");
    assert_eq!(
        report["signals"],
        json!(["SIGINT", "SIGTERM"]),
        "SIGTERM ends it, SIGKILL not needed"
    );
    promo_snapshot!(rig.outcome(run), @"
    success: false
    exit_code: 143
    ----- stdout -----
    test [TESTID]: stopped by hand (API); no grade
    summary: generated/shop/run/[TESTID]/summary.json
    dashboard: http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=[EPOCH_MS]&to=[EPOCH_MS]

    ----- stderr -----
    promo-infra: warning: InfluxDB does not answer at http://127.0.0.1:[PORT] (error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)): k6 will run but its points will be lost and the dashboard will stay empty; start the stack first (`promo-infra -f stacks/shop.yaml apply`)
    promo-infra: STOP button ready: test [TESTID] registered with the control API at http://127.0.0.1:[PORT]
    promo-infra: test [TESTID]: [TEMP_OTHER]/k6
    promo-infra: dashboard: http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=[EPOCH_MS]&to=now&refresh=5s
    promo-infra: stop requested by API: asked k6 to stop gracefully (SIGINT; it flushes its metrics)
    promo-infra: forced stop requested by API: SIGTERM if k6 still runs 1 s after the SIGINT
    promo-infra: k6 still runs after the grace period: SIGTERM
    promo-infra: warning: k6 wrote no summary at generated/shop/run/[TESTID]/summary.json
    ");
    // French Slack message, no grade (k6 died before writing its summary).
    let msgs = rig.webhook.messages();
    assert_eq!(msgs.len(), 1);
    let text = msgs[0].replace(&rig.current_testid(), "[TESTID]");
    rig.text_settings()
        .bind(|| insta::assert_snapshot!(text, @"
        :white_circle: Test de charge arrêté à la main : *black-friday* (flash-sale) — `[TESTID]`
        pas de note : le résumé k6 est illisible ou absent
        Arrêté par API
        Tableau de bord : http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=[EPOCH_MS]&to=[EPOCH_MS]
        "));
}

/// A real headless Chromium opens the STOP page, authenticates (HTTP Basic through the URL),
/// confirms, and sees "Test stopped", while the stand-in k6 receives SIGINT.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stop_page_in_real_chromium() {
    let mut rig = Rig::start("en", false).await;
    rig.start_control().await;
    let run = rig.start_run(&[("STANDIN_P95", "400")]);
    let token = rig.token();
    let cur: Value = reqwest::Client::new()
        .get(rig.api("/api/tests/current"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let testid = cur["testid"].as_str().unwrap().to_string();
    let pw = secret(&rig.p, "shop", "CONTROL_API_STOP_PASSWORD");

    let browser = stop_session::Browser::start().await;
    let client = &browser.client;
    let result = async {
        // Basic credentials in the URL work for a top-level navigation in Chromium; it then
        // reuses them for the same-origin form POST.
        let url = format!(
            "http://marketing:{pw}@127.0.0.1:{}/stop?testid={testid}",
            rig.control_port
        );
        client.goto(&url).await?;
        let heading = client
            .find(fantoccini::Locator::Id("heading"))
            .await?
            .text()
            .await?;
        assert_eq!(heading, format!("Stop test {testid}?"));
        assert_eq!(rig.standins.signals(), "", "opening the page stops nothing");
        client
            .find(fantoccini::Locator::Id("stop"))
            .await?
            .click()
            .await?;
        let h = client
            .wait()
            .for_element(fantoccini::Locator::Id("heading"))
            .await?;
        let mut text = h.text().await.unwrap_or_default();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while text != "Test stopped" && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            text = client
                .find(fantoccini::Locator::Id("heading"))
                .await?
                .text()
                .await
                .unwrap_or_default();
        }
        let message = client
            .find(fantoccini::Locator::Id("message"))
            .await?
            .text()
            .await?;
        Ok::<_, fantoccini::error::CmdError>((text, message))
    }
    .await;
    browser.close().await;
    let (heading, message) = result.expect("browser steps");
    assert_eq!(heading, "Test stopped", "{message}");
    let text = message.replace(&testid, "[TESTID]");
    rig.text_settings()
        .bind(|| insta::assert_snapshot!(text, @r#"The test is stopped. A "stopped by hand" annotation was added to the dashboard. ([TESTID])"#));
    assert_eq!(
        rig.standins.signals(),
        "SIGINT\n",
        "the stand-in k6 received SIGINT"
    );
    promo_snapshot!(rig.outcome(run), @"
    success: false
    exit_code: 105
    ----- stdout -----
    stand-in k6 done
    test [TESTID]: stopped by hand (STOP page, marketing); grade A (92/100): p95 400 ms, errors 0.00 %
    summary: generated/shop/run/[TESTID]/summary.json
    dashboard: http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=[EPOCH_MS]&to=[EPOCH_MS]

    ----- stderr -----
    promo-infra: warning: InfluxDB does not answer at http://127.0.0.1:[PORT] (error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)): k6 will run but its points will be lost and the dashboard will stay empty; start the stack first (`promo-infra -f stacks/shop.yaml apply`)
    promo-infra: STOP button ready: test [TESTID] registered with the control API at http://127.0.0.1:[PORT]
    promo-infra: test [TESTID]: [TEMP_OTHER]/k6
    promo-infra: dashboard: http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=[EPOCH_MS]&to=now&refresh=5s
    promo-infra: stop requested by STOP page, marketing: asked k6 to stop gracefully (SIGINT; it flushes its metrics)
    ");
    let ann = annotations_of(&rig.grafana, &testid);
    assert!(
        ann.iter()
            .any(|a| a.text.starts_with("Stopped by hand (STOP page, marketing)")),
        "{:?}",
        ann.iter().map(|a| a.text.clone()).collect::<Vec<_>>()
    );
}

/// Twenty people press STOP at once (API and STOP page form, concurrently): the API records
/// one stop, `k6 run` sends its k6 exactly ONE SIGINT (a second would make k6 abort without
/// flushing), and every request answers once the wrapper acknowledged. Fails on the
/// pid-signalling API, where each request sent its own SIGINT.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_stops_send_exactly_one_sigint() {
    let mut rig = Rig::start("en", true).await;
    rig.start_control().await;
    let run = rig.start_run(&[]);
    let cur = rig.current_with_pid().await;
    let testid = cur["testid"].as_str().unwrap().to_string();
    let token = rig.token();
    let pw = secret(&rig.p, "shop", "CONTROL_API_STOP_PASSWORD");
    let http = reqwest::Client::new();
    // STOP page forms first (each needs its own CSRF token), then fire everything at once.
    let mut forms = Vec::new();
    for user in ["alice", "bob", "carol", "dave", "erin"] {
        let link = rig.api(&format!("/stop?testid={testid}"));
        let (_, page, csrf) = stop_session::open(&http, &link, user, &pw).await;
        assert!(!csrf.is_empty(), "csrf token in the page: {page}");
        forms.push((user, csrf));
    }
    assert_eq!(rig.standins.signals(), "", "opening pages stops nothing");
    let mut tasks = Vec::new();
    for i in 0..15 {
        let http = http.clone();
        let url = rig.api("/api/tests/stop");
        let token = token.clone();
        let body = if i % 2 == 0 {
            json!({})
        } else {
            json!({"testid": testid})
        };
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    for (user, csrf) in forms {
        tasks.push(tokio::spawn(stop_session::confirm(
            http.clone(),
            rig.api(""),
            user,
            pw.clone(),
            testid.clone(),
            csrf,
        )));
    }
    let mut first = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "every stop answers 200 once k6 exited: {body}");
        if body.starts_with('{') {
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["signals"], json!(["SIGINT"]), "{v}");
            assert_eq!(v["exited"], true, "{v}");
            assert_eq!(v["acknowledged"], true, "{v}");
            if v["first_request"] == true {
                first += 1;
            }
        } else {
            // A whole HTML page naming its user: the marker is enough here, the page's text is
            // exact in `stop_page_in_real_chromium`.
            assert!(
                body.contains(r#"<h1 id="heading">Test stopped</h1>"#),
                "{body}"
            );
        }
    }
    assert!(first <= 1, "at most one request created the stop");
    assert_eq!(
        rig.standins.signals(),
        "SIGINT\n",
        "k6 got exactly one SIGINT for 20 concurrent stops"
    );
    // Who stopped it (an API request or one of the STOP pages) is whichever of the concurrent
    // requests came first: `[WHO]` stands for exactly those (not the `signal` fallback); the rest
    // is exact.
    promo_snapshot!(
        rig.outcome(run)
            .filter_regex(r"stopped by hand \((API|STOP page, [a-z]+)\)", "stopped by hand ([WHO])")
            .filter_regex(r"stop requested by (API|STOP page, [a-z]+):", "stop requested by [WHO]:"),
        @"
    success: false
    exit_code: 105
    ----- stdout -----
    stand-in k6 done
    test [TESTID]: stopped by hand ([WHO]); grade A (95/100): p95 250 ms, errors 0.00 %
    summary: generated/shop/run/[TESTID]/summary.json
    dashboard: http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=[EPOCH_MS]&to=[EPOCH_MS]

    ----- stderr -----
    promo-infra: STOP button ready: test [TESTID] registered with the control API at http://127.0.0.1:[PORT]
    promo-infra: test [TESTID]: [TEMP_OTHER]/k6
    promo-infra: dashboard: http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=[EPOCH_MS]&to=now&refresh=5s
    promo-infra: stop requested by [WHO]: asked k6 to stop gracefully (SIGINT; it flushes its metrics)
    "
    );
    assert_eq!(
        rig.standins.writes(),
        "ok 3\nok 2\n",
        "k6 flushed after the one graceful SIGINT"
    );
    let msgs = rig.webhook.messages();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let text = msgs[0].replace(&testid, "[TESTID]");
    rig.text_settings().bind(|| {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(r"\b(API|STOP page, [a-z]+)\b", "[WHO]");
        settings.bind(|| insta::assert_snapshot!(text, @"
        :large_green_circle: Load test stopped by hand: *black-friday* (flash-sale) — `[TESTID]`
        Grade *A* (95/100) · p95: 250 ms · errors: 0.00 % · requests: 100
        Stopped by [WHO]
        Dashboard: http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=[EPOCH_MS]&to=[EPOCH_MS]
        "));
    });
    let by_hand: Vec<_> = annotations_of(&rig.grafana, &testid)
        .into_iter()
        .filter(|a| a.text.starts_with("Stopped by hand"))
        .collect();
    assert_eq!(by_hand.len(), 1, "one stop, one annotation");
}

/// Whoever knows the STOP password types the user name, and it reaches the terminal of `k6 run`,
/// the Grafana annotation and the Slack message: a terminal escape, a bidi override and a Slack
/// mention in it stay inert text everywhere (a Basic user name cannot hold `:`, so no URL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_page_user_name_stays_text_everywhere_it_is_shown() {
    const USER: &str = "<!channel> \u{1b}[2J\u{1b}[31mred\u{202E}kcilc <!here|here> & co\r\nfake";
    let mut rig = Rig::start("en", false).await;
    rig.start_control().await;
    let run = rig.start_run(&[("STANDIN_P95", "400")]);
    let testid = rig.current_testid();
    let pw = secret(&rig.p, "shop", "CONTROL_API_STOP_PASSWORD");
    let http = reqwest::Client::new();
    let link = rig.api(&format!("/stop?testid={testid}"));
    let (status, page, csrf) = stop_session::open(&http, &link, USER, &pw).await;
    assert_eq!(status, 200, "{page}");
    let (status, body) = stop_session::confirm(
        http.clone(),
        rig.api(""),
        USER,
        pw.clone(),
        testid.clone(),
        csrf,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let shown = "<!channel> [2J[31mredkcilc <!here|here> & co fake";
    let outcome = rig.outcome(run);
    assert!(
        !outcome.all().contains('\u{1b}') && !outcome.all().contains('\u{202E}'),
        "{:?}",
        outcome.all()
    );
    assert!(
        outcome
            .all()
            .contains(&format!("stop requested by STOP page, {shown}:")),
        "{}",
        outcome.all()
    );
    let ann = annotations_of(&rig.grafana, &testid);
    assert!(
        ann.iter()
            .any(|a| a.text == format!("Stopped by hand (STOP page, {shown}) — {testid}")),
        "{:?}",
        ann.iter().map(|a| a.text.clone()).collect::<Vec<_>>()
    );
    let msgs = rig.webhook.messages();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let stopped_by: Vec<&str> = msgs[0]
        .lines()
        .filter(|l| l.starts_with("Stopped by"))
        .collect();
    assert_eq!(
        stopped_by,
        ["Stopped by STOP page, &lt;!channel&gt; [2J[31mredkcilc &lt;!here|here&gt; &amp; co fake"],
        "{}",
        msgs[0]
    );
}

/// No control API: `k6 run` says so BEFORE k6 starts, with how to fix it and the same `-f`;
/// `--require-stop` then refuses to start k6 at all, without it the test runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_control_api_k6_run_says_so_before_k6_starts() {
    let rig = Rig::start("en", false).await;
    let path = rig.standins.path_env();
    let records = rig.standins.records.path().display().to_string();
    let env = [
        ("PATH", path.as_str()),
        ("STANDIN_DIR", records.as_str()),
        ("STANDIN_MODE", "finish"),
    ];
    let args = [
        "-f",
        "stacks/shop.yaml",
        "k6",
        "run",
        "tests/checkout.js",
        "--require-stop",
    ];
    let (code, out, err) = spawn_promo(&rig.p, &args, &env, "k6 run --require-stop")
        .wait_output(Duration::from_secs(30));
    // The fix names the same stack (`-f stacks/shop.yaml`).
    promo_snapshot!(Run::new(code, out, err, rig.p.path()), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    promo-infra: warning: InfluxDB does not answer at http://127.0.0.1:[PORT] (error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)): k6 will run but its points will be lost and the dashboard will stay empty; start the stack first (`promo-infra -f stacks/shop.yaml apply`)
      x no STOP button for this test: the control API at http://127.0.0.1:[PORT] is not reachable (error sending request for url (http://127.0.0.1:[PORT]/api/runs): client error (Connect): tcp connect error: Connection refused (os error 111)); k6 was not started (--require-stop)
      help: start it: `promo-infra -f stacks/shop.yaml apply` (docker target: the control-api container), or `promo-infra -f stacks/shop.yaml control-api` on this host; or give its URL with --control-api URL
    ");
    assert!(
        !rig.standins.records.path().join("k6-call.json").exists(),
        "k6 was never started"
    );
    let written = std::fs::read_dir(run_dir(&rig.p, "shop")).map_or(0, Iterator::count);
    assert_eq!(written, 0, "nothing written in the run directory");

    // Without --require-stop: a warning first, then the test runs to completion.
    let run = spawn_promo(&rig.p, &args[..5], &env, "k6 run");
    promo_snapshot!(rig.outcome(run), @"
    success: true
    exit_code: 0
    ----- stdout -----
    stand-in k6 done
    test [TESTID]: completed; grade A (95/100): p95 250 ms, errors 0.00 %
    summary: generated/shop/run/[TESTID]/summary.json
    dashboard: http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=[EPOCH_MS]&to=[EPOCH_MS]

    ----- stderr -----
    promo-infra: warning: InfluxDB does not answer at http://127.0.0.1:[PORT] (error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)): k6 will run but its points will be lost and the dashboard will stay empty; start the stack first (`promo-infra -f stacks/shop.yaml apply`)
    promo-infra: warning: no STOP button for this test: the control API at http://127.0.0.1:[PORT] is not reachable (error sending request for url (http://127.0.0.1:[PORT]/api/runs): client error (Connect): tcp connect error: Connection refused (os error 111)). To fix: start it: `promo-infra -f stacks/shop.yaml apply` (docker target: the control-api container), or `promo-infra -f stacks/shop.yaml control-api` on this host; or give its URL with --control-api URL. The test runs anyway; Ctrl+C here still stops it (--require-stop refuses to start without a STOP button)
    promo-infra: test [TESTID]: [TEMP_OTHER]/k6
    promo-infra: dashboard: http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=[EPOCH_MS]&to=now&refresh=5s
    ");

    // A malformed --control-api is bad input: exit 1 before anything starts.
    std::fs::remove_file(rig.standins.records.path().join("k6-call.json")).unwrap();
    promo_snapshot!(
        rig.p
            .cmd(&[
                "-f",
                "stacks/shop.yaml",
                "k6",
                "run",
                "tests/checkout.js",
                "--control-api",
                "127.0.0.1:5000",
            ])
            .envs(&env),
        @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    promo-infra: warning: InfluxDB does not answer at http://127.0.0.1:[PORT] (error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)): k6 will run but its points will be lost and the dashboard will stay empty; start the stack first (`promo-infra -f stacks/shop.yaml apply`)
      x --control-api `127.0.0.1:5000` is not an http(s) URL
      help: e.g. --control-api http://127.0.0.1:5000 (the control API's address as seen from this host)
    "
    );
    assert!(!rig.standins.records.path().join("k6-call.json").exists());
}

/// A wrapper that registered and then went silent: a stop answers 504 after the ack timeout
/// with what to do (never "stopped"), and the run expires after its lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_stop_times_out_and_a_silent_run_expires() {
    let mut rig = Rig::start("en", false).await;
    rig.start_control_with(&["--lease-secs", "2", "--ack-timeout-secs", "1"])
        .await;
    let http = reqwest::Client::new();
    let token = rig.token();
    let r = http
        .post(rig.api("/api/runs"))
        .bearer_auth(&token)
        .json(&json!({
            "testid": "silent_20261127_093000_0a1b2c3d", "promo": "silent",
            "promo_type": "standard", "started_at": "2026-11-27T09:30:00Z",
            "stack": "shop", "host": "loadgen-7", "pid": 4242,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Another stack's wrapper is refused (it would be the wrong STOP button).
    let r = http
        .post(rig.api("/api/runs"))
        .bearer_auth(&token)
        .json(&json!({
            "testid": "x_1", "promo": "x", "promo_type": "standard",
            "started_at": "2026-11-27T09:30:00Z", "stack": "other",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r = http
        .post(rig.api("/api/tests/stop"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({
            "error": "the stop of test silent_20261127_093000_0a1b2c3d is recorded, but `promo-infra k6 run` on loadgen-7 did not acknowledge it within 1 s",
            "hint": "it acts on the stop as soon as it polls this API again; if it cannot reach the API (network, wrong URL), press Ctrl+C where it runs (k6 pid 4242)",
        })
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = http
        .get(rig.api("/api/tests/current"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    // The seconds since the last poll depend on the scheduler: any whole number; the rest exact.
    let error = v["error"].as_str().unwrap();
    let secs = error
        .strip_prefix("no test is running (test silent_20261127_093000_0a1b2c3d stopped reporting: its `k6 run` on loadgen-7 last polled ")
        .and_then(|rest| rest.strip_suffix(" s ago (killed, or cut off from this API))"))
        .unwrap_or_else(|| panic!("{v}"));
    assert!(secs.parse::<u64>().is_ok_and(|s| s >= 2), "{v}");
    assert_eq!(
        v["hint"],
        "start one with `promo-infra -f stacks/shop.yaml k6 run SCRIPT`: it registers the run with this API",
        "{v}"
    );
}

/// The control API restarts during a test (container recreated, host process restarted): the
/// wrapper's poll gets "unknown run", registers again, and STOP still works — one SIGINT.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_control_api_learns_the_run_again_and_can_stop_it() {
    let mut rig = Rig::start("en", false).await;
    rig.start_control().await;
    let run = rig.start_run(&[]);
    let before = rig.current_with_pid().await;
    let control = rig.control.take().unwrap();
    nix_sigterm(control.pid());
    let (code, _, cerr) = control.wait_output(Duration::from_secs(10));
    assert_eq!(code, 0, "{cerr}");
    rig.start_control().await;
    // Within a poll retry (1 s) the run is back, with the same testid and k6 pid.
    let after = rig.current_with_pid().await;
    assert_eq!(after["testid"], before["testid"]);
    assert_eq!(after["pid"], before["pid"]);
    let r = reqwest::Client::new()
        .post(rig.api("/api/tests/stop"))
        .bearer_auth(rig.token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["signals"], json!(["SIGINT"]), "{v}");
    assert_eq!(rig.standins.signals(), "SIGINT\n");
    // How the poll lost the API depends on when the restart hit it (connection closed or reset
    // mid-request, or refused before it): any of those is `[CONNECTION LOST]`; the rest is exact.
    promo_snapshot!(rig.outcome(run).filter_regex(
        r"client error \((SendRequest|Connect)\): [^()]*(\(os error \d+\))?",
        "client error ([CONNECTION LOST])",
    ), @"
    success: false
    exit_code: 105
    ----- stdout -----
    stand-in k6 done
    test [TESTID]: stopped by hand (API); grade A (95/100): p95 250 ms, errors 0.00 %
    summary: generated/shop/run/[TESTID]/summary.json
    dashboard: http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=[EPOCH_MS]&to=[EPOCH_MS]

    ----- stderr -----
    promo-infra: warning: InfluxDB does not answer at http://127.0.0.1:[PORT] (error sending request: client error ([CONNECTION LOST])): k6 will run but its points will be lost and the dashboard will stay empty; start the stack first (`promo-infra -f stacks/shop.yaml apply`)
    promo-infra: STOP button ready: test [TESTID] registered with the control API at http://127.0.0.1:[PORT]
    promo-infra: test [TESTID]: [TEMP_OTHER]/k6
    promo-infra: dashboard: http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=[EPOCH_MS]&to=now&refresh=5s
    warning: lost contact with the control API at http://127.0.0.1:[PORT] (error sending request for url (http://127.0.0.1:[PORT]/api/runs/[TESTID]/poll?seen=0&wait_s=10): client error ([CONNECTION LOST])): the STOP button cannot reach this test until it answers again (retrying every second; Ctrl+C here still works)
    warning: in contact with the control API at http://127.0.0.1:[PORT] again
    promo-infra: stop requested by API: asked k6 to stop gracefully (SIGINT; it flushes its metrics)
    ");
}
