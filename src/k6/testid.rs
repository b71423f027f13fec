//! Test ids: `<promo>_<yyyymmdd_hhmmss>_<8 hex>`, UTC, and the labels that go into them.
//!
//! Owns: the shape of test ids and labels, the clock (fixed by `PROMO_INFRA_NOW` for tests).
//! May not: print, do IO beyond reading the clock and the environment through [`crate::settings`].

use jiff::Timestamp;

use crate::error::{Error, Result};

/// Environment variable that fixes "now" (RFC 3339, e.g. `2026-11-27T09:30:00Z`). For tests and
/// reproducible demos only; unset in normal use.
pub const NOW_ENV: &str = "PROMO_INFRA_NOW";

/// The current time, or the time fixed by [`NOW_ENV`].
pub fn now() -> Result<Timestamp> {
    match crate::settings::non_empty(NOW_ENV) {
        Some(text) => text.parse::<Timestamp>().map_err(|e| {
            Error::usage(
                format!("{NOW_ENV}=`{text}` is not an RFC 3339 time: {e}"),
                format!("unset {NOW_ENV} or give e.g. 2026-11-27T09:30:00Z"),
            )
        }),
        None => Ok(Timestamp::now()),
    }
}

/// Whether `s` is usable as a promo name, promo type or intensity (it ends up in tags, file
/// names and URLs): 1-64 of `[A-Za-z0-9_.-]`, not starting with `.` (a test id starts with the
/// promo name, and names a directory).
pub fn is_label(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Whether `s` is a plausible test id (what the STOP page and the API accept): 1-120 of
/// `[A-Za-z0-9_.-]`, not starting with `.`: a test id names the run's directory
/// (`generated/<stack>/runs/<testid>/`, `k6.report_dir/<testid>/`), so `.` and `..` would be
/// another one.
pub fn is_testid(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.len() <= 120
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The words Grafana 10.2's Flux backend replaces after *any* `<letters>.` in a query, not only
/// after `v.` (`pkg/tsdb/influxdb/flux/macros.go`; narrowed upstream by grafana/grafana#93040).
pub const FLUX_MACROS: [&str; 6] = [
    "bucket",
    "defaultBucket",
    "organization",
    "windowPeriod",
    "timeRangeStart",
    "timeRangeStop",
];

/// The Flux macro that follows a `.` in `id`, if any: Grafana 10.2 would rewrite that part of the
/// id inside every Flux query that filters on it, and the panels of the run would fail.
pub fn flux_macro_after_dot(id: &str) -> Option<&'static str> {
    id.match_indices('.').find_map(|(i, _)| {
        FLUX_MACROS
            .into_iter()
            .find(|word| id[i + 1..].starts_with(word))
    })
}

/// Refuse a test id that Grafana 10.2 would mangle in the Flux queries of an InfluxDB 2 stack.
/// `flag` names what the user gave (`--testid`, or `--promo` when the id is made from it).
pub fn check_flux_safe(flag: &str, id: &str) -> Result<()> {
    match flux_macro_after_dot(id) {
        None => Ok(()),
        Some(word) => Err(Error::usage(
            format!(
                "{flag}: test id `{id}` contains `.{word}`, which Grafana 10.2 replaces inside every \
                 Flux query: the dashboards of this InfluxDB 2 stack could not show the run"
            ),
            format!("write `_{word}` or `-{word}` instead of `.{word}`"),
        )),
    }
}

/// Check a label given on the command line.
pub fn check_label(flag: &str, value: &str) -> Result<()> {
    if is_label(value) {
        Ok(())
    } else {
        Err(Error::usage(
            format!(
                "{flag} {} is not usable as a k6 tag",
                crate::error::quoted(value)
            ),
            "use 1-64 characters among letters, digits, `_`, `-` and `.`, not starting with `.`",
        ))
    }
}

/// A new test id for `promo` at `at`, with 4 random bytes from `random_hex`.
pub fn new(
    promo: &str,
    at: Timestamp,
    random_hex: impl FnOnce(usize) -> Result<String>,
) -> Result<String> {
    check_label("--promo", promo)?;
    let stamp = at.strftime("%Y%m%d_%H%M%S");
    Ok(format!("{promo}_{stamp}_{}", random_hex(4)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_is_promo_utc_stamp_and_8_hex() {
        let at: Timestamp = "2026-11-27T09:30:05+01:00".parse().unwrap();
        let id = new("black-friday", at, |n| Ok("ab".repeat(n))).unwrap();
        assert_eq!(id, "black-friday_20261127_083005_abababab");
        assert!(is_testid(&id));
    }

    #[test]
    fn a_test_id_or_label_never_names_another_directory() {
        for id in [".", "..", ".hidden", "", "a/b", "a\\b", &"x".repeat(121)] {
            assert!(!is_testid(id), "{id:?}");
        }
        for label in [".", "..", ".sale", "a/b", &"x".repeat(65)] {
            assert!(!is_label(label), "{label:?}");
        }
        assert!(is_testid("sale.v2_20261127_083005_ab"));
        assert!(is_label("sale.v2"));
        let err = new("..", "2026-11-27T09:30:05Z".parse().unwrap(), |n| {
            Ok("ab".repeat(n))
        });
        assert!(err.is_err(), "a promo name `..` makes no test id");
    }

    #[test]
    fn a_dot_before_a_flux_macro_is_found_anywhere_and_only_there() {
        for (id, want) in [
            ("sale.bucket_20261127_083005_ab", Some("bucket")),
            ("a_1.organization", Some("organization")),
            ("x.windowPeriod.y", Some("windowPeriod")),
            ("x.timeRangeStart", Some("timeRangeStart")),
            ("x.timeRangeStop", Some("timeRangeStop")),
            ("x.defaultBucket", Some("defaultBucket")),
            ("v1.2.bucketless", Some("bucket")),
            ("sale.buckets", Some("bucket")),
            ("sale_bucket.v2", None),
            ("sale.Bucket", None),
            ("black-friday_20261127_083005_abababab", None),
            ("bucket.", None),
        ] {
            assert_eq!(flux_macro_after_dot(id), want, "{id}");
        }
    }

    #[test]
    fn a_flux_unsafe_testid_is_refused_with_the_flag_and_a_fix() {
        assert!(check_flux_safe("--testid", "v1.2_x").is_ok());
        let err = check_flux_safe("--promo", "sale.bucket_20261127_083005_ab").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--promo: test id `sale.bucket_20261127_083005_ab` contains `.bucket`, which Grafana \
             10.2 replaces inside every Flux query: the dashboards of this InfluxDB 2 stack could \
             not show the run"
        );
    }

    #[test]
    fn bad_promo_is_refused() {
        let at = Timestamp::UNIX_EPOCH;
        let err = new("black friday", at, |_| Ok(String::new())).unwrap_err();
        assert!(err.to_string().contains("--promo `black friday`"));
    }
}
