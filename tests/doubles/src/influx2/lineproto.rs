//! InfluxDB line protocol parsing, enough to store points and count them per measurement.

use std::collections::BTreeMap;

use serde::Serialize;

/// A field value.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FieldValue {
    Float(f64),
    Int(i64),
    UInt(u64),
    Bool(bool),
    Str(String),
}

/// One point.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    pub measurement: String,
    pub tags: BTreeMap<String, String>,
    pub fields: BTreeMap<String, FieldValue>,
    /// Nanoseconds since the epoch.
    pub time: i64,
}

/// Nanoseconds per unit of a write `precision`.
pub fn precision_factor(p: Option<&str>) -> Option<i64> {
    match p.unwrap_or("ns") {
        "ns" | "" => Some(1),
        "us" => Some(1_000),
        "ms" => Some(1_000_000),
        "s" => Some(1_000_000_000),
        _ => None,
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Reads up to an unescaped byte in `stops`, unescaping `\` + one of `escapable`.
    fn until(&mut self, stops: &[u8], escapable: &[u8]) -> String {
        let mut out = Vec::new();
        while let Some(c) = self.peek() {
            if c == b'\\'
                && let Some(&n) = self.b.get(self.i + 1)
                && escapable.contains(&n)
            {
                out.push(n);
                self.i += 2;
                continue;
            }
            if stops.contains(&c) {
                break;
            }
            out.push(c);
            self.i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn parse_field_value(raw: &str) -> Result<FieldValue, String> {
    if let Some(n) = raw.strip_suffix('i') {
        return n
            .parse::<i64>()
            .map(FieldValue::Int)
            .map_err(|_| format!("invalid integer value {raw}"));
    }
    if let Some(n) = raw.strip_suffix('u') {
        return n
            .parse::<u64>()
            .map(FieldValue::UInt)
            .map_err(|_| format!("invalid unsigned value {raw}"));
    }
    match raw {
        "t" | "T" | "true" | "True" | "TRUE" => return Ok(FieldValue::Bool(true)),
        "f" | "F" | "false" | "False" | "FALSE" => return Ok(FieldValue::Bool(false)),
        _ => {}
    }
    let first_ok = raw
        .bytes()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == b'-' || c == b'+' || c == b'.');
    match raw.parse::<f64>() {
        Ok(f) if first_ok && f.is_finite() => Ok(FieldValue::Float(f)),
        _ => Err(format!("invalid number {raw}")),
    }
}

/// Parses one non-empty, non-comment line.
pub fn parse_line(line: &str, factor: i64, now_ns: i64) -> Result<Point, String> {
    let mut c = Cursor {
        b: line.as_bytes(),
        i: 0,
    };
    let measurement = c.until(b", ", b", \\");
    if measurement.is_empty() {
        return Err("missing measurement".into());
    }
    let mut tags = BTreeMap::new();
    while c.peek() == Some(b',') {
        c.i += 1;
        let key = c.until(b"=, ", b",= \\");
        if c.peek() != Some(b'=') || key.is_empty() {
            return Err("missing tag key".into());
        }
        c.i += 1;
        let value = c.until(b", ", b",= \\");
        if value.is_empty() {
            return Err("missing tag value".into());
        }
        tags.insert(key, value);
    }
    if c.peek() != Some(b' ') {
        return Err("missing fields".into());
    }
    while c.peek() == Some(b' ') {
        c.i += 1;
    }
    let mut fields = BTreeMap::new();
    loop {
        let key = c.until(b"=, ", b",= \\");
        if key.is_empty() {
            return Err("missing field key".into());
        }
        if c.peek() != Some(b'=') {
            return Err("missing field value".into());
        }
        c.i += 1;
        let value = if c.peek() == Some(b'"') {
            c.i += 1;
            let s = c.until(b"\"", b"\"\\");
            if c.peek() != Some(b'"') {
                return Err("unbalanced quotes".into());
            }
            c.i += 1;
            FieldValue::Str(s)
        } else {
            let raw = c.until(b", ", b"");
            if raw.is_empty() {
                return Err("missing field value".into());
            }
            parse_field_value(&raw)?
        };
        fields.insert(key, value);
        match c.peek() {
            Some(b',') => c.i += 1,
            _ => break,
        }
    }
    while c.peek() == Some(b' ') {
        c.i += 1;
    }
    let rest = String::from_utf8_lossy(&c.b[c.i..]).trim().to_owned();
    let time = if rest.is_empty() {
        now_ns
    } else {
        let t: i64 = rest.parse().map_err(|_| format!("bad timestamp {rest}"))?;
        t.checked_mul(factor)
            .ok_or_else(|| "time outside range".to_owned())?
    };
    Ok(Point {
        measurement,
        tags,
        fields,
        time,
    })
}

/// Parses a whole write body; the first bad line fails the batch with InfluxDB's message.
pub fn parse_body(body: &str, factor: i64, now_ns: i64) -> Result<Vec<Point>, String> {
    let mut out = Vec::new();
    for line in body.split('\n') {
        let line = line.trim_end_matches('\r').trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let p = parse_line(line, factor, now_ns)
            .map_err(|e| format!("unable to parse '{line}': {e}"))?;
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k6_shaped_lines() {
        let body = "http_req_duration,testid=t1,method=GET,name=http://x/a\\ b value=12.5 1700000000000000000\n\
                    # comment\n\
                    vus value=10i 1700000000\n\
                    checks,check=status\\ is\\ 200 value=1,ok=true,msg=\"a \\\"q\\\", b\"\n";
        let pts = parse_body(body, 1, 7).unwrap();
        assert_eq!(pts.len(), 3);
        assert_eq!(pts[0].measurement, "http_req_duration");
        assert_eq!(pts[0].tags["name"], "http://x/a b");
        assert_eq!(pts[0].fields["value"], FieldValue::Float(12.5));
        assert_eq!(pts[1].fields["value"], FieldValue::Int(10));
        assert_eq!(pts[1].time, 1_700_000_000);
        assert_eq!(pts[2].tags["check"], "status is 200");
        assert_eq!(pts[2].fields["ok"], FieldValue::Bool(true));
        assert_eq!(pts[2].fields["msg"], FieldValue::Str("a \"q\", b".into()));
        assert_eq!(pts[2].time, 7);
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(
            parse_body("cpu", 1, 0)
                .unwrap_err()
                .contains("missing fields")
        );
        assert!(parse_body("cpu value=", 1, 0).is_err());
        assert!(
            parse_body("cpu value=abc", 1, 0)
                .unwrap_err()
                .contains("invalid number")
        );
        assert!(parse_body("cpu,host value=1", 1, 0).is_err());
        assert!(
            parse_body("cpu value=1 notatime", 1, 0)
                .unwrap_err()
                .contains("bad timestamp")
        );
        assert!(parse_body("cpu s=\"open", 1, 0).is_err());
    }

    #[test]
    fn precision() {
        assert_eq!(precision_factor(Some("ms")), Some(1_000_000));
        assert_eq!(precision_factor(None), Some(1));
        assert_eq!(precision_factor(Some("h")), None);
        let p = parse_line("m v=1 5", 1_000_000_000, 0).unwrap();
        assert_eq!(p.time, 5_000_000_000);
    }
}
