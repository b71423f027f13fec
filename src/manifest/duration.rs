//! Retention durations: `30d`, `12h`, `4w`, `1h30m`, or `infinite`.
//!
//! May not: do IO or read the clock.

/// A parsed retention: `None` seconds means infinite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Seconds, or `None` for infinite.
    pub seconds: Option<u64>,
}

impl Retention {
    /// InfluxQL spelling: `INF` or the duration in hours/minutes (`720h`).
    pub fn influxql(self) -> String {
        match self.seconds {
            None => "INF".into(),
            Some(s) if s % 3600 == 0 => format!("{}h", s / 3600),
            Some(s) => format!("{}m", s / 60),
        }
    }
    /// InfluxDB 2 API spelling: `everySeconds`, 0 = infinite.
    pub fn every_seconds(self) -> u64 {
        self.seconds.unwrap_or(0)
    }
    /// `influxd` / docker env spelling (`720h`, `0` for infinite).
    pub fn go_duration(self) -> String {
        match self.seconds {
            None => "0".into(),
            Some(s) if s % 3600 == 0 => format!("{}h", s / 3600),
            Some(s) => format!("{}m", s / 60),
        }
    }
}

/// Parse a duration made of `<number><unit>` parts (units `m`, `h`, `d`, `w`) or `infinite`.
pub fn parse(text: &str) -> Result<Retention, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("infinite") || t.eq_ignore_ascii_case("inf") {
        return Ok(Retention { seconds: None });
    }
    if t.is_empty() {
        return Err("empty duration".into());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(format!("unknown unit `{c}`")),
        };
        if digits.is_empty() {
            return Err(format!("`{c}` has no number before it"));
        }
        let n: u64 = digits.parse().map_err(|_| "number too large".to_string())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| "duration too large".to_string())?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(format!("`{digits}` has no unit"));
    }
    Ok(Retention {
        seconds: Some(total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_sums() {
        assert_eq!(parse("30d").unwrap().seconds, Some(30 * 86_400));
        assert_eq!(parse("4w").unwrap().seconds, Some(4 * 604_800));
        assert_eq!(parse("1h30m").unwrap().seconds, Some(5400));
        assert_eq!(parse("infinite").unwrap().seconds, None);
        assert_eq!(parse("30d").unwrap().influxql(), "720h");
        assert_eq!(parse("1h30m").unwrap().influxql(), "90m");
        assert_eq!(parse("infinite").unwrap().influxql(), "INF");
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("30").unwrap_err().contains("no unit"));
        assert!(parse("30x").unwrap_err().contains("unknown unit"));
        assert!(parse("d").unwrap_err().contains("no number"));
        assert!(parse("").is_err());
    }
}
