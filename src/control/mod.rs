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
//! | `POST /api/runs` | bearer | `k6 run` registers (or re-registers) a run: [`protocol::RunInfo`]; answers the lease and poll period |
//! | `POST /api/runs/{testid}/poll?seen=N&wait_s=S` | bearer | long poll (at most 30 s), renews the lease: `{"version":N,"stop":null\|StopOrder}`; 404 when the run is unknown (re-register) |
//! | `POST /api/runs/{testid}/ack` | bearer | `{"signals":["SIGINT",…]}`: what the wrapper sent its k6 |
//! | `POST /api/runs/{testid}/end` | bearer | `{"exit_code":105,"ending":"stopped"}`: the run is over |
//!
//! A run whose wrapper stops polling expires after the lease (`--lease-secs`, 30 s): a dead
//! `k6 run` never leaves a test "running". Cross-origin requests to `/api/` are accepted only
//! from the Grafana origin (anything else, preflight included, gets 403).
//!
//! | module | what |
//! |---|---|
//! | [`config`] | the configuration: from a manifest and `.env`, or from the environment |
//! | [`protocol`] | the JSON the wrapper and the API exchange |
//! | [`registry`] | the runs in memory: leases, idempotent stop orders, long polls |
//! | `routes` | the router, the server, the wrapper's routes |
//! | `stop` | the stop sequence, for the API and for the STOP page |
//! | `auth` | bearer token, HTTP Basic, CORS, same-origin form check |
//! | [`page`] | the STOP page's HTML |
//!
//! May not: print, read `std::env` (through [`crate::settings`]), signal a process, read a
//! pidfile, talk to Docker.

mod auth;
pub mod config;
pub mod page;
pub mod protocol;
pub mod registry;
mod routes;
mod stop;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use config::{
    ControlConfig, DEFAULT_ACK_TIMEOUT, DEFAULT_GRACE, DEFAULT_LEASE, Secret, Timing,
    config_from_env, config_from_manifest, env, origin_of,
};
pub use protocol::{Ack, PollAnswer, Registered};
pub use routes::{router, serve};

use crate::error::Result;
use crate::project::Project;

/// `promo-infra control-api`: resolve the configuration ([`config::resolve`]), then serve until
/// Ctrl+C or SIGTERM. `ready` gets the configuration and the bound address once listening.
pub fn run_api(
    project: &Project,
    files: &[PathBuf],
    listen: Option<&str>,
    timing: Timing,
    ready: impl FnOnce(&ControlConfig, SocketAddr),
) -> Result<()> {
    let cfg = config::resolve(project, files, listen, timing)?;
    let shown = cfg.clone();
    crate::k6::runtime()?.block_on(serve(
        cfg,
        move |addr| ready(&shown, addr),
        shutdown_signal(),
    ))
}

/// Ctrl+C or SIGTERM (how a terminal, systemd and Docker stop the API).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
