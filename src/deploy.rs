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
    /// Where the stack's alerts go ([`alert_route`]).
    pub alerts: Option<String>,
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
        alerts: alert_route(&s.loaded.manifest, &s.ctx.secrets),
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

/// How one secret is changed in the running stack (before the services that read it restart).
#[derive(Debug, Clone, PartialEq, Eq)]
enum LiveChange {
    /// InfluxDB 1.x `SET PASSWORD FOR user`, as the admin user.
    InfluxUser {
        /// The user whose password changes.
        user: String,
        /// Whether it is the admin user itself (then it authenticates with the old password).
        admin: bool,
    },
    /// Grafana's `PUT /api/user/password` as the admin user.
    GrafanaAdmin,
    /// InfluxDB 2.x: a new authorization with the old one's permissions (InfluxDB draws the
    /// token), the old one deleted once the services use the new one.
    InfluxToken,
    /// Nothing to change live: the services read it at start, the restart applies it.
    RestartOnly,
}

impl LiveChange {
    fn describe(&self, m: &crate::manifest::Manifest) -> String {
        match self {
            Self::InfluxUser { user, .. } => format!(
                "InfluxDB: SET PASSWORD FOR \"{user}\" (as \"{}\")",
                *m.influxdb.admin_user
            ),
            Self::GrafanaAdmin => format!(
                "Grafana: change the password of \"{}\" through its API (PUT /api/user/password)",
                *m.grafana.admin_user
            ),
            Self::InfluxToken => "InfluxDB 2: a new authorization with the permissions of the current token (InfluxDB draws the value); the old one is deleted after the restart".into(),
            Self::RestartOnly => {
                "none: the services read it when they start, the restart below applies it".into()
            }
        }
    }
}

fn live_change(m: &crate::manifest::Manifest, spec: &secrets::SecretSpec) -> Result<LiveChange> {
    use crate::compile::services::{INFLUX_V1_READ_USER, INFLUX_V1_WRITE_USER};
    let v1 = *m.influxdb.version == 1;
    let refuse = |why: &str| {
        Err(Error::usage(
            format!("{} cannot be rotated: {why}", spec.name),
            "nothing was changed; see the README section \"Secrets\"",
        ))
    };
    if spec.kind == secrets::SecretKind::External {
        return Err(secrets::provided_by_you(&spec.name));
    }
    Ok(match spec.name.as_str() {
        secrets::INFLUX_ADMIN_PASSWORD if v1 => LiveChange::InfluxUser {
            user: m.influxdb.admin_user.to_string(),
            admin: true,
        },
        secrets::INFLUX_V1_READ_PASSWORD => LiveChange::InfluxUser {
            user: INFLUX_V1_READ_USER.into(),
            admin: false,
        },
        secrets::INFLUX_V1_WRITE_PASSWORD => LiveChange::InfluxUser {
            user: INFLUX_V1_WRITE_USER.into(),
            admin: false,
        },
        secrets::GRAFANA_ADMIN_PASSWORD => LiveChange::GrafanaAdmin,
        secrets::INFLUX_ADMIN_TOKEN if !v1 => LiveChange::InfluxToken,
        secrets::CONTROL_API_TOKEN | secrets::CONTROL_API_STOP_PASSWORD => LiveChange::RestartOnly,
        secrets::GRAFANA_SECRET_KEY => {
            return refuse(
                "it encrypts the datasource secrets stored in Grafana's database, which a new key cannot decrypt",
            );
        }
        _ => {
            return refuse(
                "rotating the InfluxDB 2 admin password live is not implemented yet (its token can be rotated)",
            );
        }
    })
}

/// The host URL of a service the target runs (docker: its published port; native: its URL).
fn service_url(desired: &Desired, name: &str) -> Option<String> {
    desired.resources.values().find_map(|r| match &r.spec {
        crate::desired::ResourceSpec::Service(s) if s.name == name => {
            let p = s.ports.first()?;
            let host = if p.host_ip.is_empty() || p.host_ip == "0.0.0.0" {
                "127.0.0.1"
            } else {
                p.host_ip.as_str()
            };
            Some(format!("http://{host}:{}", p.host_port))
        }
        crate::desired::ResourceSpec::Process(p) if p.name == name => {
            Some(p.url.trim_end_matches('/').to_string())
        }
        _ => None,
    })
}

fn influx_endpoint(desired: &Desired) -> Result<crate::influx::Endpoint> {
    let url = service_url(desired, "influxdb").ok_or_else(|| Error::Target {
        message: "the stack declares no InfluxDB service".into(),
        help: None,
    })?;
    Ok(crate::influx::Endpoint { url })
}

async fn apply_live(change: &LiveChange, s: &Stack, old: &str, new: &str) -> Result<()> {
    let m = &s.loaded.manifest;
    match change {
        LiveChange::RestartOnly => Ok(()),
        // Created before `.env` is written (the value comes from InfluxDB); resuming: the kept
        // token must work.
        LiveChange::InfluxToken => {
            let ep = influx_endpoint(&s.desired)?;
            if crate::influx::token_works(&ep, new).await {
                Ok(())
            } else {
                Err(Error::Target {
                    message: format!(
                        "InfluxDB at {} does not accept the token kept by the interrupted rotation",
                        ep.url
                    ),
                    help: Some(format!(
                        "remove the {} line from .env and rotate again (INFLUXDB_ADMIN_TOKEN still holds the old token)",
                        secrets::pending_name(secrets::INFLUX_ADMIN_TOKEN)
                    )),
                })
            }
        }
        LiveChange::InfluxUser { user, admin } => {
            let ep = influx_endpoint(&s.desired)?;
            let admin_user = m.influxdb.admin_user.as_str();
            let admin_pw = if *admin {
                old.to_string()
            } else {
                s.ctx
                    .secrets
                    .get(secrets::INFLUX_ADMIN_PASSWORD)
                    .unwrap_or_default()
                    .to_string()
            };
            match crate::influx::set_password(&ep, (admin_user, &admin_pw), user, new).await {
                Ok(()) => Ok(()),
                // An interrupted rotation of the admin password already set the new one.
                Err(_) if *admin && crate::influx::accepts(&ep, admin_user, new).await => Ok(()),
                Err(e) => Err(e),
            }
        }
        LiveChange::GrafanaAdmin => {
            let url = service_url(&s.desired, "grafana").ok_or_else(|| Error::Target {
                message: "the stack declares no Grafana service".into(),
                help: None,
            })?;
            grafana_password(&url, m.grafana.admin_user.as_str(), old, new).await
        }
    }
}

/// Change Grafana's admin password through `PUT /api/user/password` (what Grafana's UI and
/// `grafana cli admin reset-admin-password` change: the user stored in Grafana's database,
/// which `GF_SECURITY_ADMIN_PASSWORD` no longer sets after the first start).
async fn grafana_password(url: &str, user: &str, old: &str, new: &str) -> Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| Error::Target {
            message: format!("cannot build an HTTP client: {e}"),
            help: None,
        })?;
    let endpoint = format!("{url}/api/user/password");
    let transport = |e: reqwest::Error| Error::Target {
        message: format!("Grafana at {endpoint}: {}", e.without_url()),
        help: Some("check that the stack runs (`promo-infra status`); .env was not changed".into()),
    };
    let resp = http
        .put(&endpoint)
        .basic_auth(user, Some(old))
        .json(&serde_json::json!({ "oldPassword": old, "newPassword": new, "confirmNew": new }))
        .send()
        .await
        .map_err(transport)?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    // An interrupted rotation may have changed it already: the new password is accepted.
    let already = http
        .get(format!("{url}/api/org"))
        .basic_auth(user, Some(new))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    if already {
        return Ok(());
    }
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(200).collect();
    Err(Error::Target {
        message: format!(
            "Grafana at {endpoint} refused the password change for `{user}`: HTTP {status} {}",
            body.trim()
        ),
        help: Some(format!(
            "Grafana no longer accepts GRAFANA_ADMIN_PASSWORD from .env for `{user}` (changed in its UI?): set it back, or reset it with `grafana cli admin reset-admin-password`; .env was not changed"
        )),
    })
}

/// What `secrets rotate NAME` will do, shown before the confirmation.
#[derive(Debug, Serialize)]
pub struct RotatePreview {
    /// The secret.
    pub name: String,
    /// The change made in the running stack before anything restarts.
    pub live_change: String,
    /// Resuming an interrupted rotation (its new value was kept in `.env`).
    pub resumed: bool,
    /// The restarts: the plan of the stack with the new value.
    pub plan: Plan,
}

/// What `secrets rotate NAME` did.
#[derive(Debug, Serialize)]
pub struct RotateReport {
    /// What was planned.
    pub preview: RotatePreview,
    /// Steps done.
    pub done: Vec<ResourceId>,
    /// Service status after the restarts.
    pub status: Vec<ServiceStatus>,
    /// What is left to do by hand (an old InfluxDB token that could not be deleted).
    pub warnings: Vec<String>,
}

/// `secrets rotate NAME`: rotate one generated secret and apply it to the running stack.
///
/// Order, so that a crash at any point never loses the only value a service accepts:
/// 1. checks: a secret of this stack that can be rotated, `.env` sound, the stack converged
///    (no pending change), the plan with the new value (the services that restart) shown and
///    confirmed through `on_preview`;
/// 2. the new value is written to `.env` as `PROMO_INFRA_ROTATING_<NAME>` beside the current one
///    (atomic write, fsync);
/// 3. the live change (InfluxDB `SET PASSWORD`, Grafana's API; idempotent: a new value already
///    in place is recognised);
/// 4. `.env` gets `NAME=<new>` and loses the pending line (one atomic write);
/// 5. the services that read the secret are recreated with it (the plan of step 1).
///
/// A crash between 2 and 4 leaves both values in `.env`: `secrets rotate NAME` again resumes
/// with the kept value. A crash after 4: `promo-infra apply` restarts the services.
///
/// InfluxDB 2's token is drawn by InfluxDB, so steps 2 and 3 swap: the new authorization is
/// created first (the old one keeps working; a crash then leaves an unused authorization, never
/// a lost token), its token kept as the pending line, then 4 and 5, and the old authorization is
/// deleted last, once the restarted services use the new token.
pub fn rotate(
    project: &Project,
    selection: &Selection,
    name: &str,
    opts: &ApplyOptions,
    on_preview: &mut dyn FnMut(&RotatePreview) -> Result<bool>,
) -> Result<RotateReport> {
    require_available(opts.target)?;
    let (templates, loaded) = ops::load_one(project, selection)?;
    let m = loaded.manifest.clone();
    let catalog = secrets::catalog(&m);
    let Some(spec) = catalog.iter().find(|s| s.name == name) else {
        let names: Vec<&str> = catalog.iter().map(|s| s.name.as_str()).collect();
        return Err(Error::usage(
            format!(
                "`{name}` is not a secret of stack `{}` ({})",
                *m.stack, loaded.rel_path
            ),
            format!(
                "its secrets: {} (`promo-infra secrets list`); nothing was changed",
                names.join(", ")
            ),
        ));
    };
    let change = live_change(&m, spec)?;
    let dir = project.generated_dir(loaded.stack());
    let env_path = dir.join(".env");
    let (lock, _) = StackLock::acquire(&dir, loaded.stack(), "secrets rotate")?;
    let stored = secrets::read_env(&env_path)?.ok_or_else(|| {
        Error::usage(
            format!("generated/{}/.env does not exist yet", *m.stack),
            "run `promo-infra apply` first (it generates the secrets); nothing was changed",
        )
    })?;
    let old = stored.get(name).map(str::to_string).ok_or_else(|| {
        Error::usage(
            format!("{name} is not set in generated/{}/.env", *m.stack),
            "run `promo-infra apply` (it generates the missing secrets); nothing was changed",
        )
    })?;
    let pending = stored.get(&secrets::pending_name(name)).map(str::to_string);
    let resumed = pending.is_some();
    // InfluxDB 2 draws its tokens: the value is known once the authorization exists.
    let server_drawn = change == LiveChange::InfluxToken && !resumed;
    let new = match pending {
        Some(p) => p,
        None if server_drawn => String::new(),
        None => secrets::new_value(spec, secrets::os_random_hex)?,
    };
    let values = secret_values(project, &m)?;
    let now = stack_with(
        project,
        &templates,
        loaded.clone(),
        opts.target,
        opts.health_timeout,
        values.clone(),
    )?;
    // The preview's plan only needs the secret's fingerprint to change.
    let mut preview_values = values.clone();
    preview_values.set(
        name,
        if server_drawn {
            format!("{old}-rotated")
        } else {
            new.clone()
        },
    );
    let preview_stack = stack_with(
        project,
        &templates,
        loaded.clone(),
        opts.target,
        opts.health_timeout,
        preview_values,
    )?;
    let rt = runtime()?;
    let runner_now = Runner::new(opts.target, &now, project, None)?;
    let observed = rt.block_on(runner_now.observe(&now.desired))?;
    let target = opts.target.as_str();
    let pending_changes = plan::plan(&now.desired, &observed, target, false);
    if !pending_changes.is_empty() {
        return Err(Error::usage(
            format!(
                "stack `{}` has {} pending change(s) that are not part of the rotation (or is not running)",
                *m.stack,
                pending_changes.steps.len()
            ),
            "run `promo-infra plan` / `promo-infra apply` first, then rotate; nothing was changed",
        ));
    }
    let preview = RotatePreview {
        name: name.to_string(),
        live_change: change.describe(&m),
        resumed,
        plan: plan::plan(&preview_stack.desired, &observed, target, false),
    };
    if !on_preview(&preview)? {
        return Err(Error::usage(
            "rotation cancelled; nothing was changed",
            "answer `yes` to rotate, or run with --auto-approve",
        ));
    }
    let keep_help = |e: Error| match e {
        Error::Target { message, help } => Error::Target {
            message,
            help: Some(format!(
                "{}; the new value is kept in generated/{}/.env as {}: `promo-infra secrets rotate {name}` again resumes with it",
                help.unwrap_or_else(|| "fix the cause".into()),
                *m.stack,
                secrets::pending_name(name)
            )),
        },
        other => other,
    };
    let new = if server_drawn {
        let ep = influx_endpoint(&now.desired)?;
        let token = rt.block_on(crate::influx::create_token_like(&ep, &old))?;
        secrets::write_pending(&env_path, name, &token)?;
        token
    } else {
        secrets::write_pending(&env_path, name, &new)?;
        rt.block_on(apply_live(&change, &now, &old, &new))
            .map_err(keep_help)?;
        new
    };
    secrets::commit_pending(&env_path, name)?;
    // The stack with the new value as it is now in .env: its fingerprints label the containers.
    let mut new_values = values;
    new_values.set(name, new.clone());
    let next = stack_with(
        project,
        &templates,
        loaded,
        opts.target,
        opts.health_timeout,
        new_values,
    )?;
    let steps = plan::plan(&next.desired, &observed, target, false);
    let runner = Runner::new(opts.target, &next, project, Some(opts.progress.clone()))?;
    let result = rt.block_on(async {
        if !steps.is_empty() {
            runner.preflight(&steps, &next.desired).await?;
        }
        let done = targets::apply(&runner, &next.desired, &steps).await?;
        let status = runner.status(&next.desired).await?;
        let mut warnings = Vec::new();
        if change == LiveChange::InfluxToken
            && let Ok(ep) = influx_endpoint(&next.desired)
            && let Err(e) = crate::influx::delete_token(&ep, &new, &old).await
        {
            warnings.push(format!(
                "the previous InfluxDB token is still valid ({e}); delete it with `influx auth list` / `influx auth delete`"
            ));
        }
        Ok((done, status, warnings))
    });
    drop(lock);
    let (done, status, warnings) = result.map_err(|e: Error| match e {
        Error::Target { message, help } => Error::Target {
            message,
            help: Some(format!(
                "{}; {name} was changed and saved in .env: `promo-infra apply` restarts the services that still use the old value",
                help.unwrap_or_else(|| "fix the cause".into())
            )),
        },
        other => other,
    })?;
    Ok(RotateReport {
        preview,
        done,
        status,
        warnings,
    })
}
