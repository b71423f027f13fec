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
/// names and URLs): 1-64 of `[A-Za-z0-9_.-]`.
pub fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Whether `s` is a plausible test id (what the STOP page and the API accept).
pub fn is_testid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 120
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Check a label given on the command line.
pub fn check_label(flag: &str, value: &str) -> Result<()> {
    if is_label(value) {
        Ok(())
    } else {
        Err(Error::usage(
            format!("{flag} `{value}` is not usable as a k6 tag"),
            "use 1-64 characters among letters, digits, `_`, `-` and `.`",
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
    fn bad_promo_is_refused() {
        let at = Timestamp::UNIX_EPOCH;
        let err = new("black friday", at, |_| Ok(String::new())).unwrap_err();
        assert!(err.to_string().contains("--promo `black friday`"));
    }
}
