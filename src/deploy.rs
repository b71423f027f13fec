//! The runtime commands — `plan`, `apply`, `status`, `destroy` — as library operations over a
//! target. They return data; the CLI prints it and asks for confirmation through callbacks.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::desired::{Desired, ResourceId, ResourceKind};
use crate::error::{Error, Result};
use crate::lock::{Holder, Previous, StackLock};
use crate::manifest::Loaded;
use crate::ops::{self, Selection};
use crate::plan::{self, Plan};
use crate::project::Project;
use crate::secrets;
use crate::targets::docker::{DockerTarget, Progress};
use crate::targets::native::NativeTarget;
use crate::targets::{self, Context, ServiceStatus, Target, TargetKind};
use crate::writer;

/// Default wait for a service to become healthy.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(180);

fn require_available(target: TargetKind) -> Result<()> {
    match target {
        TargetKind::Docker | TargetKind::Native => Ok(()),
        TargetKind::Cloud => Err(Error::usage(
            "target `cloud` is not available yet",
            "use --target docker (the default) or --target native",
        )),
    }
}

/// The target a command runs against: one value per kind, dispatching the `Target` trait.
enum Runner {
    Docker(DockerTarget),
    Native(NativeTarget),
}

impl Runner {
    fn new(
        kind: TargetKind,
        s: &Stack,
        project: &Project,
        progress: Option<Progress>,
    ) -> Result<Self> {
        match kind {
            TargetKind::Native => {
                let root = absolute(project.root.clone());
                let data = crate::compile::native::data_dir(&s.loaded.manifest);
                Ok(Self::Native(NativeTarget::new(s.ctx.clone(), &root, &data)))
            }
            _ => {
                let docker = DockerTarget::connect(s.ctx.clone())?;
                Ok(Self::Docker(match progress {
                    Some(p) => docker.with_progress(p),
                    None => docker,
                }))
            }
        }
    }

    /// Checks before any change: every secret is set, every image is present (docker).
    async fn preflight(&self, plan: &Plan, desired: &Desired) -> Result<()> {
        match self {
            Self::Docker(d) => {
                d.check_secrets(desired)?;
                d.ensure_images(&plan.steps, desired).await
            }
            Self::Native(_) => Ok(()),
        }
    }
}

impl Target for Runner {
    fn name(&self) -> &'static str {
        match self {
            Self::Docker(d) => d.name(),
            Self::Native(n) => n.name(),
        }
    }
    async fn observe(&self, desired: &Desired) -> Result<crate::plan::Observed> {
        match self {
            Self::Docker(d) => d.observe(desired).await,
            Self::Native(n) => n.observe(desired).await,
        }
    }
    async fn execute(&self, step: &crate::plan::Step, desired: &Desired) -> Result<()> {
        match self {
            Self::Docker(d) => d.execute(step, desired).await,
            Self::Native(n) => n.execute(step, desired).await,
        }
    }
    async fn status(&self, desired: &Desired) -> Result<Vec<ServiceStatus>> {
        match self {
            Self::Docker(d) => d.status(desired).await,
            Self::Native(n) => n.status(desired).await,
        }
    }
    async fn destroy(&self, desired: &Desired, volumes: bool) -> Result<Vec<String>> {
        match self {
            Self::Docker(d) => d.destroy(desired, volumes).await,
            Self::Native(n) => n.destroy(desired, volumes).await,
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage {
            message: format!("cannot start the async runtime: {e}"),
            help: None,
        })
}

/// A loaded, compiled stack and the target context for it.
struct Stack {
    loaded: Loaded,
    desired: Desired,
    ctx: Context,
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

fn stack(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    health_timeout: Duration,
) -> Result<Stack> {
    let (templates, loaded) = ops::load_one(project, selection)?;
    stack_of(project, &templates, loaded, target, health_timeout)
}

/// The stack's secrets: `.env`, completed from the environment for the ones the user provides.
fn secret_values(
    project: &Project,
    m: &crate::manifest::Manifest,
) -> Result<secrets::SecretValues> {
    Ok(secrets::with_environment(
        ops::secret_values(project, m)?,
        &secrets::catalog(m),
    ))
}

fn stack_of(
    project: &Project,
    templates: &crate::compile::Templates,
    loaded: Loaded,
    target: TargetKind,
    health_timeout: Duration,
) -> Result<Stack> {
    let values = secret_values(project, &loaded.manifest)?;
    stack_with(project, templates, loaded, target, health_timeout, values)
}

fn stack_with(
    project: &Project,
    templates: &crate::compile::Templates,
    loaded: Loaded,
    target: TargetKind,
    health_timeout: Duration,
    secrets: secrets::SecretValues,
) -> Result<Stack> {
    let desired = crate::compile::compile_for(&loaded, templates, &secrets, target)?;
    let generated_dir = absolute(project.generated_dir(&desired.stack));
    let ctx = Context {
        stack: desired.stack.clone(),
        generated_dir,
        manifest_path: loaded.rel_path.clone(),
        secrets,
        health_timeout,
    };
    Ok(Stack {
        loaded,
        desired,
        ctx,
    })
}

/// What `plan` found.
#[derive(Debug, Serialize)]
pub struct PlanReport {
    /// The plan.
    #[serde(flatten)]
    pub plan: Plan,
    /// terraform-style counts.
    pub summary: plan::Summary,
    /// Things the user should know (no `.env` yet, ...).
    pub notes: Vec<String>,
}

/// `plan`: observe the target and diff against the manifest. Writes nothing, changes nothing.
pub fn plan(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    prune: bool,
) -> Result<PlanReport> {
    require_available(target)?;
    let s = stack(project, selection, target, DEFAULT_HEALTH_TIMEOUT)?;
    // Every secret the plan needs is checked before anything is observed or shown.
    let notes = secrets::check_for_plan(
        &s.loaded.manifest,
        &s.loaded.rel_path,
        &display_env_path(&s),
        &s.ctx.secrets,
        target.as_str(),
    )?;
    let runner = Runner::new(target, &s, project, None)?;
    let observed = runtime()?.block_on(runner.observe(&s.desired))?;
    let plan = plan::plan(&s.desired, &observed, target.as_str(), prune);
    Ok(PlanReport {
        summary: plan.summary(),
        plan,
        notes,
    })
}

/// `generated/<stack>/.env` as users see it in messages.
fn display_env_path(s: &Stack) -> PathBuf {
    PathBuf::from(format!("generated/{}/.env", s.ctx.stack))
}

/// Where the stack's alerts go, as `status` and `plan` say it: `Some(text)` when the stack has
/// alerting.
pub fn alert_route(
    m: &crate::manifest::Manifest,
    values: &secrets::SecretValues,
) -> Option<String> {
    let alerting = m.alerting.as_ref()?;
    Some(match &alerting.slack {
        Some(slack) if values.get(&slack.webhook_url_env).is_some() => format!(
            "Slack{} (webhook from {})",
            slack
                .channel
                .as_ref()
                .map(|c| format!(" {}", c.as_str()))
                .unwrap_or_default(),
            *slack.webhook_url_env
        ),
        Some(slack) => format!(
            "nowhere to go: {} is not set (the alert rules run and show on the dashboards; no notification is sent)",
            *slack.webhook_url_env
        ),
        None => "nowhere to go: no Slack contact point in the manifest (the alert rules run and show on the dashboards)".to_string(),
    })
}

/// Options of `apply`.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Target.
    pub target: TargetKind,
    /// Delete resources the stack no longer declares.
    pub prune: bool,
    /// Wait for each service's health at most this long.
    pub health_timeout: Duration,
    /// Progress display.
    pub progress: Progress,
}

/// What `apply` did.
#[derive(Debug, Serialize)]
pub struct ApplyReport {
    /// The plan that was executed (or found empty).
    pub plan: Plan,
    /// Steps done, in order.
    pub done: Vec<ResourceId>,
    /// A previous holder of the lock that died without releasing it.
    pub stale_lock: Option<Holder>,
    /// Generated files created or updated before applying.
    pub files_written: Vec<String>,
    /// Service status after the apply.
    pub status: Vec<ServiceStatus>,
}

/// `apply`: write the generated files (refusing hand-edited ones), make sure `.env` exists,
/// take the stack's lock, check every secret the plan needs, observe, plan, show the plan and
/// the notes through `on_plan` (which returns whether to go ahead: the confirmation), then
/// execute exactly that plan.
pub fn apply(
    project: &Project,
    selection: &Selection,
    opts: &ApplyOptions,
    on_plan: &mut dyn FnMut(&Plan, &[String]) -> Result<bool>,
) -> Result<ApplyReport> {
    require_available(opts.target)?;
    let (templates, loaded) = ops::load_one(project, selection)?;
    let dir = project.generated_dir(loaded.stack());
    let (lock, previous) = StackLock::acquire(&dir, loaded.stack(), "apply")?;
    let stale_lock = match previous {
        Previous::Stale(h) => Some(h),
        Previous::Free => None,
    };
    let first = ops::compile(project, &templates, &loaded)?;
    let env_path = dir.join(".env");
    let values = secret_values(project, &loaded.manifest)?;
    secrets::check_defaults(&env_path, &values, *loaded.manifest.environment)?;
    // Secrets the user provides are checked before anything is written (generated ones are
    // generated below); the notes are shown with the plan.
    secrets::check_for_plan(
        &loaded.manifest,
        &loaded.rel_path,
        &PathBuf::from(format!("generated/{}/.env", loaded.stack())),
        &values,
        opts.target.as_str(),
    )?;
    let report = writer::write(&dir, &first.files, false)?;
    if !report.kept.is_empty() {
        return Err(Error::HandEdited {
            paths: report
                .kept
                .iter()
                .map(|f| format!("generated/{}/{f}", first.stack))
                .collect(),
        });
    }
    secrets::ensure_env(
        &env_path,
        &secrets::catalog(&loaded.manifest),
        *loaded.manifest.environment,
        secrets::os_random_hex,
    )?;
    let mut files_written: Vec<String> = report.created.into_iter().chain(report.written).collect();
    files_written.sort();
    // Compiled again with the secrets as they are now (.env completed, the environment).
    let s = stack_of(
        project,
        &templates,
        loaded,
        opts.target,
        opts.health_timeout,
    )?;
    let notes = secrets::check_for_plan(
        &s.loaded.manifest,
        &s.loaded.rel_path,
        &display_env_path(&s),
        &s.ctx.secrets,
        opts.target.as_str(),
    )?;
    let docker = Runner::new(opts.target, &s, project, Some(opts.progress.clone()))?;
    let rt = runtime()?;
    let result = rt.block_on(async {
        let observed = docker.observe(&s.desired).await?;
        let plan = plan::plan(&s.desired, &observed, opts.target.as_str(), opts.prune);
        if !on_plan(&plan, &notes)? {
            return Err(Error::usage(
                "apply cancelled; nothing was changed",
                "answer `yes` to apply, or run with --auto-approve",
            ));
        }
        if plan.is_empty() {
            return Ok((plan, Vec::new(), Vec::new()));
        }
        docker.preflight(&plan, &s.desired).await?;
        let done = targets::apply(&docker, &s.desired, &plan).await?;
        let status = docker.status(&s.desired).await?;
        Ok((plan, done, status))
    });
    drop(lock);
    let (plan, done, status) = result?;
    Ok(ApplyReport {
        plan,
        done,
        stale_lock,
        files_written,
        status,
    })
}

/// `status`: per service, what runs now.
pub fn status(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
) -> Result<Vec<ServiceStatus>> {
    status_and_alerts(project, selection, target).map(|(rows, _)| rows)
}

/// `status` with where the alerts go ([`alert_route`]).
pub fn status_and_alerts(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
) -> Result<(Vec<ServiceStatus>, Option<String>)> {
    require_available(target)?;
    let s = stack(project, selection, target, DEFAULT_HEALTH_TIMEOUT)?;
    let alerts = alert_route(&s.loaded.manifest, &s.ctx.secrets);
    let runner = Runner::new(target, &s, project, None)?;
    let rows = runtime()?.block_on(runner.status(&s.desired))?;
    Ok((rows, alerts))
}

/// What `destroy` did.
#[derive(Debug, Serialize)]
pub struct DestroyReport {
    /// Stack.
    pub stack: String,
    /// Objects removed.
    pub removed: Vec<String>,
    /// Whether volumes were kept.
    pub volumes_kept: bool,
}

/// `destroy`: remove the stack's containers and network (volumes only with `volumes`).
/// `on_preview` gets what exists now (resource ids) and returns whether to go ahead.
pub fn destroy(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    volumes: bool,
    on_preview: &mut dyn FnMut(&str, &[ResourceId]) -> Result<bool>,
) -> Result<DestroyReport> {
    require_available(target)?;
    let s = stack(project, selection, target, DEFAULT_HEALTH_TIMEOUT)?;
    let (lock, _) = StackLock::acquire(
        &project.generated_dir(s.loaded.stack()),
        s.loaded.stack(),
        "destroy",
    )?;
    let stack = s.ctx.stack.clone();
    let docker = Runner::new(target, &s, project, None)?;
    let rt = runtime()?;
    let result = rt.block_on(async {
        let observed = docker.observe(&s.desired).await?;
        let existing: Vec<ResourceId> = observed
            .resources
            .keys()
            .filter(|id| match id.kind {
                ResourceKind::Network | ResourceKind::Service => true,
                ResourceKind::Volume => volumes,
                _ => false,
            })
            .cloned()
            .collect();
        if !on_preview(&stack, &existing)? {
            return Err(Error::usage(
                "destroy cancelled; nothing was changed",
                "answer `yes` to destroy, or run with --auto-approve",
            ));
        }
        docker.destroy(&s.desired, volumes).await
    });
    drop(lock);
    Ok(DestroyReport {
        stack,
        removed: result?,
        volumes_kept: !volumes,
    })
}
