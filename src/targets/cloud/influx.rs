//! The cloud target's InfluxDB side: the bucket (retention, DBRP mapping) through
//! [`crate::influx::cloud`], and the two scoped tokens through [`crate::targets::tokens`].
//!
//! May not: print, read the environment, decide.

use super::Purpose;
use crate::desired::{
    CloudEndpoints, DatabaseSpec, Desired, Resource, ResourceId, ResourceKind, ResourceSpec,
    TokenSpec,
};
use crate::error::{Error, Result};
use crate::influx::cloud as api;
use crate::influx::{Auth, Client};
use crate::plan::{Observed, ObservedResource};
use crate::targets::{Context, record, tokens};

/// InfluxDB Cloud, with the token the manifest names, and the organisation's id once looked up
/// (one lookup for every step of a command).
pub struct InfluxCloud {
    c: Client,
    org_name: String,
    org: tokio::sync::OnceCell<String>,
    /// Whether the last observe found the stack's bucket made by the stack itself (what
    /// `destroy --volumes` deletes).
    pub(super) bucket_ours: std::cell::Cell<bool>,
}

impl InfluxCloud {
    /// The client of `cloud`'s InfluxDB with the token its `influx_token_env` names.
    pub fn new(ctx: &Context, cloud: &CloudEndpoints) -> Result<Self> {
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
        let c = Client::new(
            &crate::influx::Endpoint {
                url: cloud.influx_url.clone(),
            },
            Auth::Token(token.to_string()),
        )?
        .with_token_var(var);
        Ok(Self {
            c,
            org_name: cloud.influx_org.clone(),
            org: tokio::sync::OnceCell::new(),
            bucket_ours: std::cell::Cell::new(false),
        })
    }

    /// The organisation's id (looked up once).
    pub async fn org(&self) -> Result<&str> {
        self.org
            .get_or_try_init(|| api::org(&self.c, &self.org_name))
            .await
            .map(String::as_str)
    }
}

/// The stack's bucket spec (there is one).
pub fn bucket(desired: &Desired) -> Option<&DatabaseSpec> {
    desired.resources.values().find_map(|r| match &r.spec {
        ResourceSpec::Database(d) => Some(d),
        _ => None,
    })
}

/// Read the bucket and the tokens into `out`. A bucket another stack made is refused for a
/// plan (this stack would write into that stack's data and read it as its own); `destroy`
/// leaves it out and keeps it.
pub async fn observe(
    i: &InfluxCloud,
    ctx: &Context,
    desired: &Desired,
    purpose: Purpose,
    out: &mut Observed,
) -> Result<()> {
    let Some(want) = bucket(desired) else {
        return Ok(());
    };
    let org = i.org().await?;
    let found = api::observe_bucket(&i.c, org, want).await?;
    let owner = found.as_ref().and_then(|f| f.owner.as_deref());
    if let Some(owner) = owner
        && owner != ctx.stack
        && purpose == Purpose::Plan
    {
        return Err(owned_by_other(i, &want.name, owner, &ctx.stack));
    }
    i.bucket_ours.set(owner == Some(ctx.stack.as_str()));
    if let Some(f) = found
        .as_ref()
        .filter(|_| owner.is_none_or(|o| o == ctx.stack))
    {
        let id = ResourceId::new(ResourceKind::Database, want.name.as_str());
        out.resources.insert(
            id.clone(),
            ObservedResource::found(&id, ResourceSpec::Database(f.spec.clone())),
        );
    }
    let bucket_ref = found.as_ref().map(|f| (f.id.as_str(), want.name.as_str()));
    out.extend(tokens::observe(&i.c, ctx, record::CLOUD, org, desired, bucket_ref).await?);
    Ok(())
}

/// The refusal of bucket `name`, made by stack `owner`, in stack `stack`.
fn owned_by_other(i: &InfluxCloud, name: &str, owner: &str, stack: &str) -> Error {
    Error::influx(format!(
        "bucket `{name}` in InfluxDB Cloud at {} (organisation `{}`) belongs to stack `{owner}` (its description is `{}`); stack `{stack}` does not take it",
        i.c.base(),
        i.org_name,
        api::mark(owner),
    ))
    .with_help(format!(
        "two stacks on one InfluxDB Cloud organisation cannot share a bucket: give one of them another `influxdb.bucket` in its manifest, then plan again; if this stack was named `{owner}` before (a rename), make the bucket this stack's: set its description to `{}` in InfluxDB Cloud (Load Data → Buckets → the bucket's settings); nothing was changed",
        api::mark(stack)
    ))
}

/// Create the bucket (marked as the stack's) or converge its retention and DBRP mapping.
pub async fn apply_bucket(i: &InfluxCloud, ctx: &Context, want: &DatabaseSpec) -> Result<()> {
    api::apply_bucket(&i.c, (i.org().await?, &ctx.stack), want)
        .await
        .map(|_| ())
}

/// Mint the token of `r` (a create, or the replacement of one whose permissions changed).
pub async fn mint(
    i: &InfluxCloud,
    ctx: &Context,
    desired: &Desired,
    r: &Resource,
    t: &TokenSpec,
) -> Result<()> {
    let want = bucket(desired)
        .ok_or_else(|| Error::internal(format!("{}: the stack has no bucket", r.id)))?;
    let org = i.org().await?;
    let found = api::observe_bucket(&i.c, org, want).await?.ok_or_else(|| {
        Error::influx(format!(
            "{}: bucket `{}` does not exist in InfluxDB Cloud at {}",
            r.id,
            want.name,
            i.c.base()
        ))
        .with_help("apply again: the bucket is created first")
    })?;
    tokens::mint(&i.c, ctx, record::CLOUD, org, (&found.id, &want.name), r, t).await
}

/// Delete the stack's tokens, and their values from `.env` (revoked, they open nothing: `k6
/// env` then says to apply rather than hand out a dead token; the next apply mints new ones).
/// Returns which were deleted.
pub async fn delete_tokens(
    i: &InfluxCloud,
    ctx: &Context,
    desired: &Desired,
) -> Result<Vec<String>> {
    let removed = tokens::delete(&i.c, ctx, record::CLOUD, i.org().await?, desired).await?;
    let env = ctx.generated_dir.join(".env");
    for r in desired.resources.values() {
        if let ResourceSpec::Token(t) = &r.spec {
            crate::secrets::forget_value(&env, &t.secret)?;
        }
    }
    Ok(removed)
}

/// Delete the bucket (its data) and its DBRP mapping, when the stack made it; one it did not
/// make is kept, and said so.
pub async fn delete_bucket(i: &InfluxCloud, ctx: &Context, want: &DatabaseSpec) -> Result<bool> {
    match api::delete_bucket(&i.c, (i.org().await?, &ctx.stack), want).await? {
        api::BucketDeleted::Deleted => Ok(true),
        api::BucketDeleted::Absent => Ok(false),
        api::BucketDeleted::NotOurs(None) => {
            tracing::warn!(
                "database.{}: bucket `{}` kept: it was not made by promo-infra (or by a version that did not mark its buckets), not by stack `{}`; delete it in InfluxDB Cloud if its data should go",
                want.name,
                want.name,
                ctx.stack
            );
            Ok(false)
        }
        api::BucketDeleted::NotOurs(Some(owner)) => {
            tracing::warn!(
                "database.{}: bucket `{}` kept: it is stack `{owner}`'s (its data), not stack `{}`'s; `promo-infra -f <{owner}'s manifest> destroy --volumes --target cloud` removes it with that stack",
                want.name,
                want.name,
                ctx.stack,
            );
            Ok(false)
        }
    }
}
