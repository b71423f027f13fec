//! Grafana objects managed through Grafana's HTTP API — the stack's folder (stable uid), its
//! dashboards and the home-dashboard preference — for every target that runs or reaches a
//! Grafana: read for plan ([`read_stack`]), converged by apply ([`execute`], [`delete`]).
//!
//! Only what this tool made is ever observed as the stack's, so only that can be deleted: a
//! dashboard counts when it carries the marker tag [`MARKER_TAG`] *and* sits in the stack's
//! folder. A dashboard changed in Grafana since this tool last uploaded it (a UI edit) is
//! never overwritten by apply: it is refused, and `dashboards diff` / `pull` / `push --force`
//! say what to do.
//!
//! Owns: the record of the versions last uploaded (`generated/<stack>/.pushed-dashboards.json`,
//! git-ignored runtime state, shared with `dashboards push`).
//! May not: print, read the environment (secrets come from the stack's `.env`), decide (plan
//! decides).

use std::collections::BTreeMap;
use std::path::PathBuf;

use futures_util::future::try_join_all;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{Context, common};
use crate::desired::{
    DashboardSpec, Desired, FolderSpec, Resource, ResourceId, ResourceKind, ResourceSpec,
};
use crate::error::{Error, Result};
use crate::grafana::{Auth, Client};
use crate::plan::{Action, Observed, ObservedResource, Step};

pub use crate::grafana::sync::MARKER_TAG;

/// Requests in flight at once against one Grafana.
pub const CONCURRENCY: usize = 8;

/// The stack's Grafana: logged in as the stack's admin (`GRAFANA_ADMIN_PASSWORD` from `.env`),
/// or on the cloud target with the service-account token of `targets.cloud.grafana_token_env`.
pub fn client(ctx: &Context, desired: &Desired) -> Result<Client> {
    if let Some(cloud) = &desired.cloud {
        return cloud_client(ctx, cloud);
    }
    let password = common::secret(ctx, crate::secrets::GRAFANA_ADMIN_PASSWORD);
    client_with(ctx, desired, password)
}

/// Grafana Cloud, with the service-account token the manifest names. A grafana.com
/// access-policy token (`glc_…`) is refused before any request: the instance API does not
/// take it.
pub fn cloud_client(ctx: &Context, cloud: &crate::desired::CloudEndpoints) -> Result<Client> {
    let var = &cloud.grafana_token_env;
    let token = ctx.secrets.get(var).ok_or_else(|| {
        Error::usage(
            format!("{var} is not set: the cloud target needs a Grafana service-account token"),
            format!(
                "export {var}=glsa_… or add it to generated/{}/.env (Grafana Cloud: Administration → Users and access → Service accounts, role Admin)",
                ctx.stack
            ),
        )
    })?;
    if token.starts_with("glc_") {
        return Err(Error::usage(
            format!(
                "{var} holds a grafana.com access-policy token (glc_…): Grafana's instance API at {} does not accept those",
                cloud.grafana_url
            ),
            "create a service-account token (glsa_…) in that Grafana (Administration → Users and access → Service accounts, role Admin) and put it in the variable",
        ));
    }
    Client::new(
        &cloud.grafana_url,
        Auth::Token(crate::control::Secret::new(token.to_string())),
        CONCURRENCY,
    )
}

/// [`client`], or — while a rotation of the admin password is pending and Grafana already has
/// the new value (`secrets rotate` interrupted after the live change) — logged in with the
/// pending value, so a plan of that stack still reads its dashboards.
async fn login(ctx: &Context, desired: &Desired, attempts: Attempts) -> Result<Client> {
    let limited = |c: Client| match attempts {
        Attempts::Once => c.with_attempts(1),
        Attempts::Retried => c,
    };
    let primary = limited(client(ctx, desired)?);
    if desired.cloud.is_some() {
        return Ok(primary);
    }
    let pending = crate::secrets::pending_name(crate::secrets::GRAFANA_ADMIN_PASSWORD);
    let Some(pending) = ctx.secrets.get(&pending) else {
        return Ok(primary);
    };
    let (status, _) = primary.request(Method::GET, "/api/org", None).await?;
    if status == StatusCode::UNAUTHORIZED {
        return client_with(ctx, desired, Some(pending.to_string())).map(limited);
    }
    Ok(primary)
}

fn client_with(ctx: &Context, desired: &Desired, password: Option<String>) -> Result<Client> {
    let url = common::service_url(desired, "grafana").ok_or_else(|| {
        Error::usage(
            format!("stack `{}` has no Grafana reachable from here", ctx.stack),
            "dashboards need the stack's Grafana: run `promo-infra apply` first",
        )
    })?;
    let env = desired.resources.values().find_map(|r| match &r.spec {
        ResourceSpec::Service(svc) if svc.name == "grafana" => Some(&svc.env),
        ResourceSpec::Process(p) if p.name == "grafana" => Some(&p.env),
        _ => None,
    });
    let user = env.map_or_else(|| "admin".to_string(), super::reload::admin_user);
    let password = password.ok_or_else(|| {
        Error::usage(
            format!(
                "no Grafana admin password for stack `{}`: GRAFANA_ADMIN_PASSWORD is not in generated/{}/.env",
                ctx.stack, ctx.stack
            ),
            "Grafana keeps the admin password it was first started with: restore the line in .env as it was (a copy, another checkout, a password manager); only a Grafana without data yet takes a new one (`promo-infra apply` generates it)",
        )
    })?;
    Client::new(
        &url,
        Auth::Basic {
            user,
            password: crate::control::Secret::new(password),
        },
        CONCURRENCY,
    )
}

/// Where the versions last uploaded are recorded, by uid.
pub fn pushed_record(ctx: &Context) -> PathBuf {
    ctx.generated_dir.join(".pushed-dashboards.json")
}

/// The upload record; empty when missing or unreadable.
pub fn read_pushed(ctx: &Context) -> BTreeMap<String, u64> {
    std::fs::read_to_string(pushed_record(ctx))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Write the upload record, atomically.
pub fn write_pushed(ctx: &Context, record: &BTreeMap<String, u64>) -> Result<()> {
    let text = serde_json::to_string_pretty(record)
        .map_err(|e| Error::internal(format!("cannot serialise the push record: {e}")))?;
    crate::writer::write_atomic(
        &pushed_record(ctx),
        format!("{text}\n").as_bytes(),
        Some(0o644),
    )
}

/// Record `version` as the one this tool last saw or uploaded for `uid`. Read, change and
/// write happen without an await in between, so concurrent steps on one runtime do not lose
/// each other's entries.
fn remember(ctx: &Context, uid: &str, version: u64) -> Result<()> {
    let mut record = read_pushed(ctx);
    if record.get(uid) == Some(&version) {
        return Ok(());
    }
    record.insert(uid.to_string(), version);
    write_pushed(ctx, &record)
}

/// A dashboard as Grafana has it (`{dashboard, meta}`), in the terms plan compares; `None` for
/// one that file provisioning manages (Grafana refuses API saves of those; it removes them
/// once their provider is gone, and apply then uploads ours).
fn observed_dashboard(
    id: &ResourceId,
    live: &Value,
    home: Option<&str>,
) -> Option<ObservedResource> {
    if live["meta"]["provisioned"].as_bool() == Some(true) {
        return None;
    }
    let model = &live["dashboard"];
    let uid = model["uid"].as_str().unwrap_or(&id.name).to_string();
    let (settings, panels) = crate::grafana::digest::digest(model);
    let spec = DashboardSpec {
        title: model["title"].as_str().unwrap_or_default().to_string(),
        folder_uid: live["meta"]["folderUid"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        home: home == Some(uid.as_str()),
        uid,
        settings,
        panels,
        file: String::new(),
    };
    Some(ObservedResource::found(id, ResourceSpec::Dashboard(spec)))
}

fn tagged_ours(live: &Value, folder: &str) -> bool {
    live["meta"]["folderUid"].as_str() == Some(folder)
        && live["dashboard"]["tags"]
            .as_array()
            .is_some_and(|tags| tags.iter().any(|t| t.as_str() == Some(MARKER_TAG)))
}

/// How a read of what a service holds ([`read_stack`]: Grafana's;
/// [`super::common::read_databases`]: InfluxDB's) treats a request that fails on the network, a
/// 429 or a 5xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempts {
    /// Retried with backoff, each retry a warning: the service is known to run.
    Retried,
    /// One attempt, silent: a read made on speculation (the service may not run), done again
    /// with [`Attempts::Retried`] if it failed and the service turns out to run.
    Once,
}

/// What a target adds to its observed state when Grafana runs: the stack's folder, its
/// dashboards and the home preference (nothing when the stack has no folder). Dashboards the
/// stack no longer declares are observed only when they carry [`MARKER_TAG`] in the stack's
/// folder, so a prune never reaches another's dashboard.
pub async fn read_stack(
    ctx: &Context,
    desired: &Desired,
    attempts: Attempts,
) -> Result<Vec<ObservedResource>> {
    if !has_folder(desired) {
        return Ok(Vec::new());
    }
    let grafana = login(ctx, desired, attempts).await?;
    read(&grafana, desired).await
}

fn has_folder(desired: &Desired) -> bool {
    desired
        .resources
        .keys()
        .any(|id| id.kind == ResourceKind::Folder)
}

/// Grafana's version of each declared dashboard found, by uid: what a plan read, so an apply
/// right after it saves against that version without reading the dashboard again.
pub type Versions = BTreeMap<String, u64>;

/// What [`read_stack`] finds, read through `grafana` (any target's Grafana, any login).
pub async fn read(grafana: &Client, desired: &Desired) -> Result<Vec<ObservedResource>> {
    read_versions(grafana, desired)
        .await
        .map(|(found, _)| found)
}

/// [`read`], and the versions of the declared dashboards it found.
pub async fn read_versions(
    grafana: &Client,
    desired: &Desired,
) -> Result<(Vec<ObservedResource>, Versions)> {
    let mut observed_out = Observed::default();
    let mut versions = Versions::new();
    let folder = desired.folder().map(|(id, f)| (id.clone(), f.clone()));
    let Some((
        folder_id,
        FolderSpec {
            uid: folder_uid, ..
        },
    )) = folder
    else {
        return Ok((Vec::new(), versions));
    };
    let wanted: Vec<&ResourceId> = desired
        .resources
        .keys()
        .filter(|id| id.kind == ResourceKind::Dashboard)
        .collect();
    let (folder, home, tagged, live) = futures_util::try_join!(
        grafana.folder(&folder_uid),
        grafana.home_dashboard(),
        grafana.dashboards_tagged(MARKER_TAG),
        try_join_all(wanted.iter().map(|id| grafana.dashboard_answer(&id.name))),
    )?;
    if let Some(f) = folder {
        let spec = FolderSpec {
            uid: f["uid"].as_str().unwrap_or(&folder_uid).to_string(),
            title: f["title"].as_str().unwrap_or_default().to_string(),
        };
        observed_out.resources.insert(
            folder_id.clone(),
            ObservedResource::found(&folder_id, ResourceSpec::Folder(spec)),
        );
    }
    for (id, live) in wanted.iter().zip(&live) {
        if let Some(o) = live
            .as_ref()
            .and_then(|l| observed_dashboard(id, l, home.as_deref()))
        {
            observed_out.resources.insert((*id).clone(), o);
            if let Some(v) = live
                .as_ref()
                .and_then(|l| l["dashboard"]["version"].as_u64())
            {
                versions.insert(id.name.clone(), v);
            }
        }
    }
    // A check's read (part of the stack) does not sweep: the other dashboards are the stack's.
    let undeclared: Vec<&String> = tagged
        .iter()
        .filter(|uid| !desired.partial && !wanted.iter().any(|id| &id.name == *uid))
        .collect();
    let others = try_join_all(undeclared.iter().map(|uid| grafana.dashboard_answer(uid))).await?;
    for (uid, live) in undeclared.into_iter().zip(others) {
        let id = ResourceId::new(ResourceKind::Dashboard, uid.clone());
        if let Some(o) = live
            .filter(|l| tagged_ours(l, &folder_uid))
            .and_then(|l| observed_dashboard(&id, &l, home.as_deref()))
        {
            observed_out.resources.insert(id, o);
        }
    }
    Ok((observed_out.resources.into_values().collect(), versions))
}

/// Create or converge the folder or dashboard of `step` (a resource of this module's kinds).
pub async fn execute(ctx: &Context, desired: &Desired, step: &Step, r: &Resource) -> Result<()> {
    if step.action == Action::Delete {
        return delete(ctx, desired, &step.id).await;
    }
    let grafana = login(ctx, desired, Attempts::Retried).await?;
    execute_with(&grafana, ctx, desired, step, r, None).await
}

/// [`execute`] through `grafana` (any target's Grafana, any login). With `observed`, the
/// versions the plan just read ([`read_versions`]), a dashboard is saved against its version
/// without being read again.
pub async fn execute_with(
    grafana: &Client,
    ctx: &Context,
    desired: &Desired,
    step: &Step,
    r: &Resource,
    observed: Option<&Versions>,
) -> Result<()> {
    if step.action == Action::Delete {
        return delete_with(grafana, ctx, &step.id).await;
    }
    match &r.spec {
        ResourceSpec::Folder(f) => ensure_folder(grafana, f).await,
        ResourceSpec::Dashboard(d) => upload(ctx, desired, grafana, d, step, observed).await,
        other => Err(Error::internal(format!(
            "{}: not a Grafana API object ({other:?})",
            step.id
        ))),
    }
}

async fn ensure_folder(grafana: &Client, f: &FolderSpec) -> Result<()> {
    match grafana.folder(&f.uid).await? {
        None => grafana.create_folder(&f.uid, &f.title).await,
        Some(live) if live["title"].as_str() == Some(f.title.as_str()) => Ok(()),
        Some(_) => grafana.retitle_folder(&f.uid, &f.title).await,
    }
}

/// Upload the generated dashboard `d` unless Grafana already has it; refuse when Grafana's
/// copy changed since this tool last uploaded it. Then set or clear the home preference.
async fn upload(
    ctx: &Context,
    desired: &Desired,
    grafana: &Client,
    d: &DashboardSpec,
    step: &Step,
    observed: Option<&Versions>,
) -> Result<()> {
    let ours: Value = desired
        .files
        .get(&d.file)
        .and_then(|f| serde_json::from_slice(f.bytes()).ok())
        .ok_or_else(|| {
            Error::internal(format!(
                "dashboard `{}`: {} was not compiled",
                d.uid, d.file
            ))
        })?;
    let record_version = read_pushed(ctx).get(&d.uid).copied();
    let synced = match observed {
        Some(versions) => {
            crate::grafana::sync::push_observed(
                grafana,
                &d.folder_uid,
                &d.uid,
                &ours,
                record_version,
                versions.get(&d.uid).copied(),
            )
            .await?
        }
        None => {
            crate::grafana::sync::push_one(
                grafana,
                &d.folder_uid,
                (&d.uid, &ours),
                record_version,
                false,
                crate::grafana::sync::APPLY_MESSAGE,
            )
            .await?
        }
    };
    remember(ctx, &d.uid, synced.version)?;
    // The home dashboard's own step sets the preference; the one that was home clears it only
    // when no declared dashboard is home any more (steps run concurrently: two steps never
    // write the preference for one change). Only a step whose plan changes `home` (or creates
    // the home dashboard) reads it: plan read the preference already.
    let home_changes = match &step.action {
        Action::Update { changes } | Action::Replace { changes } => {
            changes.iter().any(|c| c.path == "home")
        }
        Action::Create | Action::Start => d.home,
        Action::Delete | Action::Check { .. } => false,
    };
    let any_home = desired
        .resources
        .values()
        .any(|r| matches!(&r.spec, ResourceSpec::Dashboard(x) if x.home));
    if !home_changes || (!d.home && any_home) {
        return Ok(());
    }
    let home = grafana.home_dashboard().await?;
    let wanted = if d.home {
        Some(d.uid.as_str())
    } else if home.as_deref() == Some(d.uid.as_str()) {
        Some("")
    } else {
        None
    };
    match wanted {
        Some(uid) if home.as_deref().unwrap_or("") != uid => grafana.set_home_dashboard(uid).await,
        _ => Ok(()),
    }
}

/// Delete the dashboard `id` (only ever planned for one [`read_stack`] found as the stack's).
pub async fn delete(ctx: &Context, desired: &Desired, id: &ResourceId) -> Result<()> {
    if id.kind != ResourceKind::Dashboard {
        return Ok(());
    }
    let grafana = login(ctx, desired, Attempts::Retried).await?;
    delete_with(&grafana, ctx, id).await
}

/// [`delete`] through `grafana`.
pub async fn delete_with(grafana: &Client, ctx: &Context, id: &ResourceId) -> Result<()> {
    if id.kind != ResourceKind::Dashboard {
        return Ok(());
    }
    match grafana.dashboard(&id.name).await? {
        None => Ok(()),
        Some(_) => {
            grafana.delete_dashboard(&id.name).await?;
            let mut record = read_pushed(ctx);
            if record.remove(&id.name).is_some() {
                write_pushed(ctx, &record)?;
            }
            Ok(())
        }
    }
}

/// Delete the folder `uid` when nothing is left in it (no dashboard of anyone's); a folder
/// holding another's dashboard stays. Returns whether it was deleted.
pub async fn delete_folder_if_empty(grafana: &Client, uid: &str) -> Result<bool> {
    if grafana.folder(uid).await?.is_none() {
        return Ok(false);
    }
    let seg = percent_encoding::utf8_percent_encode(uid, percent_encoding::NON_ALPHANUMERIC);
    let inside = grafana
        .ok(Method::GET, &format!("/api/search?folderUIDs={seg}"), None)
        .await?;
    if let Some(items) = inside.as_array().filter(|a| !a.is_empty()) {
        let names: Vec<String> = items
            .iter()
            .map(|d| {
                let title = d["title"].as_str().unwrap_or_default();
                match d["uid"].as_str() {
                    Some(uid) => format!("`{title}` ({uid})"),
                    None => format!("`{title}`"),
                }
            })
            .collect();
        tracing::warn!(
            "folder.{uid}: kept: it holds what this stack did not make ({}); move or delete {} in Grafana, and the next destroy removes the folder",
            names.join(", "),
            if names.len() == 1 { "it" } else { "them" }
        );
        return Ok(false);
    }
    grafana
        .ok(Method::DELETE, &format!("/api/folders/{seg}"), None)
        .await?;
    Ok(true)
}
