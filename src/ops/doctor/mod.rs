//! `doctor`: the troubleshooting and production checklist, automated. Each check reads what is
//! there and says ok / warn / fail, one finding, and what to do.
//!
//! Owns: the checks and their wording. May not: change anything (no write, no restart, no API
//! call that mutates), print, read the environment but through `crate::settings`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use miette::Diagnostic;

use super::{Selection, env_path, load_one};
use crate::error::{Error, Result};
use crate::manifest::Environment;
use crate::manifest::Loaded;
use crate::project::Project;
use crate::secrets::{self, SecretValues};
use crate::targets::{ServiceStatus, TargetKind};

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
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
    /// ok / warn / fail.
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

    fn from_error(check: &str, e: &Error) -> Self {
        let fix = e.help().map(|h| h.to_string()).unwrap_or_default();
        Self::new(check, Level::Fail, e.to_string(), fix)
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

/// Run every check on the selected stack; never changes anything.
pub fn doctor(project: &Project, selection: &Selection, target: TargetKind) -> Result<Report> {
    let (_, loaded) = load_one(project, selection)?;
    let env = env_path(project, &loaded.manifest);
    let mut checks = vec![env_file(&env)];
    checks.push(secret_values(project, &loaded, &env));
    checks.extend(services(project, selection, target));
    Ok(Report {
        stack: loaded.manifest.stack.to_string(),
        checks,
    })
}

/// `.env` exists and is a private regular file.
fn env_file(path: &Path) -> Finding {
    const CHECK: &str = ".env";
    match secrets::check_env_file(path) {
        Ok(true) => {
            let mode = std::fs::metadata(path)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            Finding::new(
                CHECK,
                Level::Ok,
                format!("{} is private (mode {mode:04o})", path.display()),
                "",
            )
        }
        Ok(false) => Finding::new(
            CHECK,
            Level::Fail,
            format!("{} does not exist", path.display()),
            "run `promo-infra generate` to create it (mode 0600)",
        ),
        Err(e) => Finding::from_error(CHECK, &e),
    }
}

/// Every secret the stack uses is set, and none is a well-known default.
fn secret_values(project: &Project, loaded: &Loaded, env: &Path) -> Finding {
    const CHECK: &str = "secrets";
    let rows = match super::secrets_list(project, loaded) {
        Ok(rows) => rows,
        Err(e) => return Finding::from_error(CHECK, &e),
    };
    let missing: Vec<&str> = rows
        .iter()
        .filter(|r| r.status == "missing")
        .map(|r| r.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Finding::new(
            CHECK,
            Level::Fail,
            format!("not set: {}", missing.join(", ")),
            "run `promo-infra generate` for generated ones; export or add to .env the ones you provide (`promo-infra secrets list`)",
        );
    }
    let values = match secrets::read_env(env) {
        Ok(v) => v.unwrap_or_default(),
        Err(e) => return Finding::from_error(CHECK, &e),
    };
    let prod = *loaded.manifest.environment == Environment::Prod;
    match defaults(&values) {
        Some(name) => Finding::new(
            CHECK,
            if prod { Level::Fail } else { Level::Warn },
            format!("{name} is a well-known default password"),
            format!(
                "delete the {name} line in {} and run `promo-infra generate`, then `promo-infra apply`",
                env.display()
            ),
        ),
        None => Finding::new(
            CHECK,
            Level::Ok,
            format!("{} set, none a default", rows.len()),
            "",
        ),
    }
}

/// The first secret whose value is a well-known default.
fn defaults(values: &SecretValues) -> Option<&str> {
    values.names().find(|name| {
        values
            .get(name)
            .is_some_and(crate::secrets::is_default_password)
    })
}

/// One finding per declared service: running and healthy, with its version.
fn services(project: &Project, selection: &Selection, target: TargetKind) -> Vec<Finding> {
    match super::status_and_alerts(project, selection, target) {
        Ok((rows, _)) => rows.iter().map(service).collect(),
        Err(e) => vec![Finding::from_error("services", &e)],
    }
}

fn service(row: &ServiceStatus) -> Finding {
    let check = format!("service {}", row.service);
    let healthy = row.state == "running" && matches!(row.health.as_str(), "healthy" | "-");
    if healthy {
        Finding::new(
            check,
            Level::Ok,
            format!("running, {} ({})", row.health, row.version),
            "",
        )
    } else {
        Finding::new(
            check,
            Level::Fail,
            format!("{}, health {}", row.state, row.health),
            format!(
                "`promo-infra logs {}` to see why, then `promo-infra apply` to start it",
                row.service
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_password_is_found_by_name_whatever_its_case() {
        let v = SecretValues::from_pairs([
            ("A".to_string(), "f00d".to_string()),
            ("B".to_string(), "ChangeMe".to_string()),
        ]);
        assert_eq!(defaults(&v), Some("B"));
        let v = SecretValues::from_pairs([("A".to_string(), "f00d".to_string())]);
        assert_eq!(defaults(&v), None);
    }
}
