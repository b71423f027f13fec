//! The rotation policy, pure: backups (id, UTC time, valid or not) and `backup.keep` in, one
//! verdict per backup out — kept (with every rule that keeps it) or removed (with why no rule
//! keeps it). No IO; `backup rotate` applies the verdicts.
//!
//! # Semantics (restic `forget`)
//!
//! - **Only valid backups count.** Incomplete, corrupt and foreign entries are never counted
//!   in any bucket and never removed by the policy (the caller decides what to do with them).
//! - Valid backups are walked **newest first** (by time, then by id, so equal timestamps have a
//!   fixed order).
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
        b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id))
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
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn cand(id: &str, time: &str) -> Candidate {
        Candidate {
            id: id.to_string(),
            time: t(time),
            valid: true,
        }
    }

    fn cands(list: &[(&str, &str)]) -> Vec<Candidate> {
        list.iter().map(|(id, time)| cand(id, time)).collect()
    }

    fn only_daily(daily: u32) -> Policy {
        Policy {
            daily,
            ..Policy::default()
        }
    }

    fn only_last(last: u32) -> Policy {
        Policy {
            last,
            ..Policy::default()
        }
    }

    fn kept(cands: &[Candidate], verdicts: &[Verdict]) -> Vec<String> {
        let mut out: Vec<String> = cands
            .iter()
            .zip(verdicts)
            .filter(|(_, v)| matches!(v, Verdict::Keep { .. }))
            .map(|(c, _)| c.id.clone())
            .collect();
        out.sort();
        out
    }

    fn reason_removed(verdict: &Verdict) -> &str {
        match verdict {
            Verdict::Remove { reason } => reason,
            other => panic!("not removed: {other:?}"),
        }
    }

    fn reasons_of(verdict: &Verdict) -> Vec<String> {
        match verdict {
            Verdict::Keep { reasons } => reasons.clone(),
            other => panic!("not kept: {other:?}"),
        }
    }

    #[test]
    fn iso_week_uses_the_iso_year_across_new_year() {
        // 2024-12-30 (Monday) is in ISO week 1 of 2025; 2021-01-03 (Sunday) in 2020-W53.
        assert_eq!(buckets_of(t("2024-12-30T03:00:00Z")).1, "2025-W01");
        assert_eq!(buckets_of(t("2021-01-03T23:59:59Z")).1, "2020-W53");
        assert_eq!(buckets_of(t("2021-01-04T00:00:00Z")).1, "2021-W01");
        assert_eq!(buckets_of(t("2027-01-01T00:00:00Z")).1, "2026-W53");
    }

    #[test]
    fn buckets_are_utc_not_local() {
        // 23:30 UTC on the 31st is still the 31st and still that month.
        let (d, _, m) = buckets_of(t("2026-03-31T23:30:00Z"));
        assert_eq!((d.as_str(), m.as_str()), ("2026-03-31", "2026-03"));
        let (d, _, m) = buckets_of(t("2026-04-01T00:00:00Z"));
        assert_eq!((d.as_str(), m.as_str()), ("2026-04-01", "2026-04"));
    }

    #[test]
    fn daily_keeps_the_newest_of_each_day_and_empty_days_do_not_count() {
        let cands = vec![
            cand("a", "2026-11-20T03:00:00Z"),
            cand("b", "2026-11-20T15:00:00Z"), // newest of the 20th
            cand("c", "2026-11-21T03:00:00Z"),
            // nothing on the 22nd and 23rd: they do not use up the count
            cand("d", "2026-11-24T01:00:00Z"),
            cand("e", "2026-11-24T02:00:00Z"),
        ];
        let v = decide(&cands, &only_daily(3));
        assert_eq!(kept(&cands, &v), ["b", "c", "e"]);
        assert_eq!(reason_removed(&v[0]), "day 2026-11-20 is kept as b");
        assert_eq!(reason_removed(&v[3]), "day 2026-11-24 is kept as e");
    }

    #[test]
    fn counters_are_independent_and_reasons_list_every_rule() {
        let cands = cands(&[
            ("a", "2026-10-31T03:00:00Z"),
            ("b", "2026-11-01T03:00:00Z"),
            ("c", "2026-11-02T03:00:00Z"),
        ]);
        let v = decide(
            &cands,
            &Policy {
                last: 1,
                daily: 2,
                weekly: 1,
                monthly: 2,
            },
        );
        assert_eq!(
            reasons_of(&v[2]),
            [
                "last backup #1",
                "daily backup 2026-11-02",
                "weekly backup 2026-W45",
                "monthly backup 2026-11",
                "newest valid backup (always kept)"
            ]
        );
        assert_eq!(reasons_of(&v[1]), ["daily backup 2026-11-01"]);
        // a: the month rule keeps October's newest; it is also the oldest.
        assert_eq!(reasons_of(&v[0]), ["monthly backup 2026-10"]);
    }

    /// While a rule has budget left the oldest backup is kept; once it is used up, it goes.
    #[test]
    fn oldest_is_kept_while_a_rule_has_budget_then_goes() {
        // (start hours of a, b, c; keep.daily; kept; a's verdict: Ok = kept, Err = removed)
        type Case<'a> = ([&'a str; 3], u32, [&'a str; 2], Result<&'a str, &'a str>);
        let cases: [Case; 2] = [
            (
                ["2026-11-24T01", "2026-11-24T02", "2026-11-24T03"],
                7,
                ["a", "c"],
                Ok("oldest daily backup 2026-11-24"),
            ),
            (
                ["2026-11-22T01", "2026-11-23T02", "2026-11-24T03"],
                2,
                ["b", "c"],
                Err("2026-11-22 is beyond the 2 newest days (keep.daily 2)"),
            ),
        ];
        for (hours, daily, want, a) in cases {
            let times = hours.map(|h| format!("{h}:00:00Z"));
            let cands = cands(&[("a", &times[0]), ("b", &times[1]), ("c", &times[2])]);
            let v = decide(&cands, &only_daily(daily));
            assert_eq!(kept(&cands, &v), want);
            match a {
                Ok(reason) => assert_eq!(reasons_of(&v[0]), [reason]),
                Err(reason) => assert_eq!(reason_removed(&v[0]), reason),
            }
        }
    }

    #[test]
    fn invalid_backups_are_ignored_and_do_not_fill_buckets() {
        let mut newer_broken = cand("z", "2026-11-25T03:00:00Z");
        newer_broken.valid = false;
        let cands = vec![
            cand("a", "2026-11-23T03:00:00Z"),
            cand("b", "2026-11-24T03:00:00Z"),
            newer_broken,
        ];
        let v = decide(&cands, &only_last(1));
        assert_eq!(v[2], Verdict::Ignore);
        assert_eq!(kept(&cands, &v), ["b"]);
        assert!(reasons_of(&v[1]).contains(&"newest valid backup (always kept)".to_string()));
    }

    #[test]
    fn the_newest_valid_is_kept_even_with_an_empty_policy() {
        let cands = cands(&[("a", "2026-11-23T03:00:00Z"), ("b", "2026-11-24T03:00:00Z")]);
        let v = decide(&cands, &Policy::default());
        assert_eq!(kept(&cands, &v), ["b"]);
        assert_eq!(
            v[0],
            Verdict::Remove {
                reason: "no keep rule is set".into()
            }
        );
    }

    #[test]
    fn counts_at_u32_max_do_not_overflow() {
        let cands = cands(&[("a", "2026-11-23T03:00:00Z"), ("b", "2026-11-24T03:00:00Z")]);
        let v = decide(
            &cands,
            &Policy {
                last: u32::MAX,
                daily: u32::MAX,
                weekly: u32::MAX,
                monthly: u32::MAX,
            },
        );
        assert_eq!(kept(&cands, &v), ["a", "b"]);
    }

    #[test]
    fn equal_timestamps_are_ordered_by_id() {
        let cands = cands(&[
            ("20261124T030000Z", "2026-11-24T03:00:00Z"),
            ("20261124T030000Z-2", "2026-11-24T03:00:00Z"),
            ("20261123T030000Z", "2026-11-23T03:00:00Z"),
        ]);
        let v = decide(&cands, &only_daily(1));
        assert_eq!(kept(&cands, &v), ["20261124T030000Z-2"]);
    }

    /// Daily backups at 03:00 UTC for 400 days, against a hand-computed expectation.
    #[test]
    fn a_year_of_daily_backups_with_the_default_policy() {
        let start: Timestamp = t("2025-10-01T03:00:00Z");
        let cands: Vec<Candidate> = (0..400)
            .map(|d| {
                let time = start + jiff::SignedDuration::from_hours(24 * d);
                Candidate {
                    id: time.strftime("%Y%m%dT%H%M%SZ").to_string(),
                    time,
                    valid: true,
                }
            })
            .collect();
        // Last backup: 2026-11-04 (day 399).
        let v = decide(
            &cands,
            &Policy {
                last: 3,
                daily: 7,
                weekly: 4,
                monthly: 6,
            },
        );
        let mut want: Vec<&str> = vec![
            // daily (7 newest days; covers last 3)
            "20261104T030000Z",
            "20261103T030000Z",
            "20261102T030000Z",
            "20261101T030000Z",
            "20261031T030000Z",
            "20261030T030000Z",
            "20261029T030000Z",
            // weekly: 2026-W45 (Nov 2-8) → Nov 4, W44 → Nov 1 (Sunday), W43 → Oct 25, W42 → Oct 18
            "20261025T030000Z",
            "20261018T030000Z",
            // monthly: 2026-11 → Nov 4, 10 → Oct 31, 09 → Sep 30, 08 → Aug 31, 07 → Jul 31, 06 → Jun 30
            "20260930T030000Z",
            "20260831T030000Z",
            "20260731T030000Z",
            "20260630T030000Z",
        ];
        want.sort_unstable();
        assert_eq!(kept(&cands, &v), want);
    }
}
