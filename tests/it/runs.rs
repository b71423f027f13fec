//! `runs list/show/compare/export` on a REAL `influxd` 1.6 loaded with k6-shaped runs of known
//! distributions (`k6_fixture`: a baseline and a promo run, one minute each), with the records
//! `k6 run` keeps; and the dashboards' own rendered queries giving the same numbers as
//! `runs show` (one formula, two users).
//!
//! Known numbers (`k6_fixture`): baseline p50/p95/p99 = 100/300/2000 ms, 0.25 % errors (all
//! 4xx), 20 VUs, 40 req/s, 2400 requests; promo 400/1800/6000 ms, 6 % errors (4xx 1.5 %, 5xx
//! 4 %, 0.5 % network errors), 80 VUs, 60 req/s, 3600 requests.

use std::collections::BTreeMap;
use std::path::PathBuf;

use promo_infra::influx::formulas::Stat;
use promo_infra::influx::{Endpoint, v1};
use promo_infra::k6::grade::{Bands, Measured, grade};
use promo_infra::k6::run::Ending;
use promo_infra::runs::record::{self, FORMAT_VERSION, RunFile};
use serde_json::Value;

use crate::common::TestContext;
use crate::influxd::RealInfluxd;
use crate::k6_fixture::{self as fx, Run};

pub(crate) const BASELINE: &str = "baseline_20241128_090000_0000aaaa";
pub(crate) const PROMO: &str = "bf2024_20241129_090000_0000bbbb";
/// 2024-11-28T09:00:00Z and 2024-11-29T09:00:00Z.
const BASELINE_START: i64 = 1_732_784_400;
const PROMO_START: i64 = 1_732_870_800;

fn manifest(port: u16) -> String {
    format!(
        "stack: shop\nenvironment: preprod\nlocale: en\ninfluxdb:\n  version: 1\n  image: influxdb:1.8\n  port: {port}\n  bucket: k6\n\
         grafana:\n  image: grafana/grafana:10.2.3\n  port: 3999\ncontrol_api:\n  enabled: false\n\
         dashboards:\n  - uid: shop-marketing\n    template: marketing\n    thresholds: {{ p95_ok_ms: 1000, p95_warn_ms: 2000, error_ok_pct: 0.1, error_warn_pct: 1 }}\n\
         \x20 - uid: shop-technical\n    template: k6-technical\n"
    )
}

fn runs() -> [Run; 2] {
    [
        Run {
            testid: BASELINE,
            ..fx::baseline(BASELINE_START)
        },
        Run {
            testid: PROMO,
            ..fx::promo(PROMO_START)
        },
    ]
}

/// What `k6 run` would have recorded (the grade from k6's summary: the fixture's numbers).
fn record_of(run: &Run, baseline: Option<&str>, ending: Ending, by: Option<&str>) -> RunFile {
    let reqs = run.requests();
    let bands = Bands {
        p95_ok_ms: 1000.0,
        p95_warn_ms: 2000.0,
        error_ok_pct: 0.1,
        error_warn_pct: 1.0,
    };
    let measured = Measured {
        p95_ms: fx::percentile(&fx::durations(&reqs), 95.0),
        error_pct: fx::pct(&reqs, |r| r.failed()),
        requests: Some(reqs.len() as u64),
    };
    let at = |s: i64| jiff::Timestamp::from_second(s).unwrap().to_string();
    RunFile {
        format_version: FORMAT_VERSION.into(),
        testid: run.testid.into(),
        stack: "shop".into(),
        promo: run.promo_name.into(),
        promo_type: run.promo_type.into(),
        environment: run.environment.into(),
        intensity: baseline.map(|_| "high".to_string()),
        baseline: baseline.map(str::to_string),
        started_at: at(run.start_s),
        ended_at: Some(at(run.end_s())),
        ending: Some(ending),
        stopped_by: by.map(str::to_string),
        exit_code: Some(if ending == Ending::Stopped { 105 } else { 0 }),
        grade: Some(grade(measured, &bands)),
        summary: PathBuf::from(format!("generated/shop/run/{}/summary.json", run.testid)),
        dashboard_url: String::new(),
    }
}

/// A project whose stack reads `server`, with both runs written into it and recorded.
pub(crate) async fn loaded(server: &RealInfluxd) -> TestContext {
    let p = TestContext::new();
    p.write("stacks/promo.yaml", &manifest(server.http_port()));
    let generated = p.run(&["generate"]);
    assert_eq!(generated.code, 0, "{}", generated.all());
    let http = reqwest::Client::new();
    let q = http
        .post(format!("{}/query", server.url()))
        .form(&[("q", "CREATE DATABASE k6")])
        .send()
        .await
        .expect("create database");
    assert!(q.status().is_success());
    let [baseline, promo] = runs();
    for run in [&baseline, &promo] {
        let resp = http
            .post(format!("{}/write?db=k6&precision=ns", server.url()))
            .body(run.line_protocol().join("\n"))
            .send()
            .await
            .expect("write");
        assert_eq!(
            resp.status().as_u16(),
            204,
            "{}",
            resp.text().await.unwrap()
        );
    }
    let run_dir = p.path().join("generated/shop/run");
    for rec in [
        record_of(&baseline, None, Ending::Completed, None),
        record_of(
            &promo,
            Some(BASELINE),
            Ending::Stopped,
            Some("STOP page, marketing"),
        ),
    ] {
        let dir = run_dir.join(&rec.testid);
        std::fs::create_dir_all(&dir).unwrap();
        record::write(&dir, &rec).unwrap();
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_show_compare_print_the_known_numbers_of_a_real_influxd_1_6() {
    let server = RealInfluxd::start(false);
    let p = loaded(&server).await;
    promo_snapshot!(p.cmd(&["runs", "list"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    TESTID                             START (UTC)          DURATION  PROMO   TYPE          ENV      INTENSITY  OUTCOME                                 GRADE       BASELINE
    baseline_20241128_090000_0000aaaa  2024-11-28 09:00:00  60 s      none    baseline      preprod  -          completed                               B (77/100)  -
    bf2024_20241129_090000_0000bbbb    2024-11-29 09:00:00  60 s      bf2024  black-friday  preprod  high       stopped by hand (STOP page, marketing)  F (0/100)   baseline_20241128_090000_0000aaaa

    ----- stderr -----
    ");
    promo_snapshot!(p.cmd(&["runs", "show", PROMO]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    test bf2024_20241129_090000_0000bbbb: bf2024 (black-friday), environment preprod, intensity high; stopped by hand (STOP page, marketing)
    data from 2024-11-29 09:00:00 to 2024-11-29 09:01:00 UTC (60 s)
    MEASURE        VALUE
    response time  p50 400 ms · p95 1800 ms · p99 6000 ms
    errors         6.00 % (4xx 1.50 %, 5xx 4.00 %)
    peak VUs       80
    requests       3600 (60.00/s)
    checks passed  90.65 %
    grade          F (0/100) against p95 1000/2000 ms and errors 0.1/1 %
    capacity       breaks at 38 VUs: errors 6.00 % > 1 % from 2024-11-29 09:00:00 UTC (2 buckets of 10 s in a row)

    ----- stderr -----
    ");
    promo_snapshot!(p.cmd(&["runs", "show", BASELINE]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    test baseline_20241128_090000_0000aaaa: none (baseline), environment preprod; completed
    data from 2024-11-28 09:00:00 to 2024-11-28 09:01:00 UTC (60 s)
    MEASURE        VALUE
    response time  p50 100 ms · p95 300 ms · p99 2000 ms
    errors         0.25 % (4xx 0.25 %, 5xx 0.00 %)
    peak VUs       20
    requests       2400 (40.00/s)
    checks passed  99.78 %
    grade          B (77/100) against p95 1000/2000 ms and errors 0.1/1 %
    capacity       not reached: held 20 VUs (never 2 buckets of 10 s in a row above p95 2000 ms or errors 1 %)

    ----- stderr -----
    ");
    // The baseline from the promo's record (`k6 run --baseline`).
    promo_snapshot!(p.cmd(&["runs", "compare", PROMO]), @"
    success: true
    exit_code: 0
    ----- stdout -----
              TESTID                             P95      ERRORS  GRADE
    run       bf2024_20241129_090000_0000bbbb    1800 ms  6.00 %  F – Critical (0/100)
    baseline  baseline_20241128_090000_0000aaaa  300 ms   0.25 %  B – Good (77/100)
    extra response time (p95): +1500 ms (+500.0 %)
    extra errors: +5.75 points
    verdict: The site does not hold the promotion (grade F – Critical, 0/100; baseline B – Good, 77/100)

    ----- stderr -----
    ");
    // JSON: the same numbers, unrounded.
    let json = p.run(&["runs", "compare", PROMO, "--baseline", BASELINE, "--json"]);
    assert_eq!(json.code, 0, "{}", json.all());
    let v: Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(v["format_version"], "1.0");
    assert_eq!(v["extra_p95_ms"], 1500.0);
    assert_eq!(v["extra_p95_pct"], 500.0);
    assert_eq!(v["run"]["stats"]["p99"], 6000.0);
    assert_eq!(v["baseline"]["record"]["testid"], BASELINE);
    let list = p.run(&["runs", "list", "--json"]);
    let v: Value = serde_json::from_str(&list.stdout).expect("JSON");
    let ids: Vec<&str> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["testid"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [BASELINE, PROMO], "sorted by start");
    assert_eq!(v["runs"][1]["started_at"], "2024-11-29T09:00:00Z");
    assert_eq!(v["runs"][1]["baseline"], BASELINE);
}

/// The CSV as rows of named cells.
fn parse_csv(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|rec| {
            header
                .iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

fn num(row: &BTreeMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col}: `{}` is not a number", row[col]))
}

fn close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0),
        "{what}: {actual} != {expected}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_csv_per_run_and_per_bucket_parses_and_matches_the_fixture() {
    let server = RealInfluxd::start(false);
    let p = loaded(&server).await;
    let [baseline, promo] = runs();
    let out = p.run(&["runs", "export", "--csv"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let rows = parse_csv(&out.stdout);
    assert_eq!(rows.len(), 2);
    for (row, run) in rows.iter().zip([&baseline, &promo]) {
        let reqs = run.requests();
        let d = fx::durations(&reqs);
        assert_eq!(row["testid"], run.testid);
        close(num(row, "p50_ms"), fx::percentile(&d, 50.0), "p50");
        close(num(row, "p95_ms"), fx::percentile(&d, 95.0), "p95");
        close(num(row, "p99_ms"), fx::percentile(&d, 99.0), "p99");
        close(
            num(row, "errors_pct"),
            fx::pct(&reqs, |r| r.failed()),
            "errors",
        );
        let class = |c| fx::pct(&reqs, move |r: &fx::Request| r.status / 100 == c);
        close(num(row, "errors_4xx_pct"), class(4), "4xx");
        close(num(row, "errors_5xx_pct"), class(5), "5xx");
        close(num(row, "peak_vus"), f64::from(run.vus_peak), "vus");
        close(num(row, "rps"), run.rps as f64, "rps");
        close(num(row, "requests"), reqs.len() as f64, "requests");
    }
    assert_eq!(rows[1]["outcome"], "stopped");
    assert_eq!(rows[1]["stopped_by"], "STOP page, marketing");
    assert_eq!(rows[1]["grade"], "F");
    // A record made unreadable (edited by hand) is left out and said on stderr (stdout is the
    // CSV), as `runs list` does: the other runs are still exported (it failed the whole export).
    p.write(
        "generated/shop/run/broken_20241129_090000_00000000/outcome.json",
        "{",
    );
    let with_broken = p.run(&["runs", "export", "--csv"]);
    assert_eq!(with_broken.code, 0, "{}", with_broken.all());
    assert_eq!(with_broken.stdout, out.stdout, "the same rows");
    assert_eq!(
        with_broken.stderr,
        "warning: the run record `./generated/shop/run/broken_20241129_090000_00000000/outcome.json` \
         is unreadable: EOF while parsing an object at line 1 column 1 (left out of the export; it is \
         written by `promo-infra k6 run`; move it away if it was edited by hand)\n"
    );

    // Per 10 s bucket: 6 buckets, each with the run's whole distribution (the fixture repeats a
    // 10 s cycle); VUs follow the ramp.
    let out = p.run(&["runs", "export", PROMO, "--csv", "--bucket", "10s"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let rows = parse_csv(&out.stdout);
    let times: Vec<&str> = rows.iter().map(|r| r["time"].as_str()).collect();
    assert_eq!(
        times,
        [
            "2024-11-29T09:00:00Z",
            "2024-11-29T09:00:10Z",
            "2024-11-29T09:00:20Z",
            "2024-11-29T09:00:30Z",
            "2024-11-29T09:00:40Z",
            "2024-11-29T09:00:50Z"
        ]
    );
    for (i, row) in rows.iter().enumerate() {
        close(num(row, "p95_ms"), 1800.0, "bucket p95");
        close(num(row, "errors_5xx_pct"), 4.0, "bucket 5xx");
        close(num(row, "rps"), 60.0, "bucket rps");
        close(num(row, "requests"), 600.0, "bucket requests");
        let peak = (i as i64 * 10..i as i64 * 10 + 10)
            .map(|s| promo.vus_at(s))
            .max()
            .unwrap();
        close(num(row, "peak_vus"), f64::from(peak), "bucket vus");
    }
    let snap = p.cmd(&["runs", "export", PROMO, "--csv", "--bucket", "30s"]);
    promo_snapshot!(snap, @"
    success: true
    exit_code: 0
    ----- stdout -----
    time,p50_ms,p95_ms,p99_ms,errors_pct,errors_4xx_pct,errors_5xx_pct,peak_vus,rps,checks_pass_pct,requests
    [TIMESTAMP],400,1800,6000,6,1.5,4,80,60,90.652819,1800
    [TIMESTAMP],400,1800,6000,6,1.5,4,80,60,90.652819,1800

    ----- stderr -----
    ");
}

/// Every statistic the dashboards show for a run, from their RENDERED InfluxQL (Grafana's macros
/// substituted for one bucket covering the run), equals `runs show --json`'s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboards_and_runs_show_agree_on_every_statistic() {
    let server = RealInfluxd::start(false);
    let p = loaded(&server).await;
    let show = p.run(&["runs", "show", PROMO, "--json"]);
    assert_eq!(show.code, 0, "{}", show.all());
    let shown: Value = serde_json::from_str(&show.stdout).unwrap();
    let influx = Endpoint { url: server.url() }.client().unwrap();
    let (start, end) = (PROMO_START, PROMO_START + 60);
    let mut compared = std::collections::BTreeSet::new();
    for uid in ["shop-marketing", "shop-technical"] {
        let text = p.read(&format!("generated/shop/grafana/dashboards/{uid}.json"));
        let dash: Value = serde_json::from_str(&text).unwrap();
        let mut panels: Vec<&Value> = dash["panels"].as_array().unwrap().iter().collect();
        while let Some(panel) = panels.pop() {
            panels.extend(panel["panels"].as_array().into_iter().flatten());
            for target in panel["targets"].as_array().into_iter().flatten() {
                let Some(q) = target["query"].as_str() else {
                    continue;
                };
                let q = q
                    .replace(
                        "$timeFilter",
                        &format!("time >= {start}s AND time < {end}s"),
                    )
                    .replace("$__interval", "60s")
                    .replace("${url:regex}", ".*")
                    .replace("$testid", PROMO);
                let Some(alias) = q.split(" AS \"").nth(1).and_then(|a| a.split('"').next()) else {
                    continue;
                };
                let Some(stat) = Stat::parse(alias) else {
                    continue;
                };
                let measurement = format!("FROM \"{}\"", stat.measurement());
                if q.contains("$baseline_testid") || !q.contains(&measurement) {
                    continue;
                }
                let body = v1::query_results_in(&influx, &q, &[("db", "k6")])
                    .await
                    .unwrap_or_else(|e| panic!("{uid}: `{q}`: {e}"));
                if body["results"][0]["series"]
                    .as_array()
                    .is_some_and(|s| s.len() > 1)
                {
                    continue; // a breakdown (per status, per URL), not the statistic
                }
                let values = body["results"][0]["series"][0]["values"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{uid}: `{q}` gave {body}"));
                assert_eq!(values.len(), 1, "{uid}: one bucket for `{q}`: {body}");
                let dashboard = values[0][1].as_f64().unwrap();
                let runs = shown["stats"][stat.name()].as_f64().unwrap();
                close(dashboard, runs, &format!("{uid} {alias}: `{q}`"));
                compared.insert(stat);
            }
        }
    }
    assert_eq!(
        compared.into_iter().collect::<Vec<_>>(),
        Stat::ALL.to_vec(),
        "every statistic is on a dashboard and was compared"
    );
}

#[test]
fn bad_input_is_refused_before_anything_is_queried() {
    let p = TestContext::new();
    // Nothing listens on this port: a query would fail differently.
    p.write("stacks/promo.yaml", &manifest(9));
    promo_snapshot!(p.cmd(&["runs", "show", "a b"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x TESTID `a b` is not a test id
      help: test ids are letters, digits, `_`, `-` and `.`, not starting with `.`; `promo-infra runs list` shows them
    ");
    promo_snapshot!(p.cmd(&["runs", "export", "--csv", "--bucket", "10s"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x --bucket 10s needs a TESTID: buckets are of one run
      help: promo-infra runs export TESTID --csv --bucket 10s
    ");
    promo_snapshot!(p.cmd(&["runs", "export", PROMO, "--csv", "--bucket", "10ms"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x --bucket `10ms` is not a duration
      help: give whole seconds, minutes or hours: 10s, 1m, 1h
    ");
    promo_snapshot!(p.cmd(&["runs", "compare", PROMO]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x test bf2024_20241129_090000_0000bbbb has no baseline in its record
      help: give one: --baseline TESTID (`promo-infra runs list` shows the runs)
    ");
    promo_snapshot!(p.cmd(&["runs", "list"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    no runs recorded yet (`promo-infra k6 run SCRIPT` records each run)

    ----- stderr -----
    ");
    // No .env yet: no credentials; then nothing listens on the port.
    promo_snapshot!(p.cmd(&["runs", "show", PROMO]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x secret INFLUXDB_GRAFANA_PASSWORD is not set: cannot read InfluxDB
      help: run `promo-infra generate` to create it in .env, then `promo-infra apply`
    ");
    assert_eq!(p.run(&["generate"]).code, 0);
    promo_snapshot!(p.cmd(&["runs", "show", PROMO]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x InfluxDB is not reachable at http://127.0.0.1:9/query: Connection refused (os error 111)
      help: check whether the stack runs (`promo-infra status`): start it with `promo-infra apply`, or fix influxdb.bind / influxdb.port in the manifest
    ");
}

/// `k6 run --baseline` records the baseline with the run (and the environment, intensity and
/// format version), and the printed and Slack dashboard links select it in the marketing
/// dashboard's `baseline_testid` variable; `runs list` shows the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn k6_run_with_a_baseline_records_it_and_links_the_dashboard_to_it() {
    use crate::standin::spawn_promo;
    let rig = crate::control::Rig::start("en", false).await;
    let records = rig.standins.records.path().display().to_string();
    let path = rig.standins.path_env();
    let run = spawn_promo(
        &rig.p,
        &[
            "-f",
            "stacks/shop.yaml",
            "k6",
            "run",
            "tests/checkout.js",
            "--promo",
            "bf2024",
            "--intensity",
            "high",
            "--baseline",
            BASELINE,
        ],
        &[
            ("PATH", &path),
            ("STANDIN_DIR", &records),
            ("STANDIN_MODE", "finish"),
            ("STANDIN_P95", "900"),
            ("STANDIN_ERR_RATE", "0"),
            ("PROMO_INFRA_NOW", "2026-11-27T09:30:00Z"),
        ],
        "promo-infra k6 run --baseline",
    );
    let (code, out, err) = run.wait_output(std::time::Duration::from_secs(60));
    assert_eq!(code, 0, "{out}\n{err}");
    let link = format!(
        "&var-testid=TESTID&var-baseline_testid={BASELINE}&from=1795771800000&to=1795771801000"
    );
    let testid = out
        .lines()
        .find_map(|l| l.strip_prefix("test ")?.split(':').next())
        .expect("the outcome line")
        .to_string();
    let dashboard = out.lines().last().unwrap().replace(&testid, "TESTID");
    assert!(dashboard.ends_with(&link), "{dashboard}");
    let slack = rig.webhook.messages().join("\n").replace(&testid, "TESTID");
    assert!(slack.contains(&link), "{slack}");
    let rec: Value = serde_json::from_str(
        &rig.p
            .read(&format!("generated/shop/run/{testid}/outcome.json")),
    )
    .unwrap();
    assert_eq!(rec["format_version"], FORMAT_VERSION);
    assert_eq!(rec["baseline"], BASELINE);
    assert_eq!(rec["intensity"], "high");
    assert_eq!(rec["environment"], "preprod");
    assert_eq!(rec["stack"], "shop");
    assert_eq!(rec["ending"], "completed");
    assert_eq!(rec["grade"]["letter"], "A");
    assert_eq!(rec["started_at"], "2026-11-27T09:30:00Z");
    let list = rig.p.run(&["-f", "stacks/shop.yaml", "runs", "list"]);
    promo_snapshot!(list.filter(&testid, "[TESTID]"), @"
    success: true
    exit_code: 0
    ----- stdout -----
    TESTID                           START (UTC)          DURATION  PROMO   TYPE      ENV      INTENSITY  OUTCOME    GRADE       BASELINE
    [TESTID]  2026-11-27 09:30:00  0 s       bf2024  standard  preprod  high       completed  A (82/100)  baseline_20241128_090000_0000aaaa

    ----- stderr -----
    ");
}

/// The Flux `runs` sends to an InfluxDB 2 (each statistic over the whole run and per bucket,
/// and the run's first/last point), snapshotted: `just flux-check` parses and type-checks these
/// snapshots with InfluxData's flux-lsp, as it does the dashboards' queries.
#[test]
fn the_flux_of_runs_is_snapshotted_for_the_flux_check() {
    use promo_infra::runs::source::{Range, flux_query};
    let range = Range {
        start_ns: PROMO_START * 1_000_000_000,
        end_ns: (PROMO_START + 60) * 1_000_000_000,
    };
    insta::with_settings!({ prepend_module_to_snapshot => true }, {
        for stat in Stat::ALL {
            for (every, how) in [(None, "whole"), (Some("10s"), "per_10s")] {
                let q = flux_query("k6-metrics", PROMO, range, stat, every);
                insta::assert_snapshot!(format!("flux_{}_{how}", stat.name()), q);
            }
        }
        for selector in ["first", "last"] {
            let q = promo_infra::runs::source::flux_point_query("k6-metrics", "vus", PROMO, selector);
            insta::assert_snapshot!(format!("flux_range_{selector}"), q);
        }
    });
}

/// A run is not its own baseline (the comparison would show no difference whatever it did):
/// refused before InfluxDB is asked anything, for `compare` and `report`.
#[test]
fn a_run_is_not_its_own_baseline() {
    let p = TestContext::new();
    p.write("stacks/promo.yaml", crate::common::BASE);
    let id = "bf_20261127_093000_1a2b3c4d";
    let mut runs = crate::common::Runs::default();
    runs.push("compare", p.run(&["runs", "compare", id, "--baseline", id]));
    runs.push("report", p.run(&["runs", "report", id, "--baseline", id]));
    promo_snapshot!(runs, @"
    === compare ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x --baseline bf_20261127_093000_1a2b3c4d is the run itself: a run compared with itself shows no difference
      help: give the test id of the baseline run (the one without the promotion), as `promo-infra runs list` shows it

    === report ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x --baseline bf_20261127_093000_1a2b3c4d is the run itself: a run compared with itself shows no difference
      help: give the test id of the baseline run (the one without the promotion), as `promo-infra runs list` shows it
    ");
}

/// Whether process `pid` has ended (gone, or a zombie nobody reaps: the orphaned stand-in's
/// new parent may not).
fn ended(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// A `k6 run` wrapper killed with SIGKILL (nothing of it runs again) while its k6 goes on: the
/// run stays listed — `running` while its k6 lives, then `unknown` (no outcome recorded) in
/// `runs list`, `runs show` and `runs export --csv` — instead of vanishing from all but
/// `show`, as it did when the record was written only at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_whose_wrapper_was_killed_is_listed_with_an_unknown_outcome() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let rig = crate::control::Rig::start("en", true).await;
    let mut wrapper = rig.start_run(&[("PROMO_INFRA_NOW", "2026-11-27T09:30:00Z")]);
    let testid = rig.current_testid();
    let k6 = i32::try_from(rig.standins.call()["pid"].as_i64().expect("k6 pid")).expect("pid");
    kill(Pid::from_raw(wrapper.pid()), Signal::SIGKILL).expect("SIGKILL the wrapper by pid");
    wrapper.child.wait().expect("reap the wrapper");
    assert!(!ended(k6), "k6 runs on, orphaned");
    let list = || {
        rig.p
            .run(&["-f", "stacks/shop.yaml", "runs", "list"])
            .filter(&testid, "[TESTID]")
    };
    promo_snapshot!(list(), @"
    success: true
    exit_code: 0
    ----- stdout -----
    TESTID                                 START (UTC)          DURATION  PROMO         TYPE        ENV      INTENSITY  OUTCOME  GRADE  BASELINE
    [TESTID]  2026-11-27 09:30:00  -         black-friday  flash-sale  preprod  high       running  -      -

    ----- stderr -----
    ");
    // k6 ends on its own (a SIGINT, as a STOP would send; it flushes and exits 105).
    kill(Pid::from_raw(k6), Signal::SIGINT).expect("SIGINT the stand-in k6 by pid");
    crate::standin::wait_until(
        "the stand-in k6 to end",
        std::time::Duration::from_secs(30),
        || ended(k6),
    );
    promo_snapshot!(list(), @"
    success: true
    exit_code: 0
    ----- stdout -----
    TESTID                                 START (UTC)          DURATION  PROMO         TYPE        ENV      INTENSITY  OUTCOME                        GRADE  BASELINE
    [TESTID]  2026-11-27 09:30:00  -         black-friday  flash-sale  preprod  high       unknown (no outcome recorded)  -      -
    warning: test [TESTID]: no outcome recorded: its `k6 run` ended without recording one (killed?), so how the test ended, its grade and its end time are unknown; InfluxDB has its points: `promo-infra -f stacks/shop.yaml runs show [TESTID]`

    ----- stderr -----
    ");
    let export = rig
        .p
        .run(&["-f", "stacks/shop.yaml", "runs", "export", "--csv"]);
    assert_eq!(export.code, 0, "{}", export.all());
    let rows = parse_csv(&export.stdout);
    assert_eq!(rows.len(), 1, "{}", export.stdout);
    let row = &rows[0];
    let cells: Vec<_> = [
        "testid",
        "started_at",
        "ended_at",
        "outcome",
        "exit_code",
        "grade",
    ]
    .iter()
    .map(|c| format!("{c}={}", row[*c]))
    .collect();
    assert_eq!(
        cells,
        [
            format!("testid={testid}"),
            "started_at=2026-11-27T09:30:00Z".into(),
            "ended_at=".into(),
            "outcome=unknown".into(),
            "exit_code=".into(),
            "grade=".into(),
        ]
    );
    assert_eq!(
        num(row, "requests"),
        5.0,
        "its points are in InfluxDB: {row:?}"
    );
    let show = rig
        .p
        .run(&["-f", "stacks/shop.yaml", "runs", "show", &testid]);
    assert_eq!(show.code, 0, "{}", show.all());
    assert!(
        show.stdout.starts_with(&format!(
            "test {testid}: black-friday (flash-sale), environment preprod, intensity high; unknown (no outcome recorded)\n"
        )),
        "{}",
        show.all()
    );
}

/// `k6 run --baseline` with an id that is no run — no record in the run directory and no
/// point in InfluxDB — is refused before k6 starts, naming the recorded runs (it used to run
/// the whole test with that id in its record and dashboard links, found out at `runs
/// compare`); a recorded baseline, or one InfluxDB has the points of (run from elsewhere),
/// is taken without a word.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn k6_run_refuses_a_baseline_that_is_no_run_before_k6_starts() {
    use crate::standin::spawn_promo;
    let rig = crate::control::Rig::start("en", true).await;
    let records = rig.standins.records.path().display().to_string();
    let path = rig.standins.path_env();
    let k6_started = || rig.standins.records.path().join("k6-call.json").exists();
    let k6_run = |extra: &[&str]| {
        let _ = std::fs::remove_file(rig.standins.records.path().join("k6-call.json"));
        let mut args = vec!["-f", "stacks/shop.yaml", "k6", "run", "tests/checkout.js"];
        args.extend_from_slice(extra);
        let run = spawn_promo(
            &rig.p,
            &args,
            &[
                ("PATH", &path),
                ("STANDIN_DIR", &records),
                ("STANDIN_MODE", "finish"),
                ("PROMO_INFRA_NOW", "2026-11-27T09:30:00Z"),
            ],
            "promo-infra k6 run",
        );
        let (code, out, err) = run.wait_output(std::time::Duration::from_secs(60));
        crate::common::Run::new(code, out, err, rig.p.path())
    };
    let typo = "baseline_20261120_093000_5e6f7a8c";
    promo_snapshot!(k6_run(&["--baseline", typo]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x --baseline baseline_20261120_093000_5e6f7a8c: no such run: no record of it in generated/shop/run and no point of it in InfluxDB at http://127.0.0.1:[PORT]; k6 was not started
      help: no run is recorded in generated/shop/run yet: run the baseline first (the same script and intensity, without --baseline), then give its test id
    ");
    assert!(!k6_started(), "refused before k6 starts");
    let base = k6_run(&["--promo", "baseline"]);
    assert_eq!(base.code, 0, "{}", base.all());
    let base_id = base
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("test ")?.split(':').next())
        .expect("the outcome line")
        .to_string();
    promo_snapshot!(k6_run(&["--baseline", typo]).filter(&base_id, "[BASELINE]"), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x --baseline baseline_20261120_093000_5e6f7a8c: no such run: no record of it in generated/shop/run and no point of it in InfluxDB at http://127.0.0.1:[PORT]; k6 was not started
      help: give the test id of a run of this stack: the newest are [BASELINE] (`promo-infra -f stacks/shop.yaml runs list` shows them all)
    ");
    assert!(!k6_started(), "refused before k6 starts");
    for (how, remove_record) in [("recorded", false), ("only in InfluxDB", true)] {
        if remove_record {
            std::fs::remove_dir_all(crate::standin::run_dir(&rig.p, "shop").join(&base_id))
                .expect("the baseline's record");
        }
        let with = k6_run(&["--baseline", &base_id]);
        assert_eq!(with.code, 0, "{how}: {}", with.all());
        assert!(
            !with.stderr.contains("warning: baseline"),
            "{how}: {}",
            with.stderr
        );
    }
}
