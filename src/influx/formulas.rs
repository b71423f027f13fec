//! The formulas of a run's numbers — p50/p95/p99 of `http_req_duration`, error rate (all, 4xx,
//! 5xx), peak VUs, requests per second, checks pass rate, request count — written ONCE, in
//! InfluxQL (1.x) and Flux (2.x). The marketing and technical dashboards render their queries
//! through these functions (the `influxql` / `flux` template helpers), and `runs show`,
//! `runs compare` and `runs export` query with them: a dashboard and `runs` cannot disagree.
//!
//! A formula is the same text whatever asks; only its scope differs: which run (`$testid` on a
//! dashboard, a literal test id for `runs`), which time range (`$timeFilter` / a literal range),
//! and whether it gives one number over the range ([`InfluxQl::whole`], [`flux_whole`]) or one
//! per time bucket ([`InfluxQl::per`], [`flux_per`]).
//!
//! Owns: the query text of each statistic. May not: send a query, print, read the environment.

/// One statistic of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stat {
    /// Median of `http_req_duration`, ms.
    P50,
    /// 95th percentile of `http_req_duration`, ms.
    P95,
    /// 99th percentile of `http_req_duration`, ms.
    P99,
    /// Share of failed requests (`http_req_failed`), %.
    Errors,
    /// Share of requests that failed with a 4xx status, %.
    Errors4xx,
    /// Share of requests that failed with a 5xx status, %.
    Errors5xx,
    /// Most VUs at once (`vus`).
    PeakVus,
    /// Requests per second: the mean of per-second counts (`http_reqs`, empty seconds count 0).
    Rps,
    /// Share of passed checks (`checks`), %.
    Checks,
    /// Number of requests (`http_reqs`).
    Requests,
}

impl Stat {
    /// Every statistic, in the order `runs` shows them.
    pub const ALL: [Stat; 10] = [
        Stat::P50,
        Stat::P95,
        Stat::P99,
        Stat::Errors,
        Stat::Errors4xx,
        Stat::Errors5xx,
        Stat::PeakVus,
        Stat::Rps,
        Stat::Checks,
        Stat::Requests,
    ];

    /// The column name (InfluxQL alias, CSV header, template helper argument).
    pub fn name(self) -> &'static str {
        match self {
            Stat::P50 => "p50",
            Stat::P95 => "p95",
            Stat::P99 => "p99",
            Stat::Errors => "errors",
            Stat::Errors4xx => "errors_4xx",
            Stat::Errors5xx => "errors_5xx",
            Stat::PeakVus => "vus",
            Stat::Rps => "rps",
            Stat::Checks => "checks_pass_rate",
            Stat::Requests => "requests",
        }
    }

    /// The statistic called `name` ([`Stat::name`]).
    pub fn parse(name: &str) -> Option<Stat> {
        Stat::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The measurement it is computed from.
    pub fn measurement(self) -> &'static str {
        match self {
            Stat::P50 | Stat::P95 | Stat::P99 => "http_req_duration",
            Stat::Errors | Stat::Errors4xx | Stat::Errors5xx => "http_req_failed",
            Stat::PeakVus => "vus",
            Stat::Rps | Stat::Requests => "http_reqs",
            Stat::Checks => "checks",
        }
    }

    fn percentile(self) -> Option<u8> {
        match self {
            Stat::P50 => Some(50),
            Stat::P95 => Some(95),
            Stat::P99 => Some(99),
            _ => None,
        }
    }

    /// The status class of an error-rate split (`4` or `5`).
    fn status_class(self) -> Option<char> {
        match self {
            Stat::Errors4xx => Some('4'),
            Stat::Errors5xx => Some('5'),
            _ => None,
        }
    }
}

/// The scope of an InfluxQL formula: which run and which time range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfluxQl {
    /// The run condition: `"testid" =~ /^$testid$/` on a dashboard, `"testid" = '<id>'` here.
    pub run: String,
    /// The time condition: `$timeFilter` on a dashboard, `time >= …ns AND time < …ns` here.
    pub time: String,
}

impl InfluxQl {
    /// The scope of a dashboard panel: the `$testid` variable and Grafana's time range.
    pub fn dashboard() -> Self {
        Self {
            run: "\"testid\" =~ /^$testid$/".into(),
            time: "$timeFilter".into(),
        }
    }

    /// One run, `[start_ns, end_ns)`.
    pub fn run(testid: &str, start_ns: i64, end_ns: i64) -> Self {
        Self {
            run: format!("\"testid\" = {}", super::v1::quote_str(testid)),
            time: format!("time >= {start_ns} AND time < {end_ns}"),
        }
    }

    /// One number over the whole range.
    pub fn whole(&self, stat: Stat) -> String {
        self.query(stat, None)
    }

    /// One number per `interval` (`$__interval`, `10s`), empty intervals left out.
    pub fn per(&self, stat: Stat, interval: &str) -> String {
        self.query(stat, Some(interval))
    }

    fn query(&self, stat: Stat, interval: Option<&str>) -> String {
        let (run, time) = (&self.run, &self.time);
        let name = stat.name();
        let m = stat.measurement();
        let inner_group = interval.map_or_else(String::new, |i| format!(" GROUP BY time({i})"));
        let group =
            interval.map_or_else(String::new, |i| format!(" GROUP BY time({i}) fill(none)"));
        let select = |expr: &str| {
            format!("SELECT {expr} AS \"{name}\" FROM \"{m}\" WHERE {run} AND {time}{group}")
        };
        if let Some(p) = stat.percentile() {
            return select(&format!("percentile(\"value\", {p})"));
        }
        if let Some(class) = stat.status_class() {
            // failed with that status ÷ all requests: two sources of the same field names,
            // summed (InfluxQL cannot combine two measurements otherwise).
            return format!(
                "SELECT sum(\"f\") * 100.0 / sum(\"n\") AS \"{name}\" FROM \
                 (SELECT sum(\"value\") AS \"f\", 0 * count(\"value\") AS \"n\" FROM \"{m}\" WHERE {run} AND \"status\" =~ /^{class}/ AND {time}{inner_group}), \
                 (SELECT 0 * sum(\"value\") AS \"f\", count(\"value\") AS \"n\" FROM \"{m}\" WHERE {run} AND {time}{inner_group}) \
                 WHERE {time}{group}"
            );
        }
        match stat {
            Stat::Errors | Stat::Checks => select("mean(\"value\") * 100"),
            Stat::PeakVus => select("max(\"value\")"),
            Stat::Requests => select("count(\"value\")"),
            // per-second counts (empty seconds are 0), then their mean
            _ => format!(
                "SELECT mean(\"c\") AS \"{name}\" FROM (SELECT count(\"value\") AS \"c\" FROM \"{m}\" WHERE {run} AND {time} GROUP BY time(1s) fill(0)) WHERE {time}{group}"
            ),
        }
    }
}

/// The Flux source of one run's measurement, `[start, stop)` (RFC 3339), as `runs` queries it.
/// A dashboard writes the same source with `v.timeRangeStart` and `${testid}`.
pub fn flux_source(
    bucket: &str,
    measurement: &str,
    testid: &str,
    start: &str,
    stop: &str,
) -> String {
    format!(
        "from(bucket: {})\n  |> range(start: {start}, stop: {stop})\n  |> filter(fn: (r) => r._measurement == \"{measurement}\" and r._field == \"value\" and r.testid == {})",
        flux_string(bucket),
        flux_string(testid)
    )
}

/// A Flux string literal.
pub fn flux_string(s: &str) -> String {
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace("${", "\\${")
    )
}

/// The Flux pipeline after the source giving one number over the whole range.
pub fn flux_whole(stat: Stat) -> String {
    flux_tail(stat, None)
}

/// The Flux pipeline after the source giving one number per `every` (`v.windowPeriod`, `10s`).
pub fn flux_per(stat: Stat, every: &str) -> String {
    flux_tail(stat, Some(every))
}

fn flux_tail(stat: Stat, every: Option<&str>) -> String {
    let window = |f: &str| {
        every.map_or_else(
            || format!("{f}()"),
            |e| format!("aggregateWindow(every: {e}, fn: {f}, createEmpty: false)"),
        )
    };
    let times100 = "\n  |> map(fn: (r) => ({r with _value: r._value * 100.0}))";
    let mut out = String::from("\n  |> group()");
    if let Some(p) = stat.percentile() {
        let q = f64::from(p) / 100.0;
        match every {
            None => out.push_str(&format!(
                "\n  |> quantile(q: {q}, method: \"exact_mean\")\n  |> map(fn: (r) => ({{_value: r._value}}))"
            )),
            Some(e) => out.push_str(&format!(
                "\n  |> aggregateWindow(every: {e}, fn: (column, tables=<-) => tables |> quantile(q: {q}, column: column, method: \"exact_mean\"), createEmpty: false)"
            )),
        }
        return out;
    }
    if let Some(class) = stat.status_class() {
        out.push_str(&format!(
            "\n  |> map(fn: (r) => ({{r with _value: if exists r.status and r.status =~ /^{class}/ then r._value else 0.0}}))"
        ));
    }
    match stat {
        Stat::Errors | Stat::Errors4xx | Stat::Errors5xx | Stat::Checks => {
            out.push_str(&format!("\n  |> {}{times100}", window("mean")));
        }
        Stat::PeakVus => out.push_str(&format!("\n  |> {}", window("max"))),
        Stat::Requests => out.push_str(&format!("\n  |> {}", window("count"))),
        _ => out.push_str(&format!(
            "\n  |> aggregateWindow(every: 1s, fn: count, createEmpty: true)\n  |> {}",
            window("mean")
        )),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for s in Stat::ALL {
            assert_eq!(Stat::parse(s.name()), Some(s));
        }
        assert_eq!(Stat::parse("p90"), None);
    }

    #[test]
    fn a_run_scope_is_literal_and_quoted() {
        let q = InfluxQl::run("a'b", 10, 20).whole(Stat::P95);
        assert_eq!(
            q,
            "SELECT percentile(\"value\", 95) AS \"p95\" FROM \"http_req_duration\" WHERE \"testid\" = 'a\\'b' AND time >= 10 AND time < 20"
        );
        assert_eq!(
            flux_source("k6", "vus", "x\"${y}", "A", "B"),
            "from(bucket: \"k6\")\n  |> range(start: A, stop: B)\n  |> filter(fn: (r) => r._measurement == \"vus\" and r._field == \"value\" and r.testid == \"x\\\"\\${y}\")"
        );
    }

    #[test]
    fn whole_and_per_interval_differ_only_by_the_grouping() {
        let s = InfluxQl::dashboard();
        assert_eq!(
            s.per(Stat::Rps, "$__interval"),
            "SELECT mean(\"c\") AS \"rps\" FROM (SELECT count(\"value\") AS \"c\" FROM \"http_reqs\" WHERE \"testid\" =~ /^$testid$/ AND $timeFilter GROUP BY time(1s) fill(0)) WHERE $timeFilter GROUP BY time($__interval) fill(none)"
        );
        assert_eq!(
            s.whole(Stat::Errors5xx),
            "SELECT sum(\"f\") * 100.0 / sum(\"n\") AS \"errors_5xx\" FROM (SELECT sum(\"value\") AS \"f\", 0 * count(\"value\") AS \"n\" FROM \"http_req_failed\" WHERE \"testid\" =~ /^$testid$/ AND \"status\" =~ /^5/ AND $timeFilter), (SELECT 0 * sum(\"value\") AS \"f\", count(\"value\") AS \"n\" FROM \"http_req_failed\" WHERE \"testid\" =~ /^$testid$/ AND $timeFilter) WHERE $timeFilter"
        );
        assert_eq!(
            flux_whole(Stat::Errors4xx),
            "\n  |> group()\n  |> map(fn: (r) => ({r with _value: if exists r.status and r.status =~ /^4/ then r._value else 0.0}))\n  |> mean()\n  |> map(fn: (r) => ({r with _value: r._value * 100.0}))"
        );
        assert_eq!(
            flux_per(Stat::PeakVus, "10s"),
            "\n  |> group()\n  |> aggregateWindow(every: 10s, fn: max, createEmpty: false)"
        );
    }
}
