//! Capacity (issue 16, item 3): the breaking point of a ramping run, from its per-bucket
//! numbers. Method: per time bucket, the maximum of VUs against p95 of `http_req_duration` and
//! the error rate; the breaking point is the VU level of the first bucket of the first
//! SUSTAINED crossing (`sustain` consecutive buckets, 2 by default) of `p95_warn_ms` or
//! `error_warn_pct`. A bucket without requests (no p95) neither crosses nor breaks a streak.
//!
//! The buckets are the ones `runs export TESTID --bucket` gives (the dashboards' formulas per
//! time bucket: [`crate::runs::source::Source::per`]).
//!
//! Owns: the pure estimate from buckets, its words, and [`Estimate`] (what `runs show` and `runs capacity`
//! report). May not: print, read the environment, talk to InfluxDB or Docker, write anything.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::influx::formulas::Stat;
use crate::runs::source::Values;

/// Consecutive crossing buckets that make a sustained crossing.
pub const DEFAULT_SUSTAIN: usize = 2;

/// One time bucket of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bucket {
    /// Bucket start, seconds since the epoch.
    pub start: i64,
    /// Maximum VUs seen in the bucket.
    pub vus: Option<f64>,
    /// p95 of `http_req_duration`, in ms.
    pub p95_ms: Option<f64>,
    /// Failed requests, in percent.
    pub error_pct: Option<f64>,
}

/// The limits a bucket is held to (the stack's `p95_warn_ms` and `error_warn_pct`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Limits {
    /// p95 above this (ms) crosses.
    pub p95_warn_ms: f64,
    /// Error rate above this (%) crosses.
    pub error_warn_pct: f64,
}

/// Which limit a bucket crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// p95 above `p95_warn_ms`.
    P95,
    /// Error rate above `error_warn_pct`.
    Errors,
    /// Both.
    Both,
}

/// The estimate of one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Capacity {
    /// The run broke at this VU level (start of the first sustained crossing).
    Reached {
        /// VU level of the first crossing bucket.
        vus: f64,
        /// Start of that bucket.
        at: i64,
        /// What crossed there.
        cause: Cause,
    },
    /// No sustained crossing; the highest VU level the run held.
    NotReached {
        /// Maximum VUs over the run (None when no bucket had VUs).
        max_vus: Option<f64>,
    },
}

fn crossing(b: &Bucket, limits: Limits) -> Option<Option<Cause>> {
    let p95 = b.p95_ms?;
    let slow = p95 > limits.p95_warn_ms;
    let failing = b.error_pct.is_some_and(|e| e > limits.error_warn_pct);
    Some(match (slow, failing) {
        (true, true) => Some(Cause::Both),
        (true, false) => Some(Cause::P95),
        (false, true) => Some(Cause::Errors),
        (false, false) => None,
    })
}

/// The breaking point of `buckets` (sorted by start) against `limits`; `sustain` is at least 1.
pub fn estimate(buckets: &[Bucket], limits: Limits, sustain: usize) -> Capacity {
    let sustain = sustain.max(1);
    let mut streak: Option<(usize, usize)> = None; // (first index, length)
    for (i, b) in buckets.iter().enumerate() {
        match crossing(b, limits) {
            None => continue,
            Some(None) => streak = None,
            Some(Some(_)) => {
                let (first, len) = streak.map_or((i, 1), |(f, n)| (f, n + 1));
                streak = Some((first, len));
                if len >= sustain {
                    let f = &buckets[first];
                    if let (Some(vus), Some(Some(cause))) = (f.vus, crossing(f, limits)) {
                        return Capacity::Reached {
                            vus,
                            at: f.start,
                            cause,
                        };
                    }
                }
            }
        }
    }
    let max_vus = buckets.iter().filter_map(|b| b.vus).reduce(f64::max);
    Capacity::NotReached { max_vus }
}

/// One run's estimate with how it was made: what `runs show` and `runs capacity` report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// Test id.
    pub testid: String,
    /// Bucket width, seconds.
    pub bucket_s: u32,
    /// Consecutive crossing buckets that make a sustained crossing.
    pub sustain: usize,
    /// The limits (the marketing dashboard's warn thresholds).
    pub limits: Limits,
    /// The estimate.
    pub capacity: Capacity,
    /// The first crossing bucket (its p95 and error rate), when the run broke.
    pub crossing: Option<Bucket>,
    /// How many buckets the run has.
    pub buckets: usize,
}

/// The buckets of a run from its per-bucket numbers (bucket start in ns → values).
pub fn buckets_of(per: &BTreeMap<i64, Values>) -> Vec<Bucket> {
    per.iter()
        .map(|(start_ns, v)| Bucket {
            start: start_ns.div_euclid(1_000_000_000),
            vus: v.get(&Stat::PeakVus).copied(),
            p95_ms: v.get(&Stat::P95).copied(),
            error_pct: v.get(&Stat::Errors).copied(),
        })
        .collect()
}

/// The estimate of run `testid` from its per-bucket numbers.
pub fn of_run(
    testid: &str,
    per: &BTreeMap<i64, Values>,
    bucket_s: u32,
    limits: Limits,
) -> Estimate {
    let buckets = buckets_of(per);
    let capacity = estimate(&buckets, limits, DEFAULT_SUSTAIN);
    let crossing = match capacity {
        Capacity::Reached { at, .. } => buckets.iter().find(|b| b.start == at).copied(),
        Capacity::NotReached { .. } => None,
    };
    Estimate {
        testid: testid.to_string(),
        bucket_s,
        sustain: DEFAULT_SUSTAIN,
        limits,
        capacity,
        crossing,
        buckets: buckets.len(),
    }
}

/// `2024-12-01 09:01:00` (UTC) of a time in seconds.
pub fn clock(start_s: i64) -> String {
    jiff::Timestamp::from_second(start_s)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| "-".into())
}

/// `70 VUs`.
pub fn vus(v: f64) -> String {
    format!("{v:.0} VUs")
}

/// What crossed in the first bucket of the breaking point.
pub fn why(e: &Estimate, cause: Cause) -> String {
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

/// The estimate in one line (`runs show`'s capacity cell, the report's capacity line).
pub fn describe(e: &Estimate) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        p95_warn_ms: 800.0,
        error_warn_pct: 5.0,
    };

    fn b(start: i64, vus: f64, p95: f64, err: f64) -> Bucket {
        Bucket {
            start,
            vus: Some(vus),
            p95_ms: Some(p95),
            error_pct: Some(err),
        }
    }

    #[test]
    fn first_bucket_of_the_first_sustained_crossing() {
        let buckets = [
            b(0, 10.0, 200.0, 0.0),
            b(10, 20.0, 900.0, 0.0), // a single spike: not sustained
            b(20, 30.0, 300.0, 0.0),
            b(30, 40.0, 850.0, 0.0),
            b(40, 50.0, 400.0, 9.0),
            b(50, 60.0, 1500.0, 20.0),
        ];
        assert_eq!(
            estimate(&buckets, LIMITS, DEFAULT_SUSTAIN),
            Capacity::Reached {
                vus: 40.0,
                at: 30,
                cause: Cause::P95
            }
        );
        assert_eq!(
            estimate(&buckets, LIMITS, 3),
            Capacity::Reached {
                vus: 40.0,
                at: 30,
                cause: Cause::P95
            }
        );
        assert_eq!(
            estimate(&buckets, LIMITS, 1),
            Capacity::Reached {
                vus: 20.0,
                at: 10,
                cause: Cause::P95
            }
        );
    }

    #[test]
    fn errors_alone_cross_and_empty_buckets_do_not_break_a_streak() {
        let mut gap = b(20, 35.0, 0.0, 0.0);
        gap.p95_ms = None;
        let buckets = [
            b(0, 10.0, 100.0, 0.0),
            b(10, 30.0, 100.0, 6.0),
            gap,
            b(30, 40.0, 900.0, 7.0),
        ];
        assert_eq!(
            estimate(&buckets, LIMITS, 2),
            Capacity::Reached {
                vus: 30.0,
                at: 10,
                cause: Cause::Errors
            }
        );
    }

    #[test]
    fn not_reached_gives_the_max_vus() {
        let buckets = [
            b(0, 10.0, 100.0, 0.0),
            b(10, 70.0, 900.0, 0.0),
            b(20, 50.0, 100.0, 0.0),
        ];
        assert_eq!(
            estimate(&buckets, LIMITS, 2),
            Capacity::NotReached {
                max_vus: Some(70.0)
            }
        );
        assert_eq!(
            estimate(&[], LIMITS, 2),
            Capacity::NotReached { max_vus: None }
        );
    }
}
