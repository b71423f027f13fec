//! Annotations: the marks a load test leaves on the dashboards (start, stopped by hand, end).
//!
//! Owns: `POST /api/annotations`. May not: decide what an annotation says (`k6::report` and the
//! control API do), print.

use reqwest::Method;
use serde_json::{Value, json};

use super::Client;
use crate::error::Result;

/// One annotation.
#[derive(Debug, Clone)]
pub struct Annotation {
    /// Epoch ms.
    pub time_ms: i64,
    /// Epoch ms; makes the annotation a region.
    pub time_end_ms: Option<i64>,
    /// Tags (the test id among them, so dashboards can filter).
    pub tags: Vec<String>,
    /// Text.
    pub text: String,
}

impl Client {
    /// `POST /api/annotations` (an organisation annotation: no dashboard uid, so every
    /// dashboard whose annotation query matches its tags shows it); returns its id.
    pub async fn annotate(&self, a: &Annotation) -> Result<u64> {
        let mut body = json!({ "time": a.time_ms, "tags": a.tags, "text": a.text });
        if let Some(end) = a.time_end_ms {
            body["timeEnd"] = json!(end);
        }
        let v = self
            .ok(Method::POST, "/api/annotations", Some(&body))
            .await?;
        Ok(v.get("id").and_then(Value::as_u64).unwrap_or(0))
    }
}
