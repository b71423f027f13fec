//! Grafana-shaped error responses: `{"message": "..."}`, optionally with a `status` key.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error answered as Grafana answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// `{"message": msg}` with `status`.
    pub fn msg(status: StatusCode, msg: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({ "message": msg.into() }),
            retry_after: None,
        }
    }

    /// `{"message": msg, "status": status_word}` (Grafana's `DashboardErr.Body()`).
    pub fn with_status(status: StatusCode, msg: impl Into<String>, word: &str) -> Self {
        Self {
            status,
            body: json!({ "message": msg.into(), "status": word }),
            retry_after: None,
        }
    }

    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::msg(StatusCode::BAD_REQUEST, msg)
    }

    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::msg(StatusCode::NOT_FOUND, msg)
    }

    /// Grafana's answer to a body it cannot bind.
    pub fn bad_request_data() -> Self {
        Self::bad_request("bad request data")
    }

    /// The text of `message`, for logs and provisioning errors.
    pub fn message(&self) -> String {
        self.body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("error")
            .to_owned()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message())
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Parses a JSON body, answering Grafana's 400 "bad request data" when it does not bind.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|_| ApiError::bad_request_data())
}
