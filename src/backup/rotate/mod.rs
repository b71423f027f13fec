//! The rotation policy, pure: backups (id, UTC time, valid or not) and `backup.keep` in, one
//! verdict per backup out — kept (with every rule that keeps it) or removed (with why no rule
//! keeps it). No IO; `backup rotate` applies the verdicts.
//!
//! # Semantics (restic `forget`)
//!
//! - **Only valid backups count.** Incomplete, corrupt and foreign entries are never counted
//!   in any bucket and never removed by the policy (the caller decides what to do with them).
//! - Valid backups are walked **newest first** (by time, then by the id's `-N` as a number, so
//!   `-10` comes before `-9` and equal timestamps have a fixed order).
//! - **Buckets are UTC calendar periods** of the backup's time (its id, which is the UTC start
//!   time): `last` = every backup is its own bucket; `daily` = the day `YYYY-MM-DD`;
//!   `weekly` = the ISO 8601 week (`2026-W01`; Monday–Sunday, the ISO year, so 2024-12-30 is in
//!   `2025-W01`); `monthly` = `YYYY-MM`. UTC has no DST, so no bucket is ever 23 or 25 hours.
//! - Each rule with a count `n > 0` keeps the **newest backup of each of the `n` newest buckets
//!   that contain a backup**; empty periods do not use up the count.
//! - **Counters are independent** (OR): one backup may be kept by several rules at once
//!   ("daily backup" and "weekly backup" and "monthly backup"), and then it uses one unit of
//!   each of those rules' counts (unlike borg, where a backup kept by an earlier rule does not
//!   count for later ones).
//! - **Oldest rule (followed, as restic ≥ 0.16 does):** when the walk reaches the oldest valid
//!   backup and a rule still has count left, that oldest backup is kept too, with the reason
//!   "oldest daily backup". This keeps the longest history while buckets are not yet full
//!   (e.g. two weeks into a `monthly: 6` policy the very first backup is still there).
//! - **The newest valid backup is never removed**, whatever the policy (it is also always the
//!   first kept by any rule with a count).
//! - An empty policy (every count 0) is refused by manifest validation; given one anyway, this
//!   function keeps only the newest valid backup.
//!
//! May not: touch the disk, read the clock, or know where backups live.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

/// `backup.keep`, as counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// The n newest.
    pub last: u32,
    /// The newest of each of the n newest UTC days that have one.
    pub daily: u32,
    /// The newest of each of the n newest ISO weeks that have one.
    pub weekly: u32,
    /// The newest of each of the n newest UTC months that have one.
    pub monthly: u32,
}

/// One backup as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Backup id (directory name).
    pub id: String,
    /// UTC time of the backup.
    pub time: Timestamp,
    /// Only valid backups count and can be removed.
    pub valid: bool,
}

/// What happens to one candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "lowercase")]
pub enum Verdict {
    /// Kept, with every reason (`daily backup 2026-11-24`, `newest valid backup`).
    Keep {
        /// Why.
        reasons: Vec<String>,
    },
    /// Removed, with why no rule keeps it.
    Remove {
        /// Why.
        reason: String,
    },
    /// Not valid: not counted, not removed by the policy.
    Ignore,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rule {
    Last,
    Daily,
    Weekly,
    Monthly,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Self::Last => "last",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }

    fn period(self) -> &'static str {
        match self {
            Self::Last => "backups",
            Self::Daily => "days",
            Self::Weekly => "ISO weeks",
            Self::Monthly => "months",
        }
    }

    /// The bucket of a backup (its position for `last`), and its label.
    fn bucket(self, time: Timestamp, position: usize) -> (i64, String) {
        let date = TimeZone::UTC.to_datetime(time).date();
        let (y, m, d) = (
            i64::from(date.year()),
            i64::from(date.month()),
            i64::from(date.day()),
        );
        match self {
            Self::Last => (
                i64::try_from(position).unwrap_or(i64::MAX),
                format!("#{}", position + 1),
            ),
            Self::Daily => (y * 10_000 + m * 100 + d, format!("{y:04}-{m:02}-{d:02}")),
            Self::Weekly => {
                let iso = date.iso_week_date();
                let (wy, w) = (i64::from(iso.year()), i64::from(iso.week()));
                (wy * 100 + w, format!("{wy:04}-W{w:02}"))
            }
            Self::Monthly => (y * 100 + m, format!("{y:04}-{m:02}")),
        }
    }
}

struct Counter {
    rule: Rule,
    total: u32,
    left: u32,
    last: Option<i64>,
    /// bucket → id kept for it by this rule.
    kept: BTreeMap<i64, String>,
}

/// Label of the UTC day / ISO week / month of a time (for messages and tests).
pub fn buckets_of(time: Timestamp) -> (String, String, String) {
    (
        Rule::Daily.bucket(time, 0).1,
        Rule::Weekly.bucket(time, 0).1,
        Rule::Monthly.bucket(time, 0).1,
    )
}

/// Decide every candidate. The output is in the input's order, one verdict per candidate.
pub fn decide(candidates: &[Candidate], policy: &Policy) -> Vec<Verdict> {
    let mut order: Vec<usize> = (0..candidates.len())
        .filter(|&i| candidates[i].valid)
        .collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&candidates[a], &candidates[b]);
        b.time
            .cmp(&a.time)
            .then_with(|| super::id::place(&b.id).cmp(&super::id::place(&a.id)))
            .then_with(|| b.id.cmp(&a.id))
    });
    let mut counters: Vec<Counter> = [
        (Rule::Last, policy.last),
        (Rule::Daily, policy.daily),
        (Rule::Weekly, policy.weekly),
        (Rule::Monthly, policy.monthly),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(rule, n)| Counter {
        rule,
        total: n,
        left: n,
        last: None,
        kept: BTreeMap::new(),
    })
    .collect();

    let mut verdicts: Vec<Verdict> = vec![Verdict::Ignore; candidates.len()];
    let oldest = order.len().saturating_sub(1);
    let mut removed = vec![false; candidates.len()];
    for (pos, &i) in order.iter().enumerate() {
        let c = &candidates[i];
        let mut reasons = Vec::new();
        for counter in &mut counters {
            if counter.left == 0 {
                continue;
            }
            let (key, label) = counter.rule.bucket(c.time, pos);
            let new_bucket = counter.last != Some(key);
            if new_bucket || pos == oldest {
                let name = counter.rule.name();
                reasons.push(match (counter.rule, new_bucket) {
                    (Rule::Last, _) => format!("last backup {label}"),
                    (_, true) => format!("{name} backup {label}"),
                    (_, false) => format!("oldest {name} backup {label}"),
                });
                counter.last = Some(key);
                counter.left -= 1;
                counter.kept.entry(key).or_insert_with(|| c.id.clone());
            }
        }
        if pos == 0 {
            reasons.push("newest valid backup (always kept)".to_string());
        }
        if reasons.is_empty() {
            removed[i] = true;
        } else {
            verdicts[i] = Verdict::Keep { reasons };
        }
    }
    for (pos, i) in order.iter().enumerate() {
        if !removed[*i] {
            continue;
        }
        let c = &candidates[*i];
        let why: Vec<String> = counters
            .iter()
            .map(|counter| {
                let (key, label) = counter.rule.bucket(c.time, pos);
                match (counter.rule, counter.kept.get(&key)) {
                    (Rule::Last, _) => format!("not among the {} newest", counter.total),
                    (_, Some(id)) => format!(
                        "{} {label} is kept as {id}",
                        match counter.rule {
                            Rule::Daily => "day",
                            Rule::Weekly => "week",
                            _ => "month",
                        }
                    ),
                    (_, None) => format!(
                        "{label} is beyond the {} newest {} (keep.{} {})",
                        counter.total,
                        counter.rule.period(),
                        counter.rule.name(),
                        counter.total
                    ),
                }
            })
            .collect();
        verdicts[*i] = Verdict::Remove {
            reason: if why.is_empty() {
                "no keep rule is set".to_string()
            } else {
                why.join("; ")
            },
        };
    }
    verdicts
}

#[cfg(test)]
mod tests;
