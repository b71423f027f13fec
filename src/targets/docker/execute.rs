//! Execute one plan step against the engine. Every step is idempotent, so an apply killed at
//! any point (SIGKILL included) can be re-run and converges: a service step first removes
//! whatever container of that service exists, then creates exactly one under its fixed name.
//!
//! Owns: creating, starting, replacing and deleting the stack's objects, one step at a time.
//! May not: print (progress lines only), read the environment, or decide what to change.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, Mount, MountType,
    NetworkCreateRequest, NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
    VolumeCreateRequest,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};

use super::engine::{is_not_found, status_of, write_error};
use super::network::Removal;
use super::observe::{list_labelled, summary_name};
use super::{DockerTarget, env_list, labels};
use crate::desired::{Desired, MountSource, Resource, ResourceKind, ResourceSpec, ServiceSpec};
use crate::error::{Error, Result};
use crate::plan::{Action, Step};
use crate::targets::{common, grafana_api};

/// Docker's health-check period during a service's start period: 250 ms.
const START_INTERVAL_NS: i64 = 250_000_000;

/// Execute one step.
pub async fn execute(t: &DockerTarget, step: &Step, desired: &Desired) -> Result<()> {
    let resource = desired.resources.get(&step.id);
    match (&step.action, resource) {
        (Action::Delete, _)
            if matches!(step.id.kind, ResourceKind::Folder | ResourceKind::Dashboard) =>
        {
            grafana_api::delete(&t.ctx, desired, &step.id).await
        }
        (Action::Delete, _) => delete(t, step).await,
        (_, None) => Err(Error::internal(format!(
            "{}: the plan refers to a resource the stack does not declare",
            step.id
        ))),
        (action, Some(r)) => match &r.spec {
            ResourceSpec::Network { name } => ensure_network(t, r, name, action).await,
            ResourceSpec::Volume { name } => ensure_volume(t, r, name).await,
            ResourceSpec::Service(s) => match action {
                Action::Start => start_service(t, s).await,
                Action::Update { changes } => reload_service(t, r, s, changes, desired).await,
                _ => create_service(t, &common::as_created(&t.ctx, r), s).await,
            },
            ResourceSpec::Database(spec) => common::apply_database(&t.ctx, desired, spec).await,
            ResourceSpec::Folder(_) | ResourceSpec::Dashboard(_) => {
                grafana_api::execute(&t.ctx, desired, step, r).await
            }
            ResourceSpec::Token(tok) => common::mint_token(&t.ctx, desired, "docker", r, tok).await,
            ResourceSpec::Process(_) | ResourceSpec::Datasource(_) | ResourceSpec::Alerting(_) => {
                Err(Error::internal(format!(
                    "{}: compiled for another target than docker",
                    r.id
                )))
            }
        },
    }
}

/// Where the in-place update of a service's container is recorded (its labels cannot change).
pub(super) fn reload_record(t: &DockerTarget, service: &str) -> std::path::PathBuf {
    t.ctx
        .generated_dir
        .join(format!(".reloaded-{service}.json"))
}

/// What [`reload_record`] holds: the container updated in place, and its content now.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct ReloadRecord {
    /// Container id (a replaced container does not inherit the record).
    pub container: String,
    /// Content hash after the update.
    pub hash: String,
    /// Canonical form after the update.
    pub canonical: serde_json::Value,
}

/// Update a service in place: its files are written, so a running Grafana re-reads them through
/// its reload API, and a stopped one is started (it reads them as it starts); then the new
/// content is recorded for the container.
async fn reload_service(
    t: &DockerTarget,
    r: &Resource,
    s: &ServiceSpec,
    changes: &[crate::plan::FieldChange],
    desired: &Desired,
) -> Result<()> {
    let name = labels::container_name(&t.ctx.stack, &s.name);
    let kinds = crate::targets::reload::kinds(changes);
    if kinds.is_empty() || !changes.iter().all(|c| r.changes_in_place(&c.path)) {
        return Err(Error::internal(format!(
            "{}: container {name} cannot be changed in place",
            r.id
        )));
    }
    let found = super::observe::inspect(t, &name).await?;
    let running = found.state.as_ref().and_then(|s| s.running) == Some(true);
    if running {
        let url = common::service_url(desired, &s.name)
            .ok_or_else(|| Error::internal(format!("{}: no published port to reload", r.id)))?;
        let user = crate::targets::reload::admin_user(&s.env);
        let password =
            common::secret(&t.ctx, crate::secrets::GRAFANA_ADMIN_PASSWORD).unwrap_or_default();
        crate::targets::reload::grafana(&url, &user, &password, &kinds).await?;
    } else {
        // A stopped container has no reload API to call: started, it reads the files it
        // mounts, which hold the change already.
        start_service(t, s).await?;
    }
    let container = found.id.unwrap_or_default();
    let record = ReloadRecord {
        container,
        hash: r.hash.clone(),
        canonical: r.canonical.clone(),
    };
    crate::writer::write_atomic(
        &reload_record(t, &s.name),
        serde_json::to_string_pretty(&record)
            .unwrap_or_default()
            .as_bytes(),
        Some(0o644),
    )
}

async fn ensure_network(t: &DockerTarget, r: &Resource, name: &str, action: &Action) -> Result<()> {
    if matches!(action, Action::Replace { .. }) {
        match t.docker.remove_network(name).await {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(write_error(
                    &format!("removing network {name}"),
                    e,
                    Some("containers still attached to it must be removed first (`promo-infra destroy`)".into()),
                ));
            }
        }
    }
    let exists = match t.docker.inspect_network(name, None).await {
        Ok(_) => true,
        Err(e) if is_not_found(&e) => false,
        Err(e) => return Err(write_error(&format!("inspecting network {name}"), e, None)),
    };
    if exists {
        return Ok(());
    }
    let request = NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".into()),
        labels: Some(labels::network(&t.ctx.stack, &r.id.name, &r.hash)),
        ..NetworkCreateRequest::default()
    };
    match t.docker.create_network(request).await {
        Ok(_) => Ok(()),
        Err(e) if status_of(&e) == Some(409) => Ok(()),
        Err(e) => Err(write_error(&format!("creating network {name}"), e, None)),
    }
}

async fn ensure_volume(t: &DockerTarget, r: &Resource, name: &str) -> Result<()> {
    // Creating an existing volume is a no-op for the engine: data is never touched.
    let request = VolumeCreateRequest {
        name: Some(name.to_string()),
        driver: Some("local".into()),
        labels: Some(labels::volume(&t.ctx.stack, &r.id.name, &r.hash)),
        ..VolumeCreateRequest::default()
    };
    t.docker
        .create_volume(request)
        .await
        .map(|_| ())
        .map_err(|e| write_error(&format!("creating volume {name}"), e, None))
}

/// Every container of a service of the stack: by compose labels (ours and docker-compose's)
/// and by our fixed name.
async fn service_containers(t: &DockerTarget, service: &str) -> Result<Vec<String>> {
    let list = list_labelled(
        t,
        vec![
            format!("{}={}", labels::PROJECT, t.ctx.stack),
            format!("{}={service}", labels::SERVICE),
        ],
        &format!("listing containers of service {service}"),
    )
    .await?;
    let mut names: Vec<String> = list.iter().map(summary_name).collect();
    let ours = labels::container_name(&t.ctx.stack, service);
    if !names.contains(&ours) {
        names.push(ours);
    }
    Ok(names)
}

/// Remove a container (stopping it), with its anonymous volumes (paths an image declares as
/// VOLUME that the stack does not mount a named volume on); named volumes are never touched.
pub(super) async fn remove_container(t: &DockerTarget, name: &str) -> Result<()> {
    match t
        .docker
        .remove_container(
            name,
            Some(
                RemoveContainerOptionsBuilder::new()
                    .force(true)
                    .v(true)
                    .build(),
            ),
        )
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        // Already being removed (a previous, killed run asked for it).
        Err(e) if status_of(&e) == Some(409) => Err(Error::transient(format!(
            "container {name} is being removed"
        ))),
        Err(e) => Err(write_error(&format!("removing container {name}"), e, None)),
    }
}

fn create_body(t: &DockerTarget, r: &Resource, s: &ServiceSpec) -> Result<ContainerCreateBody> {
    let stack = t.ctx.stack.as_str();
    let network = network_name(t, r)?;
    let secs = |s: u32| i64::from(s) * 1_000_000_000;
    let mut port_bindings = HashMap::new();
    for p in &s.ports {
        port_bindings
            .entry(format!("{}/tcp", p.container_port))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(p.host_ip.clone()),
                host_port: Some(p.host_port.to_string()),
            });
    }
    let mounts = s
        .mounts
        .iter()
        .map(|m| match &m.source {
            MountSource::Volume(v) => Mount {
                typ: Some(MountType::VOLUME),
                source: Some(labels::scoped(stack, v)),
                target: Some(m.target.clone()),
                read_only: Some(m.read_only),
                ..Mount::default()
            },
            MountSource::Generated(rel) => Mount {
                typ: Some(MountType::BIND),
                source: Some(t.ctx.generated_dir.join(rel).display().to_string()),
                target: Some(m.target.clone()),
                read_only: Some(m.read_only),
                ..Mount::default()
            },
        })
        .collect();
    Ok(ContainerCreateBody {
        image: Some(s.image.clone()),
        cmd: (!s.command.is_empty()).then(|| s.command.clone()),
        env: Some(env_list(s, &t.ctx)?),
        labels: Some(labels::container(
            stack,
            &s.name,
            &r.hash,
            &r.canonical,
            &t.ctx.generated_dir,
        )),
        exposed_ports: Some(
            s.ports
                .iter()
                .map(|p| format!("{}/tcp", p.container_port))
                .collect(),
        ),
        healthcheck: (!s.health.test.is_empty()).then(|| HealthConfig {
            test: Some(s.health.test.clone()),
            interval: Some(secs(s.health.interval_s)),
            timeout: Some(secs(s.health.timeout_s)),
            retries: Some(i64::from(s.health.retries)),
            start_period: Some(secs(s.health.start_period_s)),
            // Docker's own checks every 250 ms while the service starts (engine 25+), so its
            // health (`status`, `docker ps`, the next plan) catches up with the direct probe
            // (`ready.rs`) at once instead of one 5 s interval later.
            start_interval: Some(START_INTERVAL_NS),
        }),
        host_config: Some(HostConfig {
            port_bindings: Some(port_bindings),
            mounts: Some(mounts),
            restart_policy: Some(RestartPolicy {
                name: Some(match s.restart.as_str() {
                    "always" => RestartPolicyNameEnum::ALWAYS,
                    "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
                    "no" => RestartPolicyNameEnum::NO,
                    _ => RestartPolicyNameEnum::UNLESS_STOPPED,
                }),
                maximum_retry_count: None,
            }),
            network_mode: Some(network.clone()),
            ..HostConfig::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network,
                EndpointSettings {
                    aliases: Some(vec![s.name.clone()]),
                    ..EndpointSettings::default()
                },
            )])),
        }),
        ..ContainerCreateBody::default()
    })
}

/// The full name of the network a service joins (the network it depends on).
fn network_name(t: &DockerTarget, r: &Resource) -> Result<String> {
    r.depends_on
        .iter()
        .find(|d| d.kind == ResourceKind::Network)
        .map(|d| labels::scoped(&t.ctx.stack, &d.name))
        .ok_or_else(|| Error::internal(format!("{}: no network declared for it", r.id)))
}

async fn create_service(t: &DockerTarget, r: &Resource, s: &ServiceSpec) -> Result<()> {
    let body = create_body(t, r, s)?;
    // Like compose, create a missing bind-mount source, so the mount does not fail.
    for m in &s.mounts {
        if let MountSource::Generated(rel) = &m.source {
            let dir = t.ctx.generated_dir.join(rel);
            if !dir.exists() {
                fs_err::create_dir_all(&dir)
                    .map_err(|e| Error::io("cannot create bind-mount directory", &dir, e))?;
            }
        }
    }
    let line = t.progress.line(&s.name);
    line.set_message("replacing".to_string());
    for name in service_containers(t, &s.name).await? {
        remove_container(t, &name).await?;
    }
    let name = labels::container_name(&t.ctx.stack, &s.name);
    line.set_message("creating".to_string());
    match t
        .docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(&name).build()),
            body,
        )
        .await
    {
        Ok(_) => {}
        Err(e) if status_of(&e) == Some(409) => {
            return Err(Error::transient(format!(
                "container name {name} is still in use"
            )));
        }
        Err(e) => {
            return Err(write_error(
                &format!("creating container {name} (image {})", s.image),
                e,
                Some(format!(
                    "check the image `{}` (`docker image inspect {}`) and the mounts under {}",
                    s.image,
                    s.image,
                    t.ctx.generated_dir.display()
                )),
            ));
        }
    }
    start_and_wait(t, s, &name, line).await
}

pub(super) async fn start_service(t: &DockerTarget, s: &ServiceSpec) -> Result<()> {
    let name = labels::container_name(&t.ctx.stack, &s.name);
    let line = t.progress.line(&s.name);
    start_and_wait(t, s, &name, line).await
}

async fn start_and_wait(
    t: &DockerTarget,
    s: &ServiceSpec,
    name: &str,
    line: indicatif::ProgressBar,
) -> Result<()> {
    line.set_message("starting".to_string());
    match t.docker.start_container(name, None).await {
        Ok(()) => {}
        Err(e) if status_of(&e) == Some(304) => {}
        Err(e) => {
            line.finish_and_clear();
            return Err(write_error(
                &format!("starting container {name}"),
                e,
                Some(format!("see `docker logs {name}`")),
            ));
        }
    }
    let result = super::ready::wait_ready(t, s, name, &line).await;
    // The result lines (`✓ service.x: created`, or the error) replace the progress lines.
    line.finish_and_clear();
    result
}

async fn delete(t: &DockerTarget, step: &Step) -> Result<()> {
    let stack = t.ctx.stack.as_str();
    match step.id.kind {
        ResourceKind::Service => {
            for name in service_containers(t, &step.id.name).await? {
                remove_container(t, &name).await?;
            }
            Ok(())
        }
        ResourceKind::Network => {
            let name = labels::scoped(stack, &step.id.name);
            match super::network::remove(t, &name).await? {
                Removal::Removed | Removal::Absent => Ok(()),
                Removal::InUse(used) => Err(super::network::in_use_error(&used)),
            }
        }
        ResourceKind::Volume => {
            let name = labels::scoped(stack, &step.id.name);
            match t
                .docker
                .remove_volume(
                    &name,
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await
            {
                Ok(()) => Ok(()),
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) => Err(write_error(
                    &format!("removing volume {name}"),
                    e,
                    Some("a container still uses it; remove that container first".into()),
                )),
            }
        }
        _ => Ok(()),
    }
}
