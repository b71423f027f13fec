//! A promo run compared with its baseline run: the promo's extra cost (p95 in ms and %, error
//! rate in points) — the marketing dashboard's "promotion impact" panels, computed from the
//! same formulas — and a verdict in the stack's language, from the promo's grade.
//!
//! The verdict: no extra cost when the promo is neither slower (p95) nor less reliable (error
//! rate) than its baseline; otherwise the promo's grade colour decides: green "the site holds
//! the promotion", orange "the promotion slows the site down", red "the site does not hold the
//! promotion". Grade names are the dashboards' (`grade_a`… in `dashboards-src/i18n/*.yaml`).
//!
//! Owns: the comparison's arithmetic and words. May not: do IO, print.

use serde::Serialize;

use super::RunStats;
use crate::influx::formulas::Stat;
use crate::k6::grade::{Colour, Grade};

/// A promo run against its baseline.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The promo run.
    pub run: RunStats,
    /// The baseline run.
    pub baseline: RunStats,
    /// The numbers and the verdict.
    pub impact: Impact,
}

/// The promo's extra cost and the verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Impact {
    /// p95 of the run minus p95 of the baseline, ms.
    pub extra_p95_ms: Option<f64>,
    /// (p95 of the run ÷ p95 of the baseline − 1) × 100.
    pub extra_p95_pct: Option<f64>,
    /// Error rate of the run minus the baseline's, percentage points.
    pub extra_errors_pts: Option<f64>,
    /// The verdict, one sentence in the stack's language.
    pub verdict: String,
}

struct Words {
    no_cost: &'static str,
    holds: &'static str,
    slows: &'static str,
    breaks: &'static str,
    grade: &'static str,
    baseline: &'static str,
    unknown: &'static str,
    grades: [&'static str; 5],
}

const EN: Words = Words {
    no_cost: "No extra cost: the site is as fast and as reliable as during the baseline run",
    holds: "The site holds the promotion",
    slows: "The promotion slows the site down",
    breaks: "The site does not hold the promotion",
    grade: "grade",
    baseline: "baseline",
    unknown: "No verdict: one of the runs has no response times",
    grades: [
        "A – Excellent",
        "B – Good",
        "C – Fair",
        "D – Poor",
        "F – Critical",
    ],
};

const FR: Words = Words {
    no_cost: "Aucun surcoût : le site est aussi rapide et aussi fiable que pendant le test de référence",
    holds: "Le site tient la promotion",
    slows: "La promotion ralentit le site",
    breaks: "Le site ne tient pas la promotion",
    grade: "note",
    baseline: "référence",
    unknown: "Pas de verdict : un des deux tests n'a pas de temps de réponse",
    grades: [
        "A – Excellent",
        "B – Bien",
        "C – Moyen",
        "D – Mauvais",
        "F – Critique",
    ],
};

fn words(locale: &str) -> &'static Words {
    if locale == "en" { &EN } else { &FR }
}

/// The grade's name in `locale` (`B – Good`).
pub fn grade_name(locale: &str, g: &Grade) -> &'static str {
    let i = "ABCDF".find(g.letter).unwrap_or(4);
    words(locale).grades[i]
}

fn diff(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? - b?)
}

/// Compare `run` with `baseline`; the verdict in `locale` (`fr`, `en`).
pub fn compare(run: RunStats, baseline: RunStats, locale: &str) -> Comparison {
    let (p, b) = (run.get(Stat::P95), baseline.get(Stat::P95));
    let extra_p95_ms = diff(p, b);
    let extra_p95_pct = match (p, b) {
        (Some(p), Some(b)) if b > 0.0 => Some((p / b - 1.0) * 100.0),
        _ => None,
    };
    // A run without failed requests has an error rate of 0, not "unknown".
    let errors = |s: &RunStats| s.get(Stat::Errors).or(s.get(Stat::P95).map(|_| 0.0));
    let extra_errors_pts = diff(errors(&run), errors(&baseline));
    let w = words(locale);
    let verdict = match (extra_p95_ms, extra_errors_pts, run.grade, baseline.grade) {
        (Some(ms), Some(pts), _, _) if ms <= 0.0 && pts <= 0.0 => w.no_cost.to_string(),
        (Some(_), Some(_), Some(g), Some(bg)) => {
            let head = match g.colour {
                Colour::Green => w.holds,
                Colour::Orange => w.slows,
                Colour::Red => w.breaks,
            };
            format!(
                "{head} ({} {}, {}/100; {} {}, {}/100)",
                w.grade,
                grade_name(locale, &g),
                g.score,
                w.baseline,
                grade_name(locale, &bg),
                bg.score
            )
        }
        _ => w.unknown.to_string(),
    };
    Comparison {
        run,
        baseline,
        impact: Impact {
            extra_p95_ms,
            extra_p95_pct,
            extra_errors_pts,
            verdict,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k6::grade::{Bands, Measured, grade};
    use crate::runs::source::{Range, Values};

    fn stats(p95: f64, errors: f64) -> RunStats {
        let bands = Bands {
            p95_ok_ms: 1000.0,
            p95_warn_ms: 2000.0,
            error_ok_pct: 0.1,
            error_warn_pct: 1.0,
        };
        let mut values = Values::new();
        values.insert(Stat::P95, p95);
        values.insert(Stat::Errors, errors);
        let m = Measured {
            p95_ms: p95,
            error_pct: errors,
            requests: None,
        };
        RunStats {
            testid: "t".into(),
            range: Range {
                start_ns: 0,
                end_ns: 1,
            },
            values,
            grade: Some(grade(m, &bands)),
            record: None,
            capacity: None,
            running: false,
        }
    }

    #[test]
    fn the_verdict_follows_the_cost_then_the_promo_grade() {
        let c = compare(stats(300.0, 0.0), stats(300.0, 0.05), "en");
        assert_eq!(c.impact.verdict, EN.no_cost);
        assert_eq!(
            (c.impact.extra_p95_ms, c.impact.extra_p95_pct),
            (Some(0.0), Some(0.0))
        );
        let c = compare(stats(600.0, 0.0), stats(300.0, 0.0), "en");
        assert_eq!(
            c.impact.verdict,
            "The site holds the promotion (grade A – Excellent, 88/100; baseline A – Excellent, 94/100)"
        );
        assert_eq!(c.impact.extra_p95_pct, Some(100.0));
        let c = compare(stats(1500.0, 0.0), stats(300.0, 0.0), "fr");
        assert_eq!(
            c.impact.verdict,
            "La promotion ralentit le site (note C – Moyen, 70/100 ; référence A – Excellent, 94/100)"
                .replace(" ;", ";")
        );
        let c = compare(stats(1800.0, 6.0), stats(300.0, 0.25), "en");
        assert!(
            c.impact
                .verdict
                .starts_with("The site does not hold the promotion (grade F")
        );
        assert_eq!(c.impact.extra_errors_pts, Some(5.75));
    }
}
