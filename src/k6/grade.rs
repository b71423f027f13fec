//! The grade of a run, from its k6 summary and the marketing dashboard's thresholds.
//!
//! The formula is the marketing dashboard's site-health gauge (`dashboards-src/marketing.json.hbs`,
//! `health_formula` in `dashboards-src/i18n/*.yaml`), so the Slack grade and the gauge agree:
//!
//! ```text
//! b(x)  = min(x / ok, 1) + min(max((x - ok) / (warn - ok), 0), 1) + max((x - warn) / warn, 0)
//!         (0 ≤ b < 1 green: x < ok · 1 ≤ b < 2 orange: ok ≤ x < warn · b ≥ 2 red: x ≥ warn)
//! worst = max(b(p95 of http_req_duration in ms), b(http_req_failed in %))
//! score = max(0, 100 - 20 × worst)
//! grade: A score > 80 · B 70 < score ≤ 80 · C 60 < score ≤ 70 · D 40 < score ≤ 60 · F score ≤ 40
//! ```
//!
//! The score is shown as an integer rounded up, which keeps it inside its grade's interval.
//!
//! Owns: the grading formula and the reading of k6 summaries.
//! May not: do IO (the caller reads the summary), print.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::manifest::Thresholds;

/// What the grade is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// p95 of `http_req_duration`, ms.
    pub p95_ms: f64,
    /// `http_req_failed` rate, %.
    pub error_pct: f64,
    /// Number of HTTP requests (when the summary has `http_reqs`).
    pub requests: Option<u64>,
}

/// The thresholds as plain numbers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bands {
    /// Green below (ms).
    pub p95_ok_ms: f64,
    /// Orange up to (ms).
    pub p95_warn_ms: f64,
    /// Green below (%).
    pub error_ok_pct: f64,
    /// Orange up to (%).
    pub error_warn_pct: f64,
}

impl From<&Thresholds> for Bands {
    fn from(t: &Thresholds) -> Self {
        Self {
            p95_ok_ms: *t.p95_ok_ms,
            p95_warn_ms: *t.p95_warn_ms,
            error_ok_pct: *t.error_ok_pct,
            error_warn_pct: *t.error_warn_pct,
        }
    }
}

/// Traffic-light colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colour {
    /// Under the ok values.
    Green,
    /// Up to the warn values.
    Orange,
    /// Beyond.
    Red,
}

/// A grade and its score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    /// `A`..`F`.
    pub letter: char,
    /// 0..=100.
    pub score: u8,
    /// Dashboard colour.
    pub colour: Colour,
    /// The numbers it came from.
    pub measured: Measured,
}

fn badness(x: f64, ok: f64, warn: f64) -> f64 {
    let ok = ok.max(f64::MIN_POSITIVE);
    let warn = warn.max(ok);
    let orange = if warn > ok {
        ((x - ok) / (warn - ok)).clamp(0.0, 1.0)
    } else if x >= ok {
        1.0
    } else {
        0.0
    };
    (x / ok).clamp(0.0, 1.0) + orange + ((x - warn) / warn).max(0.0)
}

/// Grade measured values against the bands.
pub fn grade(m: Measured, b: &Bands) -> Grade {
    let worst = badness(m.p95_ms, b.p95_ok_ms, b.p95_warn_ms).max(badness(
        m.error_pct,
        b.error_ok_pct,
        b.error_warn_pct,
    ));
    let raw = (100.0 - 20.0 * worst).max(0.0);
    // Float noise (62.000000000001) must not push a score over an integer boundary.
    let score = (raw - 1e-9).ceil().clamp(0.0, 100.0) as u8;
    let (letter, colour) = match score {
        81.. => ('A', Colour::Green),
        71..=80 => ('B', Colour::Orange),
        61..=70 => ('C', Colour::Orange),
        41..=60 => ('D', Colour::Red),
        _ => ('F', Colour::Red),
    };
    Grade {
        letter,
        score,
        colour,
        measured: m,
    }
}

/// Read p95 and the error rate from a k6 summary: either `--summary-export` JSON (metrics hold
/// their values directly) or the `handleSummary` data (values under `values`).
pub fn measured_from_summary(text: &str, origin: &str) -> Result<Measured> {
    let bad = |what: String| {
        Error::k6(format!("the k6 summary `{origin}` {what}"))
            .with_help("it is written by k6 (--summary-export); keep `p(95)` in summaryTrendStats")
    };
    let v: Value =
        serde_json::from_str(text).map_err(|e| bad(format!("is not valid JSON: {e}")))?;
    let metric = |name: &str| -> Option<&Value> {
        let m = v.get("metrics")?.get(name)?;
        Some(m.get("values").unwrap_or(m))
    };
    let duration = metric("http_req_duration").ok_or_else(|| {
        bad("has no `http_req_duration` metric (did the script make HTTP requests?)".into())
    })?;
    let p95_ms = duration
        .get("p(95)")
        .and_then(Value::as_f64)
        .ok_or_else(|| bad("has no `p(95)` for http_req_duration".into()))?;
    // `http_req_failed` is a rate: `value` (export) or `rate` (handleSummary) is the share of
    // failed requests.
    let error_pct = metric("http_req_failed")
        .and_then(|f| f.get("value").or_else(|| f.get("rate")))
        .and_then(Value::as_f64)
        .map_or(0.0, |r| r * 100.0);
    let requests = metric("http_reqs")
        .and_then(|r| r.get("count"))
        .and_then(Value::as_f64)
        .map(|c| c as u64);
    Ok(Measured {
        p95_ms,
        error_pct,
        requests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Bands = Bands {
        p95_ok_ms: 1000.0,
        p95_warn_ms: 2000.0,
        error_ok_pct: 0.1,
        error_warn_pct: 1.0,
    };

    fn g(p95: f64, err: f64) -> (char, u8, Colour) {
        let r = grade(
            Measured {
                p95_ms: p95,
                error_pct: err,
                requests: None,
            },
            &B,
        );
        (r.letter, r.score, r.colour)
    }

    #[test]
    fn bands_match_the_dashboard() {
        assert_eq!(g(0.0, 0.0), ('A', 100, Colour::Green));
        assert_eq!(g(500.0, 0.05), ('A', 90, Colour::Green));
        assert_eq!(g(990.0, 0.0), ('A', 81, Colour::Green));
        // p95 == ok is not "under ok": orange.
        assert_eq!(g(1000.0, 0.0), ('B', 80, Colour::Orange));
        assert_eq!(g(999.0, 0.1), ('B', 80, Colour::Orange));
        assert_eq!(g(1250.0, 0.0), ('B', 75, Colour::Orange));
        assert_eq!(g(1500.0, 0.0), ('C', 70, Colour::Orange));
        assert_eq!(g(1900.0, 0.0), ('C', 62, Colour::Orange));
        // p95 == warn is red (the dashboard's table: D ≥ warn).
        assert_eq!(g(2000.0, 0.0), ('D', 60, Colour::Red));
        assert_eq!(g(500.0, 1.0), ('D', 60, Colour::Red));
        assert_eq!(g(500.0, 1.4), ('D', 52, Colour::Red));
        assert_eq!(g(3000.0, 0.0), ('D', 50, Colour::Red));
        // F from 2 × warn.
        assert_eq!(g(4000.0, 0.0), ('F', 40, Colour::Red));
        assert_eq!(g(9000.0, 50.0), ('F', 0, Colour::Red));
    }

    #[test]
    fn both_summary_formats_are_read() {
        let export = r#"{"metrics":{"http_req_duration":{"avg":1,"p(95)":812.5},
            "http_req_failed":{"passes":1,"fails":199,"value":0.005},"http_reqs":{"count":200,"rate":3}}}"#;
        let m = measured_from_summary(export, "s.json").unwrap();
        assert_eq!((m.p95_ms, m.error_pct, m.requests), (812.5, 0.5, Some(200)));
        let handle = r#"{"metrics":{"http_req_duration":{"type":"trend","values":{"p(95)":100}},
            "http_req_failed":{"type":"rate","values":{"rate":0.02,"passes":2,"fails":98}}}}"#;
        let m = measured_from_summary(handle, "s.json").unwrap();
        assert_eq!((m.p95_ms, m.error_pct), (100.0, 2.0));
        let err = measured_from_summary(r#"{"metrics":{}}"#, "s.json").unwrap_err();
        assert!(err.to_string().contains("no `http_req_duration`"));
    }
}
