//! `promo-infra control-api`: the emergency-stop HTTP API, coordinator of stops.
//!
//! `promo-infra k6 run` registers each run here and long-polls for a stop request; when one
//! comes, the wrapper sends ITS OWN child k6 exactly one SIGINT (graceful: k6 flushes its
//! metrics) and acknowledges. So STOP works wherever the API and k6 run (host, container,
//! another machine): the API never signals a pid, never reads a pidfile and never touches the
//! Docker socket. Stop requests are idempotent ([`registry`]): however many people press STOP
//! at once, the wrapper is told once and k6 gets one SIGINT.
//!
//! | route | auth | what |
//! |---|---|---|
//! | `GET /health` | none | `{"status":"ok",...}` |
//! | `GET /api/tests/current` | bearer `CONTROL_API_TOKEN` | the newest running test, 404 when none (with why: ended, or its wrapper stopped polling) |
//! | `POST /api/tests/stop` | bearer | records the stop (or joins the one already recorded), waits for the wrapper's acknowledgement (SIGINT sent; 504 if none within the ack timeout), then up to the grace period for k6 to exit (200 exited, 202 still finishing); `{"force":true}` makes the wrapper escalate to SIGTERM then SIGKILL after the grace period |
//! | `GET /stop?testid=…` | HTTP Basic, password `CONTROL_API_STOP_PASSWORD` | confirmation page (fr/en) with a CSRF-protected form |
//! | `POST /stop` | HTTP Basic + CSRF token | stops the test like `POST /api/tests/stop`, "test stopped" page |
//! | `POST /api/runs` | bearer | `k6 run` registers (or re-registers) a run: [`registry::RunInfo`]; answers the lease and poll period |
//! | `POST /api/runs/{testid}/poll?seen=N&wait_s=S` | bearer | long poll (at most 30 s), renews the lease: `{"version":N,"stop":null\|StopOrder}`; 404 when the run is unknown (re-register) |
//! | `POST /api/runs/{testid}/ack` | bearer | `{"signals":["SIGINT",…]}`: what the wrapper sent its k6 |
//! | `POST /api/runs/{testid}/end` | bearer | `{"exit_code":105,"ending":"stopped"}`: the run is over |
//!
//! A run whose wrapper stops polling expires after the lease (`--lease-secs`, 30 s): a dead
//! `k6 run` never leaves a test "running". Cross-origin requests to `/api/` are accepted only
//! from the Grafana origin (anything else, preflight included, gets 403).

pub mod page;
pub mod registry;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Form, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, Result};
use crate::k6::notify::{Annotation, Grafana, GrafanaAuth};
use crate::manifest::Manifest;
use crate::secrets::{self, SecretValues};
use registry::{Ended, Missing, Registry, RunInfo};

/// Default grace period between SIGINT and an escalation.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(15);
/// Longest grace period a request may ask for.
const MAX_GRACE: Duration = Duration::from_secs(120);
/// How long a STOP form stays valid.
const CSRF_TTL: Duration = Duration::from_secs(15 * 60);
/// At most this many outstanding STOP forms.
const CSRF_MAX: usize = 512;
/// Default lease of a registered run (renewed by every poll).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Default wait for the wrapper's acknowledgement of a stop.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest long poll.
const MAX_POLL: Duration = Duration::from_secs(30);

/// Environment variables of the container mode.
pub mod env {
    /// Bearer token of the API.
    pub const TOKEN: &str = "CONTROL_API_TOKEN";
    /// Basic password of the STOP page.
    pub const STOP_PASSWORD: &str = "CONTROL_API_STOP_PASSWORD";
    /// Origin allowed to call the API from a browser (Grafana).
    pub const CORS_ORIGIN: &str = "PROMO_INFRA_CORS_ORIGIN";
    /// Grafana base URL, for the "stopped by hand" annotation.
    pub const GRAFANA_URL: &str = "PROMO_INFRA_GRAFANA_URL";
    /// Grafana user for annotations.
    pub const GRAFANA_USER: &str = "PROMO_INFRA_GRAFANA_USER";
    /// Grafana password for annotations (the admin password of the stack).
    pub const GRAFANA_PASSWORD: &str = crate::secrets::GRAFANA_ADMIN_PASSWORD;
    /// `fr` or `en`.
    pub const LOCALE: &str = "PROMO_INFRA_LOCALE";
    /// Stack name; its presence selects the container (environment) mode.
    pub const STACK: &str = "PROMO_INFRA_STACK";
}

/// Everything the server needs.
#[derive(Clone)]
pub struct ControlConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Bearer token.
    pub token: String,
    /// STOP page password.
    pub stop_password: String,
    /// Browser origin allowed on `/api/` (Grafana's), if any.
    pub cors_origin: Option<String>,
    /// Where "stopped by hand" annotations go.
    pub grafana: Option<Grafana>,
    /// `fr` or `en`.
    pub locale: String,
    /// Stack name.
    pub stack: String,
    /// Grace period after SIGINT.
    pub grace: Duration,
    /// Lease of a registered run.
    pub lease: Duration,
    /// Wait for the wrapper's acknowledgement of a stop.
    pub ack_timeout: Duration,
}

impl std::fmt::Debug for ControlConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlConfig")
            .field("listen", &self.listen)
            .field("token", &"(sensitive)")
            .field("stop_password", &"(sensitive)")
            .field("cors_origin", &self.cors_origin)
            .field("grafana", &self.grafana)
            .field("locale", &self.locale)
            .field("stack", &self.stack)
            .field("grace", &self.grace)
            .field("lease", &self.lease)
            .field("ack_timeout", &self.ack_timeout)
            .finish()
    }
}

/// The origin (`scheme://host[:port]`) of a URL.
pub fn origin_of(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    let o = u.origin();
    o.is_tuple().then(|| o.ascii_serialization())
}

fn parse_listen(s: &str) -> Result<SocketAddr> {
    s.parse().map_err(|_| {
        Error::usage(
            format!("--listen `{s}` is not an address:port"),
            "e.g. --listen 127.0.0.1:5000 (or 0.0.0.0:5000 inside a container)",
        )
    })
}

fn check_secret(name: &str, value: Option<&str>, origin: &str) -> Result<String> {
    match value {
        Some(v) if v.len() >= 16 => Ok(v.to_string()),
        Some(_) => Err(Error::usage(
            format!("{name} from {origin} is shorter than 16 characters"),
            "use the generated value (`promo-infra generate` creates it)",
        )),
        None => Err(Error::usage(
            format!("{name} is not set ({origin})"),
            "run `promo-infra generate` to create it in generated/<stack>/.env, or pass it in the environment",
        )),
    }
}

/// Configuration from a manifest and its `.env` (running on the host).
pub fn config_from_manifest(
    m: &Manifest,
    values: &SecretValues,
    listen: Option<&str>,
    timing: Timing,
) -> Result<ControlConfig> {
    let env_file = format!("generated/{}/.env", *m.stack);
    let listen = match listen {
        Some(l) => parse_listen(l)?,
        None => parse_listen(&format!(
            "{}:{}",
            m.control_api.bind.as_str(),
            *m.control_api.port
        ))?,
    };
    Ok(ControlConfig {
        listen,
        token: check_secret(
            secrets::CONTROL_API_TOKEN,
            values.get(secrets::CONTROL_API_TOKEN),
            &env_file,
        )?,
        stop_password: check_secret(
            secrets::CONTROL_API_STOP_PASSWORD,
            values.get(secrets::CONTROL_API_STOP_PASSWORD),
            &env_file,
        )?,
        cors_origin: origin_of(&crate::compile::services::grafana_url(m)),
        grafana: crate::k6::run::grafana_client(m, values),
        locale: m.locale.to_string(),
        stack: m.stack.to_string(),
        grace: timing.grace,
        lease: timing.lease,
        ack_timeout: timing.ack_timeout,
    })
}

/// Time limits of the API.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Grace period between SIGINT and an escalation.
    pub grace: Duration,
    /// Lease of a registered run.
    pub lease: Duration,
    /// Wait for the wrapper's acknowledgement of a stop.
    pub ack_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            grace: DEFAULT_GRACE,
            lease: DEFAULT_LEASE,
            ack_timeout: DEFAULT_ACK_TIMEOUT,
        }
    }
}

/// Configuration from the environment (the container / service mode, selected by
/// `PROMO_INFRA_STACK`).
pub fn config_from_env(
    lookup: impl Fn(&str) -> Option<String>,
    listen: Option<&str>,
    timing: Timing,
) -> Result<ControlConfig> {
    let origin = "the environment";
    let grafana = match (lookup(env::GRAFANA_URL), lookup(env::GRAFANA_PASSWORD)) {
        (Some(url), Some(password)) => Some(Grafana {
            url: url.trim_end_matches('/').to_string(),
            auth: GrafanaAuth::Basic {
                user: lookup(env::GRAFANA_USER).unwrap_or_else(|| "admin".into()),
                password,
            },
        }),
        _ => None,
    };
    let stack = lookup(env::STACK).unwrap_or_default();
    Ok(ControlConfig {
        listen: parse_listen(listen.unwrap_or("127.0.0.1:5000"))?,
        token: check_secret(env::TOKEN, lookup(env::TOKEN).as_deref(), origin)?,
        stop_password: check_secret(
            env::STOP_PASSWORD,
            lookup(env::STOP_PASSWORD).as_deref(),
            origin,
        )?,
        cors_origin: lookup(env::CORS_ORIGIN).and_then(|o| origin_of(&o)),
        grafana,
        locale: lookup(env::LOCALE).unwrap_or_else(|| "fr".into()),
        stack,
        grace: timing.grace,
        lease: timing.lease,
        ack_timeout: timing.ack_timeout,
    })
}

struct AppState {
    cfg: ControlConfig,
    csrf: Mutex<HashMap<String, CsrfEntry>>,
    runs: Registry,
}

struct CsrfEntry {
    testid: String,
    user: String,
    expires: Instant,
}

type Shared = Arc<AppState>;

/// The router (exposed for tests that serve it themselves).
pub fn router(cfg: ControlConfig) -> Router {
    router_with(new_state(cfg))
}

fn new_state(cfg: ControlConfig) -> Shared {
    Arc::new(AppState {
        runs: Registry::new(cfg.lease),
        cfg,
        csrf: Mutex::new(HashMap::new()),
    })
}

fn router_with(state: Shared) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/tests/current", get(current))
        .route("/api/tests/stop", axum::routing::post(api_stop))
        .route("/api/runs", axum::routing::post(run_register))
        .route("/api/runs/{testid}/poll", axum::routing::post(run_poll))
        .route("/api/runs/{testid}/ack", axum::routing::post(run_ack))
        .route("/api/runs/{testid}/end", axum::routing::post(run_end))
        .route("/stop", get(stop_page).post(stop_form))
        .layer(axum::middleware::from_fn_with_state(state.clone(), cors))
        .with_state(state)
}

/// Bind and serve until `shutdown` resolves. `ready` is called with the bound address.
pub async fn serve(
    cfg: ControlConfig,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| Error::Target {
            message: format!("cannot listen on {}: {e}", cfg.listen),
            help: Some(
                "is another control API running? choose another address with --listen".into(),
            ),
        })?;
    let addr = listener.local_addr().map_err(|e| Error::Target {
        message: format!("cannot read the bound address: {e}"),
        help: None,
    })?;
    ready(addr);
    let state = new_state(cfg);
    let closing = state.clone();
    axum::serve(listener, router_with(state))
        // Open long polls answer at once, so a restart is not held up by them (the wrappers
        // poll again and re-register with the next instance).
        .with_graceful_shutdown(async move {
            shutdown.await;
            closing.runs.close();
        })
        .await
        .map_err(|e| Error::Target {
            message: format!("the control API stopped: {e}"),
            help: None,
        })
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn json_error(status: StatusCode, error: &str, hint: &str) -> Response {
    (status, Json(json!({ "error": error, "hint": hint }))).into_response()
}

async fn cors(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return next.run(req).await;
    };
    let path = req.uri().path().to_string();
    if path.starts_with("/api/") {
        if st.cfg.cors_origin.as_deref() != Some(origin.as_str()) {
            return json_error(
                StatusCode::FORBIDDEN,
                &format!("origin {origin} is not allowed to call this API"),
                &format!(
                    "only the Grafana origin ({}) may call it from a browser",
                    st.cfg.cors_origin.as_deref().unwrap_or("none configured")
                ),
            );
        }
        let allow = HeaderValue::from_str(&origin).unwrap_or(HeaderValue::from_static("null"));
        if req.method() == Method::OPTIONS {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            let h = resp.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
            return resp;
        }
        let mut resp = next.run(req).await;
        resp.headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        resp.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Origin"));
        return resp;
    }
    if path == "/stop" && req.method() == Method::POST {
        // The form must come from the STOP page itself.
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let same = [format!("http://{host}"), format!("https://{host}")];
        if !same.contains(&origin) {
            let s = page::strings(&st.cfg.locale);
            return (
                StatusCode::FORBIDDEN,
                Html(page::message(s, s.error_title, s.expired)),
            )
                .into_response();
        }
    }
    next.run(req).await
}

fn bearer_ok(st: &AppState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if ct_eq(t.as_bytes(), st.cfg.token.as_bytes()) => Ok(()),
        _ => {
            let mut resp = json_error(
                StatusCode::UNAUTHORIZED,
                "missing or invalid bearer token",
                &format!(
                    "send `Authorization: Bearer <CONTROL_API_TOKEN>` (from generated/{}/.env)",
                    st.cfg.stack
                ),
            );
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"promo-infra control API\""),
            );
            Err(Box::new(resp))
        }
    }
}

/// The Basic user name when the password is right.
fn basic_user(st: &AppState, headers: &HeaderMap) -> Result<String, Box<Response>> {
    let user = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            let (user, pass) = pair.split_once(':')?;
            ct_eq(pass.as_bytes(), st.cfg.stop_password.as_bytes())
                .then(|| user.chars().take(64).collect::<String>())
        });
    user.ok_or_else(|| {
        let s = page::strings(&st.cfg.locale);
        let mut resp = (
            StatusCode::UNAUTHORIZED,
            Html(page::message(s, s.title, s.auth)),
        )
            .into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"promo-infra STOP\", charset=\"UTF-8\""),
        );
        Box::new(html_headers(resp))
    })
}

fn html_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Not `no-referrer`: with it Chromium sends `Origin: null` on the form POST, which the
    // same-origin check must refuse.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

async fn health(State(st): State<Shared>) -> Json<serde_json::Value> {
    Json(json!({
        "status": "ok",
        "stack": st.cfg.stack,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// The running test as `GET /api/tests/current` shows it.
#[derive(Debug, Serialize)]
struct Current<'a> {
    testid: &'a str,
    promo: &'a str,
    promo_type: &'a str,
    /// k6's pid on `host` (information only).
    pid: Option<i32>,
    host: &'a str,
    started_at: &'a str,
    stack: &'a str,
}

/// Status, error and hint of a missing run.
fn missing(st: &AppState, m: Missing) -> (StatusCode, String, String) {
    let start_hint = format!(
        "start one with `promo-infra -f stacks/{}.yaml k6 run SCRIPT`: it registers the run with this API",
        st.cfg.stack
    );
    match m {
        Missing::None { detail: None } => (
            StatusCode::NOT_FOUND,
            "no test is running".into(),
            start_hint,
        ),
        Missing::None {
            detail: Some(detail),
        } => (
            StatusCode::NOT_FOUND,
            format!("no test is running ({detail})"),
            start_hint,
        ),
        Missing::Other { wanted, running } => (
            StatusCode::CONFLICT,
            format!(
                "test {wanted} is not running (running: {})",
                running.join(", ")
            ),
            "nothing was stopped; stop the running test by its own testid".into(),
        ),
        Missing::Several(running) => (
            StatusCode::CONFLICT,
            format!("several tests are running: {}", running.join(", ")),
            "nothing was stopped; name the one to stop: {\"testid\": \"...\"}".into(),
        ),
    }
}

async fn current(State(st): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = bearer_ok(&st, &headers) {
        return *r;
    }
    match st.runs.current() {
        Ok(found) => {
            let i = &found.info;
            Json(Current {
                testid: &i.testid,
                promo: &i.promo,
                promo_type: &i.promo_type,
                pid: i.pid,
                host: &i.host,
                started_at: &i.started_at,
                stack: &i.stack,
            })
            .into_response()
        }
        Err(m) => {
            let (status, error, hint) = missing(&st, m);
            json_error(status, &error, &hint)
        }
    }
}

/// Body of `POST /api/tests/stop` (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StopRequest {
    /// Only stop if this is the running test.
    testid: Option<String>,
    /// Escalate to SIGTERM, then SIGKILL, if k6 is still running after the grace period.
    #[serde(default)]
    force: bool,
    /// Grace period in seconds (default 15, at most 120).
    grace_s: Option<u64>,
}

/// What a stop did.
#[derive(Debug, Serialize)]
struct StopReport {
    testid: String,
    /// Who asked first (a request joining an earlier one reports that one's requester).
    by: String,
    /// `false` when this request joined one already recorded (nothing new was sent).
    first_request: bool,
    /// Where `k6 run` runs, and k6's pid there.
    host: String,
    pid: Option<i32>,
    /// Signals the wrapper sent its k6, as it acknowledged them.
    signals: Vec<String>,
    acknowledged: bool,
    exited: bool,
    exit_code: Option<i32>,
    waited_ms: u64,
    message: String,
    annotation: String,
}

struct StopFailure {
    status: StatusCode,
    error: String,
    hint: String,
}

async fn do_stop(
    st: &AppState,
    expected: Option<&str>,
    force: bool,
    grace: Duration,
    by: String,
) -> Result<(StatusCode, StopReport), StopFailure> {
    let now = crate::k6::testid::now().unwrap_or_else(|_| jiff::Timestamp::now());
    let t0 = Instant::now();
    let req = st
        .runs
        .request_stop(expected, &by, &now.to_string(), force, grace)
        .map_err(|m| {
            let (status, error, hint) = missing(st, m);
            StopFailure {
                status,
                error,
                hint,
            }
        })?;
    let testid = req.testid.clone();
    // 1. The wrapper acknowledges (it sent SIGINT), or the run ended meanwhile.
    let (progress, acked) = st
        .runs
        .wait(&testid, st.cfg.ack_timeout, |p| {
            !p.signals.is_empty() || p.ended.is_some()
        })
        .await;
    let s = page::strings(&st.cfg.locale);
    let host = if req.info.host.is_empty() {
        "its host".to_string()
    } else {
        req.info.host.clone()
    };
    if !acked {
        return Err(StopFailure {
            status: StatusCode::GATEWAY_TIMEOUT,
            error: format!(
                "the stop of test {testid} is recorded, but `promo-infra k6 run` on {host} did not acknowledge it within {} s",
                st.cfg.ack_timeout.as_secs()
            ),
            hint: format!(
                "it acts on the stop as soon as it polls this API again; if it cannot reach the API (network, wrong URL), press Ctrl+C where it runs (k6 pid {})",
                req.info
                    .pid
                    .map_or_else(|| "unknown".to_string(), |p| p.to_string())
            ),
        });
    }
    // 2. The annotation, once per stop (the first request posts it).
    if req.created {
        let result = match &st.cfg.grafana {
            Some(g) => {
                let order_by = &req.order.by;
                let text = if st.cfg.locale == "en" {
                    format!("Stopped by hand ({order_by}) — {testid}")
                } else {
                    format!("Arrêté à la main ({order_by}) — {testid}")
                };
                let a = Annotation {
                    time_ms: now.as_millisecond(),
                    time_end_ms: None,
                    tags: vec![
                        "k6".into(),
                        "promo-infra".into(),
                        testid.clone(),
                        req.info.promo.clone(),
                        // The marketing dashboard shows `k6` + `aborted` as "stopped tests".
                        "aborted".into(),
                        "stopped-by-hand".into(),
                    ],
                    text,
                };
                match g.annotate(&a).await {
                    Ok(id) => format!("posted (id {id})"),
                    Err(e) => format!("failed: {e}"),
                }
            }
            None => "not configured (no Grafana credentials)".into(),
        };
        st.runs.set_annotation(&testid, result);
    }
    // 3. k6 exits (the wrapper reports the end), up to the grace period (plus the
    // escalation's own waits when forced).
    let limit = if req.order.force {
        Duration::from_secs(req.order.grace_s) + Duration::from_secs(8)
    } else {
        grace
    };
    let done = progress.ended.is_some();
    let (progress, exited) = if done {
        (progress, true)
    } else {
        st.runs.wait(&testid, limit, |p| p.ended.is_some()).await
    };
    let annotation = progress
        .annotation
        .clone()
        .unwrap_or_else(|| "posted by the first stop request".into());
    let message = if exited {
        format!("{}: {testid}", s.stopped_title)
    } else if req.order.force {
        format!(
            "k6 on {host} is still running after SIGINT, SIGTERM and SIGKILL ({})",
            progress.signals.join(", ")
        )
    } else {
        format!(
            "SIGINT sent; k6 is still finishing after {} s (teardown, flush). POST again with {{\"force\": true}} to escalate",
            limit.as_secs()
        )
    };
    let status = if exited {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        StopReport {
            testid,
            by: req.order.by,
            first_request: req.created,
            host: req.info.host,
            pid: req.info.pid,
            signals: progress.signals,
            acknowledged: true,
            exited,
            exit_code: progress.ended.map(|e| e.exit_code),
            waited_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
            message,
            annotation,
        },
    ))
}

async fn api_stop(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = bearer_ok(&st, &headers) {
        return *r;
    }
    let req: StopRequest = if body.iter().all(u8::is_ascii_whitespace) {
        StopRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    &format!("invalid JSON body: {e}"),
                    "send {} or {\"force\": true, \"grace_s\": 10, \"testid\": \"...\"}",
                );
            }
        }
    };
    let grace = req
        .grace_s
        .map_or(st.cfg.grace, Duration::from_secs)
        .min(MAX_GRACE);
    match do_stop(&st, req.testid.as_deref(), req.force, grace, "API".into()).await {
        Ok((status, report)) => (status, Json(report)).into_response(),
        Err(f) => json_error(f.status, &f.error, &f.hint),
    }
}

// ---- the wrapper's side: register, poll, acknowledge, end ----

/// Answer to a registration.
#[derive(Debug, Serialize, Deserialize)]
pub struct Registered {
    /// The run expires this long after its last poll.
    pub lease_s: u64,
    /// Longest long poll the API holds.
    pub max_poll_s: u64,
}

/// Answer to a poll.
#[derive(Debug, Serialize, Deserialize)]
pub struct PollAnswer {
    /// Version of the stop order (pass it back as `seen`).
    pub version: u64,
    /// The stop order, if one was requested.
    pub stop: Option<registry::StopOrder>,
}

/// Query of a poll.
#[derive(Debug, Deserialize)]
struct PollQuery {
    #[serde(default)]
    seen: u64,
    #[serde(default)]
    wait_s: u64,
}

/// Body of an acknowledgement.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ack {
    /// Every signal sent to k6 so far, in order.
    pub signals: Vec<String>,
}

fn unknown_run(testid: &str) -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        &format!("run {testid} is not registered (the API restarted, or the run ended)"),
        "register it again with POST /api/runs",
    )
}

async fn run_register(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = bearer_ok(&st, &headers) {
        return *r;
    }
    let info: RunInfo = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("invalid run registration: {e}"),
                "send {\"testid\",\"promo\",\"promo_type\",\"started_at\",\"stack\",\"host\",\"pid\"} (what `promo-infra k6 run` sends)",
            );
        }
    };
    if !crate::k6::testid::is_testid(&info.testid) {
        return json_error(
            StatusCode::BAD_REQUEST,
            &format!("`{}` is not a test id", info.testid.escape_debug()),
            "letters, digits, `_`, `-` and `.` (at most 120)",
        );
    }
    if !st.cfg.stack.is_empty() && info.stack != st.cfg.stack {
        return json_error(
            StatusCode::CONFLICT,
            &format!(
                "this is the control API of stack `{}`, not of stack `{}`",
                st.cfg.stack, info.stack
            ),
            "point `k6 run` at its own stack's control API (-f stacks/<stack>.yaml, or --control-api URL)",
        );
    }
    if !st.runs.register(info) {
        return json_error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "this control API already tracks {} runs",
                registry::MAX_RUNS
            ),
            "finished runs are forgotten after 2 minutes; retry then",
        );
    }
    (
        StatusCode::CREATED,
        Json(Registered {
            lease_s: st.runs.lease().as_secs(),
            max_poll_s: MAX_POLL.as_secs(),
        }),
    )
        .into_response()
}

async fn run_poll(
    State(st): State<Shared>,
    headers: HeaderMap,
    UrlPath(testid): UrlPath<String>,
    Query(q): Query<PollQuery>,
) -> Response {
    if let Err(r) = bearer_ok(&st, &headers) {
        return *r;
    }
    let wait = Duration::from_secs(q.wait_s).min(MAX_POLL);
    match st.runs.poll(&testid, q.seen, wait).await {
        Some((version, stop)) => Json(PollAnswer { version, stop }).into_response(),
        None => unknown_run(&testid),
    }
}

async fn run_ack(
    State(st): State<Shared>,
    headers: HeaderMap,
    UrlPath(testid): UrlPath<String>,
    Json(ack): Json<Ack>,
) -> Response {
    if let Err(r) = bearer_ok(&st, &headers) {
        return *r;
    }
    if st.runs.ack(&testid, ack.signals) {
        Json(json!({"ok": true})).into_response()
    } else {
        unknown_run(&testid)
    }
}

async fn run_end(
    State(st): State<Shared>,
    headers: HeaderMap,
    UrlPath(testid): UrlPath<String>,
    Json(end): Json<Ended>,
) -> Response {
    if let Err(r) = bearer_ok(&st, &headers) {
        return *r;
    }
    if st.runs.end(&testid, end) {
        Json(json!({"ok": true})).into_response()
    } else {
        unknown_run(&testid)
    }
}

#[derive(Debug, Deserialize)]
struct StopQuery {
    testid: Option<String>,
}

async fn stop_page(
    State(st): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<StopQuery>,
) -> Response {
    let user = match basic_user(&st, &headers) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let s = page::strings(&st.cfg.locale);
    let Some(testid) = q.testid.filter(|t| crate::k6::testid::is_testid(t)) else {
        return html_headers(
            (
                StatusCode::BAD_REQUEST,
                Html(page::message(
                    s,
                    s.error_title,
                    "?testid=<test id> (letters, digits, _ - .)",
                )),
            )
                .into_response(),
        );
    };
    let rec = match st.runs.find(Some(&testid)) {
        Ok(found) => found.info,
        Err(m) => {
            let (status, error, _) = missing(&st, m);
            let title = if status == StatusCode::CONFLICT {
                s.other_title
            } else {
                s.none_title
            };
            return html_headers((status, Html(page::message(s, title, &error))).into_response());
        }
    };
    let token = match secrets::os_random_hex(32) {
        Ok(t) => t,
        Err(e) => {
            return html_headers(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Html(page::message(s, s.error_title, &e.to_string())),
                )
                    .into_response(),
            );
        }
    };
    {
        let mut map = st.csrf.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, e| e.expires > now);
        if map.len() >= CSRF_MAX
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, e)| e.expires)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            token.clone(),
            CsrfEntry {
                testid: testid.clone(),
                user,
                expires: now + CSRF_TTL,
            },
        );
    }
    html_headers(
        Html(page::confirm(
            s,
            &rec.testid,
            &rec.promo,
            &rec.promo_type,
            &rec.started_at,
            &token,
        ))
        .into_response(),
    )
}

#[derive(Debug, Deserialize)]
struct StopFormBody {
    testid: String,
    csrf: String,
}

async fn stop_form(
    State(st): State<Shared>,
    headers: HeaderMap,
    Form(f): Form<StopFormBody>,
) -> Response {
    let user = match basic_user(&st, &headers) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let s = page::strings(&st.cfg.locale);
    let valid = {
        let mut map = st.csrf.lock().unwrap_or_else(|p| p.into_inner());
        // Single use: the token is consumed whatever the outcome.
        map.remove(&f.csrf)
            .is_some_and(|e| e.expires > Instant::now() && e.testid == f.testid && e.user == user)
    };
    if !valid {
        return html_headers(
            (
                StatusCode::FORBIDDEN,
                Html(page::message(s, s.error_title, s.expired)),
            )
                .into_response(),
        );
    }
    let by = if user.is_empty() {
        "STOP page".to_string()
    } else {
        format!("STOP page, {user}")
    };
    let resp = match do_stop(&st, Some(&f.testid), false, st.cfg.grace, by).await {
        Ok((_, r)) if r.exited => (
            StatusCode::OK,
            Html(page::message(
                s,
                s.stopped_title,
                &format!("{} ({})", s.stopped_text, r.testid),
            )),
        )
            .into_response(),
        Ok((_, r)) => (
            StatusCode::ACCEPTED,
            Html(page::message(
                s,
                s.stopping_title,
                &format!("{} ({})", s.stopping_text, r.testid),
            )),
        )
            .into_response(),
        Err(f) => {
            let title = if f.status == StatusCode::NOT_FOUND {
                s.none_title
            } else {
                s.error_title
            };
            let text = if f.status == StatusCode::GATEWAY_TIMEOUT {
                format!("{} {}", s.unconfirmed, f.error)
            } else {
                f.error
            };
            (f.status, Html(page::message(s, title, &text))).into_response()
        }
    };
    html_headers(resp)
}
