//! Targets: where a stack runs. Each target implements one small trait — observe what exists,
//! execute one plan step, report status, destroy — and the core does the rest: diffing
//! ([`crate::plan`]), ordering, concurrency, retries and locking ([`apply`]).

pub mod docker;
pub mod fake;
pub mod native;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::desired::{Desired, ResourceId};
use crate::error::{Error, Result};
use crate::plan::{Action, Observed, Plan, Step};
use crate::secrets::SecretValues;

/// Target names accepted by `--target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Docker Engine API.
    Docker,
    /// Supervised native processes on this host.
    Native,
    /// Grafana Cloud and InfluxDB Cloud HTTP APIs.
    Cloud,
}

impl TargetKind {
    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Native => "native",
            Self::Cloud => "cloud",
        }
    }
}

/// What a target needs to know about the stack besides `Desired`.
#[derive(Debug, Clone)]
pub struct Context {
    /// Stack name.
    pub stack: String,
    /// Absolute `generated/<stack>/` (bind-mount sources, the compose file).
    pub generated_dir: PathBuf,
    /// Manifest path as the user gave it (for labels and messages).
    pub manifest_path: String,
    /// Secret values from `.env` and the environment.
    pub secrets: SecretValues,
    /// How long to wait for a service to become healthy.
    pub health_timeout: Duration,
}

/// Health and whereabouts of one service, for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceStatus {
    /// Service name.
    pub service: String,
    /// `running`, `exited`, `missing`, ...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or `-`.
    pub health: String,
    /// Image or binary.
    pub image: String,
    /// Version (image tag, or the binary's).
    pub version: String,
    /// Where people reach it.
    pub url: String,
    /// How long it has been up (`3m12s`), or `-`.
    pub uptime: String,
    /// Whether its configuration matches the manifest.
    pub up_to_date: bool,
}

/// An error a target may see succeed on retry (engine busy, connection reset, 429/5xx).
pub fn is_transient(err: &Error) -> bool {
    matches!(err, Error::Transient { .. })
}

/// Ordering waves: a step runs once every step it depends on (through `depends_on`) has run.
/// Deletes run first, in reverse dependency order.
pub fn waves(plan: &Plan, desired: &Desired) -> Vec<Vec<Step>> {
    let (deletes, rest): (Vec<Step>, Vec<Step>) = plan
        .steps
        .iter()
        .cloned()
        .partition(|s| matches!(s.action, Action::Delete));
    let mut out: Vec<Vec<Step>> = Vec::new();
    if !deletes.is_empty() {
        let mut d = deletes;
        d.sort_by_key(|s| std::cmp::Reverse(s.id.kind));
        // Services go before the networks and volumes they use.
        let mut by_kind: Vec<Vec<Step>> = Vec::new();
        for step in d {
            match by_kind.last_mut() {
                Some(last) if last[0].id.kind == step.id.kind => last.push(step),
                _ => by_kind.push(vec![step]),
            }
        }
        out.extend(by_kind);
    }
    let pending_ids: Vec<ResourceId> = rest.iter().map(|s| s.id.clone()).collect();
    let mut done: Vec<ResourceId> = Vec::new();
    let mut remaining = rest;
    while !remaining.is_empty() {
        let (ready, blocked): (Vec<Step>, Vec<Step>) = remaining.into_iter().partition(|s| {
            desired.resources.get(&s.id).is_none_or(|r| {
                r.depends_on
                    .iter()
                    .all(|d| done.contains(d) || !pending_ids.contains(d))
            })
        });
        if ready.is_empty() {
            // A cycle cannot come from compile; run the rest in order rather than hang.
            out.push(blocked);
            break;
        }
        done.extend(ready.iter().map(|s| s.id.clone()));
        out.push(ready);
        remaining = blocked;
    }
    out
}

/// Run `f` up to `attempts` times while it fails with a transient error, backing off 0.5 s,
/// 1 s, 2 s...
pub async fn retry<T, F, Fut>(what: &str, attempts: u32, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut delay = Duration::from_millis(500);
    let mut attempt = 1;
    loop {
        match f().await {
            Err(e) if is_transient(&e) && attempt < attempts => {
                tracing::warn!("{what}: {e}; retrying in {delay:?} (attempt {attempt}/{attempts})");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Shared behaviour of every target.
#[allow(async_fn_in_trait)]
pub trait Target {
    /// Name (`docker`).
    fn name(&self) -> &'static str;
    /// Read what exists now for this stack (the only read IO of planning).
    async fn observe(&self, desired: &Desired) -> Result<Observed>;
    /// Execute one step; waits until the resource is healthy where that applies.
    async fn execute(&self, step: &Step, desired: &Desired) -> Result<()>;
    /// Per-service status.
    async fn status(&self, desired: &Desired) -> Result<Vec<ServiceStatus>>;
    /// Remove the stack; data (volumes, data dirs) only when `volumes`. Returns what was removed.
    async fn destroy(&self, desired: &Desired, volumes: bool) -> Result<Vec<String>>;
}

/// Execute a plan wave by wave; steps within a wave run concurrently, each retried on
/// transient failure. Returns the steps done.
pub async fn apply<T: Target>(
    target: &T,
    desired: &Desired,
    plan: &Plan,
) -> Result<Vec<ResourceId>> {
    let mut done = Vec::new();
    for wave in waves(plan, desired) {
        let runs = wave.iter().map(|step| {
            let what = format!("{} {}", step.id, action_name(&step.action));
            async move {
                retry(&what, 4, || target.execute(step, desired))
                    .await
                    .map(|()| step.id.clone())
            }
        });
        done.extend(futures_util::future::try_join_all(runs).await?);
    }
    Ok(done)
}

fn action_name(a: &Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Replace { .. } => "replace",
        Action::Update { .. } => "update",
        Action::Start => "start",
        Action::Delete => "delete",
    }
}
