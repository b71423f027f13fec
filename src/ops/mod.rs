//! Operations: each CLI command is a thin wrapper over one function here. They return data;
//! printing is the CLI's job.
//!
//! Owns: loading the selected manifests ([`Selection`], [`load_all`], [`load_one`]), the small
//! read-only operations (secrets list, dashboard render, schema), and the command modules:
//! [`generate`], [`deploy`] (plan/apply/status/destroy), [`rotate`], [`backup`], [`services`]
//! (output, logs, restart).
//! May not: print, read the environment, or contain per-target code.
//!
//! Dependencies go one way: `mod.rs` ← `generate`, `deploy` ← `rotate`; `backup` uses `mod.rs`.

/// The version of every versioned `--json` format (`plan`, `status`, `output`): within a major
/// version, fields are only added (README "JSON output").
pub const FORMAT_VERSION: &str = "1.0";

pub mod backup;
pub mod dashboards;
pub mod deploy;
pub mod doctor;
pub mod generate;
pub mod ports;
pub mod rotate;
pub mod services;

use std::path::{Path, PathBuf};

use crate::compile::{self, Templates};
use crate::desired::Desired;
use crate::error::{Error, Result};
use crate::manifest::{self, Loaded, Manifest};
use crate::project::Project;
use crate::secrets::{self, SecretSpec, SecretValues};
use crate::writer;

pub use backup::{backup_list, backup_restore, backup_rotate, backup_run, backup_settings};
pub use deploy::{
    ApplyOptions, ApplyReport, DEFAULT_HEALTH_TIMEOUT, DestroyPreview, DestroyReport, PlanReport,
    SavedPlan, StatusReport, alert_route, applied_target, apply, destroy, plan, plan_and_save,
    status, status_and_alerts,
};
pub use generate::{Generated, check, generate};
pub use rotate::{RotatePreview, RotateReport, rotate};
pub use services::{LogsOptions, Outputs, Restarted, logs, output, restart};

/// Which manifests a command acts on.
#[derive(Debug, Clone)]
pub enum Selection {
    /// The ones given with `-f`.
    Files(Vec<PathBuf>),
    /// Every `stacks/*.yaml` (validate, generate).
    AllStacks,
    /// `stacks/promo.yaml`, else the only stack file (commands that act on one stack;
    /// [`Project::default_manifest`]).
    Default,
}

/// Templates of a project (its `dashboards-src/` over the built-ins), without the render cache.
pub fn templates(project: &Project) -> Result<Templates> {
    Templates::load(&project.templates_dir(), "dashboards-src")
}

fn manifest_paths(project: &Project, selection: &Selection) -> Result<Vec<PathBuf>> {
    match selection {
        Selection::Files(files) if !files.is_empty() => Ok(files.clone()),
        Selection::Files(_) | Selection::Default => Ok(vec![project.default_manifest()?]),
        Selection::AllStacks => project.all_manifests(),
    }
}

/// Load and validate the selected manifests. Every one is checked before any is used; two
/// manifests declaring the same stack name are refused.
pub fn load_all(project: &Project, selection: &Selection) -> Result<(Templates, Vec<Loaded>)> {
    let (templates, loaded) = load_all_writing_nothing(project, selection)?;
    let cache = crate::compile::dashboard_cache::dir(&project.root);
    Ok((templates.with_render_cache(cache), loaded))
}

/// [`load_all`] for the commands that promise to write nothing (`validate`, `generate
/// --check`): the templates render without the render cache, which would be written.
pub fn load_all_writing_nothing(
    project: &Project,
    selection: &Selection,
) -> Result<(Templates, Vec<Loaded>)> {
    let templates = templates(project)?;
    let names = templates.names();
    let mut loaded: Vec<Loaded> = Vec::new();
    for path in manifest_paths(project, selection)? {
        let l = manifest::load(&project.root, &path, &names)?;
        if let Some(other) = loaded.iter().find(|o| o.stack() == l.stack()) {
            return Err(Error::usage(
                format!(
                    "{} and {} both declare `stack: {}`",
                    other.rel_path,
                    l.rel_path,
                    l.stack()
                ),
                "each manifest needs its own stack name: it names the generated/ directory and the containers",
            ));
        }
        loaded.push(l);
    }
    Ok((templates, loaded))
}

/// Load exactly one manifest (commands that act on one stack).
pub fn load_one(project: &Project, selection: &Selection) -> Result<(Templates, Loaded)> {
    let (templates, mut all) = load_all(project, selection)?;
    if all.len() != 1 {
        return Err(Error::usage(
            "this command acts on one stack, several manifests were given",
            "pass a single -f FILE",
        ));
    }
    Ok((templates, all.remove(0)))
}

/// Path of a stack's `.env`.
pub fn env_path(project: &Project, m: &Manifest) -> PathBuf {
    project.generated_dir(&m.stack).join(".env")
}

/// Secrets of a stack as currently stored (empty when `.env` does not exist yet).
pub fn secret_values(project: &Project, m: &Manifest) -> Result<SecretValues> {
    Ok(secrets::read_env(&env_path(project, m))?.unwrap_or_default())
}

/// Compile one loaded manifest with its current secrets.
pub fn compile(project: &Project, templates: &Templates, loaded: &Loaded) -> Result<Desired> {
    let values = secret_values(project, &loaded.manifest)?;
    let desired = compile::compile(loaded, templates, &values)?;
    tracing::debug!(
        stack = %desired.stack,
        files = desired.files.len(),
        resources = desired.resources.len(),
        "compiled {}",
        loaded.rel_path
    );
    Ok(desired)
}

/// One row of `secrets list`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SecretRow {
    /// Variable name.
    pub name: String,
    /// Generated or external.
    pub kind: &'static str,
    /// Where it is used.
    pub used_by: Vec<&'static str>,
    /// `set in .env`, `set in environment`, `missing`, or `not minted yet (apply)`.
    pub status: &'static str,
}

/// `secrets list`: names, kinds, users and whether each is set. Never values.
pub fn secrets_list(project: &Project, loaded: &Loaded) -> Result<Vec<SecretRow>> {
    let values = secret_values(project, &loaded.manifest)?;
    let minted = secrets::minted(&loaded.manifest)
        .into_iter()
        .map(|(name, used_by)| SecretRow {
            name: name.to_string(),
            kind: "minted by apply (InfluxDB token)",
            used_by,
            status: if values.get(name).is_some() {
                "set in .env"
            } else {
                "not minted yet (apply)"
            },
        });
    let mut rows: Vec<SecretRow> = secrets::catalog(&loaded.manifest)
        .into_iter()
        .map(
            |SecretSpec {
                 name,
                 kind,
                 used_by,
             }| {
                let status = if values.get(&name).is_some() {
                    "set in .env"
                } else if secrets::env_var(&name).is_some() {
                    "set in environment"
                } else {
                    "missing"
                };
                SecretRow {
                    name,
                    kind: kind.describe(),
                    used_by,
                    status,
                }
            },
        )
        .chain(minted)
        .collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(rows)
}

/// `dashboards render UID`: the final JSON of one dashboard.
pub fn render_dashboard(loaded: &Loaded, templates: &Templates, uid: &str) -> Result<String> {
    let m = &loaded.manifest;
    let d = m
        .dashboards
        .iter()
        .find(|d| d.uid.as_str() == uid)
        .ok_or_else(|| {
            let uids: Vec<&str> = m.dashboards.iter().map(|d| d.uid.as_str()).collect();
            Error::usage(
                format!("{} has no dashboard with uid `{uid}`", loaded.rel_path),
                format!("dashboards in this stack: {}", uids.join(", ")),
            )
        })?;
    compile::dashboards::render_final(templates, m, d)
}

/// The manifest's JSON Schema, pretty-printed with a trailing newline.
pub fn schema() -> String {
    let schema = manifest::json_schema(&Templates::builtin().names());
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// Check or write the schema file at `path`. Returns whether it was up to date.
pub fn schema_file(path: &Path, check: bool) -> Result<bool> {
    let want = schema();
    let have = fs_err::read_to_string(path).ok();
    if have.as_deref() == Some(want.as_str()) {
        return Ok(true);
    }
    if !check {
        writer::write_atomic(path, want.as_bytes(), None)?;
    }
    Ok(false)
}
