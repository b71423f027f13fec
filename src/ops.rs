//! Operations: each CLI command is a thin wrapper over one function here. They return data;
//! printing is the CLI's job.

use std::path::{Path, PathBuf};

use crate::compile::{self, Templates};
use crate::desired::Desired;
use crate::error::{Error, Result};
use crate::lock::StackLock;
use crate::manifest::{self, Loaded, Manifest};
use crate::project::{DEFAULT_MANIFEST, Project};
use crate::secrets::{self, EnvOutcome, SecretSpec, SecretValues};
use crate::writer::{self, Stale, WriteReport};

/// `plan`, `apply`, `status`, `destroy` (targets): see [`crate::deploy`].
pub use crate::deploy::{apply, destroy, plan, status};

/// Which manifests a command acts on.
#[derive(Debug, Clone)]
pub enum Selection {
    /// The ones given with `-f`.
    Files(Vec<PathBuf>),
    /// Every `stacks/*.yaml` (validate, generate).
    AllStacks,
    /// `stacks/promo.yaml` (commands that act on one stack).
    Default,
}

/// Templates of a project (its `dashboards-src/` over the built-ins).
pub fn templates(project: &Project) -> Result<Templates> {
    Templates::load(&project.templates_dir(), "dashboards-src")
}

fn manifest_paths(project: &Project, selection: &Selection) -> Result<Vec<PathBuf>> {
    match selection {
        Selection::Files(files) if !files.is_empty() => Ok(files.clone()),
        Selection::Files(_) | Selection::Default => Ok(vec![PathBuf::from(DEFAULT_MANIFEST)]),
        Selection::AllStacks => project.all_manifests(),
    }
}

/// Load and validate the selected manifests. Every one is checked before any is used; two
/// manifests declaring the same stack name are refused.
pub fn load_all(project: &Project, selection: &Selection) -> Result<(Templates, Vec<Loaded>)> {
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

/// Result of generating one stack.
#[derive(Debug)]
pub struct Generated {
    /// Stack name.
    pub stack: String,
    /// `generated/<stack>` as displayed.
    pub dir: String,
    /// Files written, unchanged, removed, kept.
    pub report: WriteReport,
    /// What happened to `.env`.
    pub env: EnvOutcome,
}

/// `generate`: compile every selected stack, then write. Nothing is written unless every
/// manifest is valid and compiles, every `.env` is usable, every stack's lock is free and every
/// ledger is readable: all stacks are prepared (read and decided) before the first is written.
/// Each stack's lock is held while its files are written, so `generate` and `apply` never
/// interleave on one directory.
pub fn generate(project: &Project, selection: &Selection, force: bool) -> Result<Vec<Generated>> {
    let (templates, loaded) = load_all(project, selection)?;
    let compiled = loaded
        .iter()
        .map(|l| Ok((l, compile(project, &templates, l)?)))
        .collect::<Result<Vec<_>>>()?;
    // Every refusal happens before the first write (and before any lock file is created).
    let check_stack = |l: &Loaded, desired: &Desired| -> Result<writer::Prepared> {
        let path = env_path(project, &l.manifest);
        let values = secrets::read_env(&path)?.unwrap_or_default();
        secrets::check_defaults(&path, &values, *l.manifest.environment)?;
        writer::prepare(
            &project.generated_dir(&desired.stack),
            &desired.files,
            force,
        )
    };
    for (l, desired) in &compiled {
        check_stack(l, desired)?;
    }
    let mut locks = Vec::new();
    for (_, desired) in &compiled {
        let dir = project.generated_dir(&desired.stack);
        locks.push(StackLock::acquire(&dir, &desired.stack, "generate")?.0);
    }
    // Decided again under the locks: what another process did meanwhile counts.
    let prepared = compiled
        .iter()
        .map(|(l, desired)| check_stack(l, desired))
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::new();
    for ((l, desired), prepared) in compiled.into_iter().zip(prepared) {
        let dir = project.generated_dir(&desired.stack);
        let report = prepared.commit()?;
        let env = secrets::ensure_env(
            &dir.join(".env"),
            &secrets::catalog(&l.manifest),
            *l.manifest.environment,
            secrets::os_random_hex,
        )?;
        out.push(Generated {
            stack: desired.stack.clone(),
            dir: format!("generated/{}", desired.stack),
            report,
            env,
        });
    }
    drop(locks);
    Ok(out)
}

/// `generate --check`: every stale file of every selected stack, with diffs. Writes nothing.
pub fn check(project: &Project, selection: &Selection) -> Result<Vec<(String, Vec<Stale>)>> {
    let (templates, loaded) = load_all(project, selection)?;
    let mut out = Vec::new();
    for l in &loaded {
        let desired = compile(project, &templates, l)?;
        let display = format!("generated/{}", desired.stack);
        let stale = writer::check(
            &project.generated_dir(&desired.stack),
            &desired.files,
            &display,
        )?;
        out.push((display, stale));
    }
    Ok(out)
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
    /// `set in .env`, `set in environment`, or `missing`.
    pub status: &'static str,
}

/// `secrets list`: names, kinds, users and whether each is set. Never values.
pub fn secrets_list(project: &Project, loaded: &Loaded) -> Result<Vec<SecretRow>> {
    let values = secret_values(project, &loaded.manifest)?;
    Ok(secrets::catalog(&loaded.manifest)
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
        .collect())
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
    compile::dashboards::render(templates, m, d)
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

// ---------------------------------------------------------------------------------------------
// backup

/// Backup settings of a stack: its manifest, its `.env` secrets (never printed).
pub fn backup_settings(
    project: &Project,
    loaded: &Loaded,
    target: crate::targets::TargetKind,
) -> Result<crate::backup::Settings> {
    let m = &loaded.manifest;
    let b = m.backup.as_ref().ok_or_else(|| {
        Error::usage(
            format!("{} has no `backup:` section", loaded.rel_path),
            "add `backup: { schedule: \"0 3 * * *\", dir: backups, keep: { last: 3, daily: 7 } }`",
        )
    })?;
    let values = secret_values(project, m)?;
    let host = match m.influxdb.bind.as_str() {
        "0.0.0.0" => "127.0.0.1".to_string(),
        "::" => "[::1]".to_string(),
        h if h.contains(':') => format!("[{h}]"),
        h => h.to_string(),
    };
    Ok(crate::backup::Settings {
        stack: m.stack.to_string(),
        // Absolute: it is passed to influxd / influx, which may not share our working directory.
        dir: std::path::absolute(project.root.join(b.dir.as_str()).join(m.stack.as_str()))
            .map_err(|e| Error::io("cannot resolve", project.root.join(b.dir.as_str()), e))?,
        display_dir: format!("{}/{}", b.dir.trim_end_matches('/'), *m.stack),
        version: *m.influxdb.version,
        database: m.influxdb.bucket.to_string(),
        org: m.influxdb.org.to_string(),
        http_url: format!("http://{host}:{}", *m.influxdb.port),
        rpc: b.influx_rpc.to_string(),
        admin_user: m.influxdb.admin_user.to_string(),
        admin_password: values
            .get(secrets::INFLUX_ADMIN_PASSWORD)
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
            crate::targets::TargetKind::Docker => crate::backup::Runtime::Docker {
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
    target: crate::targets::TargetKind,
    progress: crate::backup::Progress,
) -> Result<crate::backup::RunReport> {
    let mut s = backup_settings(project, loaded, target)?;
    s.progress = progress;
    crate::backup::run(&s, crate::backup::clock()?)
}

/// `backup list`.
pub fn backup_list(project: &Project, loaded: &Loaded) -> Result<Vec<crate::backup::Entry>> {
    crate::backup::list(&backup_settings(
        project,
        loaded,
        crate::targets::TargetKind::Native,
    )?)
}

/// `backup rotate [--dry-run]`.
pub fn backup_rotate(
    project: &Project,
    loaded: &Loaded,
    dry_run: bool,
) -> Result<crate::backup::RotateReport> {
    let s = backup_settings(project, loaded, crate::targets::TargetKind::Native)?;
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
    target: crate::targets::TargetKind,
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
