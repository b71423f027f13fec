//! Printers of `runs list`, `runs show`, `runs compare` and `runs export --csv`.
//!
//! Owns: their lines, tables, JSON and CSV (times in UTC; ms without decimals, % with two).
//! May not: decide exit codes or errors, read the environment, query anything.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use super::super::output::Out;
use crate::error::{Error, Result};
use crate::influx::formulas::Stat;
use crate::k6::grade::{Bands, Grade};
use crate::k6::run::Ending;
use crate::runs::record::{self, RunFile};
use crate::runs::source::Values;
use crate::runs::verdict::{Comparison, Impact};
use crate::runs::{Listing, RunStats};

/// `2026-11-27 09:30:00` (UTC) from RFC 3339; the text as is when it is not.
fn utc(text: &str) -> String {
    text.parse::<jiff::Timestamp>().map_or_else(
        |_| text.to_string(),
        |t| t.strftime("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn utc_ns(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns)).map_or_else(
        |_| ns.to_string(),
        |t| t.strftime("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn duration(from: &str, to: &str) -> String {
    match (
        from.parse::<jiff::Timestamp>(),
        to.parse::<jiff::Timestamp>(),
    ) {
        (Ok(a), Ok(b)) => format!("{} s", (b.as_second() - a.as_second()).max(0)),
        _ => "-".into(),
    }
}

/// How the run ended, in words; `running` is the test id of the run in progress, if any.
fn outcome(r: &RunFile, running: Option<&str>) -> String {
    let Some(ending) = r.ending else {
        return match record::ending_name(r, running) {
            "running" => "running".into(),
            _ => "unknown (no outcome recorded)".into(),
        };
    };
    match ending {
        Ending::Completed => "completed".into(),
        Ending::AbortedByThresholds => "aborted by thresholds".into(),
        Ending::Stopped => format!(
            "stopped by hand ({})",
            r.stopped_by.as_deref().unwrap_or("signal")
        ),
        Ending::Failed => format!(
            "failed (k6 exit {})",
            r.exit_code.map_or_else(|| "?".into(), |c| c.to_string())
        ),
    }
}

/// Why a run has no outcome, and where its numbers are.
fn no_outcome(testid: &str) -> String {
    crate::cli::term::suggested(&format!(
        "test {testid}: no outcome recorded: its `k6 run` ended without recording one \
         (killed?), so how the test ended, its grade and its end time are unknown; InfluxDB has \
         its points: `promo-infra runs show {testid}`"
    ))
}

fn grade_cell(g: Option<&Grade>) -> String {
    g.map_or_else(|| "-".into(), |g| format!("{} ({}/100)", g.letter, g.score))
}

fn or_dash(s: Option<&str>) -> String {
    s.filter(|s| !s.is_empty()).unwrap_or("-").to_string()
}

/// `runs list`: one row per run, or how to make the first; unreadable records as warnings.
pub fn list(out: &mut Out<impl Write>, l: &Listing) {
    if l.runs.is_empty() && l.problems.is_empty() {
        out.line("no runs recorded yet (`promo-infra k6 run SCRIPT` records each run)");
        return;
    }
    out.table(
        &[
            "TESTID",
            "START (UTC)",
            "DURATION",
            "PROMO",
            "TYPE",
            "ENV",
            "INTENSITY",
            "OUTCOME",
            "GRADE",
            "BASELINE",
        ],
        l.runs
            .iter()
            .map(|r| {
                vec![
                    r.testid.clone(),
                    utc(&r.started_at),
                    duration(&r.started_at, r.ended_at.as_deref().unwrap_or_default()),
                    r.promo.clone(),
                    r.promo_type.clone(),
                    or_dash(Some(&r.environment)),
                    or_dash(r.intensity.as_deref()),
                    outcome(r, l.running.as_deref()),
                    grade_cell(r.grade.as_ref()),
                    or_dash(r.baseline.as_deref()),
                ]
            })
            .collect(),
    );
    for r in &l.runs {
        if record::ending_name(r, l.running.as_deref()) == "unknown" {
            out.warn(&no_outcome(&r.testid));
        }
    }
    for p in &l.problems {
        out.warn(&p.to_string());
    }
}

/// `runs list --json`.
pub fn list_json(out: &mut Out<impl Write>, l: &Listing) -> Result<()> {
    #[derive(Serialize)]
    struct Body<'a> {
        runs: &'a [RunFile],
        unreadable: Vec<String>,
        running: Option<&'a str>,
    }
    out.versioned_json(&Body {
        runs: &l.runs,
        unreadable: l.problems.iter().map(Error::to_string).collect(),
        running: l.running.as_deref(),
    })
}

/// `runs show --json`: the run, its range, every statistic by name, its grade.
#[derive(Serialize)]
pub struct StatsJson<'a> {
    testid: &'a str,
    start: String,
    end: String,
    stats: BTreeMap<&'static str, f64>,
    grade: Option<&'a Grade>,
    record: Option<&'a RunFile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    capacity: Option<&'a crate::runs::capacity::Estimate>,
}

impl<'a> StatsJson<'a> {
    /// The JSON of `s`.
    pub fn new(s: &'a RunStats) -> Self {
        Self {
            testid: &s.testid,
            start: s.range.start(),
            end: s.range.end(),
            stats: s.values.iter().map(|(k, v)| (k.name(), *v)).collect(),
            grade: s.grade.as_ref(),
            record: s.record.as_ref(),
            capacity: s.capacity.as_ref(),
        }
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.0} ms"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.2} %"))
}

fn num(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

/// `runs show`: what the run was, then the numbers behind its grade.
pub fn show(out: &mut Out<impl Write>, s: &RunStats, b: &Bands) {
    let g = |stat| s.get(stat);
    match &s.record {
        Some(r) => {
            let intensity = r
                .intensity
                .as_ref()
                .map_or_else(String::new, |i| format!(", intensity {i}"));
            out.line(&format!(
                "test {}: {} ({}), environment {}{intensity}; {}",
                s.testid,
                r.promo,
                r.promo_type,
                or_dash(Some(&r.environment)),
                outcome(r, s.running.then_some(s.testid.as_str()))
            ));
            if r.ending.is_none() && !s.running {
                out.warn(&no_outcome(&s.testid));
            }
        }
        None => out.line(&format!(
            "test {} (no local record: run elsewhere, or its run directory is another)",
            s.testid
        )),
    }
    let secs = (s.range.end_ns - s.range.start_ns) / 1_000_000_000;
    out.line(&format!(
        "data from {} to {} UTC ({secs} s)",
        utc_ns(s.range.start_ns),
        utc_ns(s.range.end_ns)
    ));
    let errors = format!(
        "{} (4xx {}, 5xx {})",
        pct(g(Stat::Errors).or(g(Stat::P95).map(|_| 0.0))),
        pct(g(Stat::Errors4xx)),
        pct(g(Stat::Errors5xx))
    );
    let grade = s.grade.as_ref().map_or_else(
        || "-".into(),
        |gr| {
            format!(
                "{} ({}/100) against p95 {}/{} ms and errors {}/{} %",
                gr.letter, gr.score, b.p95_ok_ms, b.p95_warn_ms, b.error_ok_pct, b.error_warn_pct
            )
        },
    );
    out.table(
        &["MEASURE", "VALUE"],
        vec![
            vec![
                "response time".into(),
                format!(
                    "p50 {} · p95 {} · p99 {}",
                    ms(g(Stat::P50)),
                    ms(g(Stat::P95)),
                    ms(g(Stat::P99))
                ),
            ],
            vec!["errors".into(), errors],
            vec!["peak VUs".into(), num(g(Stat::PeakVus), 0)],
            vec![
                "requests".into(),
                format!("{} ({}/s)", num(g(Stat::Requests), 0), num(g(Stat::Rps), 2)),
            ],
            vec!["checks passed".into(), pct(g(Stat::Checks))],
            vec!["grade".into(), grade],
            vec![
                "capacity".into(),
                s.capacity
                    .as_ref()
                    .map_or_else(|| "-".into(), super::capacity::cell),
            ],
        ],
    );
}

fn signed(v: Option<f64>, unit: &str, decimals: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:+.decimals$}{unit}"))
}

/// `runs compare`: both runs side by side, the extra cost, the verdict.
pub fn compare(out: &mut Out<impl Write>, c: &Comparison, locale: &str) {
    let row = |what: &str, s: &RunStats| {
        vec![
            what.to_string(),
            s.testid.clone(),
            ms(s.get(Stat::P95)),
            pct(s.get(Stat::Errors).or(s.get(Stat::P95).map(|_| 0.0))),
            s.grade.as_ref().map_or_else(
                || "-".into(),
                |g| {
                    format!(
                        "{} ({}/100)",
                        crate::runs::verdict::grade_name(locale, g),
                        g.score
                    )
                },
            ),
        ]
    };
    out.table(
        &["", "TESTID", "P95", "ERRORS", "GRADE"],
        vec![row("run", &c.run), row("baseline", &c.baseline)],
    );
    let i = &c.impact;
    out.line(&format!(
        "extra response time (p95): {} ({})",
        signed(i.extra_p95_ms, " ms", 0),
        signed(i.extra_p95_pct, " %", 1)
    ));
    out.line(&format!(
        "extra errors: {}",
        signed(i.extra_errors_pts, " points", 2)
    ));
    out.line(&format!("verdict: {}", i.verdict));
}

/// `runs compare --json`.
pub fn compare_json(out: &mut Out<impl Write>, c: &Comparison) -> Result<()> {
    #[derive(Serialize)]
    struct Body<'a> {
        run: StatsJson<'a>,
        baseline: StatsJson<'a>,
        #[serde(flatten)]
        impact: &'a Impact,
    }
    out.versioned_json(&Body {
        run: StatsJson::new(&c.run),
        baseline: StatsJson::new(&c.baseline),
        impact: &c.impact,
    })
}

/// The CSV column of a statistic.
fn column(s: Stat) -> &'static str {
    match s {
        Stat::P50 => "p50_ms",
        Stat::P95 => "p95_ms",
        Stat::P99 => "p99_ms",
        Stat::Errors => "errors_pct",
        Stat::Errors4xx => "errors_4xx_pct",
        Stat::Errors5xx => "errors_5xx_pct",
        Stat::PeakVus => "peak_vus",
        Stat::Rps => "rps",
        Stat::Checks => "checks_pass_pct",
        Stat::Requests => "requests",
    }
}

fn cells(values: Option<&Values>) -> Vec<String> {
    Stat::ALL
        .iter()
        .map(|s| {
            values
                .and_then(|v| v.get(s))
                .map_or_else(String::new, |v| csv_number(*v))
        })
        .collect()
}

/// A statistic for a spreadsheet: at most 6 decimals, no trailing zeros. InfluxDB sums a mean's
/// points in no fixed order, so the 16th digit varies between two exports of the same run.
fn csv_number(v: f64) -> String {
    let text = format!("{v:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.to_string()
    }
}

fn write_csv(out: &mut Out<impl Write>, header: Vec<String>, rows: Vec<Vec<String>>) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::internal(format!("cannot write CSV: {e}"));
    w.write_record(&header).map_err(fail)?;
    for r in rows {
        w.write_record(&r).map_err(fail)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::internal(format!("cannot write CSV: {e}")))?;
    out.raw(&String::from_utf8_lossy(&bytes));
    Ok(())
}

/// `runs export --csv`: one row per recorded run (statistics empty when InfluxDB has none).
pub fn runs_csv(
    out: &mut Out<impl Write>,
    rows: &[(RunFile, Option<RunStats>)],
    running: Option<&str>,
) -> Result<()> {
    let mut header: Vec<String> = [
        "testid",
        "promo",
        "promo_type",
        "environment",
        "intensity",
        "baseline",
        "started_at",
        "ended_at",
        "outcome",
        "stopped_by",
        "exit_code",
        "grade",
        "score",
    ]
    .map(String::from)
    .to_vec();
    header.extend(Stat::ALL.map(|s| column(s).to_string()));
    let rows = rows
        .iter()
        .map(|(r, stats)| {
            let mut row = vec![
                r.testid.clone(),
                r.promo.clone(),
                r.promo_type.clone(),
                r.environment.clone(),
                r.intensity.clone().unwrap_or_default(),
                r.baseline.clone().unwrap_or_default(),
                r.started_at.clone(),
                r.ended_at.clone().unwrap_or_default(),
                record::ending_name(r, running).to_string(),
                r.stopped_by.clone().unwrap_or_default(),
                r.exit_code.map_or_else(String::new, |c| c.to_string()),
                r.grade.map_or_else(String::new, |g| g.letter.to_string()),
                r.grade.map_or_else(String::new, |g| g.score.to_string()),
            ];
            row.extend(cells(stats.as_ref().map(|s| &s.values)));
            row
        })
        .collect();
    write_csv(out, header, rows)
}

/// `runs export TESTID --csv --bucket D`: one row per bucket, by its start (RFC 3339 UTC).
pub fn buckets_csv(out: &mut Out<impl Write>, rows: &BTreeMap<i64, Values>) -> Result<()> {
    let mut header = vec!["time".to_string()];
    header.extend(Stat::ALL.map(|s| column(s).to_string()));
    let rows = rows
        .iter()
        .map(|(t, v)| {
            let time = jiff::Timestamp::from_nanosecond(i128::from(*t))
                .map_or_else(|_| t.to_string(), |ts| ts.to_string());
            let mut row = vec![time];
            row.extend(cells(Some(v)));
            row
        })
        .collect();
    write_csv(out, header, rows)
}
