//! `promo-infra control-api`: the emergency-stop HTTP API.
//!
//! | route | auth | what |
//! |---|---|---|
//! | `GET /health` | none | `{"status":"ok",...}` |
//! | `GET /api/tests/current` | bearer `CONTROL_API_TOKEN` | the running test, 404 when none |
//! | `POST /api/tests/stop` | bearer | SIGINT to k6 (graceful); `{"force":true}` escalates to SIGTERM then SIGKILL after the grace period |
//! | `GET /stop?testid=…` | HTTP Basic, password `CONTROL_API_STOP_PASSWORD` | confirmation page (fr/en) with a CSRF-protected form |
//! | `POST /stop` | HTTP Basic + CSRF token | stops the test, "test stopped" page |
//!
//! Cross-origin requests to `/api/` are accepted only from the Grafana origin (anything else,
//! preflight included, gets 403). The process never touches the Docker socket: it finds the
//! test through the run record `k6 run` writes ([`crate::k6::record`]) and signals its pid.

pub mod page;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Form, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, Result};
use crate::k6::notify::{Annotation, Grafana, GrafanaAuth};
use crate::k6::record::{self, Liveness, RunRecord, StopMarker};
use crate::k6::run::wait_gone;
use crate::manifest::Manifest;
use crate::project::Project;
use crate::secrets::{self, SecretValues};

/// Default grace period between SIGINT and an escalation.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(15);
/// Longest grace period a request may ask for.
const MAX_GRACE: Duration = Duration::from_secs(120);
/// How long a STOP form stays valid.
const CSRF_TTL: Duration = Duration::from_secs(15 * 60);
/// At most this many outstanding STOP forms.
const CSRF_MAX: usize = 512;

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
    /// Where `k6 run` writes its run record.
    pub const RUN_DIR: &str = "PROMO_INFRA_RUN_DIR";
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
    /// Run directory holding the run record.
    pub run_dir: PathBuf,
    /// Grace period after SIGINT.
    pub grace: Duration,
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
            .field("run_dir", &self.run_dir)
            .field("grace", &self.grace)
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
    project: &Project,
    m: &Manifest,
    values: &SecretValues,
    listen: Option<&str>,
    run_dir: Option<PathBuf>,
    grace: Duration,
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
        run_dir: run_dir.unwrap_or_else(|| crate::k6::default_run_dir(project, m)),
        grace,
    })
}

/// Configuration from the environment (the container / service mode, selected by
/// `PROMO_INFRA_STACK`). The run directory defaults to `generated/<stack>/run` under the
/// project directory, where `k6 run` on the same host writes.
pub fn config_from_env(
    project: &Project,
    lookup: impl Fn(&str) -> Option<String>,
    listen: Option<&str>,
    run_dir: Option<PathBuf>,
    grace: Duration,
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
        run_dir: run_dir
            .or_else(|| lookup(env::RUN_DIR).map(PathBuf::from))
            .unwrap_or_else(|| project.generated_dir(&stack).join("run")),
        stack,
        grace,
    })
}

struct AppState {
    cfg: ControlConfig,
    csrf: Mutex<HashMap<String, CsrfEntry>>,
}

struct CsrfEntry {
    testid: String,
    user: String,
    expires: Instant,
}

type Shared = Arc<AppState>;

/// The router (exposed for tests that serve it themselves).
pub fn router(cfg: ControlConfig) -> Router {
    let state = Arc::new(AppState {
        cfg,
        csrf: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/health", get(health))
        .route("/api/tests/current", get(current))
        .route("/api/tests/stop", axum::routing::post(api_stop))
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
    axum::serve(listener, router(cfg))
        .with_graceful_shutdown(shutdown)
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
    pid: i32,
    started_at: &'a str,
    stack: &'a str,
}

enum Found {
    Running(RunRecord),
    Problem(StatusCode, String, String),
}

fn find(st: &AppState, expected: Option<&str>) -> Found {
    let no_test_hint = format!(
        "start one with `promo-infra k6 run SCRIPT`; this API reads {}",
        st.cfg.run_dir.join(record::RECORD_FILE).display()
    );
    let rec = match record::read(&st.cfg.run_dir) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Found::Problem(
                StatusCode::NOT_FOUND,
                "no test is running".into(),
                no_test_hint,
            );
        }
        Err(e) => {
            return Found::Problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                e.to_string(),
                "delete the run record if no test is running".into(),
            );
        }
    };
    if let Some(want) = expected
        && want != rec.testid
    {
        return Found::Problem(
            StatusCode::CONFLICT,
            format!(
                "test {want} is not running (the running test is {})",
                rec.testid
            ),
            "nothing was stopped; stop the running test by its own testid".into(),
        );
    }
    match record::liveness(&rec) {
        Liveness::Running => Found::Running(rec),
        Liveness::Gone => Found::Problem(
            StatusCode::NOT_FOUND,
            format!(
                "no test is running (test {} ended: its k6 process {} is gone)",
                rec.testid, rec.pid
            ),
            no_test_hint,
        ),
        Liveness::OtherNamespace => Found::Problem(
            StatusCode::CONFLICT,
            format!(
                "test {} runs in another PID namespace (k6 pid {} there): this control API (in a container?) cannot signal it",
                rec.testid, rec.pid
            ),
            format!(
                "run `promo-infra control-api -f stacks/{}.yaml` on the host where `k6 run` runs, or press Ctrl+C there",
                st.cfg.stack
            ),
        ),
    }
}

async fn current(State(st): State<Shared>, headers: HeaderMap) -> Response {
    if let Err(r) = bearer_ok(&st, &headers) {
        return *r;
    }
    match find(&st, None) {
        Found::Running(rec) => Json(Current {
            testid: &rec.testid,
            promo: &rec.promo,
            promo_type: &rec.promo_type,
            pid: rec.pid,
            started_at: &rec.started_at,
            stack: &rec.stack,
        })
        .into_response(),
        Found::Problem(status, error, hint) => json_error(status, &error, &hint),
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
    pid: i32,
    signals: Vec<&'static str>,
    exited: bool,
    waited_ms: u64,
    message: String,
    annotation: String,
}

async fn do_stop(
    st: &AppState,
    expected: Option<&str>,
    force: bool,
    grace: Duration,
    by: String,
) -> Result<StopReport, (StatusCode, String, String)> {
    let rec = match find(st, expected) {
        Found::Running(r) => r,
        Found::Problem(s, e, h) => return Err((s, e, h)),
    };
    let now = crate::k6::testid::now().unwrap_or_else(|_| jiff::Timestamp::now());
    let _ = record::write_stop(
        &st.cfg.run_dir,
        &StopMarker {
            testid: rec.testid.clone(),
            by: by.clone(),
            at: now.to_string(),
        },
    );
    let pid = Pid::from_raw(rec.pid);
    let t0 = Instant::now();
    let mut signals = Vec::new();
    if let Err(e) = kill(pid, Signal::SIGINT) {
        return Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot send SIGINT to k6 (pid {}): {e}", rec.pid),
            "the control API must run as the same user as `k6 run` (or as root)".into(),
        ));
    }
    signals.push("SIGINT");
    let mut exited = wait_gone(rec.pid, rec.proc_start_ticks, grace).await;
    if !exited && force {
        for (sig, name, wait) in [
            (Signal::SIGTERM, "SIGTERM", Duration::from_secs(5)),
            (Signal::SIGKILL, "SIGKILL", Duration::from_secs(2)),
        ] {
            // Re-check identity right before each signal: never signal a recycled pid.
            if record::liveness(&rec) != Liveness::Running {
                exited = true;
                break;
            }
            let _ = kill(pid, sig);
            signals.push(name);
            exited = wait_gone(rec.pid, rec.proc_start_ticks, wait).await;
            if exited {
                break;
            }
        }
    }
    let s = page::strings(&st.cfg.locale);
    let annotation = match &st.cfg.grafana {
        Some(g) => {
            let text = if st.cfg.locale == "en" {
                format!("Stopped by hand ({by}) — {}", rec.testid)
            } else {
                format!("Arrêté à la main ({by}) — {}", rec.testid)
            };
            let a = Annotation {
                time_ms: now.as_millisecond(),
                time_end_ms: None,
                tags: vec![
                    "k6".into(),
                    "promo-infra".into(),
                    rec.testid.clone(),
                    rec.promo.clone(),
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
    let message = if exited {
        format!("{}: {}", s.stopped_title, rec.testid)
    } else if force {
        format!("k6 (pid {}) survived SIGINT, SIGTERM and SIGKILL", rec.pid)
    } else {
        format!(
            "SIGINT sent; k6 is still finishing after {} s (teardown, flush). POST again with {{\"force\": true}} to escalate",
            grace.as_secs()
        )
    };
    Ok(StopReport {
        testid: rec.testid,
        pid: rec.pid,
        signals,
        exited,
        waited_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
        message,
        annotation,
    })
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
        Ok(report) => {
            let status = if report.exited {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            (status, Json(report)).into_response()
        }
        Err((status, error, hint)) => json_error(status, &error, &hint),
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
    let rec = match find(&st, Some(&testid)) {
        Found::Running(r) => r,
        Found::Problem(status, error, _) => {
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
        Ok(r) if r.exited => (
            StatusCode::OK,
            Html(page::message(
                s,
                s.stopped_title,
                &format!("{} ({})", s.stopped_text, r.testid),
            )),
        )
            .into_response(),
        Ok(r) => (
            StatusCode::ACCEPTED,
            Html(page::message(
                s,
                s.stopping_title,
                &format!("{} ({})", s.stopping_text, r.testid),
            )),
        )
            .into_response(),
        Err((status, error, _)) => {
            let title = if status == StatusCode::NOT_FOUND {
                s.none_title
            } else {
                s.error_title
            };
            (status, Html(page::message(s, title, &error))).into_response()
        }
    };
    html_headers(resp)
}
