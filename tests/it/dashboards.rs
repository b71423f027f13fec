//! Dashboards and alerting.
//!
//! - Every InfluxQL query of both dashboards of `stacks/promo-v1.yaml` runs on a REAL `influxd`
//!   1.6 loaded with k6-shaped data of known distributions (`k6_fixture`), with Grafana's macros
//!   substituted as Grafana 10.2 does, and the numbers each panel would show are asserted.
//! - The dashboard model is checked for every generated dashboard (every stack, fr/en × v1/v2).
//! - Flux queries (v2) are snapshot-tested and must filter bucket, measurement and testid.
//! - Alerting provisioning is checked against Grafana's file format and loaded into the Grafana
//!   DOUBLE (`promo_doubles::grafana`, not Grafana).
//! - Snapshots of the dashboard/locale/version combinations the per-stack snapshots miss.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use promo_infra::compile::{self, Templates, dashboards};
use promo_infra::manifest::{Loaded, Manifest, Sp};
use promo_infra::ops::{self, Selection};
use promo_infra::project::Project;
use promo_infra::secrets::SecretValues;
use serde_json::Value;

use crate::common::repo;
use crate::influxd::RealInfluxd;
use crate::k6_fixture::{self as fx, CYCLE_S, Request, Run, Thresholds};

// ------------------------------------------------------------------------------------------
// Loading stacks and dashboards
// ------------------------------------------------------------------------------------------

fn load_stacks() -> (Templates, Vec<Loaded>) {
    ops::load_all(&Project::new(repo()), &Selection::AllStacks).expect("stacks load")
}

fn load_stack(stack: &str) -> (Templates, Loaded) {
    let (t, all) = load_stacks();
    let l = all
        .into_iter()
        .find(|l| l.stack() == stack)
        .unwrap_or_else(|| panic!("no stack `{stack}` in stacks/"));
    (t, l)
}

/// Generated files of a stack (path → text).
fn generated(l: &Loaded, t: &Templates) -> BTreeMap<String, String> {
    compile::compile(l, t, &SecretValues::default())
        .expect("compile")
        .files
        .iter()
        .map(|(p, f)| {
            (
                p.to_string(),
                String::from_utf8(f.bytes().to_vec()).expect("utf8"),
            )
        })
        .collect()
}

/// The stack's dashboards as Grafana gets them (`grafana/dashboards/<uid>.json`).
fn stack_dashboards(l: &Loaded, t: &Templates) -> Vec<(String, Value)> {
    let files = generated(l, t);
    let out: Vec<(String, Value)> = files
        .iter()
        .filter_map(|(p, text)| {
            let uid = p
                .strip_prefix("grafana/dashboards/")?
                .strip_suffix(".json")?;
            Some((
                uid.to_string(),
                serde_json::from_str(text).expect("dashboard JSON"),
            ))
        })
        .collect();
    assert_eq!(
        out.len(),
        l.manifest.dashboards.len(),
        "{}: one file per dashboard",
        l.stack()
    );
    out
}

/// Every dashboard of `m` rendered with the language forced to `locale`.
fn render_with_locale(t: &Templates, m: &Manifest, locale: &str) -> Vec<(String, String)> {
    let mut m = m.clone();
    m.locale = Sp::new(locale.to_string());
    for d in &mut m.dashboards {
        d.locale = None;
    }
    m.dashboards
        .iter()
        .map(|d| {
            (
                d.uid.to_string(),
                dashboards::render(t, &m, d).expect("render"),
            )
        })
        .collect()
}

/// Every panel, rows' nested panels included.
fn all_panels(d: &Value) -> Vec<&Value> {
    fn walk<'a>(ps: &'a Value, out: &mut Vec<&'a Value>) {
        for p in ps.as_array().into_iter().flatten() {
            out.push(p);
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&d["panels"], &mut out);
    out
}

fn datasource_uid_of(files: &BTreeMap<String, String>) -> String {
    let doc: Value =
        serde_saphyr::from_str(&files["grafana/provisioning/datasources/promo-infra.yaml"])
            .expect("datasource YAML");
    let list = doc["datasources"].as_array().expect("datasources");
    assert_eq!(list.len(), 1, "one provisioned datasource");
    list[0]["uid"].as_str().expect("uid").to_string()
}

// ------------------------------------------------------------------------------------------
// Grafana variables: references and interpolation (as Grafana 10.2's InfluxDB datasource does)
// ------------------------------------------------------------------------------------------

/// A `$name`, `${name}`, `${name:format}` or `[[name]]` reference in a string.
#[derive(Debug)]
struct VarRef {
    start: usize,
    end: usize,
    name: String,
    /// `regex` in `${name:regex}`.
    format: Option<String>,
}

fn var_refs(s: &str) -> Vec<VarRef> {
    let b = s.as_bytes();
    let word = |i: usize| {
        let mut j = i;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
            j += 1;
        }
        j
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() && b[i + 1] == b'{' {
            let j = word(i + 2);
            if j > i + 2
                && let Some(close) = s[j..].find('}')
            {
                let inner = &s[j..j + close];
                if inner.is_empty() || inner.starts_with(':') {
                    out.push(VarRef {
                        start: i,
                        end: j + close + 1,
                        name: s[i + 2..j].to_string(),
                        format: inner.strip_prefix(':').map(str::to_string),
                    });
                    i = j + close + 1;
                    continue;
                }
            }
        } else if b[i] == b'$' {
            let j = word(i + 1);
            if j > i + 1 {
                out.push(VarRef {
                    start: i,
                    end: j,
                    name: s[i + 1..j].to_string(),
                    format: None,
                });
                i = j;
                continue;
            }
        } else if b[i] == b'[' && s[i..].starts_with("[[") {
            let j = word(i + 2);
            if j > i + 2 && s[j..].starts_with("]]") {
                out.push(VarRef {
                    start: i,
                    end: j + 2,
                    name: s[i + 2..j].to_string(),
                    format: None,
                });
                i = j + 2;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Grafana's global variables and the InfluxQL datasource's macros.
fn is_grafana_global(name: &str) -> bool {
    name.starts_with("__") || matches!(name, "timeFilter" | "interval" | "interval_ms")
}

/// What the dashboard user selected.
#[derive(Debug, Clone)]
enum Pick {
    All,
    One(String),
}

/// `escapeRegex` of `@grafana/data` (used for single-value variables).
fn escape_regex(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if "\\^$*+?.()|[]{}/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `influxSpecialRegexEscape` (multi-value or include-All variables).
fn influx_special_regex_escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        if c == '\\' {
            out.push_str("\\\\\\\\");
        } else {
            if "$^*{}[]'+?.()|".contains(c) {
                out.push_str("\\\\");
            }
            out.push(c);
        }
    }
    out
}

/// Substitutes Grafana's macros and the dashboard's variables into an InfluxQL query:
/// `$timeFilter` → `time >= <from>ms and time <= <to>ms`, `$__interval` → `interval`, a
/// variable with All selected → its custom `allValue` (as is, whatever the format), else with
/// `${name:regex}` → `escapeRegex(value)`; without a format, the InfluxDB datasource's
/// `interpolateQueryExpr`: single-value variable → `escapeRegex(value)` (numbers as they
/// are), multi/include-All variable → `influxSpecialRegexEscape(value)` (Grafana 10.2).
fn interpolate(
    query: &str,
    dash: &Value,
    picks: &BTreeMap<&str, Pick>,
    range_ms: (i64, i64),
    interval: &str,
) -> String {
    let vars: BTreeMap<&str, &Value> = dash["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .map(|v| (v["name"].as_str().expect("name"), v))
        .collect();
    let mut out = String::new();
    let mut last = 0;
    for r in var_refs(query) {
        out.push_str(&query[last..r.start]);
        last = r.end;
        let value = match r.name.as_str() {
            "timeFilter" => format!("time >= {}ms and time <= {}ms", range_ms.0, range_ms.1),
            "__interval" | "interval" => interval.to_string(),
            name => {
                let v = vars
                    .get(name)
                    .unwrap_or_else(|| panic!("query uses ${name}, not defined: {query}"));
                let pick = picks
                    .get(name)
                    .unwrap_or_else(|| panic!("the test picks no value for ${name}"));
                let multi = v["multi"].as_bool().unwrap_or(false);
                let include_all = v["includeAll"].as_bool().unwrap_or(false);
                match (pick, r.format.as_deref()) {
                    (_, Some(f)) if f != "regex" => panic!("format :{f} not emulated: {query}"),
                    (Pick::All, _) => {
                        assert!(include_all, "${name} has no All option");
                        v["allValue"]
                            .as_str()
                            .unwrap_or_else(|| panic!("${name}: All without allValue"))
                            .to_string()
                    }
                    // the `regex` format: escapeRegex, whatever the variable
                    (Pick::One(s), Some(_)) => escape_regex(s),
                    (Pick::One(s), None) if !multi && !include_all => {
                        if s.parse::<f64>().is_ok() {
                            s.clone()
                        } else {
                            escape_regex(s)
                        }
                    }
                    (Pick::One(s), None) => influx_special_regex_escape(s),
                }
            }
        };
        out.push_str(&value);
    }
    out.push_str(&query[last..]);
    out
}

#[test]
fn grafana_interpolation_rules() {
    let dash: Value = serde_json::json!({"templating": {"list": [
        {"name": "testid", "multi": false, "includeAll": false},
        {"name": "baseline_testid", "multi": false, "includeAll": false},
        {"name": "url", "multi": true, "includeAll": true, "allValue": ".*"}
    ]}});
    let picks = BTreeMap::from([
        ("testid", Pick::One("a.b+c/d".into())),
        ("baseline_testid", Pick::One("42".into())),
        ("url", Pick::All),
    ]);
    let q = "x =~ /^$testid$/ AND y =~ /^${baseline_testid}$/ AND [[url]] AND $timeFilter GROUP BY time($__interval)";
    assert_eq!(
        interpolate(q, &dash, &picks, (1000, 2000), "10s"),
        "x =~ /^a\\.b\\+c\\/d$/ AND y =~ /^42$/ AND .* AND time >= 1000ms and time <= 2000ms GROUP BY time(10s)"
    );
    let picks = BTreeMap::from([("url", Pick::One("https://a.b/c?d".into()))]);
    assert_eq!(
        interpolate("$url", &dash, &picks, (0, 0), "1s"),
        "https://a\\\\.b/c\\\\?d"
    );
    assert_eq!(
        interpolate("${url:regex}", &dash, &picks, (0, 0), "1s"),
        "https:\\/\\/a\\.b\\/c\\?d"
    );
    let picks = BTreeMap::from([("url", Pick::All)]);
    assert_eq!(
        interpolate("${url:regex}", &dash, &picks, (0, 0), "1s"),
        ".*"
    );
}

// ------------------------------------------------------------------------------------------
// InfluxDB 1.x HTTP client
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Series {
    tags: BTreeMap<String, String>,
    columns: Vec<String>,
    values: Vec<Vec<Value>>,
}

impl Series {
    fn col(&self, name: &str) -> usize {
        self.columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column `{name}` in {:?}", self.columns))
    }
    /// (time ms, value) of a column.
    fn points(&self, column: &str) -> Vec<(i64, Option<f64>)> {
        let c = self.col(column);
        self.values
            .iter()
            .map(|row| (row[0].as_i64().expect("time"), row[c].as_f64()))
            .collect()
    }
}

struct Influx {
    url: String,
    db: String,
    http: reqwest::Client,
}

impl Influx {
    fn new(url: String, db: &str) -> Self {
        Self {
            url,
            db: db.into(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .connect_timeout(Duration::from_secs(5))
                .build()
                .expect("client"),
        }
    }

    /// Runs one InfluxQL statement; `Err` carries InfluxDB's error.
    async fn query(&self, q: &str) -> Result<Vec<Series>, String> {
        let resp = self
            .http
            .post(format!("{}/query", self.url))
            .form(&[("db", self.db.as_str()), ("q", q), ("epoch", "ms")])
            .send()
            .await
            .map_err(|e| format!("POST /query: {e}"))?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .map_err(|e| format!("/query answered {status} with no JSON: {e}"))?;
        if let Some(e) = body["error"].as_str() {
            return Err(format!("{status}: {e}"));
        }
        let results = body["results"].as_array().ok_or("no results")?;
        if results.len() != 1 {
            return Err(format!("{} results for one statement", results.len()));
        }
        if let Some(e) = results[0]["error"].as_str() {
            return Err(e.to_string());
        }
        Ok(results[0]["series"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| Series {
                tags: s["tags"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect(),
                columns: s["columns"]
                    .as_array()
                    .expect("columns")
                    .iter()
                    .map(|c| c.as_str().expect("column").to_string())
                    .collect(),
                values: s["values"]
                    .as_array()
                    .expect("values")
                    .iter()
                    .map(|r| r.as_array().expect("row").clone())
                    .collect(),
            })
            .collect())
    }

    async fn write(&self, lines: &[String]) {
        for chunk in lines.chunks(5000) {
            let resp = self
                .http
                .post(format!("{}/write?db={}&precision=ns", self.url, self.db))
                .body(chunk.join("\n"))
                .send()
                .await
                .expect("POST /write");
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            assert_eq!(status.as_u16(), 204, "write refused: {text}");
        }
    }
}

// ------------------------------------------------------------------------------------------
// Every InfluxQL query of both dashboards, on a real influxd with known data
// ------------------------------------------------------------------------------------------

fn close(actual: f64, expected: f64, what: &str) {
    let tol = 1e-6 * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tol,
        "{what}: the panel shows {actual}, the known data says {expected}"
    );
}

/// Exactly one series with one row: its value in `column`.
fn single(res: &[Series], column: &str, what: &str) -> f64 {
    assert_eq!(res.len(), 1, "{what}: one series expected, got {res:#?}");
    let pts = res[0].points(column);
    assert_eq!(pts.len(), 1, "{what}: one value expected, got {pts:?}");
    pts[0]
        .1
        .unwrap_or_else(|| panic!("{what}: null instead of a number"))
}

/// The one series of a time-series result, its points inside `[start, end)` (ms), and checks
/// that nothing is returned outside unless `outside` allows it.
fn in_run(
    res: &[Series],
    column: &str,
    run: &Run,
    outside: Option<f64>,
    what: &str,
) -> Vec<(i64, f64)> {
    assert_eq!(res.len(), 1, "{what}: one series expected, got {res:#?}");
    let (start, end) = (run.start_s * 1000, run.end_s() * 1000);
    let mut inside = Vec::new();
    for (t, v) in res[0].points(column) {
        if (start..end).contains(&t) {
            inside.push((t, v.unwrap_or_else(|| panic!("{what}: null at {t}"))));
        } else if let Some(v) = v {
            match outside {
                Some(expected) => close(v, expected, &format!("{what} outside the run at {t}")),
                None => panic!("{what}: value {v} at {t}, outside the run"),
            }
        }
    }
    assert_eq!(
        inside.len() as i64,
        run.duration_s / CYCLE_S,
        "{what}: one point per {CYCLE_S} s interval of the run"
    );
    inside
}

/// Requests of one interval bucket.
fn bucket(reqs: &[Request], t_ms: i64) -> Vec<&Request> {
    let (from, to) = (t_ms * 1_000_000, (t_ms + CYCLE_S * 1000) * 1_000_000);
    reqs.iter()
        .filter(|r| (from..to).contains(&r.ts_ns))
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// The grade letter Grafana shows: the first value mapping whose range holds the score.
fn mapped_letter(panel: &Value, score: f64) -> char {
    for m in panel["fieldConfig"]["defaults"]["mappings"]
        .as_array()
        .expect("mappings")
    {
        let o = &m["options"];
        let (from, to) = (
            o["from"].as_f64().expect("from"),
            o["to"].as_f64().expect("to"),
        );
        if from <= score && score <= to {
            let text = o["result"]["text"].as_str().expect("text");
            return text.chars().next().expect("letter");
        }
    }
    panic!("no mapping for score {score}")
}

/// The threshold color Grafana shows for a value.
fn threshold_color(panel: &Value, value: f64) -> String {
    let mut color = String::new();
    for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        .as_array()
        .expect("steps")
    {
        match s["value"].as_f64() {
            None => color = s["color"].as_str().expect("color").into(),
            Some(v) if value >= v => color = s["color"].as_str().expect("color").into(),
            _ => {}
        }
    }
    color
}

/// One view of the data: which run is selected and which is the baseline.
struct View<'a> {
    run: &'a Run,
    other: &'a Run,
    reqs: Vec<Request>,
    other_reqs: Vec<Request>,
}

impl<'a> View<'a> {
    fn new(run: &'a Run, other: &'a Run) -> Self {
        Self {
            run,
            other,
            reqs: run.requests(),
            other_reqs: other.requests(),
        }
    }
    fn p95(&self) -> f64 {
        fx::percentile(&fx::durations(&self.reqs), 95.0)
    }
    fn errors(&self) -> f64 {
        fx::pct(&self.reqs, Request::failed)
    }
}

/// Runs every target of every panel of `dash` for `view`, checks the numbers, and returns
/// the (panel id, refId) pairs it checked.
async fn check_marketing(
    influx: &Influx,
    dash: &Value,
    view: &View<'_>,
    range: (i64, i64),
    thresholds: Thresholds,
) -> BTreeSet<(i64, String)> {
    let picks = BTreeMap::from([
        ("testid", Pick::One(view.run.testid.into())),
        ("baseline_testid", Pick::One(view.other.testid.into())),
        ("environment", Pick::All),
        ("promo_type", Pick::All),
    ]);
    let mut checked = BTreeSet::new();
    let run = view.run;
    let reqs = &view.reqs;
    let d = fx::durations(reqs);
    for panel in all_panels(dash) {
        let id = panel["id"].as_i64().expect("panel id");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let ref_id = target["refId"].as_str().expect("refId").to_string();
            let q = interpolate(
                target["query"].as_str().expect("query"),
                dash,
                &picks,
                range,
                "10s",
            );
            let what = format!(
                "marketing panel {id} `{}` {ref_id} (testid {})\n  {q}\n ",
                panel["title"].as_str().unwrap_or_default(),
                run.testid
            );
            let res = influx
                .query(&q)
                .await
                .unwrap_or_else(|e| panic!("{what}: InfluxDB error: {e}"));
            match (id, ref_id.as_str()) {
                (1, "A") => {
                    let score = single(&res, "score", &what);
                    let (expected, letter) = fx::grade(view.p95(), view.errors(), thresholds);
                    close(score, expected, &what);
                    assert_eq!(mapped_letter(panel, score), letter, "{what}: grade letter");
                    let color = threshold_color(panel, score);
                    let expected_color = match letter {
                        'A' => "green",
                        'B' | 'C' => "orange",
                        _ => "red",
                    };
                    assert_eq!(color, expected_color, "{what}: gauge color");
                }
                (2, "A") => close(single(&res, "p95", &what), view.p95(), &what),
                (2, "B") => close(single(&res, "errors", &what), view.errors(), &what),
                (4, "A") => {
                    let pts = in_run(&res, "vus", run, None, &what);
                    for (t, v) in &pts {
                        let s0 = t / 1000 - run.start_s;
                        let expected = (s0..s0 + CYCLE_S).map(|s| run.vus_at(s)).max();
                        close(*v, f64::from(expected.expect("vus")), &what);
                    }
                    let peak = pts.iter().map(|p| p.1).fold(0.0, f64::max);
                    close(peak, f64::from(run.vus_peak), &format!("{what} peak"));
                }
                (4, "B") => {
                    for (_, v) in in_run(&res, "vus_max", run, None, &what) {
                        close(v, f64::from(run.vus_max), &what);
                    }
                }
                (5, rid) => {
                    let (col, p) = match rid {
                        "A" => ("p50", 50.0),
                        "B" => ("p95", 95.0),
                        "C" => ("p99", 99.0),
                        other => panic!("{what}: unexpected target {other}"),
                    };
                    for (t, v) in in_run(&res, col, run, None, &what) {
                        close(v, fx::percentile(&fx::durations(bucket(reqs, t)), p), &what);
                        close(v, fx::percentile(&d, p), &what);
                    }
                }
                (6, rid) => {
                    let (col, pred): (&str, fn(&Request) -> bool) = match rid {
                        "A" => ("errors", Request::failed),
                        "B" => ("errors_4xx", |r| (400..500).contains(&r.status)),
                        "C" => ("errors_5xx", |r| (500..600).contains(&r.status)),
                        other => panic!("{what}: unexpected target {other}"),
                    };
                    for (t, v) in in_run(&res, col, run, None, &what) {
                        let b: Vec<Request> = bucket(reqs, t).into_iter().cloned().collect();
                        close(v, fx::pct(&b, pred), &what);
                    }
                }
                (7, "A") => {
                    for (_, v) in in_run(&res, "rps", run, Some(0.0), &what) {
                        close(v, run.rps as f64, &what);
                    }
                }
                (9, "A") => close(
                    single(&res, "extra_p95_ms", &what),
                    view.p95() - fx::percentile(&fx::durations(&view.other_reqs), 95.0),
                    &what,
                ),
                (10, "A") => close(
                    single(&res, "extra_p95_pct", &what),
                    (view.p95() / fx::percentile(&fx::durations(&view.other_reqs), 95.0) - 1.0)
                        * 100.0,
                    &what,
                ),
                (11, "A") => close(
                    single(&res, "extra_errors_pct", &what),
                    view.errors() - fx::pct(&view.other_reqs, Request::failed),
                    &what,
                ),
                (12, "A") => close(single(&res, "p95", &what), view.p95(), &what),
                (12, "B") => close(
                    single(&res, "p95", &what),
                    fx::percentile(&fx::durations(&view.other_reqs), 95.0),
                    &what,
                ),
                (12, "C") => close(single(&res, "errors", &what), view.errors(), &what),
                (12, "D") => close(
                    single(&res, "errors", &what),
                    fx::pct(&view.other_reqs, Request::failed),
                    &what,
                ),
                _ => panic!("{what}: no expectation for this target: add one"),
            }
            checked.insert((id, ref_id));
        }
    }
    checked
}

/// The technical dashboard, `$url` = All.
async fn check_technical(
    influx: &Influx,
    dash: &Value,
    run: &Run,
    range: (i64, i64),
) -> BTreeSet<(i64, String)> {
    let picks = BTreeMap::from([("testid", Pick::One(run.testid.into())), ("url", Pick::All)]);
    let reqs = run.requests();
    let d = fx::durations(&reqs);
    let n = reqs.len() as f64;
    let failed = reqs.iter().filter(|r| r.failed()).count() as f64;
    let cycles = (run.duration_s / CYCLE_S) as f64;
    let per_s = |total: f64| total / cycles / CYCLE_S as f64;
    let carts: Vec<&Request> = reqs.iter().filter(|r| r.name == fx::CART).collect();
    let cart_ok = carts.iter().filter(|r| r.status == 200).count() as f64;
    // checks: one per request (status) plus one per cart request
    let check_points = n + carts.len() as f64;
    let check_passes = (n - failed) + cart_ok;
    let mut checked = BTreeSet::new();
    for panel in all_panels(dash) {
        let id = panel["id"].as_i64().expect("panel id");
        for target in panel["targets"].as_array().into_iter().flatten() {
            let ref_id = target["refId"].as_str().expect("refId").to_string();
            let q = interpolate(
                target["query"].as_str().expect("query"),
                dash,
                &picks,
                range,
                "10s",
            );
            let what = format!(
                "technical panel {id} `{}` {ref_id} (testid {})\n  {q}\n ",
                panel["title"].as_str().unwrap_or_default(),
                run.testid
            );
            let res = influx
                .query(&q)
                .await
                .unwrap_or_else(|e| panic!("{what}: InfluxDB error: {e}"));
            match (id, ref_id.as_str()) {
                (2, "A") => close(single(&res, "requests", &what), n, &what),
                (3, "A") => close(single(&res, "failed", &what), failed, &what),
                (4, "A") => close(single(&res, "peak_rps", &what), run.rps as f64, &what),
                (5, "A") => close(single(&res, "p95", &what), fx::percentile(&d, 95.0), &what),
                (6, "A") => close(
                    single(&res, "checks_pass_rate", &what),
                    check_passes * 100.0 / check_points,
                    &what,
                ),
                (7, "A") => close(
                    single(&res, "data_received", &what),
                    reqs.iter().map(Request::bytes_received).sum(),
                    &what,
                ),
                (7, "B") => close(
                    single(&res, "data_sent", &what),
                    reqs.iter().map(Request::bytes_sent).sum(),
                    &what,
                ),
                (8, "A") => {
                    let pts = in_run(&res, "vus", run, None, &what);
                    let peak = pts.iter().map(|p| p.1).fold(0.0, f64::max);
                    close(peak, f64::from(run.vus_peak), &what);
                }
                (8, "B") => {
                    for (_, v) in in_run(&res, "vus_max", run, None, &what) {
                        close(v, f64::from(run.vus_max), &what);
                    }
                }
                (9, "A") => {
                    for (_, v) in in_run(&res, "rps", run, Some(0.0), &what) {
                        close(v, run.rps as f64, &what);
                    }
                }
                (9, "B") => {
                    for (_, v) in in_run(&res, "failures_per_s", run, Some(0.0), &what) {
                        close(v, per_s(failed), &what);
                    }
                }
                (11, rid) => {
                    let col = match rid {
                        "A" => "min",
                        "B" => "median",
                        "C" => "p90",
                        "D" => "p95",
                        "E" => "p99",
                        "F" => "max",
                        other => panic!("{what}: unexpected target {other}"),
                    };
                    for (t, v) in in_run(&res, col, run, None, &what) {
                        let b = fx::durations(bucket(&reqs, t));
                        let expected = match col {
                            "min" => b.iter().copied().fold(f64::INFINITY, f64::min),
                            "median" => fx::median(&b),
                            "p90" => fx::percentile(&b, 90.0),
                            "p95" => fx::percentile(&b, 95.0),
                            "p99" => fx::percentile(&b, 99.0),
                            _ => b.iter().copied().fold(0.0, f64::max),
                        };
                        close(v, expected, &what);
                    }
                }
                (12, "A") => {
                    let statuses: BTreeSet<String> =
                        reqs.iter().map(|r| r.status.to_string()).collect();
                    let got: BTreeSet<String> =
                        res.iter().map(|s| s.tags["status"].clone()).collect();
                    assert_eq!(got, statuses, "{what}: one series per status");
                    for s in &res {
                        let status: u16 = s.tags["status"].parse().expect("status");
                        let count = reqs.iter().filter(|r| r.status == status).count() as f64;
                        for (_, v) in in_run(std::slice::from_ref(s), "rps", run, Some(0.0), &what)
                        {
                            close(v, per_s(count), &format!("{what} status {status}"));
                        }
                    }
                }
                (13 | 14, rid) => {
                    let idx = (rid.as_bytes()[0] - b'A') as usize;
                    let (col, f) = fx::PHASES.get(idx).copied().unwrap_or(("duration", 1.0));
                    for (t, v) in in_run(&res, col, run, None, &what) {
                        let b: Vec<f64> =
                            bucket(&reqs, t).iter().map(|r| r.duration_ms * f).collect();
                        let expected = if id == 13 {
                            mean(&b)
                        } else {
                            fx::percentile(&b, 95.0)
                        };
                        close(v, expected, &what);
                    }
                }
                (15, "A") => {
                    let names: BTreeSet<&str> = reqs.iter().map(|r| r.name).collect();
                    assert_eq!(res.len(), names.len(), "{what}: one row per URL");
                    for s in &res {
                        let name = s.tags["name"].as_str();
                        let rs: Vec<f64> = fx::durations(reqs.iter().filter(|r| r.name == name));
                        let row = |c: &str| single(std::slice::from_ref(s), c, &what);
                        close(
                            row("count"),
                            rs.len() as f64,
                            &format!("{what} {name} count"),
                        );
                        close(
                            row("min"),
                            rs.iter().copied().fold(f64::INFINITY, f64::min),
                            &format!("{what} {name} min"),
                        );
                        close(
                            row("median"),
                            fx::median(&rs),
                            &format!("{what} {name} median"),
                        );
                        close(
                            row("p95"),
                            fx::percentile(&rs, 95.0),
                            &format!("{what} {name} p95"),
                        );
                        close(
                            row("max"),
                            rs.iter().copied().fold(0.0, f64::max),
                            &format!("{what} {name} max"),
                        );
                    }
                }
                (17, "A") => {
                    assert_eq!(res.len(), 2, "{what}: one series per check");
                    for s in &res {
                        let check = s.tags["check"].as_str();
                        for (t, v) in in_run(std::slice::from_ref(s), "pass_rate", run, None, &what)
                        {
                            let b = bucket(&reqs, t);
                            let expected = if check == fx::CHECK_STATUS {
                                b.iter().filter(|r| !r.failed()).count() as f64 * 100.0
                                    / b.len() as f64
                            } else {
                                let c: Vec<_> = b.iter().filter(|r| r.name == fx::CART).collect();
                                c.iter().filter(|r| r.status == 200).count() as f64 * 100.0
                                    / c.len() as f64
                            };
                            close(v, expected, &format!("{what} {check}"));
                        }
                    }
                }
                (18, "A") => {
                    for (_, v) in in_run(&res, "received", run, Some(0.0), &what) {
                        close(
                            v,
                            per_s(reqs.iter().map(Request::bytes_received).sum()),
                            &what,
                        );
                    }
                }
                (18, "B") => {
                    for (_, v) in in_run(&res, "sent", run, Some(0.0), &what) {
                        close(v, per_s(reqs.iter().map(Request::bytes_sent).sum()), &what);
                    }
                }
                (19, "A") => {
                    for (_, v) in in_run(&res, "iterations_per_s", run, Some(0.0), &what) {
                        close(v, run.rps as f64 / 2.0, &what);
                    }
                }
                (20, rid) => {
                    let col = match rid {
                        "A" => "median",
                        "B" => "p95",
                        "C" => "max",
                        other => panic!("{what}: unexpected target {other}"),
                    };
                    for (_, v) in in_run(&res, col, run, None, &what) {
                        close(v, run.iteration_duration_ms, &what);
                    }
                }
                (21, "A") => {
                    assert_eq!(res.len(), 2, "{what}: one row per check");
                    for s in &res {
                        let check = s.tags["check"].as_str();
                        let (points, passes) = if check == fx::CHECK_STATUS {
                            (n, n - failed)
                        } else {
                            (carts.len() as f64, cart_ok)
                        };
                        let row = |c: &str| single(std::slice::from_ref(s), c, &what);
                        close(row("pass_rate"), passes * 100.0 / points, &what);
                        close(row("passes"), passes, &what);
                        close(row("fails"), points - passes, &what);
                    }
                }
                _ => panic!("{what}: no expectation for this target: add one"),
            }
            checked.insert((id, ref_id));
        }
    }
    checked
}

/// Every (panel id, refId) with a query in a dashboard; fails if a data panel has none.
fn all_targets(dash: &Value) -> BTreeSet<(i64, String)> {
    let mut out = BTreeSet::new();
    for p in all_panels(dash) {
        let id = p["id"].as_i64().expect("id");
        let targets = p["targets"].as_array().map(Vec::len).unwrap_or(0);
        if !matches!(p["type"].as_str(), Some("row" | "text")) {
            assert!(targets > 0, "panel {id} shows data but has no query");
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            out.insert((id, t["refId"].as_str().expect("refId").to_string()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_influxql_query_shows_the_known_numbers_on_a_real_influxd() {
    let (templates, loaded) = load_stack("promo-v1");
    assert_eq!(*loaded.manifest.influxdb.version, 1);
    let files = generated(&loaded, &templates);
    let dashes: BTreeMap<String, Value> =
        stack_dashboards(&loaded, &templates).into_iter().collect();
    let marketing_cfg = loaded
        .manifest
        .dashboards
        .iter()
        .find(|d| d.template.as_str() == "marketing")
        .expect("a marketing dashboard");
    let t = &marketing_cfg.thresholds;
    let thresholds = Thresholds {
        p95_ok_ms: *t.p95_ok_ms,
        p95_warn_ms: *t.p95_warn_ms,
        error_ok_pct: *t.error_ok_pct,
        error_warn_pct: *t.error_warn_pct,
    };
    let marketing = &dashes[marketing_cfg.uid.as_str()];
    let technical = dashes
        .iter()
        .find(|(uid, _)| uid.as_str() != marketing_cfg.uid.as_str())
        .map(|(_, d)| d)
        .expect("the technical dashboard");

    // Runs placed relative to now, so the alert rules' `now() - 5m` sees the promo run.
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let promo_start = now_s / 60 * 60 - 120;
    let promo = fx::promo(promo_start);
    let baseline = fx::baseline(promo_start - 600);
    let flash = fx::flash(promo_start - 300);

    // The known distributions (the fixture's design, checked here so the numbers below mean
    // what they say).
    let (p, b) = (promo.requests(), baseline.requests());
    let pcts =
        |rs: &[Request]| [50.0, 90.0, 95.0, 99.0].map(|q| fx::percentile(&fx::durations(rs), q));
    assert_eq!(pcts(&p), [400.0, 900.0, 1800.0, 6000.0]);
    assert_eq!(pcts(&b), [100.0, 200.0, 300.0, 2000.0]);
    let f = flash.requests();
    assert_eq!(pcts(&f), [500.0, 1000.0, 2500.0, 4000.0]);
    close(fx::pct(&f, Request::failed), 0.5, "flash errors");
    close(fx::pct(&p, Request::failed), 6.0, "promo errors");
    close(
        fx::pct(&p, |r| (400..500).contains(&r.status)),
        1.5,
        "promo 4xx",
    );
    close(fx::pct(&p, |r| r.status >= 500), 4.0, "promo 5xx");
    close(fx::pct(&b, Request::failed), 0.25, "baseline errors");
    assert_eq!(fx::grade(1800.0, 6.0, thresholds), (20.0, 'F'));
    assert_eq!(fx::grade(300.0, 0.25, thresholds), (90.0, 'A'));
    // the flash run's grade comes from its response time: b(2500 ms) = 2 + 1000/1500
    let (score, letter) = fx::grade(2500.0, 0.5, thresholds);
    close(score, 100.0 - 20.0 * (2.0 + 1000.0 / 1500.0), "flash score");
    assert_eq!(letter, 'D');
    // and one of each other letter, so the formula itself is exercised
    assert_eq!(fx::grade(900.0, 0.1, thresholds).1, 'B');
    assert_eq!(fx::grade(300.0, 1.5, thresholds).1, 'C');
    assert_eq!(fx::grade(1800.0, 0.1, thresholds).1, 'D');

    let influxd = RealInfluxd::start(false);
    let db = loaded.manifest.influxdb.bucket.to_string();
    let influx = Influx::new(influxd.url(), &db);
    influx
        .query(&format!("CREATE DATABASE \"{db}\""))
        .await
        .expect("create database");
    let mut lines = baseline.line_protocol();
    lines.extend(flash.line_protocol());
    lines.extend(promo.line_protocol());
    influx.write(&lines).await;
    let range = ((baseline.start_s - 60) * 1000, (promo.end_s() + 60) * 1000);

    // Alert rules first (they look at the last 5 minutes of wall-clock time).
    check_alert_queries(&influx, &files, &promo, &[&baseline, &flash]).await;

    let mut checked_marketing = BTreeSet::new();
    for (run, other) in [
        (&promo, &baseline),
        (&baseline, &promo),
        (&flash, &baseline),
    ] {
        let view = View::new(run, other);
        checked_marketing
            .extend(check_marketing(&influx, marketing, &view, range, thresholds).await);
    }
    let expected = all_targets(marketing);
    assert_eq!(
        checked_marketing, expected,
        "every query of every marketing panel is run and checked"
    );
    assert_eq!(expected.len(), 19, "marketing queries");

    // The promo's headline numbers, spelled out.
    let headline = View::new(&promo, &baseline);
    assert_eq!(headline.p95() - 300.0, 1500.0);
    close((headline.p95() / 300.0 - 1.0) * 100.0, 500.0, "extra p95 %");
    close(headline.errors() - 0.25, 5.75, "extra error points");

    let mut checked_technical = BTreeSet::new();
    for run in [&promo, &baseline, &flash] {
        checked_technical.extend(check_technical(&influx, technical, run, range).await);
    }
    let expected = all_targets(technical);
    assert_eq!(
        checked_technical, expected,
        "every query of every technical panel is run and checked"
    );
    assert_eq!(expected.len(), 41, "technical queries");

    check_impact_without_baseline(&influx, marketing, &promo, range).await;
    check_url_filter(&influx, technical, &promo, range).await;
    check_variables(
        &influx,
        marketing,
        technical,
        &[&promo, &baseline, &flash],
        range,
    )
    .await;
    check_error_annotation(&influx, marketing, &[&promo, &baseline, &flash], range).await;
}

/// Promo-impact panels with a baseline that has no data: no value (the panel's "pick a
/// baseline" text), never an error.
async fn check_impact_without_baseline(
    influx: &Influx,
    dash: &Value,
    run: &Run,
    range: (i64, i64),
) {
    let picks = BTreeMap::from([
        ("testid", Pick::One(run.testid.into())),
        ("baseline_testid", Pick::One("no-such-run".into())),
        ("environment", Pick::All),
        ("promo_type", Pick::All),
    ]);
    let mut n = 0;
    for panel in all_panels(dash) {
        let id = panel["id"].as_i64().expect("id");
        if !(9..=11).contains(&id) {
            continue;
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            let q = interpolate(
                target["query"].as_str().expect("q"),
                dash,
                &picks,
                range,
                "10s",
            );
            let res = influx
                .query(&q)
                .await
                .unwrap_or_else(|e| panic!("panel {id} without a baseline: {e}\n  {q}"));
            let values: Vec<f64> = res
                .iter()
                .flat_map(|s| s.values.iter())
                .filter_map(|row| row.get(1).and_then(Value::as_f64))
                .collect();
            assert!(
                values.is_empty(),
                "panel {id} shows {values:?} with no baseline data; it must show no value\n  {q}"
            );
            n += 1;
        }
    }
    assert_eq!(n, 3, "three promo-impact stats");
}

/// Variable queries (`SHOW TAG VALUES`) return the runs' tag values.
async fn check_variables(
    influx: &Influx,
    marketing: &Value,
    technical: &Value,
    runs: &[&Run],
    range: (i64, i64),
) {
    let picks = BTreeMap::from([
        ("testid", Pick::One(runs[0].testid.into())),
        ("environment", Pick::All),
        ("promo_type", Pick::All),
    ]);
    let all = |f: fn(&Run) -> &'static str| -> BTreeSet<String> {
        runs.iter().map(|r| f(r).to_string()).collect()
    };
    let expected: BTreeMap<&str, BTreeSet<String>> = BTreeMap::from([
        ("environment", all(|r| r.environment)),
        ("promo_type", all(|r| r.promo_type)),
        ("testid", all(|r| r.testid)),
        ("baseline_testid", all(|r| r.testid)),
        (
            "url",
            [fx::HOME, fx::PRODUCT, fx::CART].map(String::from).into(),
        ),
    ]);
    assert_eq!(expected["environment"].len(), 1);
    assert_eq!(expected["testid"].len(), 3);
    let mut n = 0;
    for dash in [marketing, technical] {
        for v in dash["templating"]["list"].as_array().expect("list") {
            let name = v["name"].as_str().expect("name");
            assert_eq!(v["type"], "query", "${name}");
            let q = interpolate(
                v["query"].as_str().expect("query"),
                dash,
                &picks,
                range,
                "10s",
            );
            let res = influx
                .query(&q)
                .await
                .unwrap_or_else(|e| panic!("variable ${name}: {e}\n  {q}"));
            let got: BTreeSet<String> = res
                .iter()
                .flat_map(|s| s.values.iter())
                .map(|row| row[1].as_str().expect("tag value").to_string())
                .collect();
            assert_eq!(&got, &expected[name], "variable ${name}\n  {q}");
            n += 1;
        }
    }
    assert_eq!(n, 6, "4 marketing variables + 2 technical ones");
    // with one environment and one promo type picked, the run list narrows down
    let picks = BTreeMap::from([
        ("environment", Pick::One("preprod".into())),
        ("promo_type", Pick::One(runs[0].promo_type.into())),
    ]);
    let testid = marketing["templating"]["list"]
        .as_array()
        .expect("list")
        .iter()
        .find(|v| v["name"] == "testid")
        .expect("testid variable");
    let q = interpolate(
        testid["query"].as_str().expect("q"),
        marketing,
        &picks,
        range,
        "10s",
    );
    let res = influx
        .query(&q)
        .await
        .unwrap_or_else(|e| panic!("{e}\n  {q}"));
    let got: Vec<&str> = res
        .iter()
        .flat_map(|s| s.values.iter())
        .map(|row| row[1].as_str().expect("tag value"))
        .collect();
    assert_eq!(
        got,
        vec![runs[0].testid],
        "$testid for promo type {}",
        runs[0].promo_type
    );
}

/// The InfluxDB annotation "errors above 1 %": one event per interval of a run above 1 %
/// errors (the promo, 6 %), none for the others (0.25 % and 0.5 %).
async fn check_error_annotation(influx: &Influx, dash: &Value, runs: &[&Run], range: (i64, i64)) {
    let list = dash["annotations"]["list"].as_array().expect("annotations");
    let influx_annotations: Vec<&Value> = list
        .iter()
        .filter(|a| a["datasource"]["type"] == "influxdb")
        .collect();
    assert_eq!(influx_annotations.len(), 1, "one InfluxDB annotation");
    let q = influx_annotations[0]["query"].as_str().expect("query");
    let mut events_seen = 0;
    for run in runs {
        let reqs = run.requests();
        let errors = fx::pct(&reqs, Request::failed);
        let events = if errors > 1.0 {
            run.duration_s / CYCLE_S
        } else {
            0
        };
        let picks = BTreeMap::from([("testid", Pick::One(run.testid.into()))]);
        let iq = interpolate(q, dash, &picks, range, "10s");
        let res = influx
            .query(&iq)
            .await
            .unwrap_or_else(|e| panic!("annotation query: {e}\n  {iq}"));
        let pts: Vec<(i64, Option<f64>)> = res.iter().flat_map(|s| s.points("errors")).collect();
        assert_eq!(pts.len() as i64, events, "{}: {pts:?}", run.testid);
        for (t, v) in pts {
            assert!((run.start_s * 1000..run.end_s() * 1000).contains(&t));
            close(v.expect("value"), errors, "annotation value");
            events_seen += 1;
        }
    }
    assert!(events_seen > 0, "the promo run raises error annotations");
}

/// The alert rules' InfluxQL queries on the same data: series per testid carrying the labels
/// the Slack message uses; the error rule fires for the promo run (6 % > 5 %) with the value
/// the message shows, the p95 rule does not (1800 ms < 2500 ms).
async fn check_alert_queries(
    influx: &Influx,
    files: &BTreeMap<String, String>,
    promo: &Run,
    others: &[&Run],
) {
    let doc: Value =
        serde_saphyr::from_str(&files["grafana/provisioning/alerting/promo-infra.yaml"])
            .expect("alerting YAML");
    let rules = doc["groups"][0]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 2);
    for rule in rules {
        let a = rule["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|d| d["refId"] == "A")
            .expect("query A");
        let q = a["model"]["query"].as_str().expect("query");
        let res = influx
            .query(q)
            .await
            .unwrap_or_else(|e| panic!("alert rule {}: {e}\n  {q}", rule["uid"]));
        assert_eq!(
            res.len(),
            1,
            "only the promo run is in the last 5 minutes: {res:#?}"
        );
        let s = &res[0];
        assert_eq!(s.tags["testid"], promo.testid);
        assert_eq!(s.tags["promo_name"], promo.promo_name);
        assert_eq!(s.tags["promo_type"], promo.promo_type);
        assert_eq!(s.tags["environment"], promo.environment);
        assert!(others.iter().all(|o| o.testid != s.tags["testid"]));
        // reduce(last), then the threshold of node C
        let last = s
            .values
            .last()
            .and_then(|r| r[1].as_f64())
            .expect("a value");
        let threshold = rule["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|d| d["refId"] == "C")
            .expect("C")["model"]["conditions"][0]["evaluator"]["params"][0]
            .as_f64()
            .expect("threshold");
        let reqs = promo.requests();
        let severity = rule["labels"]["severity"].as_str().expect("severity");
        if severity == "critical" {
            close(last, fx::pct(&reqs, Request::failed), "error rule value");
            assert!(
                last > threshold,
                "the error rule fires: {last} > {threshold}"
            );
        } else {
            close(
                last,
                fx::percentile(&fx::durations(&reqs), 95.0),
                "p95 rule value",
            );
            assert!(
                last <= threshold,
                "the p95 rule stays quiet: {last} <= {threshold}"
            );
        }
    }
}

// ------------------------------------------------------------------------------------------
// Dashboard model validity
// ------------------------------------------------------------------------------------------

/// Every generated dashboard: every stack in stacks/, and fr/en × InfluxDB 1/2.
fn every_dashboard() -> Vec<(String, Value, String)> {
    let (templates, loaded) = load_stacks();
    let mut out = Vec::new();
    let mut versions = BTreeSet::new();
    for l in &loaded {
        let files = generated(l, &templates);
        let ds = datasource_uid_of(&files);
        versions.insert(*l.manifest.influxdb.version);
        for (uid, d) in stack_dashboards(l, &templates) {
            out.push((format!("{}/{uid}", l.stack()), d, ds.clone()));
        }
        for locale in ["fr", "en"] {
            for (uid, text) in render_with_locale(&templates, &l.manifest, locale) {
                out.push((
                    format!("{}/{uid} ({locale})", l.stack()),
                    serde_json::from_str(&text).expect("json"),
                    ds.clone(),
                ));
            }
        }
    }
    assert_eq!(
        versions,
        BTreeSet::from([1, 2]),
        "stacks cover InfluxDB 1 and 2"
    );
    out
}

fn collect_strings<'a>(v: &'a Value, path: String, out: &mut Vec<(String, &'a str)>) {
    match v {
        Value::String(s) => out.push((path, s)),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_strings(x, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                collect_strings(x, format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

fn collect_datasources<'a>(v: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_datasources(x, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                if k == "datasource" {
                    out.push((format!("{path}.{k}"), x));
                }
                collect_datasources(x, format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_dashboard_is_a_valid_grafana_10_2_model() {
    let all = every_dashboard();
    assert!(all.len() >= 12, "{} dashboards", all.len());
    for (name, d, ds_uid) in &all {
        assert_eq!(d["schemaVersion"], 39, "{name}: pinned schemaVersion");
        assert!(
            d["uid"]
                .as_str()
                .is_some_and(|u| !u.is_empty() && u.len() <= 40),
            "{name}: uid"
        );
        assert!(
            d["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}: title"
        );
        assert!(d.get("id").is_none(), "{name}: no id in provisioned JSON");

        // unique panel ids, rows' nested panels included
        let panels = all_panels(d);
        let mut ids = BTreeSet::new();
        for p in &panels {
            let id = p["id"]
                .as_i64()
                .unwrap_or_else(|| panic!("{name}: panel without id"));
            assert!(ids.insert(id), "{name}: panel id {id} used twice");
            assert!(
                p["type"].as_str().is_some(),
                "{name}: panel {id} has no type"
            );
        }

        // gridPos inside the 24 columns, and no two panels overlap (top level; each row's
        // nested panels among themselves)
        let mut groups = vec![
            d["panels"]
                .as_array()
                .expect("panels")
                .iter()
                .collect::<Vec<_>>(),
        ];
        for p in &panels {
            if let Some(nested) = p["panels"].as_array().filter(|n| !n.is_empty()) {
                groups.push(nested.iter().collect());
            }
        }
        for group in groups {
            let rects: Vec<(i64, [i64; 4])> = group
                .iter()
                .map(|p| {
                    let g = &p["gridPos"];
                    let r = ["x", "y", "w", "h"].map(|k| {
                        g[k].as_i64()
                            .unwrap_or_else(|| panic!("{name}: panel {} gridPos.{k}", p["id"]))
                    });
                    let [x, y, w, h] = r;
                    assert!(
                        x >= 0 && y >= 0 && w >= 1 && h >= 1 && x + w <= 24,
                        "{name}: panel {} gridPos {g}",
                        p["id"]
                    );
                    (p["id"].as_i64().expect("id"), r)
                })
                .collect();
            for (i, (a, [ax, ay, aw, ah])) in rects.iter().enumerate() {
                for (b, [bx, by, bw, bh]) in &rects[i + 1..] {
                    let overlap =
                        ax < &(bx + bw) && bx < &(ax + aw) && ay < &(by + bh) && by < &(ay + ah);
                    assert!(!overlap, "{name}: panels {a} and {b} overlap");
                }
            }
        }

        // every datasource reference resolves to the provisioned datasource
        let mut refs = Vec::new();
        collect_datasources(d, String::new(), &mut refs);
        assert!(refs.len() > 10, "{name}: datasource references");
        for (path, r) in refs {
            let builtin = r["type"] == "grafana" && r["uid"] == "-- Grafana --";
            let ok = builtin && path.starts_with(".annotations")
                || r["type"] == "influxdb" && r["uid"] == ds_uid.as_str();
            assert!(
                ok,
                "{name}: {path} = {r} does not resolve to datasource `{ds_uid}`"
            );
        }

        // every $variable used anywhere is defined (or a Grafana global)
        let defined: BTreeSet<&str> = d["templating"]["list"]
            .as_array()
            .expect("templating")
            .iter()
            .map(|v| v["name"].as_str().expect("name"))
            .collect();
        let mut strings = Vec::new();
        collect_strings(d, String::new(), &mut strings);
        let mut used = 0;
        for (path, s) in strings {
            for r in var_refs(s) {
                used += 1;
                assert!(
                    defined.contains(r.name.as_str()) || is_grafana_global(&r.name),
                    "{name}: {path} uses ${}, which is not defined in templating",
                    r.name
                );
            }
        }
        assert!(used > 10, "{name}: variable uses found");
        assert!(defined.contains("testid"), "{name}: a testid variable");
    }
}

// ------------------------------------------------------------------------------------------
// Flux queries (InfluxDB 2)
// ------------------------------------------------------------------------------------------

#[test]
fn flux_queries_filter_bucket_measurement_and_testid() {
    let (templates, loaded) = load_stack("promo");
    assert_eq!(*loaded.manifest.influxdb.version, 2);
    let bucket = loaded.manifest.influxdb.bucket.to_string();
    for (uid, d) in stack_dashboards(&loaded, &templates) {
        let mut text = String::new();
        let mut n = 0;
        // Properties every query of a generated dashboard FILE must have (the queries are
        // snapshotted whole in flux_*.snap; `contains` states the rule for each).
        let mut check = |label: String, q: &str, needs_testid: bool| {
            n += 1;
            text.push_str(&format!("==== {label}\n{q}\n"));
            assert!(
                !q.contains("SELECT "),
                "{uid} {label}: InfluxQL in a Flux dashboard"
            );
            if q.contains("schema.tagValues(") {
                assert!(
                    q.contains(&format!("bucket: \"{bucket}\"")),
                    "{uid} {label}: bucket"
                );
                assert!(
                    q.contains("r._measurement =="),
                    "{uid} {label}: measurement"
                );
                if needs_testid {
                    assert!(q.contains("r.testid =="), "{uid} {label}: testid");
                }
                return;
            }
            let parts: Vec<&str> = q.split("from(").skip(1).collect();
            assert!(!parts.is_empty(), "{uid} {label}: no from()");
            for part in parts {
                assert!(
                    part.starts_with(&format!("bucket: \"{bucket}\")")),
                    "{uid} {label}: from() must read bucket {bucket}"
                );
                assert!(
                    part.contains("r._measurement == \""),
                    "{uid} {label}: _measurement filter"
                );
                assert!(
                    part.contains("r.testid == \"${testid}\"")
                        || part.contains("r.testid == \"${baseline_testid}\""),
                    "{uid} {label}: testid filter"
                );
            }
        };
        for p in all_panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                check(
                    format!(
                        "panel {} {}",
                        p["id"],
                        t["refId"].as_str().unwrap_or_default()
                    ),
                    t["query"].as_str().expect("query"),
                    true,
                );
            }
        }
        for a in d["annotations"]["list"].as_array().expect("annotations") {
            if a["datasource"]["type"] != "influxdb" {
                continue;
            }
            // Grafana 10.2 runs a Flux annotation only in the standard model (`target.query`;
            // "Flux requires the standard annotation query") and reads the events from the
            // columns _time, timeEnd, text and tags.
            let name = &a["name"];
            assert!(a.get("query").is_none(), "{uid} {name}: InfluxQL model");
            let q = a["target"]["query"].as_str().expect("target.query");
            for column in ["{_time: r._time, timeEnd: ", ", text: ", ", tags: "] {
                assert!(q.contains(column), "{uid} {name}: no `{column}`");
            }
            check(format!("annotation {name}"), q, true);
        }
        for v in d["templating"]["list"].as_array().expect("variables") {
            let name = v["name"].as_str().expect("name");
            // the run pickers list runs: they cannot filter on one
            let lists_runs = matches!(
                name,
                "environment" | "promo_type" | "testid" | "baseline_testid"
            );
            check(
                format!("variable {name}"),
                v["query"].as_str().expect("query"),
                !lists_runs,
            );
        }
        assert!(n >= 10, "{uid}: {n} Flux queries");
        insta::assert_snapshot!(format!("flux_{uid}"), text);
    }
}

// ------------------------------------------------------------------------------------------
// Snapshots: every dashboard in fr and en, InfluxDB 1 and 2
// ------------------------------------------------------------------------------------------

#[test]
fn snapshots_of_every_dashboard_in_both_languages_and_both_versions() {
    let (templates, loaded) = load_stacks();
    let mut combos = BTreeSet::new();
    for l in &loaded {
        let version = *l.manifest.influxdb.version;
        let files = generated(l, &templates);
        for locale in ["fr", "en"] {
            for (uid, text) in render_with_locale(&templates, &l.manifest, locale) {
                let template = l
                    .manifest
                    .dashboards
                    .iter()
                    .find(|d| d.uid.as_str() == uid)
                    .expect("dashboard")
                    .template
                    .to_string();
                combos.insert((template.clone(), locale, version));
                let in_stack = &files[&format!("grafana/dashboards/{uid}.json")];
                if *in_stack == text {
                    // already in the per-stack snapshot (tests/it/generate.rs)
                    continue;
                }
                insta::assert_snapshot!(format!("dashboard_{template}_v{version}_{locale}"), text);
            }
        }
    }
    for template in ["marketing", "k6-technical"] {
        for locale in ["fr", "en"] {
            for version in [1, 2] {
                assert!(
                    combos.contains(&(template.to_string(), locale, version)),
                    "{template} {locale} v{version}"
                );
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Alerting provisioning
// ------------------------------------------------------------------------------------------

fn require(obj: &Value, keys: &[&str], what: &str) {
    for k in keys {
        assert!(
            obj.get(*k).is_some_and(|v| !v.is_null()),
            "{what}: required key `{k}` missing in {obj}"
        );
    }
}

/// Checks one alerting file against Grafana's file-provisioning format.
fn check_alerting_file(stack: &str, text: &str, m: &Manifest) {
    let doc: Value = serde_saphyr::from_str(text).expect("alerting YAML");
    let what = format!("{stack} alerting");
    assert_eq!(doc["apiVersion"], 1, "{what}: apiVersion");
    let known = [
        "apiVersion",
        "groups",
        "deleteRules",
        "contactPoints",
        "deleteContactPoints",
        "policies",
        "resetPolicies",
        "templates",
        "deleteTemplates",
        "muteTimes",
        "deleteMuteTimes",
    ];
    for k in doc.as_object().expect("map").keys() {
        assert!(
            known.contains(&k.as_str()),
            "{what}: unknown top-level key `{k}`"
        );
    }
    let groups = doc["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 1);
    let mut rules_seen = BTreeMap::new();
    for g in groups {
        require(g, &["orgId", "name", "folder", "interval", "rules"], &what);
        for r in g["rules"].as_array().expect("rules") {
            require(r, &["uid", "title", "condition", "data", "for"], &what);
            let uid = r["uid"].as_str().expect("uid");
            assert!(uid.len() <= 40, "{what}: rule uid too long");
            let data = r["data"].as_array().expect("data");
            let refs: BTreeSet<&str> = data
                .iter()
                .map(|d| d["refId"].as_str().expect("refId"))
                .collect();
            assert_eq!(refs.len(), data.len(), "{what} {uid}: unique refIds");
            let condition = r["condition"].as_str().expect("condition");
            assert!(
                refs.contains(condition),
                "{what} {uid}: condition {condition} is not a refId"
            );
            for d in data {
                require(d, &["refId", "datasourceUid", "model"], &what);
                let ds = d["datasourceUid"].as_str().expect("ds");
                if ds != "__expr__" {
                    assert_eq!(ds, format!("{stack}-influxdb"), "{what} {uid}: datasource");
                    let from = d["relativeTimeRange"]["from"].as_i64().unwrap_or(0);
                    assert!(
                        from > 0,
                        "{what} {uid}: a query needs a non-zero relativeTimeRange"
                    );
                    assert!(d["model"]["query"].as_str().is_some_and(|q| !q.is_empty()));
                } else {
                    let e = d["model"]["expression"].as_str().expect("expression");
                    assert!(refs.contains(e), "{what} {uid}: expression refers to {e}");
                }
            }
            for state in ["noDataState", "execErrState"] {
                if let Some(s) = r[state].as_str() {
                    assert!(
                        ["NoData", "Alerting", "OK", "Error"].contains(&s),
                        "{what}: {state} {s}"
                    );
                }
            }
            rules_seen.insert(
                r["labels"]["severity"]
                    .as_str()
                    .expect("severity")
                    .to_string(),
                r.clone(),
            );
        }
    }
    // the manifest's thresholds, with the right severities
    let rules = &m.alerting.as_ref().expect("alerting").rules;
    let threshold = |r: &Value| {
        r["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|d| d["refId"] == r["condition"])
            .expect("cond")["model"]["conditions"][0]["evaluator"]["params"][0]
            .as_f64()
            .expect("threshold")
    };
    assert_eq!(
        threshold(&rules_seen["critical"]),
        *rules.error_rate_critical_pct
    );
    assert_eq!(threshold(&rules_seen["warning"]), *rules.p95_warning_ms);

    let cps = doc["contactPoints"].as_array().expect("contactPoints");
    for cp in cps {
        require(cp, &["orgId", "name", "receivers"], &what);
        for r in cp["receivers"].as_array().expect("receivers") {
            require(r, &["uid", "type", "settings"], &what);
            assert_eq!(r["type"], "slack");
            let env = m
                .alerting
                .as_ref()
                .and_then(|a| a.slack.as_ref())
                .expect("slack")
                .webhook_url_env
                .to_string();
            assert_eq!(
                r["settings"]["url"],
                format!("${env}"),
                "{what}: the webhook comes from the environment"
            );
        }
    }
    let receivers: BTreeSet<&str> = cps
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    for p in doc["policies"].as_array().expect("policies") {
        require(p, &["orgId", "receiver"], &what);
        assert!(
            receivers.contains(p["receiver"].as_str().expect("receiver")),
            "{what}: policy receiver is a contact point"
        );
    }
    for t in doc["templates"].as_array().expect("templates") {
        require(t, &["name", "template"], &what);
    }

    // messages in the manifest's language, carrying testid, promo, environment and the value
    // (properties of the generated alerting FILE, for each locale and stack)
    let template = doc["templates"][0]["template"].as_str().expect("template");
    for label in ["testid", "promo_name", "promo_type", "environment"] {
        assert!(
            template.contains(&format!(".Labels.{label}")),
            "{what}: message carries {label}"
        );
    }
    assert!(
        template.contains(".Annotations.summary"),
        "{what}: message carries the summary"
    );
    let (env_word, firing) = if m.locale.as_str() == "en" {
        ("environment", "ALERT")
    } else {
        ("environnement", "ALERTE")
    };
    assert!(
        template.contains(env_word) && template.contains(firing),
        "{what}: message in {}",
        m.locale.as_str()
    );
    for r in rules_seen.values() {
        let summary = r["annotations"]["summary"].as_str().expect("summary");
        assert!(
            summary.contains("$values.B.Value"),
            "{what}: summary carries the value that fired: {summary}"
        );
        assert!(
            !summary.contains("$values.C.Labels"),
            "{what}: a threshold node has no labels to show: {summary}"
        );
        assert!(
            summary.contains(&format!(" {} ", threshold(r)))
                || summary.ends_with(&format!(" {}%", threshold(r))),
            "{what}: summary names the threshold {}: {summary}",
            threshold(r)
        );
    }
    let titles: Vec<&str> = rules_seen
        .values()
        .map(|r| r["title"].as_str().expect("title"))
        .collect();
    if m.locale.as_str() == "en" {
        assert!(titles.contains(&"Error rate critical"), "{titles:?}");
    } else {
        assert!(titles.contains(&"Taux d'erreur critique"), "{titles:?}");
    }
}

#[test]
fn alerting_files_follow_grafanas_file_provisioning_format() {
    let (templates, loaded) = load_stacks();
    for l in &loaded {
        let files = generated(l, &templates);
        let alerting: Vec<&String> = files
            .keys()
            .filter(|p| p.ends_with("provisioning/alerting/promo-infra.yaml"))
            .collect();
        assert!(!alerting.is_empty(), "{}: alerting files", l.stack());
        for path in alerting {
            check_alerting_file(l.stack(), &files[path], &l.manifest);
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

/// The generated provisioning of every stack loads into the Grafana DOUBLE (which follows
/// Grafana's provisioning docs; it is not Grafana): datasource, both dashboards in the stack's
/// folder, the two rules, the Slack contact point (webhook interpolated from the environment,
/// never written in the file) and the policy.
#[tokio::test]
async fn generated_provisioning_loads_into_the_grafana_double() {
    const WEBHOOK: &str = "https://hooks.slack.example/services/T000/B000/s3cr3t-webh00k";
    let (templates, loaded) = load_stacks();
    for l in &loaded {
        let stack = l.stack();
        let src = repo().join("generated").join(stack).join("grafana");
        // the committed generated/ must be what compile produces (CI checks it too)
        let files = generated(l, &templates);
        for (p, text) in &files {
            if let Some(rel) = p.strip_prefix("grafana/") {
                let on_disk = std::fs::read_to_string(src.join(rel)).unwrap_or_default();
                assert_eq!(
                    &on_disk, text,
                    "generated/{stack}/{p} is stale: run `promo-infra generate`"
                );
            }
        }
        let tmp = tempfile::tempdir().expect("tmp");
        let prov = tmp.path().join("provisioning");
        copy_dir(&src.join("provisioning"), &prov);
        // Dashboards are not provisioned from files (apply uploads them through the API, so
        // the UI can save them): no dashboard provider is generated.
        assert!(
            !prov.join("dashboards").exists(),
            "{stack}: no dashboards provisioning"
        );

        for f in ["alerting/promo-infra.yaml", "datasources/promo-infra.yaml"] {
            let t = std::fs::read_to_string(prov.join(f)).expect("file");
            // Negative: a secret (the webhook) never reaches a file.
            assert!(
                !t.contains(WEBHOOK) && !t.contains("hooks.slack"),
                "{stack} {f}: no webhook in files"
            );
        }
        let env = BTreeMap::from([
            ("SLACK_WEBHOOK_URL".to_string(), WEBHOOK.to_string()),
            (
                "INFLUXDB_GRAFANA_PASSWORD".to_string(),
                "pw-influx-read".to_string(),
            ),
            (
                "INFLUXDB_ADMIN_TOKEN".to_string(),
                "tok-influx-admin".to_string(),
            ),
        ]);
        let g = promo_doubles::grafana::spawn_with(
            promo_doubles::grafana::GrafanaConfig {
                provisioning_dir: Some(prov.clone()),
                ..Default::default()
            },
            promo_doubles::grafana::SpawnOptions {
                env,
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{stack}: the Grafana double refused the provisioning: {e}"));
        let st = g.state();
        assert!(
            st.provisioning_warnings().is_empty(),
            "{stack}: {:?}",
            st.provisioning_warnings()
        );

        let ds = st.datasources();
        assert_eq!(ds.len(), 1);
        assert_eq!(ds[0].uid, format!("{stack}-influxdb"));

        // Nothing provisions a dashboard (the folder `<stack>` is apply's, through the API).
        assert_eq!(
            st.dashboards().len(),
            0,
            "{stack}: no provisioned dashboard"
        );

        let rules = st.alert_rules();
        let rule_uids: BTreeSet<String> = rules.iter().map(|r| r.uid.clone()).collect();
        assert_eq!(
            rule_uids,
            BTreeSet::from([format!("{stack}-error-rate"), format!("{stack}-p95")])
        );
        // The rules' folder is their own (`promo-infra: <stack> alerts`, created by title with a
        // random uid as Grafana 10.2 does), so the dashboards' folder keeps the uid `<stack>`.
        let rule_folders: BTreeSet<String> = rules.iter().map(|r| r.folder_uid.clone()).collect();
        assert_eq!(rule_folders.len(), 1, "{stack}: one rule folder");
        for r in &rules {
            assert_ne!(
                r.folder_uid, stack,
                "{stack}: rules are not in the dashboards' folder"
            );
            assert_eq!(r.condition, "C");
            assert_eq!(r.provenance, "file");
            assert_eq!(r.no_data_state, "OK");
        }
        let cps = st.contact_points();
        let slack = cps
            .iter()
            .find(|c| c.kind == "slack")
            .expect("slack contact point");
        assert_eq!(
            slack.settings["url"], WEBHOOK,
            "{stack}: webhook read from the environment"
        );
        assert_eq!(slack.provenance, "file");
        let (policy, provenance) = st.policy();
        assert_eq!(
            policy["receiver"], slack.name,
            "{stack}: policy sends to Slack"
        );
        assert_eq!(provenance, "file");
        let tpl = st.templates();
        assert_eq!(tpl.len(), 1);
        // The template as the Grafana double stored it (third-party state).
        assert!(
            tpl[0]
                .template
                .contains(&format!("define \"{stack}.text\""))
        );
        g.shutdown().await;
    }
}

/// The technical dashboard with one URL picked in `$url`: requests, p95 and the URL table
/// show that URL only (k6 names requests by URL, so the value holds `/`, `.` and `?`).
async fn check_url_filter(influx: &Influx, dash: &Value, run: &Run, range: (i64, i64)) {
    let panels = all_panels(dash);
    let query = |id: i64| {
        panels
            .iter()
            .find(|p| p["id"] == id)
            .and_then(|p| p["targets"][0]["query"].as_str())
            .unwrap_or_else(|| panic!("technical panel {id}"))
    };
    for url in [fx::HOME, fx::PRODUCT, fx::CART] {
        let picks = BTreeMap::from([
            ("testid", Pick::One(run.testid.into())),
            ("url", Pick::One(url.into())),
        ]);
        let reqs: Vec<Request> = run
            .requests()
            .into_iter()
            .filter(|r| r.name == url)
            .collect();
        let d = fx::durations(&reqs);
        for (id, column, expected) in [
            (2, "requests", reqs.len() as f64),
            (5, "p95", fx::percentile(&d, 95.0)),
            (15, "p95", fx::percentile(&d, 95.0)),
        ] {
            let q = interpolate(query(id), dash, &picks, range, "10s");
            let res = influx
                .query(&q)
                .await
                .unwrap_or_else(|e| panic!("panel {id} with $url = {url}: {e}\n  {q}"));
            close(
                single(&res, column, &q),
                expected,
                &format!("panel {id}, $url = {url}"),
            );
        }
    }
}

/// `dashboards-src/overrides/<uid>.json` applies to every stack declaring the uid;
/// `overrides/<stack>/<uid>.json` (what `dashboards pull` writes) to that stack only, in its
/// place — `[]` there means "no edit" for that stack.
#[test]
fn a_stacks_own_overlay_shadows_the_shared_one_for_that_stack_only() {
    let p = crate::common::TestContext::with_repo_stacks();
    let title = |stack: &str| {
        let g = p.run(&["-f", &format!("stacks/{stack}.yaml"), "generate"]);
        assert_eq!(g.code, 0, "{}", g.all());
        let d: Value = serde_json::from_str(&p.read(&format!(
            "generated/{stack}/grafana/dashboards/promo-marketing.json"
        )))
        .expect("json");
        d["title"].as_str().expect("title").to_string()
    };
    let template = title("promo");
    let set_title = |t: &str| format!(r#"[{{"op":"replace","path":"/title","value":"{t}"}}]"#);
    p.write(
        "dashboards-src/overrides/promo-marketing.json",
        &set_title("Shared"),
    );
    assert_eq!(
        (title("promo"), title("promo-v1")),
        ("Shared".into(), "Shared".into())
    );
    p.write(
        "dashboards-src/overrides/promo/promo-marketing.json",
        &set_title("Promo's"),
    );
    assert_eq!(
        (title("promo"), title("promo-v1")),
        ("Promo's".into(), "Shared".into())
    );
    p.write("dashboards-src/overrides/promo/promo-marketing.json", "[]");
    assert_eq!(
        (title("promo"), title("promo-v1")),
        (template, "Shared".into())
    );
}
