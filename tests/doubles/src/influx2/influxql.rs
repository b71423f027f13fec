//! The InfluxDB 2 double's optional **InfluxQL backend**: a real InfluxDB 1.x (`influxd`, no
//! auth) that a test started on 127.0.0.1. The double stays the edge a client talks to — it
//! checks the token, the token's permission on the bucket and the DBRP mapping of `db`, as
//! InfluxDB Cloud does — then forwards what passed: the line protocol of a write (v1 `/write`
//! and `/api/v2/write`) and the InfluxQL queries of v1 `/query` (`SELECT`, `SHOW` but the
//! databases and measurements the double answers itself), and returns `influxd`'s answer.
//!
//! In the backend, the database of a bucket is named after the **bucket's id** (so a bucket
//! renamed or a DBRP mapping changed keeps its data, as in InfluxDB 2/Cloud, where data belongs
//! to the bucket). It is created on first use.
//!
//! Owns: those forwarded requests. May not: check credentials (the double did), print, or read
//! the environment.

use std::collections::BTreeSet;
use std::sync::Mutex;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{InfluxError, err};
use crate::common::lock;

/// A real InfluxDB 1.x the double forwards to.
#[derive(Debug)]
pub struct Backend {
    url: String,
    http: reqwest::Client,
    /// Databases already created (one per bucket id).
    made: Mutex<BTreeSet<String>>,
}

/// What the backend answered, as the double passes it on.
fn passed_on(status: u16, body: &str) -> InfluxError {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned());
    err(status, "invalid", message)
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

impl Backend {
    /// The backend at `url` (`http://127.0.0.1:<port>`).
    pub fn new(url: &str) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            made: Mutex::new(BTreeSet::new()),
        }
    }

    fn unreachable(&self, e: &reqwest::Error) -> InfluxError {
        err(
            StatusCode::BAD_GATEWAY,
            "internal error",
            format!(
                "the double's InfluxQL backend at {} did not answer: {e}",
                self.url
            ),
        )
    }

    async fn post(
        &self,
        path_query: &str,
        body: String,
        form_body: bool,
    ) -> Result<(u16, String), InfluxError> {
        let mut req = self
            .http
            .post(format!("{}{path_query}", self.url))
            .body(body);
        if form_body {
            req = req.header("Content-Type", "application/x-www-form-urlencoded");
        }
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| self.unreachable(&e))?;
        Ok((status, text))
    }

    /// The backend database of bucket `bucket_id`, created when first used.
    async fn database(&self, bucket_id: &str) -> Result<String, InfluxError> {
        if lock(&self.made).contains(bucket_id) {
            return Ok(bucket_id.to_owned());
        }
        let q = format!("CREATE DATABASE \"{bucket_id}\"");
        let (status, text) = self.post("/query", form(&[("q", &q)]), true).await?;
        if status != 200 {
            return Err(passed_on(status, &text));
        }
        lock(&self.made).insert(bucket_id.to_owned());
        Ok(bucket_id.to_owned())
    }

    /// Write `lines` (line protocol, `precision` in 1.x names: `n`, `u`, `ms`, `s`, `m`, `h`)
    /// into the bucket's database.
    pub async fn write(
        &self,
        bucket_id: &str,
        precision: Option<&str>,
        lines: String,
    ) -> Result<(), InfluxError> {
        let db = self.database(bucket_id).await?;
        let mut params = vec![("db", db.as_str())];
        if let Some(p) = precision.filter(|p| !p.is_empty()) {
            params.push(("precision", p));
        }
        let (status, text) = self
            .post(&format!("/write?{}", form(&params)), lines, false)
            .await?;
        if status == 204 {
            Ok(())
        } else {
            Err(passed_on(status, &text))
        }
    }

    /// Run `statements` on the bucket's database; one result per statement, in order (their
    /// `statement_id` as the backend numbered them).
    pub async fn query(
        &self,
        bucket_id: &str,
        statements: &[String],
        epoch: Option<&str>,
    ) -> Result<Vec<Value>, InfluxError> {
        let db = self.database(bucket_id).await?;
        let q = statements.join(";");
        let mut params = vec![("q", q.as_str()), ("db", db.as_str())];
        if let Some(e) = epoch.filter(|e| !e.is_empty()) {
            params.push(("epoch", e));
        }
        let (status, text) = self.post("/query", form(&params), true).await?;
        if status != 200 {
            return Err(passed_on(status, &text));
        }
        let body: Value = serde_json::from_str(&text).map_err(|e| {
            err(
                StatusCode::BAD_GATEWAY,
                "internal error",
                format!("the double's InfluxQL backend answered no JSON: {e}"),
            )
        })?;
        let results = body["results"].as_array().cloned().unwrap_or_default();
        Ok((0..statements.len())
            .map(|i| results.get(i).cloned().unwrap_or_else(|| json!({})))
            .collect())
    }
}

/// What InfluxDB Cloud Serverless does not let InfluxQL do (bucket management; its v1 API
/// guide, "Bucket management with InfluxQL (not supported)").
const REFUSED: [&str; 10] = [
    "CREATE", "DELETE", "DROP", "GRANT", "EXPLAIN", "REVOKE", "ALTER", "SET", "KILL", "INTO",
];

/// How the double handles one statement when it has a backend.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Answered by the double (`SHOW DATABASES`, `SHOW MEASUREMENTS`, anything else it knows).
    Here,
    /// Refused as InfluxDB Cloud Serverless refuses it (its first word, or `INTO`).
    Refused(String),
    /// Forwarded to the backend.
    Backend,
}

/// The route of `statement`.
pub fn route(statement: &str) -> Route {
    let words: Vec<String> = statement
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let first = words.first().map_or("", String::as_str);
    if REFUSED.contains(&first) {
        return Route::Refused(first.to_owned());
    }
    match (first, words.get(1).map(String::as_str)) {
        ("SELECT", _) if words.iter().any(|w| w == "INTO") => Route::Refused("SELECT INTO".into()),
        ("SELECT", _) => Route::Backend,
        ("SHOW", Some("DATABASES" | "MEASUREMENTS")) => Route::Here,
        ("SHOW", _) => Route::Backend,
        _ => Route::Here,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_go_to_the_backend_and_bucket_management_is_refused() {
        assert_eq!(
            route("SELECT count(\"value\") FROM \"vus\""),
            Route::Backend
        );
        assert_eq!(
            route(" show tag values with key = \"testid\""),
            Route::Backend
        );
        assert_eq!(route("SHOW DATABASES"), Route::Here);
        assert_eq!(route("SHOW MEASUREMENTS"), Route::Here);
        assert_eq!(route("DROP DATABASE k6"), Route::Refused("DROP".into()));
        assert_eq!(
            route("SELECT * INTO \"other\" FROM \"vus\""),
            Route::Refused("SELECT INTO".into())
        );
    }
}
