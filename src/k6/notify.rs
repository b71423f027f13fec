//! Grafana annotations (`POST /api/annotations`) and Slack incoming-webhook messages. Every
//! request has a timeout and at most 3 attempts; errors never carry a credential or the
//! webhook URL (which is a secret).

use std::time::Duration;

use serde_json::{Value, json};

use crate::error::{Error, Result};

const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(5);

/// How promo-infra authenticates to Grafana.
#[derive(Clone)]
pub enum GrafanaAuth {
    /// Basic auth (on-prem admin user).
    Basic {
        /// User.
        user: String,
        /// Password.
        password: String,
    },
    /// Service-account token.
    Bearer(String),
}

impl std::fmt::Debug for GrafanaAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { user, .. } => write!(f, "Basic({user}, (sensitive))"),
            Self::Bearer(_) => write!(f, "Bearer((sensitive))"),
        }
    }
}

/// A Grafana instance to annotate.
#[derive(Debug, Clone)]
pub struct Grafana {
    /// Base URL, without a trailing `/`.
    pub url: String,
    /// Credentials.
    pub auth: GrafanaAuth,
}

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

fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .build()
        .map_err(|e| Error::Transient {
            message: format!("cannot build an HTTP client: {e}"),
        })
}

async fn post_with_retries(
    what: &str,
    where_: &str,
    build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
) -> Result<reqwest::Response> {
    let http = client()?;
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        match build(&http).send().await {
            Ok(resp) if resp.status().is_success() => return Ok(resp),
            Ok(resp) => {
                let status = resp.status();
                let body: String = resp
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect();
                last = format!("HTTP {status}: {}", body.trim());
                let retry = status.is_server_error() || status.as_u16() == 429;
                if !retry {
                    break;
                }
            }
            // `without_url`: the URL may be a secret (Slack webhook).
            Err(e) => last = e.without_url().to_string(),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(300 * u64::from(attempt))).await;
        }
    }
    Err(Error::Target {
        message: format!("{what} failed ({where_}): {last}"),
        help: None,
    })
}

impl Grafana {
    /// `POST /api/annotations`; returns the annotation id.
    pub async fn annotate(&self, a: &Annotation) -> Result<u64> {
        let mut body = json!({ "time": a.time_ms, "tags": a.tags, "text": a.text });
        if let Some(end) = a.time_end_ms {
            body["timeEnd"] = json!(end);
        }
        let url = format!("{}/api/annotations", self.url);
        let resp = post_with_retries("Grafana annotation", &format!("POST {url}"), |http| {
            let req = http.post(&url).json(&body);
            match &self.auth {
                GrafanaAuth::Basic { user, password } => req.basic_auth(user, Some(password)),
                GrafanaAuth::Bearer(token) => req.bearer_auth(token),
            }
        })
        .await
        .map_err(|e| match e {
            Error::Target { message, .. } => Error::Target {
                message,
                help: Some(
                    "check that Grafana is up (`promo-infra status`) and that the admin password in .env is current"
                        .into(),
                ),
            },
            other => other,
        })?;
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        Ok(v.get("id").and_then(Value::as_u64).unwrap_or(0))
    }
}

/// Post a message to a Slack incoming webhook.
pub async fn slack(webhook_url: &str, env_name: &str, text: &str) -> Result<()> {
    post_with_retries(
        "Slack message",
        &format!("webhook from {env_name}"),
        |http| http.post(webhook_url).json(&json!({ "text": text })),
    )
    .await
    .map(|_| ())
}
