//! Pace and load accounting, for benchmarks and request-count tests: an optional delay before
//! every API request (a network's round-trip time, so that concurrency shows in wall time) and
//! counters of what was asked — requests in all and by route, the most in flight at once, and the
//! busy span from the first request's start to the last one's end. `/__double/*` requests are
//! neither delayed nor counted.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::common::{HasRecorder, lock};

/// What `GET /__double/stats` answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// API requests since the last reset.
    pub requests: u64,
    /// By `METHOD route` (`GET /api/dashboards/uid/{uid}`; the raw path when no route matched).
    pub by_route: BTreeMap<String, u64>,
    /// The most requests in flight at once.
    pub max_in_flight: u64,
    /// Milliseconds from the first request's arrival to the last one's answer (0 when none).
    pub busy_ms: u64,
    /// The delay added before each request, in milliseconds.
    pub latency_ms: u64,
}

#[derive(Debug, Default)]
struct Window {
    stats: Stats,
    first: Option<Instant>,
    last: Option<Instant>,
}

/// A double's pace (latency) and counters.
#[derive(Debug, Default)]
pub struct Pace {
    latency_ms: AtomicU64,
    in_flight: AtomicU64,
    window: Mutex<Window>,
}

impl Pace {
    /// Delay every API request by `latency` (zero: none).
    pub fn set_latency(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.latency_ms.store(ms, Ordering::SeqCst);
    }

    /// The counters since the last [`Pace::reset`].
    pub fn stats(&self) -> Stats {
        let w = lock(&self.window);
        let mut stats = w.stats.clone();
        stats.busy_ms = match (w.first, w.last) {
            (Some(a), Some(b)) if b > a => u64::try_from((b - a).as_millis()).unwrap_or(u64::MAX),
            _ => 0,
        };
        stats.latency_ms = self.latency_ms.load(Ordering::SeqCst);
        stats
    }

    /// Zero the counters (the latency stays).
    pub fn reset(&self) {
        *lock(&self.window) = Window::default();
    }

    fn enter(&self, route: String) {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        let mut w = lock(&self.window);
        w.first.get_or_insert_with(Instant::now);
        w.stats.requests += 1;
        *w.stats.by_route.entry(route).or_default() += 1;
        w.stats.max_in_flight = w.stats.max_in_flight.max(now);
    }

    fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        lock(&self.window).last = Some(Instant::now());
    }
}

/// Middleware (outermost): counts and delays every request but `/__double/*`.
pub(crate) async fn track<A: HasRecorder>(
    State(app): State<A>,
    req: Request<Body>,
    next: Next,
) -> Response {
    let path = req.uri().path();
    if path.starts_with("/__double/") {
        return next.run(req).await;
    }
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(path, MatchedPath::as_str);
    let pace = &app.recorder().pace;
    pace.enter(format!("{} {route}", req.method()));
    let latency = pace.latency_ms.load(Ordering::SeqCst);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let resp = next.run(req).await;
    pace.leave();
    resp
}

/// `GET /__double/stats`.
pub(crate) async fn stats<A: HasRecorder>(State(app): State<A>) -> Response {
    axum::Json(app.recorder().pace.stats()).into_response()
}

/// `DELETE /__double/stats`: zero the counters.
pub(crate) async fn reset<A: HasRecorder>(State(app): State<A>) -> Response {
    app.recorder().pace.reset();
    axum::Json(serde_json::json!({ "message": "stats cleared" })).into_response()
}

/// `PUT /__double/latency` `{"ms": 20}`.
pub(crate) async fn set_latency<A: HasRecorder>(
    State(app): State<A>,
    body: axum::body::Bytes,
) -> Response {
    #[derive(Deserialize)]
    struct Latency {
        ms: u64,
    }
    match serde_json::from_slice::<Latency>(&body) {
        Ok(l) if l.ms <= 60_000 => {
            app.recorder().pace.set_latency(Duration::from_millis(l.ms));
            axum::Json(serde_json::json!({ "message": "latency set", "ms": l.ms })).into_response()
        }
        _ => crate::grafana::ApiError::bad_request("expected {\"ms\": 0-60000}").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_in_flight_and_routes_until_reset() {
        let p = Pace::default();
        p.set_latency(Duration::from_millis(20));
        p.enter("GET /a".into());
        p.enter("GET /a".into());
        p.leave();
        p.enter("POST /b".into());
        p.leave();
        p.leave();
        let s = p.stats();
        assert_eq!(s.requests, 3);
        assert_eq!(s.max_in_flight, 2);
        assert_eq!(s.latency_ms, 20);
        assert_eq!(
            s.by_route,
            BTreeMap::from([("GET /a".to_string(), 2), ("POST /b".to_string(), 1)])
        );
        p.reset();
        assert_eq!(
            p.stats(),
            Stats {
                latency_ms: 20,
                ..Stats::default()
            }
        );
    }
}
