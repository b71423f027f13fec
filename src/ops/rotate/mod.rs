//! `secrets rotate NAME`: change one generated secret in `.env` and in the running stack, in an
//! order that never loses the only value a service accepts (see [`rotate`]).
//!
//! Owns: the live change per secret (InfluxDB users and tokens, Grafana's admin password) and
//! the rotation's crash-safe order.
//! May not: print, read the environment, or contain per-target code (targets are reached through
//! [`super::deploy::Stack::target`]).

mod running;

use std::time::Duration;

use serde::Serialize;

use super::Selection;
use super::deploy::{ApplyOptions, Stack, runtime, secret_values};
use crate::desired::{Desired, ResourceId};
use crate::error::{Error, Result};
use crate::lock::StackLock;
use crate::plan::{self, Plan};
use crate::project::Project;
use crate::secrets;
use crate::targets::{self, Progress, ServiceStatus, common};

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

fn influx_endpoint(desired: &Desired) -> Result<crate::influx::Endpoint> {
    common::influx_endpoint(desired)
        .ok_or_else(|| Error::internal("the stack declares no InfluxDB service"))
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
                Err(Error::influx(format!(
                    "InfluxDB at {} does not accept the token kept by the interrupted rotation",
                    ep.url
                ))
                .with_help(format!(
                    "remove the {} line from .env and rotate again (INFLUXDB_ADMIN_TOKEN still holds the old token)",
                    secrets::pending_name(secrets::INFLUX_ADMIN_TOKEN)
                )))
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
            let url = common::service_url(&s.desired, "grafana")
                .ok_or_else(|| Error::internal("the stack declares no Grafana service"))?;
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
        .map_err(|e| Error::internal(format!("cannot build an HTTP client: {e}")))?;
    let endpoint = format!("{url}/api/user/password");
    let transport = |e: reqwest::Error| {
        Error::grafana(format!("Grafana at {endpoint}: {}", e.without_url()))
            .with_help("check that the stack runs (`promo-infra status`); .env was not changed")
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
    Err(Error::grafana(format!(
        "Grafana at {endpoint} refused the password change for `{user}`: HTTP {status} {}",
        body.trim()
    ))
    .with_help(format!(
        "Grafana no longer accepts GRAFANA_ADMIN_PASSWORD from .env for `{user}` (changed in its UI?): set it back, or reset it with `grafana cli admin reset-admin-password`; .env was not changed"
    )))
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
    /// Said before the question (the control API could not tell whether a test runs).
    pub warnings: Vec<String>,
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
/// 1. checks: a secret of this stack that can be rotated, `.env` sound, no running test it
///    would break (the control API is asked: [`running`]), the stack converged
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
    if opts.target == targets::TargetKind::Cloud {
        return Err(Error::usage(
            "`secrets rotate` changes secrets of the services promo-infra runs (docker, native); the cloud target runs none",
            "rotate the Grafana Cloud / InfluxDB Cloud tokens where they are issued and update the variables; the InfluxDB tokens apply minted are replaced by deleting their line from .env and applying",
        ));
    }
    let (templates, loaded) = super::load_one(project, selection)?;
    let m = loaded.manifest.clone();
    let catalog = secrets::catalog(&m);
    if secrets::minted(&m).iter().any(|(n, _)| *n == name) {
        return Err(Error::usage(
            format!("{name} cannot be rotated: InfluxDB draws it when apply mints it"),
            format!(
                "to replace it, delete its line from generated/{}/.env and run `promo-infra apply`: a new token is minted, the old one deleted, and what uses it restarted; nothing was changed",
                *m.stack
            ),
        ));
    }
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
    let rt = runtime()?;
    // A test running on the stack that the rotation would break: refused before anything.
    let warnings = rt
        .block_on(running::refuse_during_a_test(&m, name, &stored))?
        .into_iter()
        .collect();
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
    let now = Stack::new(
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
    let preview_stack = Stack::new(
        project,
        &templates,
        loaded.clone(),
        opts.target,
        opts.health_timeout,
        preview_values,
    )?;
    let observed = rt.block_on(now.target(Progress::hidden())?.observe(&now.desired))?;
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
        warnings,
        plan: plan::plan(&preview_stack.desired, &observed, target, false),
    };
    if !on_preview(&preview)? {
        return Err(Error::usage(
            "rotation cancelled; nothing was changed",
            "answer `yes` to rotate, or run with --auto-approve",
        ));
    }
    let keep_help = |e: Error| {
        add_help(
            e,
            &format!(
                "the new value is kept in generated/{}/.env as {}: `promo-infra secrets rotate {name}` again resumes with it",
                *m.stack,
                secrets::pending_name(name)
            ),
        )
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
    let next = Stack::new(
        project,
        &templates,
        loaded,
        opts.target,
        opts.health_timeout,
        new_values,
    )?;
    let steps = plan::plan(&next.desired, &observed, target, false);
    let runner = next.target(opts.progress.clone())?;
    let result = rt.block_on(async {
        let (done, status) = next.execute(runner.as_ref(), &steps, &opts.interrupt).await?;
        let done: Vec<ResourceId> = done.into_iter().map(|d| d.id).collect();
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
    let (done, status, warnings) = result.map_err(|e: Error| {
        add_help(
            e,
            &format!(
                "{name} was changed and saved in .env: `promo-infra apply` restarts the services that still use the old value"
            ),
        )
    })?;
    Ok(RotateReport {
        preview,
        done,
        status,
        warnings,
    })
}

/// A target's error (docker, native, InfluxDB, Grafana) with `extra` appended to its advice:
/// what the interrupted rotation left and how to resume. Other errors are returned unchanged.
fn add_help(e: Error, extra: &str) -> Error {
    let current = match &e {
        Error::Docker { help, .. }
        | Error::Native { help, .. }
        | Error::Influx { help, .. }
        | Error::Grafana { help, .. } => help.clone(),
        _ => return e,
    };
    let advice = format!(
        "{}; {extra}",
        current.unwrap_or_else(|| "fix the cause".into())
    );
    e.with_help(advice)
}
