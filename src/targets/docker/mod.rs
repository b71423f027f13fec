//! The Docker target: the stack's network, volumes and containers through the Docker Engine
//! API (bollard). Objects are found by compose's labels and carry them, so docker compose sees
//! the stack; containers made by `docker-compose up -d` from the generated file are recognised
//! (their configuration is reconstructed from `inspect`) and replaced, never duplicated.
//!
//! Owns: everything that speaks to the Docker engine for a stack.
//! May not: print (progress lines go through [`Progress`]), read the environment except through
//! [`crate::settings`], diff or decide (the plan did).

mod destroy;
pub(crate) mod engine;
mod execute;
mod images;
pub mod labels;
mod network;
mod observe;
mod ready;
mod reconstruct;
mod service_reads;
mod services;
mod status;

pub(crate) use status::url as service_url;

use std::collections::BTreeMap;

pub use crate::targets::progress::Progress;
pub use engine::{EngineHere, docker_host, engine_here};

use crate::desired::{Desired, EnvValue, ResourceSpec, ServiceSpec};
use crate::error::{Error, Result};
use crate::plan::{Observed, Plan, Step};
use crate::targets::common;
use crate::targets::{Context, ServiceStatus, Target};

/// The Docker target of one stack.
pub struct DockerTarget {
    docker: bollard::Docker,
    ctx: Context,
    progress: Progress,
}

impl std::fmt::Debug for DockerTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerTarget")
            .field("host", &docker_host())
            .field("stack", &self.ctx.stack)
            .finish_non_exhaustive()
    }
}

impl DockerTarget {
    /// Connect to the engine named by `DOCKER_HOST` (default: the local socket). No request is
    /// made until the first operation.
    pub fn connect(ctx: Context) -> Result<Self> {
        Ok(Self {
            docker: engine::connect()?,
            ctx,
            progress: Progress::hidden(),
        })
    }

    /// Show progress lines (one per service while waiting for health) on stderr.
    pub fn with_progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// The stack's context.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Resolve every service's environment now, so a missing secret is reported before any
    /// change is made; but a token the stack mints, which apply puts in `.env` before the
    /// services that take it start.
    pub fn check_secrets(&self, desired: &Desired) -> Result<()> {
        let minted: Vec<&str> = desired
            .resources
            .values()
            .filter_map(|r| match &r.spec {
                ResourceSpec::Token(t) => Some(t.secret.as_str()),
                _ => None,
            })
            .collect();
        for r in desired.resources.values() {
            if let ResourceSpec::Service(s) = &r.spec {
                env_list_but(s, &self.ctx, &minted)?;
            }
        }
        Ok(())
    }

    /// Make sure the images of the services a plan creates or replaces are present: used when
    /// present locally, pulled (with progress) otherwise.
    pub async fn ensure_images(&self, steps: &[Step], desired: &Desired) -> Result<()> {
        images::ensure(self, steps, desired).await
    }
}

/// The `K=V` environment of a service, secrets resolved from `.env` (or the process environment
/// for the ones the user provides). An empty value is not set.
pub(crate) fn env_list(s: &ServiceSpec, ctx: &Context) -> Result<Vec<String>> {
    env_list_but(s, ctx, &[])
}

/// [`env_list`] without the variables holding one of the secrets `skipped`.
fn env_list_but(s: &ServiceSpec, ctx: &Context, skipped: &[&str]) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(s.env.len() + s.init_env.len());
    for (k, v) in s.env.iter().chain(&s.init_env) {
        let value = match v {
            EnvValue::Plain(p) => p.clone(),
            EnvValue::Secret(name) if skipped.contains(&name.as_str()) => continue,
            EnvValue::Secret(name) => common::secret(ctx, name).ok_or_else(|| {
                Error::usage(
                    format!(
                        "secret `{name}` (environment variable {k} of service `{}`) is not set",
                        s.name
                    ),
                    format!(
                        "add `{name}=...` to {} or export {name}; nothing was changed",
                        ctx.generated_dir.join(".env").display()
                    ),
                )
            })?,
        };
        out.push(format!("{k}={value}"));
    }
    Ok(out)
}

/// Secret names of a service's environment, by variable.
pub(crate) fn secret_vars(s: &ServiceSpec) -> BTreeMap<&str, &str> {
    s.env
        .iter()
        .filter_map(|(k, v)| match v {
            EnvValue::Secret(name) => Some((k.as_str(), name.as_str())),
            EnvValue::Plain(_) => None,
        })
        .collect()
}

#[async_trait::async_trait(?Send)]
impl Target for DockerTarget {
    fn name(&self) -> &'static str {
        "docker"
    }

    /// Every secret is set and every image the plan needs is present.
    async fn preflight(&self, plan: &Plan, desired: &Desired) -> Result<()> {
        self.check_secrets(desired)?;
        self.ensure_images(&plan.steps, desired).await
    }

    async fn observe(&self, desired: &Desired) -> Result<Observed> {
        observe::observe(self, desired).await
    }

    async fn observe_to_destroy(&self, desired: &Desired) -> Result<Observed> {
        observe::observe_engine(self, desired).await
    }

    async fn execute(&self, step: &Step, desired: &Desired) -> Result<()> {
        execute::execute(self, step, desired).await
    }

    async fn status(&self, desired: &Desired) -> Result<Vec<ServiceStatus>> {
        status::status(self, desired).await
    }

    async fn destroy(&self, desired: &Desired, volumes: bool) -> Result<crate::targets::Destroyed> {
        destroy::destroy(self, desired, volumes).await
    }

    async fn logs(
        &self,
        _desired: &Desired,
        query: &crate::targets::LogQuery,
        sink: &mut dyn FnMut(crate::targets::LogLine),
    ) -> Result<()> {
        services::logs(self, query, sink).await
    }

    async fn restart(&self, desired: &Desired, service: &str) -> Result<()> {
        services::restart(self, desired, service).await
    }
}
