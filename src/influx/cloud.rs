//! InfluxDB Cloud (and any InfluxDB 2 reached with a token): the bucket with its retention, its
//! DBRP mapping (InfluxQL through the v1 API, the only query language of Cloud Serverless), and
//! scoped authorizations (least-privilege tokens).
//!
//! Owns: those `/api/v2` requests and what their answers mean. A token's value is read only
//! from the answer that creates it (Cloud lists tokens redacted) and handed to the caller.
//! May not: print, read the environment, or keep a token anywhere.

use reqwest::Method;
use serde_json::{Value, json};

use super::client::Client;
use super::v2::{converge_bucket, find_bucket, org_id, segment, with_query};
use crate::desired::DatabaseSpec;
use crate::error::{Error, Result};

/// What to check when a request of `c` is refused: its token, by the variable it came from.
fn help(c: &Client) -> String {
    let var = c
        .token_var()
        .unwrap_or("the variable targets.cloud.influx_token_env names");
    format!(
        "check the InfluxDB Cloud token in {var}: it must be allowed to manage buckets, DBRP mappings and authorizations of the organisation"
    )
}

/// The DBRP retention-policy name this tool maps.
pub const DBRP_RP: &str = "autogen";

/// The description of a bucket stack `stack` created: what says whose it is (an organisation
/// may hold several stacks' buckets; only its own is ever deleted).
pub fn mark(stack: &str) -> String {
    format!("promo-infra: stack {stack}")
}

/// A bucket as found: its id and its spec.
#[derive(Debug, Clone)]
pub struct FoundBucket {
    /// Bucket id.
    pub id: String,
    /// In the desired spec's terms (`dbrp` set when the mapping exists for this bucket).
    pub spec: DatabaseSpec,
    /// The stack that created it ([`mark`]); `None`: made otherwise (by hand, by a version of
    /// promo-infra that did not mark buckets).
    pub owner: Option<String>,
}

/// An authorization of the organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Id.
    pub id: String,
    /// Description.
    pub description: String,
    /// `action:buckets/<bucket name>` (bucket ids this tool does not know stay ids), sorted.
    pub permissions: Vec<String>,
}

/// The organisation's id (`org` by name).
pub async fn org(c: &Client, org: &str) -> Result<String> {
    org_id(c, org).await
}

async fn dbrps(c: &Client, org_id: &str, db: &str) -> Result<Vec<Value>> {
    let path = with_query(
        "/api/v2/dbrps",
        &[("orgID", org_id), ("db", db), ("rp", DBRP_RP)],
    );
    let list = c.get_json(&path, &help(c)).await?;
    Ok(list["content"].as_array().cloned().unwrap_or_default())
}

/// The bucket of `want` and whether its DBRP mapping points at it.
pub async fn observe_bucket(
    c: &Client,
    org_id: &str,
    want: &DatabaseSpec,
) -> Result<Option<FoundBucket>> {
    let Some(b) = find_bucket(c, want).await? else {
        return Ok(None);
    };
    let mut spec = b.as_spec(want);
    if let Some(db) = &want.dbrp {
        let mapped = dbrps(c, org_id, db).await?;
        if mapped.iter().any(|d| d["bucketID"].as_str() == Some(&b.id)) {
            spec.dbrp = Some(db.clone());
        }
    }
    let owner = b
        .description
        .strip_prefix(mark("").as_str())
        .map(str::to_string);
    Ok(Some(FoundBucket {
        id: b.id,
        spec,
        owner,
    }))
}

/// Create the bucket (marked as `stack`'s) or converge its retention, then map `want.dbrp` to
/// it (replacing a mapping of that database that points elsewhere). Returns the bucket's id.
pub async fn apply_bucket(
    c: &Client,
    (org_id, stack): (&str, &str),
    want: &DatabaseSpec,
) -> Result<String> {
    let bucket = converge_bucket(c, want, (Some(org_id), &mark(stack))).await?;
    if let Some(db) = &want.dbrp {
        let mapped = dbrps(c, org_id, db).await?;
        if !mapped
            .iter()
            .any(|d| d["bucketID"].as_str() == Some(&bucket.id))
        {
            for old in &mapped {
                delete_dbrp(c, org_id, old).await?;
            }
            let path = "/api/v2/dbrps";
            let req = c.request(Method::POST, path).json(&json!({
                "orgID": org_id,
                "bucketID": bucket.id,
                "database": db,
                "retention_policy": DBRP_RP,
                "default": true,
            }));
            c.send_ok(path, req, &help(c)).await?;
        }
    }
    Ok(bucket.id)
}

async fn delete_dbrp(c: &Client, org_id: &str, dbrp: &Value) -> Result<()> {
    let id = dbrp["id"].as_str().unwrap_or_default();
    let path = with_query(
        &format!("/api/v2/dbrps/{}", segment(id)),
        &[("orgID", org_id)],
    );
    let req = c.request(Method::DELETE, &path);
    c.send_ok(&path, req, &help(c)).await.map(|_| ())
}

/// What [`delete_bucket`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketDeleted {
    /// It was deleted, with its DBRP mapping.
    Deleted,
    /// There was none.
    Absent,
    /// It is kept: not made by this stack ([`FoundBucket::owner`]).
    NotOurs(Option<String>),
}

/// Delete the bucket of `want` (its data) and its DBRP mapping, when stack `stack` made it.
pub async fn delete_bucket(
    c: &Client,
    (org_id, stack): (&str, &str),
    want: &DatabaseSpec,
) -> Result<BucketDeleted> {
    let Some(b) = observe_bucket(c, org_id, want).await? else {
        return Ok(BucketDeleted::Absent);
    };
    if b.owner.as_deref() != Some(stack) {
        return Ok(BucketDeleted::NotOurs(b.owner));
    }
    if let Some(db) = &want.dbrp {
        for d in dbrps(c, org_id, db).await? {
            if d["bucketID"].as_str() == Some(&b.id) {
                delete_dbrp(c, org_id, &d).await?;
            }
        }
    }
    let path = format!("/api/v2/buckets/{}", segment(&b.id));
    let req = c.request(Method::DELETE, &path);
    c.send_ok(&path, req, &help(c))
        .await
        .map(|_| BucketDeleted::Deleted)
}

/// The organisation's authorizations; `bucket` (id, name) names that bucket's permissions.
pub async fn authorizations(
    c: &Client,
    org_id: &str,
    bucket: Option<(&str, &str)>,
) -> Result<Vec<Authorization>> {
    let path = with_query("/api/v2/authorizations", &[("orgID", org_id)]);
    let list = c.get_json(&path, &help(c)).await?;
    Ok(list["authorizations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let mut permissions: Vec<String> = a["permissions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    let r = &p["resource"];
                    let target = match (r["id"].as_str(), bucket) {
                        (Some(id), Some((bid, name))) if id == bid => name.to_string(),
                        (Some(id), _) => id.to_string(),
                        (None, _) => "*".to_string(),
                    };
                    format!(
                        "{}:{}/{target}",
                        p["action"].as_str().unwrap_or_default(),
                        r["type"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            permissions.sort();
            Authorization {
                id: a["id"].as_str().unwrap_or_default().to_string(),
                description: a["description"].as_str().unwrap_or_default().to_string(),
                permissions,
            }
        })
        .collect())
}

/// A new authorization with `permissions` (`(action, bucket id)`) on buckets. Returns its id and
/// its token, which InfluxDB shows only now.
pub async fn create_token(
    c: &Client,
    org_id: &str,
    description: &str,
    permissions: &[(String, String)],
) -> Result<(String, String)> {
    let path = "/api/v2/authorizations";
    let perms: Vec<Value> = permissions
        .iter()
        .map(|(action, bucket)| {
            json!({ "action": action, "resource": { "type": "buckets", "id": bucket, "orgID": org_id } })
        })
        .collect();
    let req = c.request(Method::POST, path).json(&json!({
        "orgID": org_id,
        "description": description,
        "status": "active",
        "permissions": perms,
    }));
    let resp = c.send_ok(path, req, &help(c)).await?;
    let created = super::client::json(&c.url(path), resp).await?;
    match (created["id"].as_str(), created["token"].as_str()) {
        (Some(id), Some(token)) if !token.is_empty() && token != "redacted" => {
            Ok((id.to_string(), token.to_string()))
        }
        _ => Err(Error::influx(format!(
            "InfluxDB at {}: the new authorization `{description}` came back without its token",
            c.url(path)
        ))
        .with_help("delete it in InfluxDB's UI (Load Data → API Tokens) and apply again")),
    }
}

/// Delete the authorization `id`. Already gone: done.
pub async fn delete_authorization(c: &Client, id: &str) -> Result<()> {
    let path = format!("/api/v2/authorizations/{}", segment(id));
    let req = c.request(Method::DELETE, &path);
    let resp = c.send(&path, req).await?;
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(());
    }
    super::client::check(&c.url(&path), resp, &help(c))
        .await
        .map(|_| ())
}
