//! Five-field cron schedules: validation, and conversion to systemd `OnCalendar=`.
//!
//! May not: do IO or read the clock.

use std::collections::BTreeSet;

/// A parsed cron schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: BTreeSet<u32>,
    hours: BTreeSet<u32>,
    days: BTreeSet<u32>,
    months: BTreeSet<u32>,
    weekdays: BTreeSet<u32>,
    days_restricted: bool,
    weekdays_restricted: bool,
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    },
    Field {
        name: "day of week",
        min: 0,
        max: 7,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    },
];

const SYSTEMD_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// Parse a five-field cron expression.
pub fn parse(text: &str) -> Result<Cron, String> {
    if text.trim_start().starts_with('@') {
        return Err(
            "nicknames such as @daily are not supported; write the five fields (`0 3 * * *`)"
                .into(),
        );
    }
    let parts: Vec<&str> = text.split_whitespace().collect();
    if parts.len() != 5 {
        return Err(format!(
            "a cron schedule has 5 fields (minute hour day-of-month month day-of-week), found {}",
            parts.len()
        ));
    }
    let mut sets = Vec::with_capacity(5);
    for (part, field) in parts.iter().zip(FIELDS.iter()) {
        sets.push(parse_field(part, field)?);
    }
    let mut weekdays = sets.pop().expect("five fields");
    if weekdays.remove(&7) {
        weekdays.insert(0);
    }
    let months = sets.pop().expect("five fields");
    let days = sets.pop().expect("five fields");
    let hours = sets.pop().expect("five fields");
    let minutes = sets.pop().expect("five fields");
    Ok(Cron {
        minutes,
        hours,
        days,
        months,
        weekdays,
        days_restricted: !parts[2].starts_with('*'),
        weekdays_restricted: !parts[4].starts_with('*'),
    })
}

fn parse_field(text: &str, field: &Field) -> Result<BTreeSet<u32>, String> {
    let mut out = BTreeSet::new();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                    format!("{}: step `{s}` is not a positive number", field.name)
                })?;
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (field.min, if field.max == 7 { 6 } else { field.max })
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, field)?, value(b, field)?)
        } else {
            let v = value(range, field)?;
            // `5/15` means "from 5, every 15" as in Vixie cron.
            (v, if step > 1 { field.max } else { v })
        };
        if lo > hi {
            return Err(format!("{}: range `{range}` goes backwards", field.name));
        }
        out.extend((lo..=hi).step_by(step as usize));
    }
    Ok(out)
}

fn value(text: &str, field: &Field) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = field.names.iter().position(|n| *n == lower) {
        return Ok(u32::try_from(i).unwrap_or(0) + field.min);
    }
    let v: u32 = text
        .parse()
        .map_err(|_| format!("{}: `{text}` is not a number", field.name))?;
    if v < field.min || v > field.max {
        return Err(format!(
            "{}: {v} is outside {}-{}",
            field.name, field.min, field.max
        ));
    }
    Ok(v)
}

impl Cron {
    /// systemd `OnCalendar=` expressions equivalent to this schedule (UTC).
    ///
    /// cron runs a job when *either* day field matches if both are restricted, while systemd
    /// requires both; such schedules become two expressions.
    pub fn to_systemd(&self) -> Vec<String> {
        let time = format!(
            "{}:{}:00",
            list(&self.hours, 0, 23),
            list(&self.minutes, 0, 59)
        );
        let months = list(&self.months, 1, 12);
        let days = list(&self.days, 1, 31);
        let weekdays = self.weekday_names();
        let with = |dow: Option<&str>, dom: &str| match dow {
            Some(w) => format!("{w} *-{months}-{dom} {time} UTC"),
            None => format!("*-{months}-{dom} {time} UTC"),
        };
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => vec![with(None, &days), with(Some(&weekdays), "*")],
            (false, true) => vec![with(Some(&weekdays), "*")],
            (true, false) => vec![with(None, &days)],
            (false, false) => vec![with(None, "*")],
        }
    }

    /// The longest time between two runs (over eight years from 2024, so leap days count), in
    /// minutes: how old the newest result of the schedule may be. `None` if it never runs.
    pub fn longest_gap_minutes(&self) -> Option<i64> {
        let start = jiff::civil::date(2024, 1, 1);
        let (mut first, mut last, mut gap): (Option<i64>, Option<i64>, i64) = (None, None, 0);
        for day in 0..(8 * 366) {
            let Ok(date) = start.checked_add(jiff::Span::new().days(day)) else {
                break;
            };
            if !self.runs_on(date) {
                continue;
            }
            for h in &self.hours {
                for m in &self.minutes {
                    let at = day * 1440 + i64::from(*h) * 60 + i64::from(*m);
                    if let Some(prev) = last {
                        gap = gap.max(at - prev);
                    }
                    first.get_or_insert(at);
                    last = Some(at);
                }
            }
        }
        // A schedule that runs once in the span: from that run to itself a span later.
        first.map(|f| if gap == 0 { 8 * 366 * 1440 - f } else { gap })
    }

    /// Whether the day fields match `date` (either day field when both are restricted).
    fn runs_on(&self, date: jiff::civil::Date) -> bool {
        let month = u32::try_from(date.month()).unwrap_or(0);
        let day = u32::try_from(date.day()).unwrap_or(0);
        let weekday = u32::from(date.weekday().to_sunday_zero_offset().unsigned_abs());
        let dom = self.days.contains(&day);
        let dow = self.weekdays.contains(&weekday);
        let days = match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        };
        days && self.months.contains(&month)
    }

    fn weekday_names(&self) -> String {
        self.weekdays
            .iter()
            .map(|d| SYSTEMD_DAYS[*d as usize])
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// `*` for a full range, else a comma list of two-digit values.
fn list(set: &BTreeSet<u32>, min: u32, max: u32) -> String {
    if set.len() == (max - min + 1) as usize {
        return "*".into();
    }
    set.iter()
        .map(|v| format!("{v:02}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_gap_of_daily_weekly_hourly_and_leap_day_schedules() {
        let gap = |s: &str| parse(s).unwrap().longest_gap_minutes();
        assert_eq!(gap("0 3 * * *"), Some(1440));
        assert_eq!(gap("0 3 * * 1"), Some(7 * 1440));
        assert_eq!(gap("15 */6 * * *"), Some(360));
        assert_eq!(gap("0 3,4 * * *"), Some(1380));
        assert_eq!(gap("0 0 29 2 *"), Some((3 * 365 + 366) * 1440));
    }

    #[test]
    fn daily_at_three() {
        assert_eq!(
            parse("0 3 * * *").unwrap().to_systemd(),
            vec!["*-*-* 03:00:00 UTC"]
        );
    }

    #[test]
    fn steps_lists_names() {
        let c = parse("*/15 1,13 * jan-mar mon-fri").unwrap();
        assert_eq!(
            c.to_systemd(),
            vec!["Mon,Tue,Wed,Thu,Fri *-01,02,03-* 01,13:00,15,30,45:00 UTC"]
        );
    }

    #[test]
    fn both_day_fields_are_or() {
        let c = parse("30 2 1 * 0").unwrap();
        assert_eq!(
            c.to_systemd(),
            vec!["*-*-01 02:30:00 UTC", "Sun *-*-* 02:30:00 UTC"]
        );
        assert_eq!(parse("0 0 * * 7").unwrap(), parse("0 0 * * 0").unwrap());
    }

    #[test]
    fn errors_name_the_field() {
        assert!(parse("0 3 * *").unwrap_err().contains("5 fields"));
        assert!(
            parse("60 3 * * *")
                .unwrap_err()
                .contains("minute: 60 is outside 0-59")
        );
        assert!(parse("0 3 * * fri-mon").unwrap_err().contains("backwards"));
        assert!(parse("0 3 * foo *").unwrap_err().contains("month"));
        assert!(parse("@daily").unwrap_err().contains("nicknames"));
        assert!(parse("*/0 * * * *").unwrap_err().contains("step"));
    }
}
