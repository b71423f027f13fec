//! `backup run | list | rotate | restore`: the stack's backup settings from its manifest and
//! `.env`, handed to [`crate::backup`].
//!
//! Owns: turning a loaded stack into [`crate::backup::Settings`].
//! May not: print, read the environment, or take or restore a backup itself.

use super::{compile, secret_values};
use crate::compile::Templates;
use crate::error::{Error, Result};
use crate::manifest::Loaded;
use crate::project::Project;
use crate::secrets;
use crate::targets::TargetKind;

/// Backup settings of a stack: its manifest, its `.env` secrets (never printed).
pub fn backup_settings(
    project: &Project,
    loaded: &Loaded,
    target: TargetKind,
) -> Result<crate::backup::Settings> {
    let m = &loaded.manifest;
    if target == TargetKind::Cloud {
        return Err(Error::usage(
            format!(
                "stack `{}` has no backups on the cloud target: InfluxDB Cloud has no API for `influxd backup` / `influx restore`, and promo-infra would back up the InfluxDB on this machine instead",
                *m.stack
            ),
            "InfluxDB Cloud keeps the bucket's data for its retention (`influxdb.retention`); backups are for the docker and native targets (`--target docker` or `--target native`); nothing was changed",
        ));
    }
    let b = m.backup.as_ref().ok_or_else(|| {
        Error::usage(
            format!("{} has no `backup:` section", loaded.rel_path),
            "add `backup: { schedule: \"0 3 * * *\", dir: backups, keep: { last: 3, daily: 7 } }`",
        )
    })?;
    let values = secret_values(project, m)?;
    Ok(crate::backup::Settings {
        stack: m.stack.to_string(),
        // Absolute: it is passed to influxd / influx, which may not share our working directory.
        dir: std::path::absolute(project.root.join(b.dir.as_str()).join(m.stack.as_str()))
            .map_err(|e| Error::io("cannot resolve", project.root.join(b.dir.as_str()), e))?,
        display_dir: format!("{}/{}", b.dir.trim_end_matches('/'), *m.stack),
        version: *m.influxdb.version,
        database: m.influxdb.bucket.to_string(),
        org: m.influxdb.org.to_string(),
        http_url: crate::compile::native::influx_url(m),
        rpc: b.influx_rpc.to_string(),
        admin_user: m.influxdb.admin_user.to_string(),
        admin_password: values
            .get(secrets::INFLUX_ADMIN_PASSWORD)
            .map(str::to_string),
        admin_password_kept: values
            .get(&secrets::pending_name(secrets::INFLUX_ADMIN_PASSWORD))
            .map(str::to_string),
        token: values.get(secrets::INFLUX_ADMIN_TOKEN).map(str::to_string),
        env_display: format!("generated/{}/.env", *m.stack),
        policy: crate::backup::rotate::Policy {
            last: *b.keep.last,
            daily: *b.keep.daily,
            weekly: *b.keep.weekly,
            monthly: *b.keep.monthly,
        },
        timeout: std::time::Duration::from_secs(6 * 3600),
        runtime: match target {
            TargetKind::Docker => crate::backup::Runtime::Docker {
                container: crate::targets::docker::labels::container_name(&m.stack, "influxdb"),
            },
            _ => crate::backup::Runtime::Host,
        },
        database_spec: None,
        secret_values: values,
        progress: crate::backup::Progress::default(),
    })
}

/// `backup run`, reporting each network step to `progress`.
pub fn backup_run(
    project: &Project,
    loaded: &Loaded,
    target: TargetKind,
    progress: crate::backup::Progress,
) -> Result<crate::backup::RunReport> {
    let mut s = backup_settings(project, loaded, target)?;
    s.progress = progress;
    crate::backup::run(&s, crate::backup::clock()?)
}

/// `backup list`.
pub fn backup_list(project: &Project, loaded: &Loaded) -> Result<Vec<crate::backup::Entry>> {
    crate::backup::list(&backup_settings(project, loaded, TargetKind::Native)?)
}

/// `backup rotate [--dry-run]`; then, on the docker target (1.x), the copies killed backups and
/// restores left in the InfluxDB container are removed (never one whose command still runs),
/// each removal reported to `progress`. A dry run removes nothing, in the container either.
pub fn backup_rotate(
    project: &Project,
    loaded: &Loaded,
    dry_run: bool,
    target: TargetKind,
    progress: crate::backup::Progress,
) -> Result<crate::backup::RotateReport> {
    let mut s = backup_settings(project, loaded, target)?;
    s.progress = progress;
    // The container first: a copy left by a killed restore is known as dead by the lock of its
    // backup's directory, which rotation may be about to remove (after which the sweep leaves
    // the copy alone: it cannot tell it from another checkout's running restore).
    if !dry_run && s.container().is_some() {
        super::deploy::runtime()?.block_on(crate::backup::leftovers::sweep_container(&s));
    }
    crate::backup::rotate_dir(&s, crate::backup::clock()?, dry_run)
}

/// `backup restore ID [--as NAME]`: the stack's database resource (with its users) goes along,
/// so the restore converges the privileges a dropped 1.x database lost. Each network step is
/// reported to `progress`.
#[allow(clippy::too_many_arguments)]
pub fn backup_restore(
    project: &Project,
    templates: &Templates,
    loaded: &Loaded,
    id: &str,
    as_name: Option<&str>,
    target: TargetKind,
    progress: crate::backup::Progress,
) -> Result<crate::backup::RestoreReport> {
    let mut s = backup_settings(project, loaded, target)?;
    s.progress = progress;
    s.database_spec = compile(project, templates, loaded)?
        .resources
        .values()
        .find_map(|r| match &r.spec {
            crate::desired::ResourceSpec::Database(d) => Some(d.clone()),
            _ => None,
        });
    crate::backup::restore(&s, id, as_name)
}
