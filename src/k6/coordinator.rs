//! `k6 run`'s side of the stop protocol: register the run with the stack's control API, long
//! poll it for a stop request, acknowledge the signals sent to k6, report the end. See
//! [`crate::control`] for the routes. Every request has a timeout; the bearer token never
//! appears in an error.
//!
//! Owns: the HTTP client of the protocol and the words of its failures.
//! May not: signal a process, print, read the environment.

use std::time::Duration;

use crate::control::Secret;
use crate::control::protocol::{Ack, Ended, PollAnswer, Registered, RunInfo, StopOrder};
use crate::error::{Error, Result as CrateResult};

/// Timeout of a short request (register, ack, end).
const SHORT: Duration = Duration::from_secs(3);
/// How long the API holds a poll.
pub const POLL_WAIT: Duration = Duration::from_secs(10);

/// A client of one control API for one run.
#[derive(Debug, Clone)]
pub struct Coordinator {
    http: reqwest::Client,
    /// Base URL, without a trailing `/`.
    pub base: String,
    token: Secret,
    /// The registration, sent again when the API has forgotten the run.
    pub info: RunInfo,
}

/// What a poll learnt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled {
    /// No (new) stop order.
    Nothing(u64),
    /// A stop order, new or escalated, at this version.
    Stop(u64, StopOrder),
}

/// Why a request of the protocol failed (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What happened.
    pub text: String,
    /// The API answered 401: it does not accept this run's token (it changed after the run
    /// started: `secrets rotate`, another `.env`).
    pub token_refused: bool,
}

impl From<String> for Failure {
    fn from(text: String) -> Self {
        Self {
            text,
            token_refused: false,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The test a control API reports running (`GET /api/tests/current`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningTest {
    /// Its test id.
    pub testid: String,
    /// Where its `k6 run` runs (may be empty).
    pub host: String,
}

/// Ask the control API at `base` which test runs, with `token`: `Ok(Some(..))` on 200,
/// `Ok(None)` on 404 (no test running), `Err(why)` when it cannot tell (unreachable, 401, an
/// unexpected answer).
pub async fn running_test(base: &str, token: &str) -> Result<Option<RunningTest>, String> {
    let http = crate::net::client_for(base)
        .connect_timeout(SHORT)
        .timeout(SHORT + SHORT)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let url = format!("{}/api/tests/current", base.trim_end_matches('/'));
    let resp = http
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    match resp.status() {
        reqwest::StatusCode::OK => {
            let v: serde_json::Value = resp
                .json()
                .await
                .map_err(|e| format!("unexpected answer: {}", describe(&e)))?;
            let testid = v["testid"]
                .as_str()
                .ok_or_else(|| format!("unexpected answer from {url}: no testid"))?;
            Ok(Some(RunningTest {
                testid: testid.to_string(),
                host: v["host"].as_str().unwrap_or_default().to_string(),
            }))
        }
        reqwest::StatusCode::NOT_FOUND => Ok(None),
        reqwest::StatusCode::UNAUTHORIZED => Err(format!(
            "{} — it refused {} from .env: it runs with another token",
            Coordinator::error_of(resp).await,
            crate::secrets::CONTROL_API_TOKEN
        )),
        _ => Err(Coordinator::error_of(resp).await),
    }
}

fn describe(e: &reqwest::Error) -> String {
    // reqwest's Display names the URL (no secret in it: the token is a header).
    let mut text = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        text.push_str(": ");
        text.push_str(&s.to_string());
        src = s.source();
    }
    text
}

impl Coordinator {
    /// A client for `base` (e.g. `http://127.0.0.1:5000`).
    pub fn new(base: &str, token: &str, info: RunInfo) -> CrateResult<Self> {
        let http = crate::net::client_for(base)
            .connect_timeout(SHORT)
            .build()
            .map_err(|e| Error::internal(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: Secret::new(token),
            info,
        })
    }

    async fn post(
        &self,
        path: &str,
        body: &impl serde::Serialize,
        timeout: Duration,
    ) -> Result<reqwest::Response, String> {
        let url = format!("{}{path}", self.base);
        self.http
            .post(&url)
            .bearer_auth(self.token.expose())
            .json(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| describe(&e))
    }

    async fn error_of(resp: reqwest::Response) -> String {
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        match body["error"].as_str() {
            Some(e) => format!("HTTP {status}: {e}"),
            None => format!("HTTP {status}"),
        }
    }

    /// Register (or re-register) the run.
    pub async fn register(&self) -> Result<Registered, Failure> {
        let resp = self.post("/api/runs", &self.info, SHORT).await?;
        if resp.status().is_success() {
            return resp
                .json()
                .await
                .map_err(|e| format!("unexpected answer: {}", describe(&e)).into());
        }
        let status = resp.status();
        let mut text = Self::error_of(resp).await;
        if status == reqwest::StatusCode::UNAUTHORIZED {
            text.push_str(
                " — the API refused CONTROL_API_TOKEN from .env: the API runs with another token (rotated? another stack?); re-apply the stack",
            );
            return Err(Failure {
                text,
                token_refused: true,
            });
        } else if status == reqwest::StatusCode::NOT_FOUND {
            text.push_str(" — this server has no /api/runs: is it an older promo-infra control API, or not a control API at all?");
        }
        Err(text.into())
    }

    /// One long poll; registers again when the API has forgotten the run.
    pub async fn poll(&self, seen: u64) -> Result<Polled, Failure> {
        let path = format!(
            "/api/runs/{}/poll?seen={seen}&wait_s={}",
            self.info.testid,
            POLL_WAIT.as_secs()
        );
        let resp = self
            .post(&path, &serde_json::json!({}), POLL_WAIT + SHORT + SHORT)
            .await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            self.register().await?;
            return Ok(Polled::Nothing(seen));
        }
        if !resp.status().is_success() {
            let token_refused = resp.status() == reqwest::StatusCode::UNAUTHORIZED;
            return Err(Failure {
                text: Self::error_of(resp).await,
                token_refused,
            });
        }
        let a: PollAnswer = resp
            .json()
            .await
            .map_err(|e| format!("unexpected answer: {}", describe(&e)))?;
        Ok(match a.stop {
            Some(order) if a.version > seen => Polled::Stop(a.version, order),
            _ => Polled::Nothing(a.version.max(seen)),
        })
    }

    /// POST `body` to `path`; any 2xx is success.
    async fn post_ok(&self, path: &str, body: &impl serde::Serialize) -> Result<(), String> {
        let resp = self.post(path, body, SHORT).await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(Self::error_of(resp).await)
        }
    }

    /// Tell the API which signals were sent to k6 (cumulative).
    pub async fn ack(&self, signals: &[&str]) -> Result<(), String> {
        let body = Ack {
            signals: signals.iter().map(|s| s.to_string()).collect(),
        };
        self.post_ok(&format!("/api/runs/{}/ack", self.info.testid), &body)
            .await
    }

    /// Tell the API the run is over.
    pub async fn end(&self, exit_code: i32, ending: &str) -> Result<(), String> {
        let body = Ended {
            exit_code,
            ending: ending.to_string(),
        };
        self.post_ok(&format!("/api/runs/{}/end", self.info.testid), &body)
            .await
    }
}
