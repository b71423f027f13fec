//! The blocking facade of the InfluxDB client, for synchronous callers (`backup`): one
//! current-thread tokio runtime per facade, started once and reused by every request.
//!
//! Owns: the runtime, and the one-shot questions a command asks (server version, databases,
//! InfluxQL) without retrying: an unreachable server is reported with what to do, not as a
//! transient error.
//! May not: be called from inside an async runtime (it blocks), print, or read the environment.

use std::future::Future;

use reqwest::Method;
use serde_json::Value;

use super::client::{self, Auth};
use super::{Endpoint, v1};
use crate::error::{Error, Result};

/// An InfluxDB client with its own runtime.
#[derive(Debug)]
pub struct Client {
    rt: tokio::runtime::Runtime,
    inner: client::Client,
}

impl Client {
    /// A client of `ep` as `auth`; starts the runtime.
    pub fn new(ep: &Endpoint, auth: Auth) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))?;
        Ok(Self {
            rt,
            inner: client::Client::new(ep, auth)?,
        })
    }

    /// Run `f` on this facade's runtime (other async work of the same command: the Engine API,
    /// `influx::apply`).
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// This facade as `auth` (the same runtime and connections).
    pub fn with_auth(self, auth: Auth) -> Self {
        Self {
            inner: self.inner.with_auth(auth),
            rt: self.rt,
        }
    }

    /// The async client behind this facade.
    pub fn inner(&self) -> &client::Client {
        &self.inner
    }

    /// The server's version (1.x: `/ping`'s `X-Influxdb-Version`; 2.x: `/health`'s `version`),
    /// `unknown` when it does not say.
    pub fn server_version(&self, major: u8) -> Result<String> {
        let c = self.inner.with_auth(Auth::None);
        let path = if major == 1 { "/ping" } else { "/health" };
        self.block_on(async {
            let resp = c.send(path, c.request(Method::GET, path)).await?;
            let status = resp.status();
            let url = c.url(path);
            let unexpected = || {
                client::status_error(
                    &url,
                    status,
                    "",
                    "check that the stack's InfluxDB is the server on that port",
                )
            };
            if major == 1 {
                if !status.is_success() {
                    return Err(unexpected());
                }
                return Ok(resp
                    .headers()
                    .get("x-influxdb-version")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("unknown")
                    .to_string());
            }
            // `/health` answers 503 with a JSON status while the server is unhealthy.
            let body: Value =
                serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or_default();
            if !status.is_success() && body.get("status").is_none() {
                return Err(unexpected());
            }
            Ok(body["version"].as_str().unwrap_or("unknown").to_string())
        })
        .map_err(settle)
    }

    /// InfluxQL (1.x): the answer, statement errors included (see [`v1::query_results`]).
    pub fn query_results(&self, q: &str) -> Result<Value> {
        self.block_on(v1::query_results(&self.inner, q))
            .map_err(settle)
    }

    /// InfluxQL (1.x): any statement error is an error.
    pub fn query(&self, q: &str) -> Result<Value> {
        self.block_on(v1::query(&self.inner, q)).map_err(settle)
    }

    /// The databases of a 1.x server.
    pub fn databases(&self) -> Result<Vec<String>> {
        self.query("SHOW DATABASES").map(|b| v1::names(&b))
    }
}

/// Nothing retries a one-shot command: a transient failure is reported as refused, with what
/// fits what the server did ([`client::help_for`]): no answer, start the stack; an answer
/// with 5xx or 429, it runs but fails: its logs.
pub(crate) fn settle(e: Error) -> Error {
    match e {
        Error::Transient { message, outcome } => {
            Error::influx(message).with_help(client::help_for(outcome))
        }
        other => other,
    }
}
