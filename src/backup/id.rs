//! Backup ids and times: a backup's id is its UTC start time (`20261124T030000Z`, `-N` when
//! several start in one second); times in reports are RFC 3339 UTC.
//!
//! Owns: the id format, the clock (`PROMO_INFRA_NOW` fixes it, read through
//! [`crate::settings`]).
//! May not: touch the file system, print, or talk to InfluxDB or Docker.

use jiff::Timestamp;

use crate::error::{Error, Result};

/// Layout of a backup id (UTC).
pub const ID_FORMAT: &str = "%Y%m%dT%H%M%SZ";
/// Environment variable that fixes the clock (RFC 3339), for tests and reproducible runs.
pub const CLOCK_ENV: &str = "PROMO_INFRA_NOW";

/// The current time, or the one fixed by `PROMO_INFRA_NOW`.
pub fn clock() -> Result<Timestamp> {
    match crate::settings::non_empty(CLOCK_ENV) {
        Some(v) => v.parse().map_err(|e| {
            Error::usage(
                format!("{CLOCK_ENV}=`{v}` is not an RFC 3339 time: {e}"),
                format!("unset {CLOCK_ENV}, or write e.g. 2026-11-24T03:00:00Z"),
            )
        }),
        None => Ok(Timestamp::now()),
    }
}

/// The UTC time of a backup id (`20261124T030000Z`, optionally `-N`).
pub fn parse_id(id: &str) -> Option<Timestamp> {
    let base = match id.split_once('-') {
        Some((base, n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => base,
        Some(_) => return None,
        None => id,
    };
    if base.len() != 16 {
        return None;
    }
    let dt = jiff::civil::DateTime::strptime(ID_FORMAT, base).ok()?;
    jiff::tz::TimeZone::UTC.to_timestamp(dt).ok()
}

/// A backup's place in time: its start, then its `-N` among those of the same second, as a
/// number (`-10` comes after `-9`).
pub fn place(id: &str) -> Option<(Timestamp, u64)> {
    let n = id
        .split_once('-')
        .map_or(Some(0), |(_, n)| n.parse::<u64>().ok())?;
    Some((parse_id(id)?, n))
}

/// The id of a backup started at `t`.
pub fn format_id(t: Timestamp) -> String {
    t.strftime(ID_FORMAT).to_string()
}

/// `t` in RFC 3339 UTC, to the second.
pub fn rfc3339(t: Timestamp) -> String {
    t.round(jiff::Unit::Second)
        .unwrap_or(t)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_only_ids_parse() {
        let t: Timestamp = "2026-11-24T03:00:00Z".parse().expect("time");
        assert_eq!(format_id(t), "20261124T030000Z");
        assert_eq!(parse_id("20261124T030000Z"), Some(t));
        assert_eq!(parse_id("20261124T030000Z-2"), Some(t));
        for bad in [
            "20261124T030000Z-",
            "20261124T030000Z-x",
            "2026",
            "keep-me.txt",
        ] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
        assert_eq!(rfc3339(t), "2026-11-24T03:00:00Z");
        assert!(place("20261124T030000Z-10") > place("20261124T030000Z-9"));
        assert!(place("20261124T030000Z-1") > place("20261124T030000Z"));
        assert!(place("20261124T030001Z") > place("20261124T030000Z-10"));
        assert_eq!(place("keep-me.txt"), None);
    }
}
