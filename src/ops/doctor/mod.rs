//! `doctor`: the troubleshooting and production checklist, automated. Each check reads what is
//! there and says ok / warn / fail (or skipped, when what it needs is broken), one finding, and
//! what to do. Checks that do not depend on each other run concurrently, each bounded by
//! [`CHECK_TIMEOUT`]; the report's order is fixed.
//!
//! Owns: the order of the checks, their context, and the report's shape (`--json`,
//! `format_version` of [`crate::cli`]'s versioned output). The checks live in the sub-modules:
//! `local` (`.env`, secrets, engine/binaries, ports), `live` (services, datasource, data, clock),
//! `grants`, `backups`, `disk`, `prod`.
//! May not: change anything (no write, no restart, no API call that mutates), print, read the
//! environment but through `crate::settings`.

use std::path::PathBuf;
use std::time::Duration;

use miette::Diagnostic;

use super::{Selection, env_path, load_one};
use crate::error::{Error, Result};
use crate::manifest::Loaded;
use crate::project::Project;
use crate::secrets::SecretValues;
use crate::targets::{ServiceStatus, TargetKind};

mod backups;
mod disk;
mod grants;
mod live;
mod local;
mod prod;
mod run;

/// How long one check may take before it is reported as not answering.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Not run: what it needs is broken (reported by the check it needs).
    Skipped,
    /// Nothing to do.
    Ok,
    /// Works, but should be looked at.
    Warn,
    /// Broken: `doctor` exits 1.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// Which check (stable name, deterministic order).
    pub check: String,
    /// ok / warn / fail / skipped.
    pub level: Level,
    /// What was found, one line.
    pub finding: String,
    /// What to do; empty when ok.
    pub fix: String,
}

impl Finding {
    fn new(
        check: impl Into<String>,
        level: Level,
        finding: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            check: check.into(),
            level,
            finding: finding.into(),
            fix: fix.into(),
        }
    }

    fn ok(check: impl Into<String>, finding: impl Into<String>) -> Self {
        Self::new(check, Level::Ok, finding, "")
    }

    fn from_error(check: impl Into<String>, e: &Error) -> Self {
        let fix = e.help().map(|h| h.to_string()).unwrap_or_default();
        Self::new(check, Level::Fail, e.to_string(), fix)
    }

    /// [`Self::from_error`] of a check that asks InfluxDB: an error without help of its own (a
    /// 5xx, a 429, no answer) gets the help its outcome calls for ([`crate::influx::help_for`]).
    fn from_influx_error(check: impl Into<String>, e: &Error) -> Self {
        let mut finding = Self::from_error(check, e);
        if finding.fix.is_empty() && e.outcome().is_some() {
            finding.fix = crate::influx::help_for(e.outcome()).to_string();
        }
        finding
    }

    fn skipped(check: impl Into<String>, needs: &str) -> Self {
        Self::new(
            check,
            Level::Skipped,
            format!("skipped (needs {needs})"),
            "",
        )
    }
}

/// The doctor's report for one stack.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// The stack examined.
    pub stack: String,
    /// One finding per check, in a fixed order.
    pub checks: Vec<Finding>,
}

impl Report {
    /// Worst level found.
    pub fn worst(&self) -> Level {
        self.checks
            .iter()
            .map(|c| c.level)
            .max()
            .unwrap_or(Level::Ok)
    }
}

/// What every check may read: the stack, its target, and its secrets when `.env` is readable.
#[derive(Debug, Clone)]
struct Ctx {
    project: Project,
    loaded: Loaded,
    target: TargetKind,
    env: PathBuf,
    /// `None` when `.env` could not be read (the `.env` line says why).
    values: Option<SecretValues>,
    /// The services whose line fails because they do not answer: the checks that ask one are
    /// skipped. Empty when the services' status is unknown (each check then says what it got).
    down: Vec<String>,
    /// The failing line every service needs (the Docker engine): the checks that ask a
    /// service are skipped, naming it, instead of each failing on its connection error.
    outage: Option<&'static str>,
}

impl Ctx {
    /// The skip line of `check` when one of the `services` it asks is down, or what they all
    /// need fails.
    fn needs(&self, check: &str, services: &[&str]) -> Option<Finding> {
        if let Some(outage) = self.outage {
            return Some(Finding::skipped(check, &outage_reason(outage)));
        }
        let down: Vec<&str> = services
            .iter()
            .copied()
            .filter(|s| self.down.iter().any(|d| d == s))
            .collect();
        let why = match down.as_slice() {
            [] => return None,
            [one] => format!("{one}, which is down: see its service line"),
            [many @ .., last] => format!(
                "{} and {last}, which are down: see their service lines",
                many.join(", ")
            ),
        };
        Some(Finding::skipped(check, &why))
    }

    /// [`Ctx::needs`] of a check that asks each of `services` in turn and needs only one to
    /// answer: skipped when every one is down.
    fn needs_one_of(&self, check: &str, services: &[&str]) -> Option<Finding> {
        if self.outage.is_some() || services.iter().all(|s| self.down.iter().any(|d| d == s)) {
            return self.needs(check, services);
        }
        None
    }
}

/// A check of this machine (its binaries, ports, services, backups, disks), on the cloud
/// target: not run (the stack's services are Grafana Cloud's and InfluxDB Cloud's, which the
/// services lines check).
fn not_on_cloud(check: &str) -> Finding {
    Finding::new(
        check,
        Level::Skipped,
        "skipped (checks this machine: not on the cloud target)",
        "",
    )
}

/// Why a check is skipped while `outage` (the line every service needs) fails.
fn outage_reason(outage: &str) -> String {
    format!("the {outage}, which fails: see its line")
}

/// Run every check on the selected stack; never changes anything.
pub fn doctor(project: &Project, selection: &Selection, target: TargetKind) -> Result<Report> {
    let (_, loaded) = load_one(project, selection)?;
    let env = env_path(project, &loaded.manifest);
    let (env_line, values) = local::env_file(&env);
    let mut ctx = Ctx {
        project: project.clone(),
        loaded,
        target,
        env,
        values,
        down: Vec::new(),
        outage: None,
    };
    let mut checks = vec![env_line, local::secret_values(&ctx)];
    let engine = if target == TargetKind::Cloud {
        vec![not_on_cloud(local::engine_name(target))]
    } else {
        run::bounded(local::engine_name(target), CHECK_TIMEOUT, {
            let ctx = ctx.clone();
            move || local::engine(&ctx)
        })
        .unwrap_or_else(|timed_out| vec![timed_out])
    };
    // Docker's status comes from the engine; the native target's from its pid files, which
    // missing binaries do not hide.
    let engine_ok = target != TargetKind::Docker || engine.iter().all(|f| f.level != Level::Fail);
    checks.extend(engine);
    if !engine_ok {
        ctx.outage = Some(local::engine_name(target));
    }
    let rows = services(&ctx, selection, &mut checks);
    ctx.down = rows
        .iter()
        .flatten()
        .filter(|row| live::down(row, target))
        .map(|row| row.service.clone())
        .collect();
    // A check that reads only the context, on its own copy of it.
    let on_ctx = |name: &str, f: fn(&Ctx) -> Vec<Finding>| {
        let ctx = ctx.clone();
        run::check(name, move || f(&ctx))
    };
    let independent: Vec<run::Check> = vec![
        run::check("ports", {
            let (ctx, rows) = (ctx.clone(), rows.clone());
            move || local::ports(&ctx, rows.as_deref())
        }),
        on_ctx(live::DATASOURCE, |c| vec![live::datasource(c)]),
        on_ctx(grants::CHECK, |c| vec![grants::grants(c)]),
        on_ctx(live::DATA, |c| vec![live::data(c)]),
        on_ctx(live::CLOCK, |c| vec![live::clock(c)]),
        on_ctx(backups::CHECK, |c| vec![backups::backups(c)]),
        on_ctx("disk", disk::disk),
        on_ctx(prod::CHECK, prod::prod),
    ];
    if target == TargetKind::Cloud {
        // Each asks this machine (its ports, its services' URLs, its backups and data disks):
        // none is run on the cloud target.
        checks.extend(independent.iter().map(|c| not_on_cloud(c.name())));
    } else {
        checks.extend(run::concurrently(independent, CHECK_TIMEOUT));
    }
    Ok(Report {
        stack: ctx.loaded.manifest.stack.to_string(),
        checks,
    })
}

/// One finding per declared service (running and healthy, with its version); the rows, for
/// the checks that need to know what runs.
fn services(
    ctx: &Ctx,
    selection: &Selection,
    checks: &mut Vec<Finding>,
) -> Option<Vec<ServiceStatus>> {
    const CHECK: &str = "services";
    if ctx.values.is_none() {
        checks.push(Finding::skipped(CHECK, ".env"));
        return None;
    }
    if let Some(outage) = ctx.outage {
        checks.push(Finding::skipped(CHECK, &outage_reason(outage)));
        return None;
    }
    let (project, selection, target) = (ctx.project.clone(), selection.clone(), ctx.target);
    let answer = run::bounded(CHECK, CHECK_TIMEOUT, move || {
        super::status_and_alerts(&project, &selection, target)
    });
    match answer {
        Ok(Ok(report)) => {
            let rows = report.services;
            checks.extend(rows.iter().map(|row| live::service(row, target)));
            Some(rows)
        }
        Ok(Err(e)) => {
            checks.push(Finding::from_error(CHECK, &e));
            None
        }
        Err(timed_out) => {
            checks.push(timed_out);
            None
        }
    }
}
