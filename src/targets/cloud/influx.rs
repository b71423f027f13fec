//! The cloud target's InfluxDB side: the bucket (retention, DBRP mapping) and the two scoped
//! tokens, observed and converged through [`crate::influx::cloud`].
//!
//! A token counts as present only when its authorization exists *and* `.env` holds the value
//! this tool received for it (InfluxDB never shows it again): otherwise apply mints a new one
//! and deletes the old. Only authorizations this tool minted (recorded id, or this stack's
//! description) are ever deleted.
//!
//! May not: print, read the environment, decide.

use crate::desired::{
    CloudEndpoints, DatabaseSpec, Desired, Resource, ResourceKind, ResourceSpec, TokenSpec,
};
use crate::error::{Error, Result};
use crate::influx::cloud as api;
use crate::influx::{Auth, Client};
use crate::plan::{Observed, ObservedResource};
use crate::targets::Context;

use super::record;

/// InfluxDB Cloud, with the token the manifest names.
pub fn client(ctx: &Context, cloud: &CloudEndpoints) -> Result<Client> {
    let var = &cloud.influx_token_env;
    let token = ctx.secrets.get(var).ok_or_else(|| {
        Error::usage(
            format!("{var} is not set: the cloud target needs an InfluxDB Cloud token"),
            format!(
                "export {var} or add it to generated/{}/.env: an all-access token of the organisation (or one allowed to manage buckets, DBRP mappings and authorizations)",
                ctx.stack
            ),
        )
    })?;
    Client::new(
        &crate::influx::Endpoint {
            url: cloud.influx_url.clone(),
        },
        Auth::Token(token.to_string()),
    )
}

/// The stack's bucket spec (there is one).
pub fn bucket(desired: &Desired) -> Option<&DatabaseSpec> {
    desired.resources.values().find_map(|r| match &r.spec {
        ResourceSpec::Database(d) => Some(d),
        _ => None,
    })
}

/// Read the bucket and the tokens into `out`.
pub async fn observe(
    c: &Client,
    ctx: &Context,
    cloud: &CloudEndpoints,
    desired: &Desired,
    out: &mut Observed,
) -> Result<()> {
    let Some(want) = bucket(desired) else {
        return Ok(());
    };
    let org = api::org(c, &cloud.influx_org).await?;
    let found = api::observe_bucket(c, &org, want).await?;
    if let Some(f) = &found {
        let id = crate::desired::ResourceId::new(ResourceKind::Database, want.name.as_str());
        out.resources.insert(
            id.clone(),
            ObservedResource::found(&id, ResourceSpec::Database(f.spec.clone())),
        );
    }
    let bucket_ref = found.as_ref().map(|f| (f.id.as_str(), want.name.as_str()));
    let auths = api::authorizations(c, &org, bucket_ref).await?;
    let rec = record::read(ctx);
    for r in desired.resources.values() {
        let ResourceSpec::Token(t) = &r.spec else {
            continue;
        };
        let Some(auth) = rec
            .tokens
            .get(&r.id.name)
            .and_then(|id| auths.iter().find(|a| &a.id == id))
        else {
            continue;
        };
        if ctx.secrets.get(&t.secret).is_none() {
            continue;
        }
        let spec = TokenSpec {
            description: auth.description.clone(),
            permissions: auth.permissions.clone(),
            secret: t.secret.clone(),
        };
        out.resources.insert(
            r.id.clone(),
            ObservedResource::found(&r.id, ResourceSpec::Token(spec)),
        );
    }
    Ok(())
}

/// Create the bucket or converge its retention and DBRP mapping.
pub async fn apply_bucket(c: &Client, cloud: &CloudEndpoints, want: &DatabaseSpec) -> Result<()> {
    let org = api::org(c, &cloud.influx_org).await?;
    api::apply_bucket(c, &org, want).await.map(|_| ())
}

/// Mint the token of `r` (a create, or the replacement of one whose permissions changed):
/// the new value goes to `.env` at once, then the authorizations it replaces are deleted — the
/// recorded one and any other with this stack's description.
pub async fn mint(
    c: &Client,
    ctx: &Context,
    cloud: &CloudEndpoints,
    desired: &Desired,
    r: &Resource,
    t: &TokenSpec,
) -> Result<()> {
    let want = bucket(desired)
        .ok_or_else(|| Error::internal(format!("{}: the stack has no bucket", r.id)))?;
    let org = api::org(c, &cloud.influx_org).await?;
    let found = api::observe_bucket(c, &org, want).await?.ok_or_else(|| {
        Error::influx(format!(
            "{}: bucket `{}` does not exist in InfluxDB Cloud at {}",
            r.id,
            want.name,
            c.base()
        ))
        .with_help("apply again: the bucket is created first")
    })?;
    let permissions: Vec<(String, String)> = t
        .permissions
        .iter()
        .filter_map(|p| {
            let (action, target) = p.split_once(':')?;
            let name = target.strip_prefix("buckets/")?;
            (name == want.name).then(|| (action.to_string(), found.id.clone()))
        })
        .collect();
    let (id, token) = api::create_token(c, &org, &t.description, &permissions).await?;
    crate::secrets::store_value(&ctx.generated_dir.join(".env"), &t.secret, &token)?;
    let old = record::read(ctx).tokens.get(&r.id.name).cloned();
    record::update(ctx, |rec| {
        rec.tokens.insert(r.id.name.clone(), id.clone());
    })?;
    let auths = api::authorizations(c, &org, None).await?;
    for a in auths
        .iter()
        .filter(|a| a.id != id && (Some(&a.id) == old.as_ref() || a.description == t.description))
    {
        api::delete_authorization(c, &a.id).await?;
    }
    Ok(())
}

/// Delete the stack's tokens (recorded or described as this stack's). Returns which.
pub async fn delete_tokens(
    c: &Client,
    ctx: &Context,
    cloud: &CloudEndpoints,
    desired: &Desired,
) -> Result<Vec<String>> {
    let org = api::org(c, &cloud.influx_org).await?;
    let auths = api::authorizations(c, &org, None).await?;
    let rec = record::read(ctx);
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
    record::update(ctx, |rec| rec.tokens.clear())?;
    Ok(removed)
}

/// Delete the bucket (its data) and its DBRP mapping.
pub async fn delete_bucket(
    c: &Client,
    cloud: &CloudEndpoints,
    want: &DatabaseSpec,
) -> Result<bool> {
    let org = api::org(c, &cloud.influx_org).await?;
    api::delete_bucket(c, &org, want).await
}
