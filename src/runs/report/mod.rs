//! `runs report TESTID [--baseline ID]`: one self-contained HTML page a marketing person reads
//! after a test — the grade, the verdict against the baseline, the capacity, and three charts over
//! the run (VUs; response time p50/p95/p99; error rate), drawn as inline SVG by `plotters` (no
//! script, no network when it is opened) — and a PNG of it taken by headless Chromium.
//!
//! Owns: the page ([`html`]), its charts ([`charts`]) and its screenshot ([`screenshot`]).
//! May not: print, read the environment but through [`crate::settings`], query InfluxDB (the
//! numbers come in).

pub mod charts;
mod screenshot;

use std::collections::BTreeMap;
use std::fmt::Write as _;

pub use screenshot::{Png, screenshot};

use super::RunStats;
use super::source::Values;
use super::verdict::{Comparison, grade_name};
use crate::influx::formulas::Stat;
use crate::k6::grade::Colour;

/// The words of the page, in the stack's language.
struct Words {
    title: &'static str,
    grade: &'static str,
    verdict: &'static str,
    baseline: &'static str,
    extra_p95: &'static str,
    extra_errors: &'static str,
    capacity: &'static str,
    users: &'static str,
    response: &'static str,
    errors: &'static str,
    from: &'static str,
    to: &'static str,
    no_grade: &'static str,
    /// Instead of a chart with fewer than two points (`{secs}`, `{bucket}`: whole seconds).
    too_little: &'static str,
    /// Instead of a chart without points although the run lasted two intervals or more.
    no_points: &'static str,
}

const EN: Words = Words {
    title: "Load test report",
    grade: "Grade",
    verdict: "Verdict",
    baseline: "against the baseline run",
    extra_p95: "extra response time (p95)",
    extra_errors: "extra errors",
    capacity: "Capacity",
    users: "Concurrent users",
    response: "Response time (ms): p50, p95, p99",
    errors: "Errors (%)",
    from: "from",
    to: "to",
    no_grade: "no grade: the run has no response times",
    too_little: "Too little data for a chart: the run lasted {secs} s, under two intervals of {bucket} s.",
    no_points: "No data for this chart: InfluxDB has no point of these measurements for this run.",
};

const FR: Words = Words {
    title: "Rapport de test de charge",
    grade: "Note",
    verdict: "Verdict",
    baseline: "par rapport au test de référence",
    extra_p95: "temps de réponse en plus (p95)",
    extra_errors: "erreurs en plus",
    capacity: "Capacité",
    users: "Visiteurs simultanés",
    response: "Temps de réponse (ms) : p50, p95, p99",
    errors: "Erreurs (%)",
    from: "du",
    to: "au",
    no_grade: "pas de note : le test n'a pas de temps de réponse",
    too_little: "Trop peu de données pour un graphique : le test a duré {secs} s, moins de deux intervalles de {bucket} s.",
    no_points: "Aucune donnée pour ce graphique : InfluxDB n'a aucun point de ces mesures pour ce test.",
};

fn words(locale: &str) -> &'static Words {
    if locale == "en" { &EN } else { &FR }
}

/// HTML text of `s`, escaped.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn colour(c: Colour) -> &'static str {
    match c {
        Colour::Green => "#2e7d32",
        Colour::Orange => "#ef6c00",
        Colour::Red => "#c62828",
    }
}

/// The report page of `run` (its numbers `per` bucket of `bucket_s` seconds, by bucket start in
/// ns), with the comparison against its baseline when there is one and the capacity line when
/// given. A chart whose series have fewer than two points each (a run shorter than two buckets)
/// is a sentence saying so, not an empty frame.
pub fn html(
    run: &RunStats,
    per: &BTreeMap<i64, Values>,
    bucket_s: u32,
    compared: Option<&Comparison>,
    capacity: Option<&str>,
    locale: &str,
) -> String {
    let w = words(locale);
    let promo = run.record.as_ref().map_or("", |r| r.promo.as_str());
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{} — {}</h1>\n<p class=\"meta\">{} {} {} {} UTC</p>\n",
        esc(w.title),
        esc(if promo.is_empty() { &run.testid } else { promo }),
        esc(&run.testid),
        esc(w.from),
        esc(&run.range.start().replace('T', " ").replace('Z', "")),
        esc(&format!(
            "{} {}",
            w.to,
            run.range.end().replace('T', " ").replace('Z', "")
        )),
    );
    match &run.grade {
        Some(g) => {
            let _ = writeln!(
                body,
                "<div class=\"grade\" style=\"background:{}\"><span class=\"label\">{}</span> <b>{}</b> ({}/100) — p95 {:.0} ms, {:.2} %</div>",
                colour(g.colour),
                esc(w.grade),
                esc(grade_name(locale, g)),
                g.score,
                g.measured.p95_ms,
                g.measured.error_pct
            );
        }
        None => {
            let _ = writeln!(body, "<div class=\"grade none\">{}</div>", esc(w.no_grade));
        }
    }
    if let Some(c) = compared {
        let i = &c.impact;
        let signed = |v: Option<f64>, unit: &str, d: usize| {
            v.map_or_else(|| "-".into(), |v| format!("{v:+.d$}{unit}"))
        };
        let _ = writeln!(
            body,
            "<div class=\"verdict\"><b>{}</b> ({} {}): {}<br>{}: {} ({}) · {}: {}</div>",
            esc(w.verdict),
            esc(w.baseline),
            esc(&c.baseline.testid),
            esc(&i.verdict),
            esc(w.extra_p95),
            signed(i.extra_p95_ms, " ms", 0),
            signed(i.extra_p95_pct, " %", 1),
            esc(w.extra_errors),
            signed(i.extra_errors_pts, " pts", 2),
        );
    }
    if let Some(text) = capacity {
        let _ = writeln!(
            body,
            "<p class=\"capacity\"><b>{}</b>: {}</p>",
            esc(w.capacity),
            esc(text)
        );
    }
    let start = run.range.start_ns;
    let series = |stats: &[Stat]| -> Vec<(&'static str, Vec<(f64, f64)>)> {
        stats
            .iter()
            .map(|s| {
                let points = per
                    .iter()
                    .filter_map(|(t, v)| v.get(s).map(|y| ((t - start) as f64 / 1e9, *y)))
                    .collect();
                (s.name(), points)
            })
            .collect()
    };
    for (title, stats) in [
        (w.users, &[Stat::PeakVus][..]),
        (w.response, &[Stat::P50, Stat::P95, Stat::P99][..]),
        (w.errors, &[Stat::Errors][..]),
    ] {
        let series = series(stats);
        let chart = if series.iter().any(|(_, points)| points.len() >= 2) {
            charts::svg(&series)
        } else {
            let secs = (run.range.end_ns - run.range.start_ns) / 1_000_000_000;
            // Under two intervals, the run is too short; longer, its points are missing.
            let text = if secs < 2 * i64::from(bucket_s) {
                w.too_little
                    .replace("{secs}", &secs.to_string())
                    .replace("{bucket}", &bucket_s.to_string())
            } else {
                w.no_points.to_string()
            };
            format!("<p class=\"empty\">{}</p>\n", esc(&text))
        };
        let _ = write!(
            body,
            "<section><h2>{}</h2>\n{chart}</section>\n",
            esc(title)
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\"><title>{title}</title>\n<style>\n\
         body{{font-family:sans-serif;margin:24px;max-width:1100px;color:#222}}\n\
         h1{{font-size:26px;margin:0 0 4px}} h2{{font-size:18px;margin:18px 0 6px}}\n\
         .meta{{color:#666;margin:0 0 14px}}\n\
         .grade{{color:#fff;font-size:22px;padding:14px 18px;border-radius:8px}} .grade.none{{background:#777}}\n\
         .verdict{{margin-top:12px;padding:12px 18px;background:#f3f3f3;border-radius:8px;font-size:17px}}\n\
         .capacity{{font-size:16px}}\n\
         </style></head>\n<body>\n{body}</body></html>\n",
        lang = if locale == "en" { "en" } else { "fr" },
        title = esc(&format!("{} — {}", w.title, run.testid)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::source::Range;

    fn run_of(seconds: i64) -> RunStats {
        RunStats {
            testid: "promo_20261129_101500_abcdef12".into(),
            range: Range {
                start_ns: 1_700_000_000_000_000_000,
                end_ns: 1_700_000_000_000_000_000 + seconds * 1_000_000_000,
            },
            values: Values::new(),
            grade: None,
            record: None,
            capacity: None,
            running: false,
        }
    }

    /// A chart without points says why: a run too short for two intervals, or (found in
    /// review) a long run whose measurements InfluxDB has no point of, which the "too short"
    /// sentence described wrongly as lasting under two intervals.
    #[test]
    fn a_chart_without_points_says_why() {
        let page = |secs| html(&run_of(secs), &BTreeMap::new(), 10, None, None, "en");
        assert!(page(5).contains(
            "Too little data for a chart: the run lasted 5 s, under two intervals of 10 s."
        ));
        let long = page(600);
        assert!(!long.contains("Too little data"), "{long}");
        assert_eq!(
            long.matches(
                "No data for this chart: InfluxDB has no point of these measurements for this run."
            )
            .count(),
            3
        );
    }
}
