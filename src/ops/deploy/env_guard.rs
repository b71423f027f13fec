//! What `plan` and `apply` check of the stack's `.env` before they show or change anything:
//! the secrets the user provides are there ([`Stack::check_secrets`]); a saved plan's are all
//! there ([`Stack::require_complete_env`]); and none is generated over data made with a value
//! that was lost ([`refuse`]). A stack whose `.env` was lost while its data was kept: apply
//! would generate new values for the secrets that data was made with (InfluxDB's admin,
//! Grafana's admin and secret key), and the new values do not open it. `plan` and `apply`
//! refuse before anything is generated, naming what still holds the data and how to get back.
//!
//! Owns: those refusals. May not: print, write, or read anything but what it is given.

use std::collections::BTreeSet;

use super::{Stack, env_display};
use crate::desired::{MountSource, ResourceId, ResourceKind, ResourceSpec};
use crate::error::{Error, Result};
use crate::plan::Observed;
use crate::secrets::{self, KEPT_IN_DATA};

impl Stack {
    /// Refuse when `apply` would still generate a secret into `.env` (none is written here).
    pub(super) fn require_complete_env(&self) -> Result<()> {
        let env = secrets::prepare_env(
            &self.ctx.generated_dir.join(".env"),
            &secrets::catalog(&self.loaded.manifest),
            *self.loaded.manifest.environment,
            secrets::os_random_hex,
        )?;
        let outcome = env.outcome();
        if outcome.created || !outcome.added.is_empty() {
            return Err(Error::usage(
                format!(
                    "cannot save a plan of stack `{}`: {} has no value yet for {}; apply would generate {}, so the saved plan would not be what runs",
                    self.desired.stack,
                    env_display(&self.desired.stack).display(),
                    if outcome.added.is_empty() {
                        "its secrets".to_string()
                    } else {
                        outcome.added.join(", ")
                    },
                    if outcome.added.len() == 1 {
                        "it"
                    } else {
                        "them"
                    },
                ),
                "run `promo-infra generate` first (it creates the missing secrets), then `promo-infra plan --out FILE`",
            ));
        }
        Ok(())
    }

    /// The stack's secrets the plan needs, checked; returns the notes to show with the plan.
    pub(super) fn check_secrets(&self) -> Result<Vec<String>> {
        secrets::check_for_plan(
            &self.loaded.manifest,
            &self.loaded.rel_path,
            &env_display(self.loaded.stack()),
            &self.ctx.secrets,
            self.kind.as_str(),
        )
    }
}

/// Refuse when a secret some service's data was made with would be `generated` (it is not in
/// `.env`) while `observed` shows that service's data: the service itself (running or
/// stopped), the data it holds left unread, or a volume it mounts.
pub(super) fn refuse(
    s: &Stack,
    observed: &Observed,
    generated: impl Fn(&str) -> bool,
) -> Result<()> {
    let declared: BTreeSet<String> = secrets::catalog(&s.loaded.manifest)
        .into_iter()
        .map(|spec| spec.name)
        .collect();
    let mut missing = Vec::new();
    let mut holders = BTreeSet::new();
    for (name, service) in KEPT_IN_DATA {
        // The environment does not count: apply generates these into `.env` whatever it
        // holds (only the secrets the user provides are read from it).
        if !declared.contains(name) || !generated(name) {
            continue;
        }
        let found = data_of(s, observed, service);
        if !found.is_empty() {
            missing.push(name);
            holders.extend(found);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let stack = &s.desired.stack;
    // `.env` holds the passwords only an InfluxDB 1.x stack has (its read and write users')
    // and no operator token: the data was made by InfluxDB 1.x, and `influxdb.version` now
    // says 2. No `.env` can open it. (A 2.x stack's `.env` that lost only its token has none
    // of them: restoring it is the way back.)
    let env_path = s.ctx.generated_dir.join(".env");
    let v1_env = secrets::read_env(&env_path)
        .ok()
        .flatten()
        .is_some_and(|v| {
            [
                secrets::INFLUX_V1_READ_PASSWORD,
                secrets::INFLUX_V1_WRITE_PASSWORD,
            ]
            .iter()
            .any(|n| v.get(n).is_some())
        });
    let made_by_v1 = missing == [secrets::INFLUX_ADMIN_TOKEN] && v1_env;
    if made_by_v1 {
        return Err(Error::Secrets {
            path: s.ctx.generated_dir.join(".env"),
            message: format!(
                "stack `{stack}` on target {} says `influxdb.version: 2`, but its InfluxDB data ({}) was made by InfluxDB 1.x (.env has the 1.x users' passwords and no operator token): InfluxDB 2 does not open 1.x data, and promo-infra does not migrate it",
                s.kind.as_str(),
                holders.into_iter().collect::<Vec<_>>().join(", "),
            ),
            help: Some(
                "keep `influxdb.version: 1` for this data; or, to start InfluxDB 2 empty: with `influxdb.version: 1` still in the manifest, `promo-infra backup run` if you need the 1.x data (it restores into InfluxDB 1.x only) and `promo-infra destroy --volumes`; then set `influxdb.version: 2` and `promo-infra apply`; nothing was changed".into(),
            ),
        });
    }
    Err(Error::Secrets {
        path: s.ctx.generated_dir.join(".env"),
        message: format!(
            "{} {} missing, but stack `{stack}` on target {} still has the data made with {} ({}): a new value would not open it, so none is generated",
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" },
            s.kind.as_str(),
            if missing.len() == 1 { "it" } else { "them" },
            holders.into_iter().collect::<Vec<_>>().join(", "),
        ),
        // The target is always named: `generate`, which has none, refuses too (and a command
        // suggested after it would otherwise get the target the stack was applied to).
        help: Some(format!(
            "restore generated/{stack}/.env as it was when the stack was applied (a copy, another checkout or machine, a password manager), then run the command again; if that data belongs to another checkout of stack `{stack}` on this machine, give this one another `stack:` name instead; to start over without that data, `promo-infra destroy --volumes --target {target}` deletes it, then `promo-infra apply --target {target}` makes a new stack; nothing was changed",
            target = s.kind.as_str()
        )),
    })
}

/// Before apply generates `added` into `.env`: when one of them is a secret some data is made
/// with, observe the stack with `.env` as it is on disk (a running service would refuse the new
/// values, and that refusal would hide this one) and [`refuse`] if that data is kept. A first
/// apply, with nothing observed, goes on. Docker and native only.
pub(super) fn refuse_before_generating(
    project: &crate::project::Project,
    templates: &crate::compile::Templates,
    loaded: &crate::manifest::Loaded,
    (kind, health_timeout): (crate::targets::TargetKind, std::time::Duration),
    on_disk: secrets::SecretValues,
    added: &[String],
) -> Result<()> {
    // The cloud target's resources use none of the generated secrets (and hold no service's
    // data): nothing to protect, and no second read of its APIs.
    let kept_in_data = KEPT_IN_DATA
        .iter()
        .any(|(n, _)| added.iter().any(|a| a == n));
    if kind == crate::targets::TargetKind::Cloud || !kept_in_data {
        return Ok(());
    }
    let s = Stack::new(
        project,
        templates,
        loaded.clone(),
        kind,
        health_timeout,
        on_disk,
    )?;
    let target = s.target(crate::targets::Progress::hidden())?;
    let observed = super::runtime()?.block_on(target.observe(&s.desired))?;
    refuse(&s, &observed, |n| added.iter().any(|a| a == n))
}

/// `generate`'s guard (it has no target): before it generates `added` into a stack's `.env`
/// (`on_disk` is what the file holds) while one of them is a secret some data is made with
/// (`.env` lost, or never made), look for that data on every target that keeps data on this
/// machine (`local`: [`crate::targets::on_this_machine`]) and refuse as `plan` and `apply` do.
/// A re-cloned project on a host whose volumes outlived the old checkout is the case this is
/// for. A target that is configured but does not answer cannot be asked: that is returned as
/// a warning, and generate goes on.
pub(crate) fn refuse_generating_over_data(
    project: &crate::project::Project,
    templates: &crate::compile::Templates,
    loaded: &crate::manifest::Loaded,
    (on_disk, added): (secrets::SecretValues, &[String]),
    local: &std::cell::LazyCell<Vec<crate::targets::Local>>,
) -> Result<Option<String>> {
    let m = &loaded.manifest;
    let kept: Vec<&String> = added
        .iter()
        .filter(|a| KEPT_IN_DATA.iter().any(|(n, _)| n == a))
        .collect();
    if kept.is_empty() {
        return Ok(None);
    }
    let timeout = crate::ops::DEFAULT_HEALTH_TIMEOUT;
    let mut unasked = Vec::new();
    for l in local.iter() {
        match l {
            crate::targets::Local::Ask(kind) => refuse_before_generating(
                project,
                templates,
                loaded,
                (*kind, timeout),
                on_disk.clone(),
                added,
            )?,
            crate::targets::Local::Unasked(kind, why) => {
                unasked.push(format!("{} ({why})", kind.as_str()));
            }
        }
    }
    Ok((!unasked.is_empty()).then(|| {
        format!(
            "stack `{}`: generated {} without looking for data made with earlier values on target {}; if this stack was applied there with another .env, restore that .env before `promo-infra apply`",
            *m.stack,
            kept.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "),
            unasked.join(", ")
        )
    }))
}

/// What holds `service`'s data: the service as observed, the volumes it mounts, or (native)
/// its data directory when it holds anything.
fn data_of(s: &Stack, observed: &Observed, service: &str) -> Vec<String> {
    let id = ResourceId::new(ResourceKind::Service, service);
    let mut found = Vec::new();
    if observed.resources.contains_key(&id) {
        found.push(id.to_string());
    }
    if let Some(ResourceSpec::Service(spec)) = s.desired.resources.get(&id).map(|r| &r.spec) {
        for m in &spec.mounts {
            if let MountSource::Volume(v) = &m.source {
                let volume = ResourceId::new(ResourceKind::Volume, v.clone());
                if observed.resources.contains_key(&volume) {
                    found.push(volume.to_string());
                }
            }
        }
    }
    // A process's data directory (native), where no volume says it: looked at directly, as
    // a stopped service's data is kept whatever the plan would read of it.
    if found.is_empty() && s.kind == crate::targets::TargetKind::Native {
        let dir = format!(
            "{}/{service}",
            crate::compile::native::data_dir(&s.loaded.manifest)
        );
        let kept = fs_err::read_dir(s.project_dir.join(&dir)).is_ok_and(|mut d| d.next().is_some());
        if kept {
            found.push(format!("{id}'s data directory {dir}"));
        }
    }
    found
}
