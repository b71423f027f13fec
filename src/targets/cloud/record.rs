//! What the cloud target remembers between runs, in `generated/<stack>/.cloud-state.json`
//! (git-ignored runtime state, no secret in it): the id of each InfluxDB authorization it
//! minted, and the fingerprint of each secret it last sent into a write-only field (a
//! datasource token, a Slack webhook), since neither service shows those back.
//!
//! Lost, it costs one apply: the tokens are minted again (the old ones, found by their
//! description, deleted) and the secret fields sent again.
//!
//! Owns: that file. May not: hold a secret value, print.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::targets::Context;

/// The record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Authorization id, by token resource name (`k6-write`).
    #[serde(default)]
    pub tokens: BTreeMap<String, String>,
    /// By resource id (`datasource.promo-influxdb`): secret name → fingerprint last sent.
    #[serde(default)]
    pub sent: BTreeMap<String, BTreeMap<String, String>>,
}

fn path(ctx: &Context) -> PathBuf {
    ctx.generated_dir.join(".cloud-state.json")
}

/// The record; empty when missing or unreadable.
pub fn read(ctx: &Context) -> Record {
    std::fs::read_to_string(path(ctx))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Change the record: read, change and write with no await in between, so concurrent steps on
/// one runtime never lose each other's entries.
pub fn update(ctx: &Context, change: impl FnOnce(&mut Record)) -> Result<()> {
    let mut record = read(ctx);
    let before = record.clone();
    change(&mut record);
    if record == before {
        return Ok(());
    }
    let text = serde_json::to_string_pretty(&record)
        .map_err(|e| Error::internal(format!("cannot serialise the cloud record: {e}")))?;
    crate::writer::write_atomic(&path(ctx), format!("{text}\n").as_bytes(), Some(0o644))
}
