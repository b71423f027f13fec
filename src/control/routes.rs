//! The HTTP surface of the control API: the router, the server, and the routes of the
//! wrapper's side (register, poll, acknowledge, end) and of `GET /api/tests/current`.
//!
//! Owns: the route table, the server's lifetime, JSON error bodies (`{"error","hint"}`), the
//! words for "no such run".
//! May not: signal a process, read a pidfile, touch the Docker socket, read the environment,
//! print (the caller learns the bound address through `ready`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{self, ApiCaller};
use super::config::ControlConfig;
use super::protocol::{Ack, Ended, PollAnswer, Registered, RunInfo};
use super::registry::{self, Missing, Registry};
use super::stop::{self, CsrfStore};
use crate::error::{Error, Result};

/// Longest long poll.
const MAX_POLL: Duration = Duration::from_secs(30);

/// What every request sees.
pub(super) struct AppState {
    pub(super) cfg: ControlConfig,
    pub(super) csrf: CsrfStore,
    pub(super) runs: Registry,
}

pub(super) type Shared = Arc<AppState>;

/// The router (exposed for tests that serve it themselves).
pub fn router(cfg: ControlConfig) -> Router {
    router_with(new_state(cfg))
}

fn new_state(cfg: ControlConfig) -> Shared {
    Arc::new(AppState {
        runs: Registry::new(cfg.timing.lease),
        cfg,
        csrf: CsrfStore::default(),
    })
}

fn router_with(state: Shared) -> Router {
    let api = Router::new()
        .route("/api/tests/current", get(current))
        .route("/api/tests/stop", post(stop::api_stop))
        .route("/api/runs", post(run_register))
        .route("/api/runs/{testid}/poll", post(run_poll))
        .route("/api/runs/{testid}/ack", post(run_ack))
        .route("/api/runs/{testid}/end", post(run_end))
        .layer(auth::cors_layer(state.cfg.cors_origin.as_deref()));
    Router::new()
        .route("/health", get(health))
        .route("/stop", get(stop::stop_page).post(stop::stop_form))
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
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
        .map_err(|e| {
            Error::control(format!("cannot listen on {}: {e}", cfg.listen))
                .with_help("is another control API running? choose another address with --listen")
        })?;
    let addr = listener.local_addr().map_err(|e| {
        Error::control(format!(
            "cannot read the address bound for {}: {e}",
            cfg.listen
        ))
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
        .map_err(|e| Error::control(format!("the control API on {addr} stopped: {e}")))
}

/// A JSON error body: what failed and what to do.
pub(super) fn json_error(status: StatusCode, error: &str, hint: &str) -> Response {
    (status, Json(json!({ "error": error, "hint": hint }))).into_response()
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
pub(super) fn missing(st: &AppState, m: Missing) -> (StatusCode, String, String) {
    // The stack file only when this API was started with it; inside a container or a service
    // it knows the stack's name, not where its file is.
    let start_hint = match (&st.cfg.manifest, st.cfg.stack.as_str()) {
        (Some(path), _) => format!(
            "start one with `promo-infra -f {path} k6 run SCRIPT`: it registers the run with this API"
        ),
        (None, "") => "start one with `promo-infra -f <stack file> k6 run SCRIPT`: it registers the run with this API".to_string(),
        (None, stack) => format!(
            "start one with `promo-infra -f <stack file> k6 run SCRIPT` (the stack file of stack `{stack}`): it registers the run with this API"
        ),
    };
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

async fn current(_: ApiCaller, State(st): State<Shared>) -> Response {
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

// ---- the wrapper's side: register, poll, acknowledge, end ----

/// Query of a poll.
#[derive(Debug, Deserialize)]
struct PollQuery {
    #[serde(default)]
    seen: u64,
    #[serde(default)]
    wait_s: u64,
}

/// `{"ok":true}`, or 404 when the run is not registered (the wrapper registers again).
fn known_run(known: bool, testid: &str) -> Response {
    if known {
        return Json(json!({"ok": true})).into_response();
    }
    json_error(
        StatusCode::NOT_FOUND,
        &format!("run {testid} is not registered (the API restarted, or the run ended)"),
        "register it again with POST /api/runs",
    )
}

async fn run_register(_: ApiCaller, State(st): State<Shared>, body: Bytes) -> Response {
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
    let registered = Registered {
        lease_s: st.runs.lease().as_secs(),
        max_poll_s: MAX_POLL.as_secs(),
    };
    (StatusCode::CREATED, Json(registered)).into_response()
}

async fn run_poll(
    _: ApiCaller,
    State(st): State<Shared>,
    UrlPath(testid): UrlPath<String>,
    Query(q): Query<PollQuery>,
) -> Response {
    let wait = Duration::from_secs(q.wait_s).min(MAX_POLL);
    match st.runs.poll(&testid, q.seen, wait).await {
        Some((version, stop)) => Json(PollAnswer { version, stop }).into_response(),
        None => known_run(false, &testid),
    }
}

async fn run_ack(
    _: ApiCaller,
    State(st): State<Shared>,
    UrlPath(testid): UrlPath<String>,
    Json(ack): Json<Ack>,
) -> Response {
    known_run(st.runs.ack(&testid, ack.signals), &testid)
}

async fn run_end(
    _: ApiCaller,
    State(st): State<Shared>,
    UrlPath(testid): UrlPath<String>,
    Json(end): Json<Ended>,
) -> Response {
    known_run(st.runs.end(&testid, end), &testid)
}
