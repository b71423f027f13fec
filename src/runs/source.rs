//! Where a run's numbers come from: the stack's InfluxDB, through the one client
//! ([`crate::influx::Client`]), with the formulas of [`crate::influx::formulas`] — InfluxQL on
//! 1.x (`/query`, as the read-only `grafana` user), Flux on 2.x (`/api/v2/query`, CSV answer),
//! and on the cloud target InfluxQL through InfluxDB Cloud's v1 `/query` (Cloud Serverless has
//! no Flux): `db=<bucket>` (the DBRP mapping apply creates), with the read-only token apply
//! minted for Grafana ([`cloud`]).
//!
//! Owns: the run's time range (its first and last point), sending the formulas, reading the
//! answers. May not: print, read the environment, write anything.

use std::collections::BTreeMap;

use jiff::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::influx::formulas::{self, InfluxQl, Stat};
use crate::influx::{Auth, Client, Endpoint, v1, v2};
use crate::manifest::Manifest;
use crate::secrets::{self, SecretValues};
use crate::targets::TargetKind;

mod cloud;

const NS: i64 = 1_000_000_000;

/// One statistic per [`Stat`] (absent: no data for it).
pub type Values = BTreeMap<Stat, f64>;

/// The stack's InfluxDB, as a reader.
#[derive(Debug)]
pub enum Source {
    /// InfluxQL over v1 `/query`: InfluxDB 1.x's database, or InfluxDB Cloud's bucket through
    /// its DBRP mapping.
    V1 {
        /// Client (the Grafana READ user; on the cloud target, Grafana's read-only token).
        client: Client,
        /// Database.
        db: String,
        /// InfluxDB Cloud (its failures get the cloud's help: no stack to start, no logs).
        cloud: bool,
    },
    /// InfluxDB 2.x: a bucket of an organisation.
    V2 {
        /// Client (the admin token).
        client: Client,
        /// Organisation.
        org: String,
        /// Bucket.
        bucket: String,
    },
}

/// The time range of a run's points: `[start_ns, end_ns)`, whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First second with a point.
    pub start_ns: i64,
    /// One second after the last second with a point.
    pub end_ns: i64,
}

impl Range {
    /// Start, RFC 3339.
    pub fn start(&self) -> String {
        rfc3339(self.start_ns)
    }
    /// End, RFC 3339.
    pub fn end(&self) -> String {
        rfc3339(self.end_ns)
    }
}

fn rfc3339(ns: i64) -> String {
    Timestamp::from_nanosecond(i128::from(ns)).map_or_else(|_| ns.to_string(), |t| t.to_string())
}

fn no_data(testid: &str, url: &str) -> Error {
    Error::influx(format!("InfluxDB at {url} has no data for test {testid}"))
        .with_help("check the test id (`promo-infra runs list`), and that k6 wrote into this stack (`promo-infra k6 env`)")
}

impl Source {
    /// The reader of the stack of `m` as it runs on `target`, with its credentials from `.env`:
    /// the stack's own InfluxDB (docker, native), or InfluxDB Cloud (cloud).
    pub fn of(m: &Manifest, values: &SecretValues, target: TargetKind) -> Result<Self> {
        if target == TargetKind::Cloud {
            return cloud::source(m, values);
        }
        let ep = Endpoint {
            url: crate::k6::settings::influx_url(m),
        };
        let need = |name: &str| {
            values.get(name).map(str::to_string).ok_or_else(|| {
                Error::influx(format!("secret {name} is not set: cannot read InfluxDB")).with_help(
                    "run `promo-infra generate` to create it in .env, then `promo-infra apply`",
                )
            })
        };
        Ok(if *m.influxdb.version == 2 {
            Self::V2 {
                client: Client::new(&ep, Auth::Token(need(secrets::INFLUX_ADMIN_TOKEN)?))?,
                org: m.influxdb.org.to_string(),
                bucket: m.influxdb.bucket.to_string(),
            }
        } else {
            let auth = Auth::Basic {
                user: crate::compile::services::INFLUX_V1_READ_USER.to_string(),
                password: need(secrets::INFLUX_V1_READ_PASSWORD)?,
            };
            Self::V1 {
                client: Client::new(&ep, auth)?,
                db: m.influxdb.bucket.to_string(),
                cloud: false,
            }
        })
    }

    fn client(&self) -> &Client {
        match self {
            Self::V1 { client, .. } | Self::V2 { client, .. } => client,
        }
    }

    /// Where it reads (`http://127.0.0.1:8086`, InfluxDB Cloud's URL).
    pub fn url(&self) -> &str {
        self.client().base()
    }

    /// A failure of a one-shot command (`runs`), which does not retry, with what to do about
    /// it: on the cloud target what fits InfluxDB Cloud (there is no stack to start and no
    /// logs to read), else what fits the stack's InfluxDB ([`crate::influx::blocking::settle`]).
    pub fn settle(&self, e: Error) -> Error {
        match self {
            Self::V1 { cloud: true, .. } => cloud::settle(e),
            _ => crate::influx::blocking::settle(e),
        }
    }

    /// The run's range: from its first point's second to one second after its last point's,
    /// over `vus` and `http_reqs`; an error when InfluxDB has no point of the run.
    pub async fn range(&self, testid: &str) -> Result<Range> {
        self.range_if_any(testid)
            .await?
            .ok_or_else(|| no_data(testid, self.client().base()))
    }

    /// [`Source::range`], or `None` when InfluxDB has no point of the run.
    pub async fn range_if_any(&self, testid: &str) -> Result<Option<Range>> {
        let mut times = Vec::new();
        for m in ["vus", "http_reqs"] {
            for selector in ["first", "last"] {
                times.extend(self.point_time(testid, m, selector).await?);
            }
        }
        Ok(times
            .iter()
            .min()
            .zip(times.iter().max())
            .map(|(first, last)| Range {
                start_ns: first.div_euclid(NS) * NS,
                end_ns: (last.div_euclid(NS) + 1) * NS,
            }))
    }

    async fn point_time(&self, testid: &str, m: &str, selector: &str) -> Result<Option<i64>> {
        match self {
            Self::V1 { .. } => {
                let q = format!(
                    "SELECT {selector}(\"value\") FROM \"{m}\" WHERE \"testid\" = {}",
                    v1::quote_str(testid)
                );
                let body = self.influxql(&q).await?;
                Ok(series_rows(&body["results"][0])
                    .first()
                    .and_then(|r| r.first())
                    .and_then(Value::as_i64))
            }
            Self::V2 { bucket, .. } => {
                let rows = self
                    .flux(&flux_point_query(bucket, m, testid, selector))
                    .await?;
                Ok(rows.first().map(|r| r.0))
            }
        }
    }

    /// Every statistic over the whole range.
    pub async fn whole(&self, testid: &str, range: Range) -> Result<Values> {
        let mut out = Values::new();
        match self {
            Self::V1 { .. } => {
                let scope = InfluxQl::run(testid, range.start_ns, range.end_ns);
                let q: Vec<String> = Stat::ALL.iter().map(|s| scope.whole(*s)).collect();
                let body = self.influxql(&q.join("; ")).await?;
                for (i, stat) in Stat::ALL.into_iter().enumerate() {
                    let value = series_rows(&body["results"][i])
                        .first()
                        .and_then(|r| r.get(1))
                        .and_then(Value::as_f64);
                    if let Some(v) = value {
                        out.insert(stat, v);
                    }
                }
            }
            Self::V2 { bucket, .. } => {
                for stat in Stat::ALL {
                    let rows = self
                        .flux(&flux_query(bucket, testid, range, stat, None))
                        .await?;
                    if let Some((_, v)) = rows.first() {
                        out.insert(stat, *v);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every statistic per bucket of `every_s` seconds, by bucket start (ns).
    pub async fn per(
        &self,
        testid: &str,
        range: Range,
        every_s: u32,
    ) -> Result<BTreeMap<i64, Values>> {
        let every = format!("{every_s}s");
        let mut out: BTreeMap<i64, Values> = BTreeMap::new();
        match self {
            Self::V1 { .. } => {
                let scope = InfluxQl::run(testid, range.start_ns, range.end_ns);
                let q: Vec<String> = Stat::ALL.iter().map(|s| scope.per(*s, &every)).collect();
                let body = self.influxql(&q.join("; ")).await?;
                for (i, stat) in Stat::ALL.into_iter().enumerate() {
                    for row in series_rows(&body["results"][i]) {
                        if let (Some(t), Some(v)) = (
                            row.first().and_then(Value::as_i64),
                            row.get(1).and_then(Value::as_f64),
                        ) {
                            out.entry(t).or_default().insert(stat, v);
                        }
                    }
                }
            }
            Self::V2 { bucket, .. } => {
                for stat in Stat::ALL {
                    let q = flux_query(bucket, testid, range, stat, Some(&every));
                    // aggregateWindow stamps a window with its end: key it by its start.
                    for (t, v) in self.flux(&q).await? {
                        out.entry(t - i64::from(every_s) * NS)
                            .or_default()
                            .insert(stat, v);
                    }
                }
            }
        }
        Ok(out)
    }

    async fn influxql(&self, q: &str) -> Result<Value> {
        let Self::V1 { client, db, cloud } = self else {
            return Err(Error::internal("InfluxQL sent to an InfluxDB 2 source"));
        };
        let body = v1::query_results_in(client, q, &[("db", db), ("epoch", "ns")]).await?;
        match v1::statement_error(&body) {
            Some(e) => Err(Error::influx(format!(
                "InfluxDB at {} refused a query of database `{db}`: {e}",
                client.base()
            ))
            .with_help(if *cloud {
                cloud::statement_help(db)
            } else {
                "check that the database exists (`promo-infra status`) and that INFLUXDB_GRAFANA_PASSWORD in .env is current".to_string()
            })),
            None => Ok(body),
        }
    }

    /// A Flux query; `(_time ns, _value)` of every row that has both.
    async fn flux(&self, q: &str) -> Result<Vec<(i64, f64)>> {
        let Self::V2 { client, org, .. } = self else {
            return Err(Error::internal("Flux sent to an InfluxDB 1 source"));
        };
        let path = &v2::with_query("/api/v2/query", &[("org", org)]);
        let body = json!({
            "query": q, "type": "flux",
            "dialect": {"header": true, "annotations": [], "delimiter": ","},
        });
        let req = client.request(Method::POST, path).json(&body);
        let help = "check INFLUXDB_ADMIN_TOKEN in .env and the manifest's influxdb.org / bucket";
        let resp = client.send_ok(path, req, help).await?;
        let text = resp
            .text()
            .await
            .map_err(|e| Error::influx(format!("InfluxDB at {}: {e}", client.url(path))))?;
        Ok(flux_rows(&text))
    }
}

/// The Flux of the first or last (`selector`) point of measurement `m` of a run.
pub fn flux_point_query(bucket: &str, m: &str, testid: &str, selector: &str) -> String {
    let src = formulas::flux_source(bucket, m, testid, "1970-01-01T00:00:00Z", "now()");
    format!("{src}\n  |> group()\n  |> {selector}()")
}

/// The Flux of `stat` for one run: over its whole range, or per `every`.
pub fn flux_query(
    bucket: &str,
    testid: &str,
    range: Range,
    stat: Stat,
    every: Option<&str>,
) -> String {
    let src = formulas::flux_source(
        bucket,
        stat.measurement(),
        testid,
        &range.start(),
        &range.end(),
    );
    let tail = every.map_or_else(
        || formulas::flux_whole(stat),
        |e| formulas::flux_per(stat, e),
    );
    format!("{src}{tail}")
}

/// Rows of the first series of one InfluxQL result.
fn series_rows(result: &Value) -> Vec<Vec<Value>> {
    result["series"][0]["values"]
        .as_array()
        .map(|v| v.iter().filter_map(|r| r.as_array().cloned()).collect())
        .unwrap_or_default()
}

/// `(_time, _value)` of a Flux CSV answer (several tables may each repeat the header).
pub fn flux_rows(text: &str) -> Vec<(i64, f64)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut cols: Option<(usize, Option<usize>)> = None;
    let mut out = Vec::new();
    for rec in reader.records().filter_map(std::result::Result::ok) {
        if let Some(v) = rec.iter().position(|c| c == "_value") {
            cols = Some((v, rec.iter().position(|c| c == "_time")));
            continue;
        }
        let Some((v, t)) = cols else { continue };
        let value = rec.get(v).and_then(|x| x.parse::<f64>().ok());
        let time = match t {
            Some(t) => rec
                .get(t)
                .and_then(|x| x.parse::<Timestamp>().ok())
                .map(|ts| ts.as_nanosecond() as i64),
            None => Some(0),
        };
        if let (Some(t), Some(v)) = (time, value) {
            out.push((t, v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Flux `runs` sends to an InfluxDB 2 (the InfluxDB 2 double has no query engine: the
    /// text is checked here).
    #[test]
    fn flux_queries_of_a_run() {
        let range = Range {
            start_ns: 1_732_870_800 * NS,
            end_ns: 1_732_870_860 * NS,
        };
        let text: Vec<String> = Stat::ALL
            .iter()
            .flat_map(|s| {
                [None, Some("10s")].map(|e| {
                    format!(
                        "// {} {e:?}\n{}",
                        s.name(),
                        flux_query("k6-metrics", "bf_1", range, *s, e)
                    )
                })
            })
            .collect();
        insta::assert_snapshot!(text.join("\n\n"));
    }

    #[test]
    fn flux_csv_tables_with_repeated_headers_are_read() {
        let text = ",result,table,_start,_stop,_time,_value\r\n,_result,0,a,b,2024-11-29T09:00:10Z,12.5\r\n\r\n,result,table,_value\r\n,_result,1,3\r\n,_result,1,x\r\n";
        assert_eq!(
            flux_rows(text),
            [(1_732_870_810_000_000_000, 12.5), (0, 3.0)]
        );
    }
}
