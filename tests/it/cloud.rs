//! The cloud target against the Grafana double (as Grafana Cloud, a service-account token) and
//! the InfluxDB 2 double as InfluxDB Cloud Serverless: cold apply, empty re-plan, one change →
//! one update, least-privilege tokens checked by the double's authorization checks, a 429
//! storm, and a destroy that leaves what it did not make.

use std::time::{Duration, Instant};

use promo_doubles::grafana::{GrafanaConfig, GrafanaHandle};
use promo_doubles::influx2::{Influx2Config, Influx2Handle, Influx2Setup, Product};
use serde_json::{Value, json};

use crate::common::{TestContext, register_port};

mod audit;
mod home;
mod runs;
mod shared_org;
mod status;

const SA_TOKEN: &str = "glsa_cloudtest_0123456789abcdef";
const OPERATOR: &str = "cloud-operator-token-0123456789";
const WEBHOOK: &str = "https://hooks.slack.com/services/T000/B000/XXXX";

struct Cloud {
    grafana: GrafanaHandle,
    influx: Influx2Handle,
    p: TestContext,
}

async fn start() -> Cloud {
    start_with(None).await
}

/// [`start`], InfluxDB Cloud's InfluxQL run by the real InfluxDB 1.x at `backend` (the
/// double's InfluxQL backend) when given.
async fn start_with(backend: Option<String>) -> Cloud {
    let (grafana, influx) = doubles_with(Product::CloudServerless, backend).await;
    let p = TestContext::with_repo_stacks();
    let manifest = p.read("stacks/promo-v1.yaml").replace(
        "targets:\n  docker: { network: monitoring-net }\n",
        &format!(
            "targets:\n  docker: {{ network: monitoring-net }}\n  cloud:\n    grafana_url: {}\n    grafana_token_env: GRAFANA_CLOUD_TOKEN\n    influx_url: {}\n    influx_org: promo-analyzer\n    influx_token_env: INFLUX_CLOUD_TOKEN\n",
            grafana.url(),
            influx.url()
        ),
    );
    p.write("stacks/promo-v1.yaml", &manifest);
    Cloud { grafana, influx, p }
}

/// Grafana Cloud (a service-account token) and InfluxDB as `product`, with someone else's
/// bucket and the operator's token; their ports filtered in snapshots.
async fn doubles(product: Product) -> (GrafanaHandle, Influx2Handle) {
    doubles_with(product, None).await
}

/// [`doubles`], with the InfluxDB double's InfluxQL backend when given.
async fn doubles_with(
    product: Product,
    influxql_backend: Option<String>,
) -> (GrafanaHandle, Influx2Handle) {
    let grafana = promo_doubles::grafana::spawn(GrafanaConfig {
        service_account_tokens: vec![SA_TOKEN.into()],
        ..Default::default()
    })
    .await
    .expect("Grafana double");
    let influx = promo_doubles::influx2::spawn_as(
        Influx2Config {
            setup: Some(Influx2Setup {
                username: "owner".into(),
                password: "owner-password-123".into(),
                org: "promo-analyzer".into(),
                bucket: "someone-elses".into(),
                retention_seconds: 0,
                token: Some(OPERATOR.into()),
            }),
            influxql_backend,
            ..Default::default()
        },
        product,
    )
    .await
    .expect("InfluxDB double");
    register_port(grafana.addr().port());
    register_port(port_of(&influx.url()));
    (grafana, influx)
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("port")
}

impl Cloud {
    /// `promo-infra -f stacks/promo-v1.yaml ARGS` with the cloud credentials set.
    fn cmd(&self, args: &[&str]) -> crate::common::Cmd {
        let mut all = vec!["-f", "stacks/promo-v1.yaml"];
        all.extend_from_slice(args);
        self.p.cmd(&all).envs(&[
            ("GRAFANA_CLOUD_TOKEN", SA_TOKEN),
            ("INFLUX_CLOUD_TOKEN", OPERATOR),
            ("SLACK_WEBHOOK_URL", WEBHOOK),
        ])
    }

    fn run(&self, args: &[&str]) -> crate::common::Run {
        self.cmd(args).run()
    }

    /// `apply --target cloud --auto-approve` started in the background, its output to `io()`.
    fn spawn_apply(&self, io: fn() -> std::process::Stdio) -> std::process::Child {
        let mut cmd = self.cmd(&["apply", "--target", "cloud", "--auto-approve"]);
        cmd.command
            .stdout(io())
            .stderr(io())
            .spawn()
            .expect("spawn apply")
    }

    /// A Grafana object someone else made, as the instance's admin.
    async fn foreign(&self, method: reqwest::Method, path: &str, body: Value) {
        let resp = reqwest::Client::new()
            .request(method, format!("{}{path}", self.grafana.url()))
            .basic_auth("admin", Some("admin"))
            .json(&body)
            .send()
            .await
            .expect("Grafana double answers");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
    }

    fn env_value(&self, name: &str) -> String {
        let env = self.p.read("generated/promo-v1/.env");
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} is not in .env"))
            .to_string()
    }
}

/// InfluxDB's answer to `token` writing a point to / reading from the stack's database.
async fn influx_status(url: &str, token: &str, write: bool) -> u16 {
    let c = reqwest::Client::new();
    let req = if write {
        c.post(format!("{url}/write?db=k6&rp=autogen"))
            .body("http_reqs,testid=t value=1 1700000000000000000")
    } else {
        c.get(format!("{url}/query?db=k6&q=SHOW+MEASUREMENTS"))
    };
    req.header("Authorization", format!("Token {token}"))
        .send()
        .await
        .expect("InfluxDB double answers")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cloud_target_applies_replans_empty_updates_one_change_and_destroys_only_its_own() {
    let c = start().await;
    // Someone else's folder, dashboard and datasource on the same Grafana Cloud instance.
    c.foreign(
        reqwest::Method::POST,
        "/api/folders",
        json!({ "uid": "team-x", "title": "Team X" }),
    )
    .await;
    c.foreign(
        reqwest::Method::POST,
        "/api/dashboards/db",
        json!({ "dashboard": { "uid": "team-x-board", "title": "Team X board", "panels": [] }, "folderUid": "team-x" }),
    )
    .await;
    c.foreign(
        reqwest::Method::POST,
        "/api/datasources",
        json!({ "uid": "team-x-prom", "name": "Team X Prometheus", "type": "prometheus", "access": "proxy", "url": "http://prom.invalid" }),
    )
    .await;

    promo_snapshot!(@named "cold_plan", c.run(&["plan", "--target", "cloud"]));
    let orgs = |c: &Cloud| {
        c.influx
            .state()
            .requests()
            .iter()
            .filter(|r| r.path == "/api/v2/orgs")
            .count()
    };
    let before = orgs(&c);
    promo_snapshot!(@named "cold_apply", c.run(&["apply", "--target", "cloud", "--auto-approve"]).sorted_stderr());
    // The organisation is looked up once by the apply's observe, not again by each step.
    assert_eq!(orgs(&c) - before, 1, "one org lookup for the whole apply");
    promo_snapshot!(@named "replan_empty", c.run(&["plan", "--target", "cloud"]));
    // Grafana's history says which command saved each version.
    assert_eq!(
        c.grafana
            .state()
            .versions("promo-marketing")
            .iter()
            .map(|v| v.message.as_str())
            .collect::<Vec<_>>(),
        ["promo-infra apply"]
    );
    // The dashboards verbs reach Grafana Cloud the same way.
    let diff = c.run(&[
        "dashboards",
        "diff",
        "--target",
        "cloud",
        "--detailed-exitcode",
    ]);
    assert_eq!(diff.code, 0, "{}", diff.all());

    // InfluxDB Cloud: the bucket with its retention and DBRP mapping, two scoped tokens.
    let st = c.influx.state();
    assert_eq!(
        st.bucket("k6").map(|b| b.every_seconds),
        Some(4 * 7 * 24 * 3600),
        "retention 4w"
    );
    let dbrps = st.dbrps();
    assert_eq!(dbrps.len(), 1, "{dbrps:?}");
    assert_eq!(
        (
            dbrps[0].database.as_str(),
            dbrps[0].retention_policy.as_str()
        ),
        ("k6", "autogen")
    );
    let k6 = c.env_value("INFLUXDB_CLOUD_K6_TOKEN");
    let grafana_token = c.env_value("INFLUXDB_CLOUD_GRAFANA_TOKEN");
    let url = c.influx.url();
    assert_eq!(influx_status(&url, &k6, true).await, 204, "k6 writes");
    assert_eq!(influx_status(&url, &k6, false).await, 403, "k6 cannot read");
    assert_eq!(
        influx_status(&url, &grafana_token, false).await,
        200,
        "Grafana reads"
    );
    assert_eq!(
        influx_status(&url, &grafana_token, true).await,
        403,
        "Grafana cannot write"
    );
    // The tokens are in .env only: not in any other generated file, not in the output.
    for (path, bytes) in c.p.snapshot_tree() {
        if path.ends_with("/.env") {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&k6) && !text.contains(&grafana_token),
            "{path}"
        );
    }

    // Grafana Cloud: datasource (read-only token as a secure header), folder, dashboards,
    // alerting through the provisioning API; the policy root untouched.
    let g = c.grafana.state();
    let ds = g
        .datasources()
        .into_iter()
        .find(|d| d.uid == "promo-v1-influxdb")
        .expect("datasource");
    assert_eq!(ds.url, url);
    assert_eq!(ds.json_data["version"], "InfluxQL");
    assert_eq!(
        ds.secure_json_data
            .get("httpHeaderValue1")
            .map(String::as_str),
        Some(format!("Token {grafana_token}").as_str())
    );
    assert_eq!(g.alert_rules().len(), 2);
    let (policy, _) = g.policy();
    assert_eq!(policy["receiver"], "grafana-default-email", "{policy}");
    assert_eq!(
        policy["routes"][0]["receiver"], "promo-v1-slack",
        "{policy}"
    );

    // k6 on the cloud target writes to InfluxDB Cloud with its write-only token.
    promo_snapshot!(@named "k6_env", c.run(&["k6", "env", "--target", "cloud", "--testid", "bf_20261127_093000_1a2b3c4d"]));
    let exec = c
        .cmd(&[
            "k6",
            "exec",
            "--target",
            "cloud",
            "--testid",
            "t1",
            "--",
            "sh",
            "-c",
            "test \"$K6_INFLUXDB_PASSWORD\" = \"$EXPECTED\" && echo same-token",
        ])
        .env("EXPECTED", &k6)
        .run();
    assert_eq!(exec.stdout.trim(), "same-token", "{}", exec.all());

    // A token whose value is lost from .env is minted again, put into the datasource in the
    // same step, and the old authorization deleted: the re-plan is empty.
    let env = c.p.read("generated/promo-v1/.env");
    let without: String = env
        .lines()
        .filter(|l| !l.starts_with("INFLUXDB_CLOUD_GRAFANA_TOKEN="))
        .map(|l| format!("{l}\n"))
        .collect();
    c.p.write("generated/promo-v1/.env", &without);
    std::fs::set_permissions(
        c.p.path().join("generated/promo-v1/.env"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    promo_snapshot!(@named "lost_token_plan", c.run(&["plan", "--target", "cloud"]));
    let applied = c.run(&["apply", "--target", "cloud", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    promo_snapshot!(@named "lost_token_replan", c.run(&["plan", "--target", "cloud"]));
    let new_token = c.env_value("INFLUXDB_CLOUD_GRAFANA_TOKEN");
    assert_ne!(new_token, grafana_token);
    assert_eq!(
        influx_status(&url, &grafana_token, false).await,
        401,
        "the old token is gone"
    );
    assert_eq!(influx_status(&url, &new_token, false).await, 200);
    let ds = c
        .grafana
        .state()
        .datasources()
        .into_iter()
        .find(|d| d.uid == "promo-v1-influxdb")
        .expect("datasource");
    assert_eq!(
        ds.secure_json_data
            .get("httpHeaderValue1")
            .map(String::as_str),
        Some(format!("Token {new_token}").as_str())
    );

    // One change → one update in place: the retention, a PATCH that carries its rules (Cloud
    // refuses one without).
    let manifest = c.p.read("stacks/promo-v1.yaml");
    c.p.write(
        "stacks/promo-v1.yaml",
        &manifest.replace("retention: 4w", "retention: 2w"),
    );
    promo_snapshot!(@named "one_change_plan", c.run(&["plan", "--target", "cloud"]));
    let applied = c.run(&["apply", "--target", "cloud", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    promo_snapshot!(@named "replan_after_change", c.run(&["plan", "--target", "cloud"]));
    assert_eq!(
        c.influx.state().bucket("k6").map(|b| b.every_seconds),
        Some(2 * 7 * 24 * 3600)
    );

    promo_snapshot!(@named "status", c.run(&["status", "--target", "cloud"]));

    // Without a terminal: refused, pointing at the preview above (not at `plan`, which shows
    // what apply would do). Fails on the old code's "review `promo-infra plan`".
    promo_snapshot!(@named "destroy_without_a_terminal", c.run(&["destroy", "--target", "cloud"]));
    promo_snapshot!(@named "destroy", c.run(&["destroy", "--target", "cloud", "--auto-approve"]).sorted_stderr());
    let g = c.grafana.state();
    let left = (
        g.datasources()
            .into_iter()
            .map(|d| d.uid)
            .collect::<Vec<_>>(),
        g.dashboards()
            .into_iter()
            .map(|d| d.uid)
            .collect::<Vec<_>>(),
        g.folders().into_iter().map(|f| f.uid).collect::<Vec<_>>(),
    );
    assert_eq!(
        left,
        (
            vec!["team-x-prom".to_string()],
            vec!["team-x-board".to_string()],
            vec!["team-x".to_string()]
        ),
        "exactly the foreign datasource, dashboard and folder are left"
    );
    assert!(g.alert_rules().is_empty());
    let (policy, _) = g.policy();
    assert_eq!(
        policy["routes"].as_array().map_or(0, Vec::len),
        0,
        "{policy}"
    );
    let st = c.influx.state();
    let descriptions: Vec<String> = st
        .authorizations()
        .into_iter()
        .map(|a| a.description)
        .collect();
    assert!(
        descriptions.iter().all(|d| !d.starts_with("promo-infra")),
        "{descriptions:?}"
    );
    assert!(!descriptions.is_empty(), "the operator's token stays");
    // Without --volumes the bucket (the data) stays; someone else's bucket always does.
    let buckets: Vec<String> = st.buckets().into_iter().map(|b| b.name).collect();
    assert!(buckets.contains(&"k6".to_string()), "{buckets:?}");
    assert!(
        buckets.contains(&"someone-elses".to_string()),
        "{buckets:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_from_grafana_cloud_is_survived_with_retry_after_honoured() {
    let c = start().await;
    c.grafana.state().inject_fault(promo_doubles::FaultSpec {
        status: 429,
        count: 3,
        path_prefix: Some("/api/".into()),
        retry_after: Some(2),
    });
    let started = Instant::now();
    let run = c.run(&["apply", "--target", "cloud", "--auto-approve"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let limited = c
        .grafana
        .state()
        .requests()
        .into_iter()
        .filter(|r| r.status == 429)
        .count();
    assert_eq!(limited, 3, "the storm was answered");
    // Each retry waited the 2 s Grafana asked for (the client's own backoff starts at 0.2 s).
    assert!(started.elapsed() >= Duration::from_secs(2));
    promo_snapshot!(@named "after_storm_replan", c.run(&["plan", "--target", "cloud"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_policy_token_is_refused_with_what_to_use_instead() {
    let c = start().await;
    let mut all = vec!["-f", "stacks/promo-v1.yaml"];
    all.extend_from_slice(&["plan", "--target", "cloud"]);
    promo_snapshot!(c.p.run_env(
        &all,
        &[
            ("GRAFANA_CLOUD_TOKEN", "glc_eyJvIjoiMTIzIn0="),
            ("INFLUX_CLOUD_TOKEN", OPERATOR),
            ("SLACK_WEBHOOK_URL", WEBHOOK),
        ],
    ));
    assert!(
        c.grafana.state().requests().is_empty(),
        "refused before any request"
    );
}

/// The resources a plan would create, one line each (`+ service.grafana`), and its summary.
fn created(run: &crate::common::Run) -> String {
    assert_eq!(run.code, 0, "{}", run.all());
    run.stdout
        .lines()
        .filter(|l| l.starts_with("  + ") || l.starts_with("Plan:"))
        .map(|l| format!("{}\n", l.trim()))
        .collect()
}

/// One manifest, three targets: the repository's default `stacks/promo.yaml` (InfluxDB 2, Flux)
/// planned on docker, native and cloud — only its `targets.cloud` URLs point at the doubles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_manifest_is_planned_on_docker_native_and_cloud() {
    if !crate::common::docker_available() {
        return;
    }
    let (grafana, influx) = doubles(Product::Oss).await;
    let p = TestContext::with_repo_stacks();
    // A stack name of its own, so no other stack on the shared engine takes part.
    let name = format!("promo-three-{}", std::process::id());
    let manifest = p
        .read("stacks/promo.yaml")
        .replace("stack: promo ", &format!("stack: {name} "))
        .replace("https://example.grafana.net", &grafana.url())
        .replace("https://example.cloud2.influxdata.com", &influx.url());
    p.write("stacks/promo.yaml", &manifest);
    let env = [
        ("GRAFANA_CLOUD_TOKEN", SA_TOKEN),
        ("INFLUX_CLOUD_TOKEN", OPERATOR),
        ("SLACK_WEBHOOK_URL", WEBHOOK),
    ];
    let mut out = String::new();
    for target in ["docker", "native", "cloud"] {
        let run = p
            .cmd(&["plan", "--target", target])
            .envs(&env)
            .env("DOCKER_HOST", crate::common::docker_host())
            .run();
        out.push_str(&format!("# {target}\n{}\n", created(&run)));
    }
    assert!(manifest.contains(&format!("stack: {name} ")), "{manifest}");
    insta::assert_snapshot!(out.replace(&name, "promo"));
}

/// `k6 run --target cloud`: the stand-in k6 writes through InfluxDB Cloud's v1 `/write` with
/// k6's write-only token as the password, the run is annotated on Grafana Cloud with the
/// service-account token, and the printed dashboard link is Grafana Cloud's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k6_run_on_the_cloud_target_writes_to_influxdb_cloud_and_annotates_grafana_cloud() {
    let c = start().await;
    let applied = c.run(&["apply", "--target", "cloud", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    let standins = crate::standin::Standins::new();
    c.p.write("tests/checkout.js", "export default function () {}\n");
    let run =
        c.p.cmd(&[
            "-f",
            "stacks/promo-v1.yaml",
            "k6",
            "run",
            "tests/checkout.js",
            "--target",
            "cloud",
            "--k6",
            &standins.bin.path().join("k6").display().to_string(),
            "--promo",
            "bf",
        ])
        .env("PATH", standins.path_env())
        .env("STANDIN_DIR", standins.records.path())
        .env("GRAFANA_CLOUD_TOKEN", SA_TOKEN)
        .env("INFLUX_CLOUD_TOKEN", OPERATOR)
        .env("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/unused")
        .run();
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(standins.writes().trim(), "ok 3\nok 2", "{}", run.all());
    assert_eq!(c.influx.state().point_counts("k6")["http_reqs"], 5);
    let link = format!("{}/d/promo-marketing?orgId=1&var-testid=", c.grafana.url());
    assert!(
        run.stdout.contains(&link) || run.stderr.contains(&link),
        "{}",
        run.all()
    );
    let annotations = c.grafana.state().annotations();
    assert_eq!(annotations.len(), 2, "start and end: {annotations:?}");
    let bearer = c
        .grafana
        .state()
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/annotations")
        .all(|r| r.auth == "bearer");
    assert!(bearer, "annotations with the service-account token");
}

/// The stack's authorizations in InfluxDB Cloud (minted by apply, named by its descriptions).
fn stack_tokens(c: &Cloud) -> Vec<String> {
    let mut out: Vec<String> = c
        .influx
        .state()
        .authorizations()
        .into_iter()
        .filter(|a| a.description.starts_with("promo-infra promo-v1:"))
        .map(|a| a.description)
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_apply_killed_with_sigkill_is_re_run_and_converges_without_leaking_a_token() {
    let c = start().await;
    // Every Grafana request waits, so the apply is still at work on Grafana when killed.
    c.grafana
        .state()
        .pace()
        .set_latency(Duration::from_millis(150));
    let mut child = c.spawn_apply(std::process::Stdio::null);
    let start = Instant::now();
    // Killed once a token is minted (the double's state, not output).
    while stack_tokens(&c).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no token was minted"
        );
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("apply ended before it could be killed: {status}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().expect("SIGKILL by pid");
    let _ = child.wait();
    c.grafana.state().pace().set_latency(Duration::ZERO);

    let again = c.run(&["apply", "--target", "cloud", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.all());
    let plan = c.run(&["plan", "--target", "cloud", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    // Exactly one token each: one minted but not kept in `.env` was deleted when minted again.
    assert_eq!(
        stack_tokens(&c),
        [
            "promo-infra promo-v1: Grafana reads metrics",
            "promo-infra promo-v1: k6 writes metrics",
        ]
    );
    let url = c.influx.url();
    let k6 = c.env_value("INFLUXDB_CLOUD_K6_TOKEN");
    let grafana = c.env_value("INFLUXDB_CLOUD_GRAFANA_TOKEN");
    assert_eq!(
        influx_status(&url, &k6, true).await,
        204,
        "k6's token writes"
    );
    assert_eq!(
        influx_status(&url, &grafana, false).await,
        200,
        "Grafana's token reads"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_cloud_applies_do_not_both_run() {
    let c = start().await;
    c.grafana
        .state()
        .pace()
        .set_latency(Duration::from_millis(100));
    let first = c.spawn_apply(std::process::Stdio::piped);
    crate::common::wait_for_lock(&c.p.path().join("generated/promo-v1"));
    let second = c
        .run(&["apply", "--target", "cloud", "--auto-approve"])
        .filter(&format!("pid {}", first.id()), "pid [FIRST_APPLY]");
    promo_snapshot!(second, @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stack `promo-v1` is locked by `apply` (pid [FIRST_APPLY] on [HOST], since [TIMESTAMP])
      help: wait for it to finish; the lock is released automatically when that process exits, even if killed
    ");
    let out = first.wait_with_output().expect("first apply");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    c.grafana.state().pace().set_latency(Duration::ZERO);
    let plan = c.run(&["plan", "--target", "cloud", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
}
