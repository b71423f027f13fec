//! A stack whose `.env` was lost while its data was kept: apply would generate new values for
//! the secrets that data was made with (InfluxDB's admin, Grafana's admin and secret key), and
//! the new values do not open it. `plan` and `apply` refuse before anything is generated,
//! naming what still holds the data and how to get back.
//!
//! Owns: that refusal. May not: print, write, or read anything but what it is given.

use std::collections::BTreeSet;

use super::Stack;
use crate::desired::{MountSource, ResourceId, ResourceKind, ResourceSpec};
use crate::error::{Error, Result};
use crate::plan::Observed;
use crate::secrets::{self, KEPT_IN_DATA};

/// Refuse when a secret some service's data was made with would be `generated` (it is in
/// neither `.env` nor the environment) while `observed` shows that service's data: the service
/// itself (running or stopped), the data it holds left unread, or a volume it mounts.
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
        if !declared.contains(name) || !generated(name) || secrets::env_var(name).is_some() {
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
    let env = s.ctx.generated_dir.join(".env");
    let stack = &s.desired.stack;
    Err(Error::Secrets {
        path: env.clone(),
        message: format!(
            "{} {} missing, but stack `{stack}` on target {} still has the data made with {} ({}): a new value would not open it, so none is generated",
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" },
            s.kind.as_str(),
            if missing.len() == 1 { "it" } else { "them" },
            holders.into_iter().collect::<Vec<_>>().join(", "),
        ),
        help: Some(format!(
            "restore generated/{stack}/.env as it was when the stack was applied (a copy, another checkout or machine, a password manager), then run the command again; to start over without that data instead, `promo-infra destroy --volumes` deletes it, then `promo-infra apply` makes a new stack; nothing was changed"
        )),
    })
}

/// What `observed` shows of `service`'s data: the service, what it holds that could not be
/// read, the volumes it mounts.
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
    // A process's data directory (native), where no volume says it.
    if observed.unread.contains_key(&id) && found.is_empty() {
        found.push(format!("{id}'s data"));
    }
    found
}
