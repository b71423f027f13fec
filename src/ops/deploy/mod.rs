//! The runtime commands — `plan`, `apply`, `status`, `destroy` — as library operations over a
//! target. They return data; the CLI prints it and asks for confirmation through callbacks.
//!
//! Owns: the order of a runtime command (load, compile, lock, observe, plan, confirm, apply) and
//! the [`Stack`] the other operations ([`super::rotate`]) build on.
//! May not: print, read the environment, or contain per-target code: every target is reached
//! through [`targets::for_kind`] and the [`Target`] trait.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::Selection;
use crate::desired::Desired;
use crate::error::{Error, Result};
use crate::lock::{Holder, Previous, StackLock};
use crate::manifest::Loaded;
use crate::plan::{self, Plan};
use crate::project::Project;
use crate::secrets;
use crate::targets::{
    self, Context, Interrupt, Place, Progress, ServiceStatus, Target, TargetKind,
};
use crate::writer;

/// Default wait for a service to become healthy.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(180);

/// The async runtime of one command (current thread: targets' futures are not `Send`).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::internal(format!("cannot start the async runtime: {e}")))
}

/// A loaded stack compiled for one target, with the target's context.
pub(crate) struct Stack {
    pub(crate) loaded: Loaded,
    pub(crate) desired: Desired,
    pub(crate) ctx: Context,
    kind: TargetKind,
    project_dir: PathBuf,
}

impl Stack {
    /// Load the selected manifest and compile it for `kind` with its current secrets.
    pub(crate) fn load(
        project: &Project,
        selection: &Selection,
        kind: TargetKind,
        health_timeout: Duration,
    ) -> Result<Self> {
        let (templates, loaded) = super::load_one(project, selection)?;
        let values = secret_values(project, &loaded.manifest)?;
        Self::new(project, &templates, loaded, kind, health_timeout, values)
    }

    /// Compile `loaded` for `kind` with these secret values.
    pub(crate) fn new(
        project: &Project,
        templates: &crate::compile::Templates,
        loaded: Loaded,
        kind: TargetKind,
        health_timeout: Duration,
        secrets: secrets::SecretValues,
    ) -> Result<Self> {
        let desired = crate::compile::compile_for(&loaded, templates, &secrets, kind)?;
        let ctx = Context {
            stack: desired.stack.clone(),
            generated_dir: absolute(project.generated_dir(&desired.stack)),
            manifest_path: loaded.rel_path.clone(),
            secrets,
            health_timeout,
        };
        Ok(Self {
            loaded,
            desired,
            ctx,
            kind,
            project_dir: absolute(project.root.clone()),
        })
    }

    /// The target the stack runs on, showing waits on `progress`.
    pub(crate) fn target(&self, progress: Progress) -> Result<Box<dyn Target>> {
        let place = Place {
            project_dir: self.project_dir.clone(),
            native_data_dir: crate::compile::native::data_dir(&self.loaded.manifest),
            progress,
        };
        targets::for_kind(self.kind, self.ctx.clone(), &place)
    }

    /// Execute `plan` on `target` (after the target's preflight, when the plan has steps), then
    /// read the services' status. Once `interrupt` is requested, the steps in flight finish and
    /// no other starts ([`targets::apply_until`]); a preflight still running (image pulls) is
    /// dropped, before any step started.
    pub(crate) async fn execute(
        &self,
        target: &dyn Target,
        plan: &Plan,
        interrupt: &Interrupt,
    ) -> Result<(Vec<targets::Done>, Vec<ServiceStatus>)> {
        if !plan.is_empty() {
            tokio::select! {
                biased;
                checked = target.preflight(plan, &self.desired) => checked?,
                () = interrupt.wait() => {}
            }
        }
        let done = targets::apply_until(target, &self.desired, plan, interrupt).await?;
        let status = target.status(&self.desired).await?;
        Ok((done, status))
    }
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

/// The stack's secrets: `.env`, completed from the environment for the ones the user provides.
pub(crate) fn secret_values(
    project: &Project,
    m: &crate::manifest::Manifest,
) -> Result<secrets::SecretValues> {
    Ok(secrets::with_environment(
        super::secret_values(project, m)?,
        &secrets::catalog(m),
    ))
}

/// `generated/<stack>/.env` as users see it in messages.
fn env_display(stack: &str) -> PathBuf {
    PathBuf::from(format!("generated/{stack}/.env"))
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
    /// Generated files `apply` writes (creates, updates or removes) before it executes the plan,
    /// as `generated/<stack>/<file>`: the cron file and units of a new `backup:` section change
    /// no resource, yet apply changes them.
    pub files_to_write: Vec<String>,
    /// Generated files edited by hand (`generated/<stack>/<file>`): apply refuses while they
    /// are, so `plan` shows the plan and then fails ([`PlanReport::refused`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hand_edited: Vec<String>,
}

impl PlanReport {
    /// Why `apply` would refuse this plan, when it would: `plan` fails after showing it, so a
    /// `plan --detailed-exitcode` gate never passes what apply then refuses.
    pub fn refused(&self) -> Option<Error> {
        (!self.hand_edited.is_empty()).then(|| {
            Error::usage(
                format!(
                    "apply refuses this plan: {}",
                    Error::HandEdited {
                        paths: self.hand_edited.clone()
                    }
                ),
                "move the change into the manifest or a template in dashboards-src/, then run `promo-infra generate --force` (it overwrites them) and plan again",
            )
        })
    }
}

/// `plan`: observe the target and diff against the manifest. Writes nothing, changes nothing.
pub fn plan(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    prune: bool,
) -> Result<PlanReport> {
    plan_and_save(project, selection, target, prune, None)
}

/// [`plan`], and with `out`, save it there for `apply FILE` ([`SavedPlan`]): the only file
/// written. A saved plan needs every generated secret already in `.env` (apply would otherwise
/// generate new ones, and the plan would not be what runs).
pub fn plan_and_save(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
    prune: bool,
    out: Option<&Path>,
) -> Result<PlanReport> {
    let s = Stack::load(project, selection, target, DEFAULT_HEALTH_TIMEOUT)?;
    // Every secret the plan needs is checked before anything is observed or shown.
    let notes = s.check_secrets()?;
    // Decided as apply decides them, reading only; a file edited by hand makes apply refuse.
    let written = writer::prepare(&s.ctx.generated_dir, &s.desired.files, false)?;
    let report = written.report();
    let hand_edited: Vec<String> = report
        .kept
        .iter()
        .map(|f| format!("generated/{}/{f}", s.desired.stack))
        .collect();
    if out.is_some() && !hand_edited.is_empty() {
        // Never saved: `apply FILE` would refuse it.
        return Err(Error::HandEdited { paths: hand_edited });
    }
    let t = s.target(Progress::hidden())?;
    let observed = runtime()?.block_on(t.observe(&s.desired))?;
    env_guard::refuse(&s, &observed, |n| s.ctx.secrets.get(n).is_none())?;
    if out.is_some() {
        s.require_complete_env()?;
    }
    let raw = plan::plan(&s.desired, &observed, target.as_str(), prune);
    if let Some(out) = out {
        let rel = PathBuf::from(&s.loaded.rel_path);
        SavedPlan::new(&s.desired, &observed, &rel, target, prune, &raw)?.write(out)?;
    }
    let plan = plan::with_files(
        raw,
        &s.desired,
        applied::read(&s.ctx.generated_dir, target).as_ref(),
    );
    let files_to_write = [&report.created, &report.written, &report.removed]
        .into_iter()
        .flatten()
        .map(|f| format!("generated/{}/{f}", s.desired.stack))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(PlanReport {
        summary: plan.summary(),
        plan,
        notes,
        files_to_write,
        hand_edited,
    })
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
    /// `apply FILE`: the saved plan and its path; only exactly that plan is applied.
    pub saved: Option<(PathBuf, SavedPlan)>,
    /// Asked (on Ctrl-C) to stop between steps: the steps in flight finish, no other starts,
    /// and apply fails with [`Error::Interrupted`] naming what was done and what was not.
    pub interrupt: Interrupt,
}

/// What `apply` did.
#[derive(Debug, Serialize)]
pub struct ApplyReport {
    /// The plan that was executed (or found empty).
    pub plan: Plan,
    /// What was done to each resource, in order (a check: what its read called for).
    pub done: Vec<targets::Done>,
    /// A previous holder of the lock that died without releasing it.
    pub stale_lock: Option<Holder>,
    /// Generated files created or updated before applying.
    pub files_written: Vec<String>,
    /// Service status after the apply.
    pub status: Vec<ServiceStatus>,
    /// Where the stack's alerts go ([`alert_route`]).
    pub alerts: Option<String>,
}

/// `apply`: take the stack's lock, compile, refuse hand-edited generated files, decide which
/// generated files and which `.env` secrets would be written (reading only), observe, plan, and
/// show the plan and the notes through `on_plan` (which returns whether to go ahead: the
/// confirmation). Nothing is written before that answer — not `generated/`, not `.env`: a
/// cancelled apply leaves the project as it was (but for the stack's empty lock file). Then write the files and `.env`, and execute
/// exactly that plan.
pub fn apply(
    project: &Project,
    selection: &Selection,
    opts: &ApplyOptions,
    on_plan: &mut dyn FnMut(&Plan, &[String]) -> Result<bool>,
) -> Result<ApplyReport> {
    let (templates, loaded) = super::load_one(project, selection)?;
    let dir = project.generated_dir(loaded.stack());
    // The lock file is the one thing taken before the answer (empty, git-ignored, never
    // removed: see `crate::lock`).
    let (lock, previous) = StackLock::acquire(&dir, loaded.stack(), "apply")?;
    let result = apply_locked(project, &templates, loaded, opts, on_plan);
    drop(lock);
    let mut report = result?;
    report.stale_lock = match previous {
        Previous::Stale(h) => Some(h),
        Previous::Free => None,
    };
    Ok(report)
}

/// Whether the target's services listen on this host (docker through a local socket, native).
fn engine_is_local(kind: TargetKind) -> bool {
    match kind {
        TargetKind::Docker => targets::docker::docker_host().starts_with("unix://"),
        TargetKind::Native => true,
        TargetKind::Cloud => false,
    }
}

/// [`apply`] with the lock held.
fn apply_locked(
    project: &Project,
    templates: &crate::compile::Templates,
    loaded: Loaded,
    opts: &ApplyOptions,
    on_plan: &mut dyn FnMut(&Plan, &[String]) -> Result<bool>,
) -> Result<ApplyReport> {
    let dir = project.generated_dir(loaded.stack());
    let env_path = dir.join(".env");
    let values = secret_values(project, &loaded.manifest)?;
    secrets::check_defaults(&env_path, &values, *loaded.manifest.environment)?;
    // Secrets the user provides are checked before anything else (generated ones are decided
    // below); the notes are shown with the plan.
    secrets::check_for_plan(
        &loaded.manifest,
        &loaded.rel_path,
        &env_display(loaded.stack()),
        &values,
        opts.target.as_str(),
    )?;
    let catalog = secrets::catalog(&loaded.manifest);
    let env = secrets::prepare_env(
        &env_path,
        &catalog,
        *loaded.manifest.environment,
        secrets::os_random_hex,
    )?;
    let on = (opts.target, opts.health_timeout);
    env_guard::refuse_before_generating(
        project,
        templates,
        &loaded,
        on,
        values,
        &env.outcome().added,
    )?;
    // Compiled once, with the secrets as they will be once `.env` is completed: the values
    // feed only the resources' fingerprints, so these are also the files to write.
    let values = secrets::with_environment(env.values().clone(), &catalog);
    let s = Stack::new(
        project,
        templates,
        loaded,
        opts.target,
        opts.health_timeout,
        values,
    )?;
    let files = writer::prepare(&dir, &s.desired.files, false)?;
    if !files.report().kept.is_empty() {
        return Err(Error::HandEdited {
            paths: files
                .report()
                .kept
                .iter()
                .map(|f| format!("generated/{}/{f}", s.desired.stack))
                .collect(),
        });
    }
    let notes = s.check_secrets()?;
    let target = s.target(opts.progress.clone())?;
    let rt = runtime()?;
    let observed = rt.block_on(target.observe(&s.desired))?;
    let plan = plan::with_files(
        plan::plan(&s.desired, &observed, opts.target.as_str(), opts.prune),
        &s.desired,
        applied::read(&dir, opts.target).as_ref(),
    );
    if let Some((file, saved)) = &opts.saved {
        saved.check(file, &s.desired, &observed, &plan)?;
    }
    if !on_plan(&plan, &notes)? {
        return Err(Error::usage(
            "apply cancelled; nothing was changed",
            "answer `yes` to apply, or run with --auto-approve",
        ));
    }
    // Every host port the plan binds, before anything is written or changed. An engine
    // elsewhere (DOCKER_HOST=tcp://…) binds ports on its own host: not checkable from here.
    if engine_is_local(opts.target) {
        super::ports::check(
            &super::ports::wanted(&plan, &s.desired, &observed, &s.loaded.manifest),
            &s.loaded,
        )?;
    }
    let written = files.commit()?;
    env.commit()?;
    let mut files_written: Vec<String> =
        written.created.into_iter().chain(written.written).collect();
    files_written.sort();
    let (done, status) = if plan.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        rt.block_on(s.execute(target.as_ref(), &plan, &opts.interrupt))?
    };
    // Every resource now runs what was planned: what it was built from is the record the next
    // plan diffs against.
    applied::write(&dir, opts.target, &plan::Applied::record(&s.desired))?;
    Ok(ApplyReport {
        plan,
        done,
        stale_lock: None,
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
    status_and_alerts(project, selection, target).map(|r| r.services)
}

/// What `status` shows: which stack, from which file, on which target; its services; where
/// its alerts go.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// The stack's name.
    pub stack: String,
    /// Its manifest, relative to the project (`stacks/promo.yaml`).
    pub manifest: String,
    /// The target asked.
    pub target: TargetKind,
    /// One row per declared service.
    pub services: Vec<ServiceStatus>,
    /// Where alerts go ([`alert_route`]), when the stack has alerting.
    pub alerts: Option<String>,
}

/// `status` with the stack it is of and where the alerts go ([`alert_route`]).
pub fn status_and_alerts(
    project: &Project,
    selection: &Selection,
    target: TargetKind,
) -> Result<StatusReport> {
    let s = Stack::load(project, selection, target, DEFAULT_HEALTH_TIMEOUT)?;
    let alerts = alert_route(&s.loaded.manifest, &s.ctx.secrets);
    let t = s.target(Progress::hidden())?;
    let services = runtime()?.block_on(t.status(&s.desired))?;
    Ok(StatusReport {
        stack: s.desired.stack.clone(),
        manifest: s.loaded.rel_path.clone(),
        target,
        services,
        alerts,
    })
}

mod applied;
pub use applied::applied_target;
mod destroy;
pub(crate) mod env_guard;
pub use destroy::{DestroyPreview, DestroyReport, destroy};
mod saved;
pub use saved::SavedPlan;
#[cfg(test)]
mod tests;
