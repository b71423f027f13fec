//! What a target remembers between runs about what it minted or sent, in a git-ignored file
//! under `generated/<stack>/` (no secret in it): the id of each InfluxDB authorization it
//! minted, and the fingerprint of each secret it last minted or sent into a write-only field (a
//! token, a datasource token, a Slack webhook), since the services never show those back. The
//! cloud target keeps [`CLOUD`]; docker and native [`local`] (their InfluxDBs differ).
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
    /// By resource id (`datasource.promo-influxdb`, `token.k6-write`): secret name →
    /// fingerprint of the value last sent or minted.
    #[serde(default)]
    pub sent: BTreeMap<String, BTreeMap<String, String>>,
}

/// The cloud target's record.
pub const CLOUD: &str = ".cloud-state.json";

/// The record of the docker or native target (`target`).
pub fn local(target: &str) -> String {
    format!(".minted-{target}.json")
}

fn path(ctx: &Context, file: &str) -> PathBuf {
    ctx.generated_dir.join(file)
}

/// The record `file`; empty when missing or unreadable.
pub fn read(ctx: &Context, file: &str) -> Record {
    std::fs::read_to_string(path(ctx, file))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Change the record: read, change and write with no await in between, so concurrent steps on
/// one runtime never lose each other's entries.
pub fn update(ctx: &Context, file: &str, change: impl FnOnce(&mut Record)) -> Result<()> {
    let mut record = read(ctx, file);
    let before = record.clone();
    change(&mut record);
    if record == before {
        return Ok(());
    }
    let text = serde_json::to_string_pretty(&record)
        .map_err(|e| Error::internal(format!("cannot serialise the cloud record: {e}")))?;
    crate::writer::write_atomic(
        &path(ctx, file),
        format!("{text}\n").as_bytes(),
        Some(0o644),
    )
}
