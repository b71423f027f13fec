//! Tests of the parent module.
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
