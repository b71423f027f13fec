//! Stopping a test: `POST /api/tests/stop` (JSON, bearer token) and the STOP page
//! (`GET /stop` confirmation with a single-use CSRF token, `POST /stop`), both through one
//! [`do_stop`]: record the order, wait for the wrapper's acknowledgement, annotate Grafana once,
//! wait for k6 to exit.
//!
//! Owns: the stop sequence and its answers (200/202/404/409/504), the CSRF tokens.
//! May not: signal a process (the wrapper does), read the environment, print.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::auth::{ApiCaller, StopUser};
use super::page;
use super::registry::Annotated;
use super::routes::{self, AppState, Shared, json_error};
use crate::grafana::Annotation;

/// Longest grace period a request may ask for.
const MAX_GRACE: Duration = Duration::from_secs(120);
/// How long a STOP form stays valid.
const CSRF_TTL: Duration = Duration::from_secs(15 * 60);
/// At most this many outstanding STOP forms.
const CSRF_MAX: usize = 512;

/// The outstanding STOP forms: single-use tokens bound to a test and a user, expiring after
/// [`CSRF_TTL`]; at most [`CSRF_MAX`] (the oldest is dropped).
#[derive(Default)]
pub(super) struct CsrfStore(Mutex<HashMap<String, CsrfEntry>>);

struct CsrfEntry {
    testid: String,
    user: String,
    expires: Instant,
}

impl CsrfStore {
    fn issue(&self, token: &str, testid: &str, user: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
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
            token.to_string(),
            CsrfEntry {
                testid: testid.to_string(),
                user: user.to_string(),
                expires: now + CSRF_TTL,
            },
        );
    }

    /// Single use: the token is consumed whatever the outcome.
    fn consume(&self, token: &str, testid: &str, user: &str) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(token)
            .is_some_and(|e| e.expires > Instant::now() && e.testid == testid && e.user == user)
    }
}

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
    /// What became of the "stopped by hand" annotation, in words (`posted (id 7)`,
    /// `failed: …`, `not configured …`).
    annotation: String,
    /// The same, for the STOP page (`None`: the first request has not posted it yet).
    #[serde(skip)]
    annotated: Option<Annotated>,
}

/// The JSON answer's words for an annotation outcome.
fn annotation_words(a: Option<&Annotated>) -> String {
    match a {
        Some(Annotated::Posted(id)) => format!("posted (id {id})"),
        Some(Annotated::Failed(e)) => format!("failed: {e}"),
        Some(Annotated::NotConfigured) => "not configured (no Grafana credentials)".into(),
        None => "posted by the first stop request".into(),
    }
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
            let (status, error, hint) = routes::missing(st, m);
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
        .wait(&testid, st.cfg.timing.ack_timeout, |p| {
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
                st.cfg.timing.ack_timeout.as_secs()
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
                    Ok(id) => Annotated::Posted(id),
                    Err(e) => Annotated::Failed(e.to_string()),
                }
            }
            None => Annotated::NotConfigured,
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
    let annotated = progress.annotation.clone();
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
            annotation: annotation_words(annotated.as_ref()),
            annotated,
        },
    ))
}

pub(super) async fn api_stop(_: ApiCaller, State(st): State<Shared>, body: Bytes) -> Response {
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
        .map_or(st.cfg.timing.grace, Duration::from_secs)
        .min(MAX_GRACE);
    match do_stop(&st, req.testid.as_deref(), req.force, grace, "API".into()).await {
        Ok((status, report)) => (status, Json(report)).into_response(),
        Err(f) => json_error(f.status, &f.error, &f.hint),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct StopQuery {
    testid: Option<String>,
}

pub(super) async fn stop_page(
    StopUser(user): StopUser,
    State(st): State<Shared>,
    Query(q): Query<StopQuery>,
) -> Response {
    let s = page::strings(&st.cfg.locale);
    let Some(testid) = q.testid.filter(|t| crate::k6::testid::is_testid(t)) else {
        return page::message(
            StatusCode::BAD_REQUEST,
            s,
            s.error_title,
            "?testid=<test id> (letters, digits, _ - .)",
        );
    };
    let rec = match st.runs.find(Some(&testid)) {
        Ok(found) => found.info,
        Err(m) => {
            let (status, error, _) = routes::missing(&st, m);
            let title = if status == StatusCode::CONFLICT {
                s.other_title
            } else {
                s.none_title
            };
            return page::message(status, s, title, &error);
        }
    };
    let token = match crate::secrets::os_random_hex(32) {
        Ok(t) => t,
        Err(e) => {
            return page::message(
                StatusCode::INTERNAL_SERVER_ERROR,
                s,
                s.error_title,
                &e.to_string(),
            );
        }
    };
    st.csrf.issue(&token, &testid, &user);
    page::respond(
        StatusCode::OK,
        page::confirm(
            s,
            &rec.testid,
            &rec.promo,
            &rec.promo_type,
            &rec.started_at,
            &token,
        ),
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct StopFormBody {
    testid: String,
    csrf: String,
}

pub(super) async fn stop_form(
    StopUser(user): StopUser,
    State(st): State<Shared>,
    Form(f): Form<StopFormBody>,
) -> Response {
    let s = page::strings(&st.cfg.locale);
    if !st.csrf.consume(&f.csrf, &f.testid, &user) {
        return page::message(StatusCode::FORBIDDEN, s, s.error_title, s.expired);
    }
    let by = if user.is_empty() {
        "STOP page".to_string()
    } else {
        format!("STOP page, {user}")
    };
    match do_stop(&st, Some(&f.testid), false, st.cfg.timing.grace, by).await {
        Ok((_, r)) => {
            let (status, title, text) = if r.exited {
                (StatusCode::OK, s.stopped_title, s.stopped_text)
            } else {
                (StatusCode::ACCEPTED, s.stopping_title, s.stopping_text)
            };
            let annotation = page::annotation_text(s, r.annotated.as_ref());
            page::message(
                status,
                s,
                title,
                &format!("{text} {annotation} ({})", r.testid),
            )
        }
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
            page::message(f.status, s, title, &text)
        }
    }
}
