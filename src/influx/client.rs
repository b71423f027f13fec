//! The one HTTP client of InfluxDB (1.x and 2.x): a base URL, its credentials, and the mapping
//! of transport failures and HTTP statuses to errors, written once.
//!
//! Owns: building requests (Basic auth for 1.x, `Token` for 2.x), sending them, and turning a
//! failure into `Error::Transient` (unreachable, timeout, HTTP 429/5xx: may pass on retry; its
//! [`Outcome`] says which: no answer, or the status answered) or `Error::Influx` (refused: what
//! failed, at which URL, what to do).
//! May not: know what a database, bucket or user is (that is `v1`/`v2`), print, or read the
//! environment. Credentials never reach a URL, a message or a log.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

use super::Endpoint;
use crate::error::{Error, Outcome, Result};

/// What to do when a server does not answer at all.
pub const UNREACHABLE_HELP: &str = "check whether the stack runs (`promo-infra status`): start it with `promo-infra apply`, or fix influxdb.bind / influxdb.port in the manifest";

/// What to do when the server answers, but with an error status that says it fails (5xx).
pub const FAILING_HELP: &str = "InfluxDB runs but fails: see why in its logs (`promo-infra logs influxdb`), then run the command again";

/// What to do when the server answers that it is too busy (429).
pub const BUSY_HELP: &str = "InfluxDB runs but is too busy to answer (a load test?): run the command again once the load has passed; its logs: `promo-infra logs influxdb`";

/// What to do about a request that failed with `outcome` and was not retried: a server that
/// did not answer is started (or found), one that answered 5xx or 429 runs and is looked at.
pub fn help_for(outcome: Option<Outcome>) -> &'static str {
    match outcome {
        Some(Outcome::Status(429)) => BUSY_HELP,
        Some(o) if o.is_failing() => FAILING_HELP,
        _ => UNREACHABLE_HELP,
    }
}

/// The process's HTTP clients: building one that speaks TLS loads the system's CA certificates
/// (~140 files; the largest part of a no-op `plan`), so every [`Client`] shares one (a cheap
/// clone), and a plain `http://` server (every local stack) gets one that loads no certificate
/// at all. Idle connections are not pooled, so they are safe to use from several tokio
/// runtimes (tests, the blocking facade) one after another.
fn shared_http(url: &str) -> Result<reqwest::Client> {
    use std::sync::OnceLock;
    static TLS: OnceLock<reqwest::Client> = OnceLock::new();
    static PLAIN: OnceLock<reqwest::Client> = OnceLock::new();
    let plain = crate::net::is_plain_http(url);
    let cell = if plain { &PLAIN } else { &TLS };
    if let Some(c) = cell.get() {
        return Ok(c.clone());
    }
    let built = crate::net::client_for(url)
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| Error::internal(format!("cannot build an HTTP client: {e}")))?;
    Ok(cell.get_or_init(|| built).clone())
}

/// Credentials of a request.
#[derive(Clone, Default)]
pub enum Auth {
    /// None (a 1.x server without auth, `/ping`, `/health`, 2.x onboarding).
    #[default]
    None,
    /// 1.x user and password (HTTP Basic).
    Basic {
        /// User name.
        user: String,
        /// Password (never shown).
        password: String,
    },
    /// 2.x token (`Authorization: Token …`).
    Token(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Basic { user, .. } => write!(f, "Basic({user}, (sensitive))"),
            Self::Token(_) => f.write_str("Token((sensitive))"),
        }
    }
}

/// One InfluxDB server as one user: every request of an operation goes through the same client.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    auth: Auth,
    http: reqwest::Client,
    /// The variable the token came from, when the caller named it ([`Client::with_token_var`]):
    /// what a refusal's help tells the user to check.
    token_var: Option<String>,
    /// What to do when the server refuses a request of this client, when the caller knows
    /// better than the protocol module ([`Client::with_refused_help`]).
    refused_help: Option<String>,
}

impl Client {
    /// A client of `ep` with `auth`.
    pub fn new(ep: &Endpoint, auth: Auth) -> Result<Self> {
        Ok(Self {
            base: ep.url.trim_end_matches('/').to_string(),
            auth,
            http: shared_http(&ep.url)?,
            token_var: None,
            refused_help: None,
        })
    }

    /// The same server as another user (whose token comes from no named variable).
    pub fn with_auth(&self, auth: Auth) -> Self {
        Self {
            base: self.base.clone(),
            auth,
            http: self.http.clone(),
            token_var: None,
            refused_help: None,
        }
    }

    /// This client, its token read from the variable `name` (`INFLUX_CLOUD_TOKEN`): the help
    /// of a refused request names that variable.
    pub fn with_token_var(mut self, name: &str) -> Self {
        self.token_var = Some(name.to_string());
        self
    }

    /// This client, `help` saying what to do when the server refuses one of its requests (the
    /// read-only token of InfluxDB Cloud: which variable, and how to mint it again).
    pub fn with_refused_help(mut self, help: impl Into<String>) -> Self {
        self.refused_help = Some(help.into());
        self
    }

    /// What to do when the server refuses a request of this client, when set
    /// ([`Client::with_refused_help`]).
    pub fn refused_help(&self) -> Option<&str> {
        self.refused_help.as_deref()
    }

    /// The variable this client's token came from, when named ([`Client::with_token_var`]).
    pub fn token_var(&self) -> Option<&str> {
        self.token_var.as_deref()
    }

    /// The base URL (`http://127.0.0.1:8086`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The 1.x user this client logs in as, if any.
    pub fn user(&self) -> Option<&str> {
        match &self.auth {
            Auth::Basic { user, .. } => Some(user),
            _ => None,
        }
    }

    /// `base` + `path` (`/query`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `path`, with this client's credentials.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, self.url(path));
        match &self.auth {
            Auth::None => req,
            Auth::Basic { user, password } => req.basic_auth(user, Some(password)),
            Auth::Token(t) => req.header("Authorization", format!("Token {t}")),
        }
    }

    /// Send `req` (to `path`): any HTTP status is an answer; only transport failures are errors.
    pub async fn send(&self, path: &str, req: RequestBuilder) -> Result<Response> {
        req.send().await.map_err(|e| transport(&self.url(path), &e))
    }

    /// Send `req` and require a 2xx answer ([`check`]).
    pub async fn send_ok(&self, path: &str, req: RequestBuilder, help: &str) -> Result<Response> {
        let resp = self.send(path, req).await?;
        check(&self.url(path), resp, help).await
    }

    /// `GET path` answering 2xx with JSON; `None` on 404.
    pub async fn get_json_opt(&self, path: &str, help: &str) -> Result<Option<Value>> {
        let resp = self.send(path, self.request(Method::GET, path)).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = check(&self.url(path), resp, help).await?;
        json(&self.url(path), resp).await.map(Some)
    }

    /// `GET path` answering 2xx with JSON.
    pub async fn get_json(&self, path: &str, help: &str) -> Result<Value> {
        let resp = self
            .send_ok(path, self.request(Method::GET, path), help)
            .await?;
        json(&self.url(path), resp).await
    }
}

/// The body of an answer as JSON.
pub async fn json(url: &str, resp: Response) -> Result<Value> {
    let status = resp.status();
    let text = resp.text().await.map_err(|e| transport(url, &e))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::influx(format!(
            "InfluxDB at {url} sent a response that is not JSON (HTTP {status}): {e}"
        ))
        .with_help("check that the stack's InfluxDB is the server on that port")
    })
}

/// A 2xx answer passes; 429 and 5xx are transient; anything else is refused, with `help`.
pub async fn check(url: &str, resp: Response, help: &str) -> Result<Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    Err(status_error(url, status, body.trim(), help))
}

/// The error of a non-2xx answer (429 and 5xx: transient, with the status as its [`Outcome`]).
pub fn status_error(url: &str, status: StatusCode, detail: &str, help: &str) -> Error {
    let message = if detail.is_empty() {
        format!("InfluxDB at {url} answered HTTP {status}")
    } else {
        format!("InfluxDB at {url}: HTTP {status}: {detail}")
    };
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Error::transient(message).with_outcome(Outcome::Status(status.as_u16()))
    } else {
        Error::influx(message).with_help(help)
    }
}

/// A request that got no answer: unreachable or too slow is transient (a starting server;
/// [`Outcome::NoAnswer`]); anything else is refused. The message names the URL and the root
/// cause.
pub fn transport(url: &str, e: &reqwest::Error) -> Error {
    let cause = root_cause(e);
    if e.is_connect() || e.is_timeout() {
        Error::transient(format!("InfluxDB is not reachable at {url}: {cause}"))
            .with_outcome(Outcome::NoAnswer)
    } else {
        Error::influx(format!("InfluxDB at {url}: {cause}")).with_help(UNREACHABLE_HELP)
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_status_is_an_answer_and_a_refusal_is_not_transient() {
        let e = status_error("u", StatusCode::INTERNAL_SERVER_ERROR, "", "h");
        assert!(matches!(e, Error::Transient { .. }));
        assert_eq!(e.outcome(), Some(Outcome::Status(500)));
        assert!(e.outcome().is_some_and(Outcome::is_failing));
        let e = status_error("u", StatusCode::TOO_MANY_REQUESTS, "", "h");
        assert_eq!(e.outcome(), Some(Outcome::Status(429)));
        let e = status_error("u", StatusCode::UNAUTHORIZED, "", "h");
        assert!(matches!(e, Error::Influx { .. }));
    }

    /// A one-shot command's help follows what the server did: 5xx and 429 are a server that
    /// runs (its logs), only no answer is a stack to start.
    #[test]
    fn the_help_fits_the_outcome() {
        assert_eq!(help_for(Some(Outcome::Status(500))), FAILING_HELP);
        assert_eq!(help_for(Some(Outcome::Status(503))), FAILING_HELP);
        assert_eq!(help_for(Some(Outcome::Status(429))), BUSY_HELP);
        assert_eq!(help_for(Some(Outcome::NoAnswer)), UNREACHABLE_HELP);
        assert_eq!(help_for(None), UNREACHABLE_HELP);
    }

    #[tokio::test]
    async fn no_server_listening_is_no_answer() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let ep = Endpoint {
            url: format!("http://127.0.0.1:{port}"),
        };
        let c = Client::new(&ep, Auth::None).expect("client");
        let e = c
            .get_json("/health", "h")
            .await
            .expect_err("nothing listens");
        assert_eq!(e.outcome(), Some(Outcome::NoAnswer), "{e}");
    }
}
