//! Scoped InfluxDB 2 / Cloud tokens as resources (`token.k6-write`, `token.grafana-read`), for
//! every target with an InfluxDB 2 API: observed, minted and deleted through
//! [`crate::influx::cloud`], remembered in the target's [`record`] file.
//!
//! A token counts as present only when its authorization exists *and* `.env` holds the value
//! this tool received for it (InfluxDB never shows it again; the record keeps its fingerprint):
//! otherwise apply mints a new one and deletes the old. Only authorizations this tool minted
//! (the recorded id, or the stack's description) are ever deleted.
//!
//! May not: print, read the environment, decide.

use super::{Context, record};
use crate::desired::{Desired, Resource, ResourceSpec, TokenSpec};
use crate::error::{Error, Result};
use crate::influx::Client;
use crate::influx::cloud as api;
use crate::plan::ObservedResource;

/// The stack's tokens that exist as this tool minted them. `bucket`: the bucket's (id, name)
/// when it exists (its permissions are then named by the bucket's name).
pub async fn observe(
    c: &Client,
    ctx: &Context,
    file: &str,
    org_id: &str,
    desired: &Desired,
    bucket: Option<(&str, &str)>,
) -> Result<Vec<ObservedResource>> {
    let wanted: Vec<(&Resource, &TokenSpec)> = desired
        .resources
        .values()
        .filter_map(|r| match &r.spec {
            ResourceSpec::Token(t) => Some((r, t)),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let auths = api::authorizations(c, org_id, bucket).await?;
    let rec = record::read(ctx, file);
    let mut found = Vec::new();
    for (r, t) in wanted {
        let Some(auth) = rec
            .tokens
            .get(&r.id.name)
            .and_then(|id| auths.iter().find(|a| &a.id == id))
        else {
            continue;
        };
        let minted = rec
            .sent
            .get(&r.id.to_string())
            .and_then(|s| s.get(&t.secret));
        // `.env` as it is on disk: a token minted earlier in this command (the status an apply
        // prints) is not among the values the command started with.
        let held = super::common::secret(ctx, &t.secret).map(|v| crate::secrets::fingerprint(&v));
        if held.is_none() || held.as_ref() != minted {
            continue;
        }
        let spec = TokenSpec {
            description: auth.description.clone(),
            permissions: auth.permissions.clone(),
            secret: t.secret.clone(),
        };
        found.push(ObservedResource::found(&r.id, ResourceSpec::Token(spec)));
    }
    Ok(found)
}

/// Mint the token of `r` on the bucket `bucket_id` (`bucket_name` in its permissions): the new
/// value goes to `.env` at once, then the authorizations it replaces are deleted — the recorded
/// one and any other with this stack's description.
pub async fn mint(
    c: &Client,
    ctx: &Context,
    file: &str,
    org_id: &str,
    (bucket_id, bucket_name): (&str, &str),
    r: &Resource,
    t: &TokenSpec,
) -> Result<()> {
    let permissions: Vec<(String, String)> = t
        .permissions
        .iter()
        .filter_map(|p| {
            let (action, target) = p.split_once(':')?;
            let name = target.strip_prefix("buckets/")?;
            (name == bucket_name).then(|| (action.to_string(), bucket_id.to_string()))
        })
        .collect();
    if permissions.len() != t.permissions.len() {
        return Err(Error::internal(format!(
            "{}: permissions {:?} do not name bucket `{bucket_name}`",
            r.id, t.permissions
        )));
    }
    let (id, token) = api::create_token(c, org_id, &t.description, &permissions).await?;
    crate::secrets::store_value(&ctx.generated_dir.join(".env"), &t.secret, &token)?;
    let old = record::read(ctx, file).tokens.get(&r.id.name).cloned();
    record::update(ctx, file, |rec| {
        rec.tokens.insert(r.id.name.clone(), id.clone());
        rec.sent.insert(
            r.id.to_string(),
            [(t.secret.clone(), crate::secrets::fingerprint(&token))].into(),
        );
    })?;
    let auths = api::authorizations(c, org_id, None).await?;
    for a in auths
        .iter()
        .filter(|a| a.id != id && (Some(&a.id) == old.as_ref() || a.description == t.description))
    {
        api::delete_authorization(c, &a.id).await?;
    }
    Ok(())
}

/// Delete the stack's tokens (recorded, or with the stack's descriptions). Returns which.
pub async fn delete(
    c: &Client,
    ctx: &Context,
    file: &str,
    org_id: &str,
    desired: &Desired,
) -> Result<Vec<String>> {
    let auths = api::authorizations(c, org_id, None).await?;
    let rec = record::read(ctx, file);
    let mut removed = Vec::new();
    for r in desired.resources.values() {
        let ResourceSpec::Token(t) = &r.spec else {
            continue;
        };
        let recorded = rec.tokens.get(&r.id.name);
        for a in auths
            .iter()
            .filter(|a| Some(&a.id) == recorded || a.description == t.description)
        {
            api::delete_authorization(c, &a.id).await?;
            if !removed.contains(&r.id.to_string()) {
                removed.push(r.id.to_string());
            }
        }
    }
    record::update(ctx, file, |rec| {
        rec.tokens.clear();
        rec.sent.retain(|id, _| !id.starts_with("token."));
    })?;
    Ok(removed)
}
