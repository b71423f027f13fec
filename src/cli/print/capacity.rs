//! The capacity lines of `runs show` and the table of `runs capacity`.
//!
//! Owns: their wording. May not: decide anything, read the environment, talk to InfluxDB.

use std::io::Write;

use serde::Serialize;

use crate::cli::output::Out;
use crate::error::Result;
use crate::runs::capacity::{Capacity, Cause, Estimate};

fn clock(start_s: i64) -> String {
    jiff::Timestamp::from_second(start_s)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| "-".into())
}

fn vus(v: f64) -> String {
    format!("{v:.0} VUs")
}

/// What crossed in the first bucket of the breaking point.
fn why(e: &Estimate, cause: Cause) -> String {
    let b = e.crossing;
    let p95 = || {
        format!(
            "p95 {} ms > {} ms",
            b.and_then(|b| b.p95_ms)
                .map_or("-".into(), |v| format!("{v:.0}")),
            e.limits.p95_warn_ms
        )
    };
    let errors = || {
        format!(
            "errors {} % > {} %",
            b.and_then(|b| b.error_pct)
                .map_or("-".into(), |v| format!("{v:.2}")),
            e.limits.error_warn_pct
        )
    };
    match cause {
        Cause::P95 => p95(),
        Cause::Errors => errors(),
        Cause::Both => format!("{} and {}", p95(), errors()),
    }
}

/// The method, as `runs capacity` states it under its table.
pub fn method(e: &Estimate) -> String {
    format!(
        "method: per {} s bucket, max VUs against p95 and error rate; the breaking point is the VUs of the first of {} consecutive buckets above p95 {} ms or errors {} % (the marketing dashboard's warn thresholds)",
        e.bucket_s, e.sustain, e.limits.p95_warn_ms, e.limits.error_warn_pct
    )
}

/// The `capacity` cell of `runs show`.
pub fn cell(e: &Estimate) -> String {
    match e.capacity {
        Capacity::Reached { vus: n, at, cause } => format!(
            "breaks at {}: {} from {} UTC ({} buckets of {} s in a row)",
            vus(n),
            why(e, cause),
            clock(at),
            e.sustain,
            e.bucket_s
        ),
        Capacity::NotReached { max_vus } => format!(
            "not reached: held {} (never {} buckets of {} s in a row above p95 {} ms or errors {} %)",
            max_vus.map_or_else(|| "- VUs".into(), vus),
            e.sustain,
            e.bucket_s,
            e.limits.p95_warn_ms,
            e.limits.error_warn_pct
        ),
    }
}

/// `runs capacity`: one row per run, then the method.
pub fn table(out: &mut Out<impl Write>, estimates: &[Estimate]) {
    let rows = estimates
        .iter()
        .map(|e| match e.capacity {
            Capacity::Reached { vus: n, at, cause } => {
                vec![e.testid.clone(), vus(n), clock(at), why(e, cause)]
            }
            Capacity::NotReached { max_vus } => vec![
                e.testid.clone(),
                "not reached".into(),
                "-".into(),
                format!("held {}", max_vus.map_or_else(|| "- VUs".into(), vus)),
            ],
        })
        .collect();
    out.table(&["TESTID", "BREAKS AT", "FROM (UTC)", "WHY"], rows);
    if let Some(e) = estimates.first() {
        out.line(&method(e));
    }
}

/// `runs capacity --json`.
pub fn json(out: &mut Out<impl Write>, estimates: &[Estimate]) -> Result<()> {
    #[derive(Serialize)]
    struct Body<'a> {
        runs: &'a [Estimate],
    }
    out.versioned_json(&Body { runs: estimates })
}

/// What `runs capacity --apply` changed, and what to run next.
pub fn applied(out: &mut Out<impl Write>, a: &crate::runs::apply::Applied) {
    out.line(&format!(
        "{}: dashboard {} capacity_vus: {} -> {}",
        a.file,
        a.uid,
        a.before
            .map_or_else(|| "(not set)".into(), |v| v.to_string()),
        a.after
    ));
    out.line("next: `promo-infra plan` to review, then `promo-infra apply` (the users panel draws it as a dashed orange line)");
}
