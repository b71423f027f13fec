//! The Grafana API client (see the module doc of [`crate::grafana`]).

use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::control::Secret;
use crate::error::{Error, Outcome, Result};

/// Per request.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Attempts per request (the first included) on a network error, 429 or 5xx.
const ATTEMPTS: usize = 4;
/// The longest `Retry-After` honoured; a longer one fails the request with Grafana's answer.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How to log in.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A user (the stack's admin).
    Basic {
        /// Login.
        user: String,
        /// Password.
        password: Secret,
    },
    /// A service-account token (`glsa_…`).
    Token(Secret),
}

/// A client of one Grafana.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    auth: Auth,
    http: reqwest::Client,
    limit: Arc<Semaphore>,
    concurrency: usize,
    attempts: usize,
    timeout: Duration,
    headers: Vec<(&'static str, String)>,
}

/// What `POST /api/dashboards/db` answered.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Saved {
    /// Uid.
    pub uid: String,
    /// The new version.
    pub version: u64,
}

/// One entry of a dashboard's history.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardVersion {
    /// The dashboard version it is.
    pub version: u64,
    /// When (Grafana's timestamp, as given).
    #[serde(default)]
    pub created: String,
    /// Who.
    #[serde(default)]
    pub created_by: String,
    /// The save message.
    #[serde(default)]
    pub message: String,
}

/// A failed request: transient (retried) or final.
struct Failure {
    error: Error,
    retry_after: Option<Duration>,
    transient: bool,
}

impl Client {
    /// A client of the Grafana at `url` (`http://127.0.0.1:3000`), at most `concurrency`
    /// requests in flight.
    pub fn new(url: &str, auth: Auth, concurrency: usize) -> Result<Self> {
        let http = crate::net::client_for(url)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::internal(format!("cannot build an HTTP client: {e}")))?;
        Ok(Self {
            base: url.trim_end_matches('/').to_string(),
            auth,
            http,
            limit: Arc::new(Semaphore::new(concurrency.max(1))),
            concurrency: concurrency.max(1),
            attempts: ATTEMPTS,
            timeout: TIMEOUT,
            headers: Vec::new(),
        })
    }

    /// The same client making `attempts` attempts per request (at least one: then no retry and
    /// no warning, for a read made on speculation that the caller does again if it matters).
    #[must_use]
    pub fn with_attempts(mut self, attempts: usize) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The same client giving each attempt at most `timeout` (a caller that must not wait long,
    /// such as a STOP's annotation).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same client (same request limit) sending `name: value` with every request.
    #[must_use]
    pub fn with_header(&self, name: &'static str, value: &str) -> Self {
        let mut c = self.clone();
        c.headers.push((name, value.to_string()));
        c
    }

    /// The same client with at most `concurrency` requests in flight (at least one; a limit of
    /// its own, not shared with `self`'s).
    #[must_use]
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self.limit = Arc::new(Semaphore::new(self.concurrency));
        self
    }

    /// The most requests in flight at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// The `--target` a command suggested in a hint needs to reach this Grafana again:
    /// ` --target cloud` for a service-account token (only the cloud target logs in with one;
    /// [`Self::refused`] reads the token the same way), empty for a login (docker's default;
    /// native's hints do not say it yet).
    pub fn target_flag(&self) -> &'static str {
        match self.auth {
            Auth::Token(_) => " --target cloud",
            Auth::Basic { .. } => "",
        }
    }

    /// The Grafana's URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// One request; the answer's status and JSON body (`Value::Null` when empty). Network
    /// errors, 429 and 5xx are retried ([`ATTEMPTS`] in all unless [`Client::with_attempts`]
    /// says otherwise, `Retry-After` honoured); other
    /// statuses are returned to the caller to interpret.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value)> {
        let url = format!("{}{path}", self.base);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(5))
            .with_max_times(self.attempts - 1);
        let once = || self.once(method.clone(), &url, body);
        once.retry(backoff)
            .when(|f: &Failure| f.transient)
            // `delay` is `None` once the attempts are spent: then no retry, whatever the server
            // asks (a server answering 503 with `Retry-After` for ever kept this loop going).
            .adjust(|f: &Failure, delay| match (delay, f.retry_after) {
                (None, _) => None,
                (Some(_), Some(after)) if after > MAX_RETRY_AFTER => None,
                (Some(_), Some(after)) => Some(after),
                (Some(delay), None) => Some(delay),
            })
            .notify(|f: &Failure, delay| {
                // The error names the method and URL already.
                tracing::warn!("{}; retrying in {} ms", f.error, delay.as_millis());
            })
            .await
            .map_err(|f| f.error)
    }

    async fn once(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> std::result::Result<(StatusCode, Value), Failure> {
        let _permit = self.limit.acquire().await.map_err(|_| Failure {
            error: Error::internal("the Grafana client's request limit was closed"),
            retry_after: None,
            transient: false,
        })?;
        let mut req = self.http.request(method.clone(), url).timeout(self.timeout);
        req = match &self.auth {
            Auth::Basic { user, password } => req.basic_auth(user, Some(password.expose())),
            Auth::Token(token) => req.bearer_auth(token.expose()),
        };
        for (name, value) in &self.headers {
            req = req.header(*name, value);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| Failure {
            error: Error::grafana(format!(
                "{method} {url}: Grafana does not answer: {}",
                crate::net::describe_request_error(e)
            ))
            .with_help("check that Grafana runs (`promo-infra status`) and that the URL is right")
            .with_outcome(Outcome::NoAnswer),
            retry_after: None,
            transient: true,
        })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp.text().await.unwrap_or_default();
        let value: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| json!({ "message": text.trim() }))
        };
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(Failure {
                error: Error::grafana(format!("{method} {url}: {status}: {}", message(&value)))
                    .with_outcome(Outcome::Status(status.as_u16())),
                retry_after,
                transient: true,
            });
        }
        Ok((status, value))
    }

    /// A request that must succeed (2xx): its body.
    pub async fn ok(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value> {
        let (status, value) = self.request(method.clone(), path, body).await?;
        if status.is_success() {
            return Ok(value);
        }
        Err(self.refused(&method, path, status, &value))
    }

    /// The error of a refused request, with what to do for the usual statuses.
    /// The error for Grafana's refusal `status` of `method path` (its message quoted), with what
    /// to do: a 401 or 403 names the credentials this client sends.
    pub fn refused(&self, method: &Method, path: &str, status: StatusCode, value: &Value) -> Error {
        let e = Error::grafana(format!(
            "{method} {}{path}: {status}: {}",
            self.base,
            message(value)
        ))
        .with_outcome(Outcome::Status(status.as_u16()));
        let token = matches!(self.auth, Auth::Token(_));
        match (status.as_u16(), token) {
            (401, false) => e.with_help("Grafana refused the credentials: check GRAFANA_ADMIN_PASSWORD in generated/<stack>/.env"),
            (401, true) => e.with_help("Grafana refused the token: the variable targets.cloud.grafana_token_env names must hold a service-account token (glsa_…)"),
            (403, false) => e.with_help("the login lacks the permission: use the stack's admin (grafana.admin_user)"),
            (403, true) => e.with_help("the service account lacks the permission: give it the Admin role (the cloud target writes the datasource and the alerting provisioning, which Grafana reserves to Admin)"),
            _ => e.with_help("see Grafana's answer above; nothing else was changed by this step"),
        }
    }

    /// `GET /api/dashboards/uid/:uid`: Grafana's whole answer (`{dashboard, meta}`), `None`
    /// when Grafana has no such dashboard.
    pub async fn dashboard_answer(&self, uid: &str) -> Result<Option<Value>> {
        let path = format!("/api/dashboards/uid/{}", segment(uid));
        let (status, value) = self.request(Method::GET, &path, None).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(self.refused(&Method::GET, &path, status, &value));
        }
        Ok(Some(value))
    }

    /// [`Self::dashboard_answer`] as the dashboard model and its folder uid.
    pub async fn dashboard(&self, uid: &str) -> Result<Option<(Value, Option<String>)>> {
        Ok(self.dashboard_answer(uid).await?.map(|mut value| {
            let folder = value["meta"]["folderUid"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(String::from);
            (value["dashboard"].take(), folder)
        }))
    }

    /// The organisation's home dashboard uid (`GET /api/org/preferences`), `None` when unset.
    pub async fn home_dashboard(&self) -> Result<Option<String>> {
        let value = self.ok(Method::GET, "/api/org/preferences", None).await?;
        Ok(value["homeDashboardUID"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(String::from))
    }

    /// `PATCH /api/org/preferences`: the home dashboard (`""` clears it).
    pub async fn set_home_dashboard(&self, uid: &str) -> Result<()> {
        let body = json!({ "homeDashboardUID": uid });
        self.ok(Method::PATCH, "/api/org/preferences", Some(&body))
            .await
            .map(|_| ())
    }

    /// `POST /api/dashboards/db`: save `dashboard` into `folder_uid`. Without `overwrite`,
    /// Grafana refuses (412) when the dashboard's `version` is not the one it has: a
    /// concurrent edit is never overwritten silently.
    pub async fn save_dashboard(
        &self,
        dashboard: &Value,
        folder_uid: Option<&str>,
        overwrite: bool,
        message: &str,
    ) -> Result<Saved> {
        let body = json!({
            "dashboard": dashboard,
            "folderUid": folder_uid.unwrap_or(""),
            "overwrite": overwrite,
            "message": message,
        });
        let (status, value) = self
            .request(Method::POST, "/api/dashboards/db", Some(&body))
            .await?;
        if status.is_success() {
            return serde_json::from_value(value).map_err(|e| {
                Error::grafana(format!(
                    "POST {}/api/dashboards/db: unexpected answer: {e}",
                    self.base
                ))
            });
        }
        let e = self.refused(&Method::POST, "/api/dashboards/db", status, &value);
        Err(if status == StatusCode::PRECONDITION_FAILED {
            e.with_help("the dashboard changed in Grafana since it was read (someone saved it in the UI): run `promo-infra dashboards diff` to see that edit before overwriting it")
        } else {
            e
        })
    }

    /// `GET /api/dashboards/uid/:uid/versions`, newest first. Grafana up to 11.x answers a bare
    /// array; later versions a page (`{"versions": [...], "continueToken": "..."}`), followed
    /// here until the last page.
    pub async fn versions(&self, uid: &str) -> Result<Vec<DashboardVersion>> {
        let base = format!("/api/dashboards/uid/{}/versions", segment(uid));
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        // Bounded: at most 100 pages.
        for _ in 0..100 {
            let path = match &token {
                Some(t) => format!("{base}?limit=100&continueToken={}", segment(t)),
                None => format!("{base}?limit=100"),
            };
            let value = self.ok(Method::GET, &path, None).await?;
            let (items, next) = match value {
                Value::Array(items) => (items, None),
                Value::Object(mut page) => (
                    match page.remove("versions") {
                        Some(Value::Array(items)) => items,
                        _ => Vec::new(),
                    },
                    page.remove("continueToken")
                        .and_then(|t| t.as_str().map(String::from))
                        .filter(|t| !t.is_empty()),
                ),
                other => {
                    return Err(Error::grafana(format!(
                        "GET {}{path}: unexpected answer: {other}",
                        self.base
                    )));
                }
            };
            for item in items {
                out.push(serde_json::from_value(item).map_err(|e| {
                    Error::grafana(format!(
                        "GET {}{path}: unexpected version entry: {e}",
                        self.base
                    ))
                })?);
            }
            match next {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
        Ok(out)
    }

    /// `GET /api/dashboards/uid/:uid/versions/:version`: that version's dashboard model.
    pub async fn version(&self, uid: &str, version: u64) -> Result<Value> {
        let path = format!("/api/dashboards/uid/{}/versions/{version}", segment(uid));
        let value = self.ok(Method::GET, &path, None).await?;
        Ok(value["data"].clone())
    }

    /// `POST /api/dashboards/uid/:uid/restore`: restore `version` as a new version.
    pub async fn restore(&self, uid: &str, version: u64) -> Result<Saved> {
        let path = format!("/api/dashboards/uid/{}/restore", segment(uid));
        let value = self
            .ok(Method::POST, &path, Some(&json!({ "version": version })))
            .await?;
        serde_json::from_value(value).map_err(|e| {
            Error::grafana(format!("POST {}{path}: unexpected answer: {e}", self.base))
        })
    }

    /// `GET /api/search?type=dash-db&tag=…`: the uids of the dashboards carrying `tag`.
    pub async fn dashboards_tagged(&self, tag: &str) -> Result<Vec<String>> {
        self.tagged(tag, |_| true).await
    }

    /// The uids of the dashboards tagged `tag` in the folder `folder` (the search hits'
    /// `folderUid`): another stack's dashboards carry the same tag in their own folder.
    pub async fn dashboards_tagged_in(&self, tag: &str, folder: &str) -> Result<Vec<String>> {
        self.tagged(tag, |hit| hit["folderUid"].as_str() == Some(folder))
            .await
    }

    /// The uids of the search hits for `tag` that `keep` keeps.
    async fn tagged(&self, tag: &str, keep: impl Fn(&Value) -> bool) -> Result<Vec<String>> {
        let path = format!("/api/search?type=dash-db&limit=5000&tag={}", segment(tag));
        let value = self.ok(Method::GET, &path, None).await?;
        Ok(value
            .as_array()
            .into_iter()
            .flatten()
            .filter(|hit| keep(hit))
            .filter_map(|hit| hit["uid"].as_str().map(String::from))
            .collect())
    }

    /// `GET /api/folders/:uid`; `None` when there is none.
    pub async fn folder(&self, uid: &str) -> Result<Option<Value>> {
        let path = format!("/api/folders/{}", segment(uid));
        let (status, value) = self.request(Method::GET, &path, None).await?;
        match status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some(value)),
            s => Err(self.refused(&Method::GET, &path, s, &value)),
        }
    }

    /// `POST /api/folders`: create the folder `uid` titled `title`.
    pub async fn create_folder(&self, uid: &str, title: &str) -> Result<()> {
        self.ok(
            Method::POST,
            "/api/folders",
            Some(&json!({ "uid": uid, "title": title })),
        )
        .await
        .map(|_| ())
    }

    /// `PUT /api/folders/:uid`: give the folder `uid` the title `title`.
    pub async fn retitle_folder(&self, uid: &str, title: &str) -> Result<()> {
        let path = format!("/api/folders/{}", segment(uid));
        let body = json!({ "title": title, "overwrite": true });
        self.ok(Method::PUT, &path, Some(&body)).await.map(|_| ())
    }

    /// `DELETE /api/dashboards/uid/:uid`.
    pub async fn delete_dashboard(&self, uid: &str) -> Result<()> {
        let path = format!("/api/dashboards/uid/{}", segment(uid));
        self.ok(Method::DELETE, &path, None).await.map(|_| ())
    }
}

/// Grafana's error message in an answer (`{"message": …}`), or the body.
fn message(value: &Value) -> String {
    match value.get("message").and_then(Value::as_str) {
        Some(m) => m.to_string(),
        None if value.is_null() => "(empty answer)".to_string(),
        None => value.to_string().chars().take(300).collect(),
    }
}

/// What a path or query segment escapes: everything but RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A value as one URL path or query segment.
fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}
