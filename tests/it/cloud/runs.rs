//! `runs` (and the end of `k6 run`) on a stack applied to the cloud target: the numbers are
//! read back from InfluxDB Cloud with InfluxQL over the v1 `/query` endpoint, `db=<bucket>`
//! through the DBRP mapping apply creates, with the read-only token apply minted for Grafana.
//!
//! The InfluxDB double plays InfluxDB Cloud Serverless at the edge (tokens, their permission on
//! the bucket, the DBRP mapping) and hands the InfluxQL and the written points to a REAL
//! `influxd` 1.6 (its InfluxQL backend): the numbers are computed by InfluxDB's own engine, from
//! the fixture runs of known distributions (`k6_fixture`) that the stand-in k6 writes through
//! the double's v1 `/write` with k6's write-only token.

use super::{Cloud, start_with};
use crate::influxd::RealInfluxd;
use crate::k6_fixture::{self as fx, Run};
use crate::standin::Standins;

/// 2024-11-28T09:00:00Z and 2024-11-29T09:00:00Z: the fixture runs' starts.
const BASELINE_START: i64 = 1_732_784_400;
const PROMO_START: i64 = 1_732_870_800;

/// The stack applied to the cloud target (its reports in `reports/`), InfluxQL run by `server`.
async fn applied(server: &RealInfluxd) -> Cloud {
    let c = start_with(Some(server.url())).await;
    let manifest = c.p.read("stacks/promo-v1.yaml");
    c.p.write(
        "stacks/promo-v1.yaml",
        &manifest.replace(
            "  output: bin/k6\n",
            "  output: bin/k6\n  report_dir: reports\n",
        ),
    );
    let applied = c.run(&["apply", "--target", "cloud", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    c
}

/// `k6 run --target cloud` of the stand-in k6 writing the fixture `run` (as of `at`, the clock
/// of the run's record and test id) with `args`; the new run's test id.
fn k6_run(
    c: &Cloud,
    standins: &Standins,
    run: Run,
    at: &str,
    args: &[&str],
) -> (String, crate::common::Run) {
    let points = standins.records.path().join("points.lp");
    let lines = Run {
        testid: "__TESTID__",
        ..run
    }
    .line_protocol();
    std::fs::write(&points, lines.join("\n")).expect("points");
    c.p.write("tests/checkout.js", "export default function () {}\n");
    let k6 = standins.bin.path().join("k6").display().to_string();
    let mut all = vec![
        "k6",
        "run",
        "tests/checkout.js",
        "--target",
        "cloud",
        "--k6",
        &k6,
    ];
    all.extend_from_slice(args);
    let before = run_ids(c);
    let run = c
        .cmd(&all)
        .env("PATH", standins.path_env())
        .env("STANDIN_DIR", standins.records.path())
        .env("STANDIN_POINTS", &points)
        .env("PROMO_INFRA_NOW", at)
        .env("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/unused")
        .run();
    let new: Vec<String> = run_ids(c)
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    (new.first().cloned().unwrap_or_default(), run)
}

/// The test ids recorded in the stack's run directory.
fn run_ids(c: &Cloud) -> Vec<String> {
    std::fs::read_dir(c.p.path().join("generated/promo-v1/run"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_read_the_numbers_back_from_influxdb_cloud_with_the_read_only_token() {
    let server = RealInfluxd::start(false);
    let c = applied(&server).await;
    let standins = Standins::new();
    let (baseline, run) = k6_run(
        &c,
        &standins,
        fx::baseline(BASELINE_START),
        "2024-11-28T09:00:00Z",
        &["--promo", "baseline", "--promo-type", "baseline"],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    let (promo, run) = k6_run(
        &c,
        &standins,
        fx::promo(PROMO_START),
        "2024-11-29T09:00:00Z",
        &[
            "--promo",
            "bf2024",
            "--promo-type",
            "black-friday",
            "--intensity",
            "high",
            "--baseline",
            &baseline,
        ],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(standins.writes(), "ok file\nok file\n", "{}", run.all());
    // The end of `k6 run`: its report page read its numbers from InfluxDB Cloud too (it read
    // the local InfluxDB, found none, and warned "no report for this run").
    assert!(!run.all().contains("no report"), "{}", run.all());
    let page = c.p.read(&format!("reports/{promo}/report.html"));
    assert!(
        page.contains("1800 ms") && page.contains("6.00 %"),
        "{page}"
    );
    // The points went through InfluxDB Cloud's edge (the double) with k6's token, into the
    // real InfluxDB behind it.
    let counts = c.influx.state().point_counts("k6");
    assert_eq!(counts["http_reqs"], 2400 + 3600, "{counts:?}");

    // The test ids' random part (the date part is PROMO_INFRA_NOW's), columns kept aligned.
    let hex = |id: &str| id[id.len() - 8..].to_string();
    let (promo_hex, baseline_hex) = (hex(&promo), hex(&baseline));
    let ids = |r: crate::common::Run| {
        r.filter(&promo_hex, "xxxxxxxx")
            .filter(&baseline_hex, "yyyyyyyy")
    };
    // No --target: the one the stack was applied to (cloud).
    promo_snapshot!(ids(c.run(&["runs", "list"])), @"
    success: true
    exit_code: 0
    ----- stdout -----
    TESTID                             START (UTC)          DURATION  PROMO     TYPE          ENV      INTENSITY  OUTCOME    GRADE       BASELINE
    baseline_20241128_090000_yyyyyyyy  2024-11-28 09:00:00  0 s       baseline  baseline      preprod  -          completed  A (94/100)  -
    bf2024_20241129_090000_xxxxxxxx    2024-11-29 09:00:00  0 s       bf2024    black-friday  preprod  high       completed  A (94/100)  baseline_20241128_090000_yyyyyyyy

    ----- stderr -----
    ");
    promo_snapshot!(ids(c.run(&["runs", "show", &promo])), @"
    success: true
    exit_code: 0
    ----- stdout -----
    test bf2024_20241129_090000_xxxxxxxx: bf2024 (black-friday), environment preprod, intensity high; completed
    data from 2024-11-29 09:00:00 to 2024-11-29 09:01:00 UTC (60 s)
    MEASURE        VALUE
    response time  p50 400 ms · p95 1800 ms · p99 6000 ms
    errors         6.00 % (4xx 1.50 %, 5xx 4.00 %)
    peak VUs       80
    requests       3600 (60.00/s)
    checks passed  90.65 %
    grade          F (20/100) against p95 800/1500 ms and errors 0.5/2 %
    capacity       breaks at 38 VUs: p95 1800 ms > 1500 ms and errors 6.00 % > 2 % from 2024-11-29 09:00:00 UTC (2 buckets of 10 s in a row)

    ----- stderr -----
    ");
    promo_snapshot!(ids(c.run(&["runs", "show", &baseline, "--target", "cloud"])), @"
    success: true
    exit_code: 0
    ----- stdout -----
    test baseline_20241128_090000_yyyyyyyy: baseline (baseline), environment preprod; completed
    data from 2024-11-28 09:00:00 to 2024-11-28 09:01:00 UTC (60 s)
    MEASURE        VALUE
    response time  p50 100 ms · p95 300 ms · p99 2000 ms
    errors         0.25 % (4xx 0.25 %, 5xx 0.00 %)
    peak VUs       20
    requests       2400 (40.00/s)
    checks passed  99.78 %
    grade          A (90/100) against p95 800/1500 ms and errors 0.5/2 %
    capacity       not reached: held 20 VUs (never 2 buckets of 10 s in a row above p95 1500 ms or errors 2 %)

    ----- stderr -----
    ");
    promo_snapshot!(ids(c.run(&["runs", "compare", &promo])), @"
    success: true
    exit_code: 0
    ----- stdout -----
              TESTID                             P95      ERRORS  GRADE
    run       bf2024_20241129_090000_xxxxxxxx    1800 ms  6.00 %  F – Critical (20/100)
    baseline  baseline_20241128_090000_yyyyyyyy  300 ms   0.25 %  A – Excellent (90/100)
    extra response time (p95): +1500 ms (+500.0 %)
    extra errors: +5.75 points
    verdict: The site does not hold the promotion (grade F – Critical, 20/100; baseline A – Excellent, 90/100)

    ----- stderr -----
    ");

    // `k6 run --baseline` asks InfluxDB Cloud whether an unrecorded baseline exists (it warned
    // "InfluxDB Cloud is not asked" and ran).
    let (_, refused) = k6_run(
        &c,
        &standins,
        fx::promo(PROMO_START),
        "2024-11-30T09:00:00Z",
        &[
            "--promo",
            "bf2024",
            "--baseline",
            "nosuch_20241128_090000_00000000",
        ],
    );
    promo_snapshot!(ids(refused), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x --baseline nosuch_20241128_090000_00000000: no such run: no record of it in generated/promo-v1/run and no point of it in InfluxDB at http://127.0.0.1:[PORT]; k6 was not started
      help: give the test id of a run of this stack: the newest are bf2024_20241129_090000_xxxxxxxx, baseline_20241128_090000_yyyyyyyy (`promo-infra -f stacks/promo-v1.yaml runs list --target cloud` shows them all)
    ");

    // The tokens are never shown.
    let k6 = c.env_value("INFLUXDB_CLOUD_K6_TOKEN");
    let grafana = c.env_value("INFLUXDB_CLOUD_GRAFANA_TOKEN");
    for r in [
        c.run(&["runs", "show", &promo, "-v"]),
        c.run(&["runs", "compare", &promo, "--json"]),
    ] {
        assert!(
            !r.all().contains(&k6) && !r.all().contains(&grafana),
            "{}",
            r.all()
        );
    }
}

/// A read with k6's write-only token is refused by InfluxDB Cloud's edge (the double's
/// permission check, before any InfluxQL runs); a read token missing from `.env` and an
/// InfluxDB Cloud that does not answer are errors that say what to do on the cloud — never
/// "start the stack with apply", which cannot start InfluxDB Cloud.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_missing_or_unanswered_read_of_influxdb_cloud_says_what_to_do() {
    let server = RealInfluxd::start(false);
    let c = applied(&server).await;
    let testid = "bf_20241129_090000_0000bbbb";
    let (k6, grafana) = (
        c.env_value("INFLUXDB_CLOUD_K6_TOKEN"),
        c.env_value("INFLUXDB_CLOUD_GRAFANA_TOKEN"),
    );
    // The edge itself: the same SELECT, with each token.
    let select = |token: String| {
        let url = format!("{}/query", c.influx.url());
        async move {
            reqwest::Client::new()
                .post(url)
                .header("Authorization", format!("Token {token}"))
                .form(&[("db", "k6"), ("q", "SELECT count(\"value\") FROM \"vus\"")])
                .send()
                .await
                .expect("InfluxDB double answers")
                .status()
                .as_u16()
        }
    };
    assert_eq!(select(grafana.clone()).await, 200, "Grafana's token reads");
    assert_eq!(select(k6.clone()).await, 403, "k6's token cannot read");

    let env = c.p.read("generated/promo-v1/.env");
    let write_env = |text: String| {
        c.p.write("generated/promo-v1/.env", &text);
        std::fs::set_permissions(
            c.p.path().join("generated/promo-v1/.env"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("chmod");
    };
    write_env(env.replace(
        &format!("INFLUXDB_CLOUD_GRAFANA_TOKEN={grafana}"),
        &format!("INFLUXDB_CLOUD_GRAFANA_TOKEN={k6}"),
    ));
    let refused = c.run(&["runs", "show", testid]);
    assert!(!refused.all().contains(&k6), "{}", refused.all());
    promo_snapshot!(@named "k6_token_refused", refused);

    write_env(
        env.lines()
            .filter(|l| !l.starts_with("INFLUXDB_CLOUD_GRAFANA_TOKEN="))
            .map(|l| format!("{l}\n"))
            .collect(),
    );
    promo_snapshot!(@named "read_token_missing", c.run(&["runs", "show", testid]));

    write_env(env);
    let Cloud {
        grafana: _g,
        influx,
        p,
    } = c;
    influx.shutdown().await;
    promo_snapshot!(@named "unanswered", p.cmd(&["-f", "stacks/promo-v1.yaml", "runs", "show", testid]));
}
