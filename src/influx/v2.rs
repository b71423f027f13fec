//! InfluxDB 2.x: the initial setup (onboarding), the bucket and its retention, and the operator
//! token's rotation (`secrets rotate INFLUXDB_ADMIN_TOKEN`).
//!
//! Owns: the `/api/v2` requests and what their answers mean.
//! May not: send a request except through [`Client`], print, or read the environment.
//! Tokens travel in headers only.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{Auth, Client};
use crate::desired::DatabaseSpec;
use crate::error::{Error, Result};
use crate::manifest::duration::Retention;
use crate::secrets::SecretValues;

const HELP: &str = "check INFLUXDB_ADMIN_TOKEN in .env and the org/bucket in the manifest";

/// What to check when `c`'s request is refused: the variable its token came from (the cloud
/// target's `influx_token_env`), else the stack's operator token.
pub(super) fn help(c: &Client) -> String {
    match c.token_var() {
        Some(var) => format!(
            "check {var} (the environment or the stack's .env) and the org/bucket in the manifest"
        ),
        None => HELP.to_string(),
    }
}

#[derive(Deserialize)]
struct Buckets {
    buckets: Vec<Bucket>,
}

#[derive(Deserialize, Serialize)]
pub(super) struct Bucket {
    pub(super) id: String,
    pub(super) name: String,
    /// What made it, when something said (the cloud target's [`super::cloud::mark`]).
    #[serde(default)]
    pub(super) description: String,
    #[serde(rename = "retentionRules", default)]
    retention_rules: Vec<RetentionRule>,
}

#[derive(Deserialize, Serialize)]
struct RetentionRule {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "everySeconds")]
    every_seconds: u64,
}

fn with_token(c: &Client, token: &str) -> Client {
    c.with_auth(Auth::Token(token.to_string()))
}

/// `path?k=v&…`, the values encoded.
pub fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{path}?{query}")
}

pub(super) async fn find_bucket(c: &Client, want: &DatabaseSpec) -> Result<Option<Bucket>> {
    let org = want.org.clone().unwrap_or_default();
    let path = with_query("/api/v2/buckets", &[("name", &want.name), ("org", &org)]);
    let Some(body) = c.get_json_opt(&path, &help(c)).await? else {
        return Ok(None);
    };
    let buckets: Buckets = serde_json::from_value(body).map_err(|e| {
        Error::influx(format!(
            "InfluxDB at {} listed buckets in an unexpected shape: {e}",
            c.url(&path)
        ))
    })?;
    Ok(buckets.buckets.into_iter().find(|b| b.name == want.name))
}

/// Whether a 2.x server still waits for its initial setup (onboarding). A server without that
/// endpoint is not InfluxDB 2 (a 1.x one answers 404 to every `/api/v2` path).
async fn setup_allowed(c: &Client) -> Result<bool> {
    let path = "/api/v2/setup";
    let Some(body) = c.with_auth(Auth::None).get_json_opt(path, &help(c)).await? else {
        return Err(Error::influx(format!(
            "InfluxDB at {} answered HTTP 404: it is not InfluxDB 2, which `influxdb.version: 2` says (an InfluxDB 1.x answers so)",
            c.url(path)
        ))
        .with_help(
            "if the stack's InfluxDB data was made by InfluxDB 1.x, keep `influxdb.version: 1` (promo-infra does not migrate 1.x data to 2); else check what listens on that port (`promo-infra status`)",
        ));
    };
    Ok(body["allowed"].as_bool().unwrap_or(false))
}

/// What exists, or `None` when the bucket does not (or the server awaits its setup).
pub async fn observe(
    c: &Client,
    want: &DatabaseSpec,
    secrets: &SecretValues,
) -> Result<Option<DatabaseSpec>> {
    if setup_allowed(c).await? {
        return Ok(None);
    }
    let token = super::secret(secrets, crate::secrets::INFLUX_ADMIN_TOKEN)?;
    Ok(find_bucket(&with_token(c, token), want)
        .await?
        .map(|b| b.as_spec(want)))
}

impl Bucket {
    /// The bucket in `want`'s terms (its retention as InfluxQL spells it).
    pub(super) fn as_spec(&self, want: &DatabaseSpec) -> DatabaseSpec {
        let secs = self
            .retention_rules
            .iter()
            .find(|r| r.kind == "expire")
            .map_or(0, |r| r.every_seconds);
        DatabaseSpec {
            version: 2,
            name: self.name.clone(),
            org: want.org.clone(),
            retention: Retention {
                seconds: (secs > 0).then_some(secs),
            }
            .influxql(),
            shard_duration: String::new(),
            // 2.x users are created by the setup and not listed back: the declared admin stands.
            users: want.users.clone(),
            dbrp: None,
        }
    }
}

/// Run the setup, or create / converge the bucket and its retention.
pub async fn apply(c: &Client, want: &DatabaseSpec, secrets: &SecretValues) -> Result<()> {
    let token = super::secret(secrets, crate::secrets::INFLUX_ADMIN_TOKEN)?;
    let every = every_seconds(want);
    let org = want.org.clone().unwrap_or_default();
    if setup_allowed(c).await? {
        let admin = super::admin_of(want)
            .ok_or_else(|| Error::internal("no admin user declared for the InfluxDB 2 setup"))?;
        let path = "/api/v2/setup";
        let req = c.request(Method::POST, path).json(&json!({
            "username": admin.name,
            "password": super::secret(secrets, &admin.password_secret)?,
            "org": org,
            "bucket": want.name,
            "retentionPeriodSeconds": every,
            "token": token,
        }));
        c.send_ok(path, req, &help(c)).await?;
        return Ok(());
    }
    converge_bucket(&with_token(c, token), want, (None, ""))
        .await
        .map(|_| ())
}

/// The bucket's retention in seconds (0: infinite).
fn every_seconds(want: &DatabaseSpec) -> u64 {
    crate::manifest::duration::parse(&want.retention)
        .map(Retention::every_seconds)
        .unwrap_or(0)
}

/// The organisation `org`'s id, as `c` sees it.
pub(super) async fn org_id(c: &Client, org: &str) -> Result<String> {
    let orgs = c
        .get_json(&with_query("/api/v2/orgs", &[("org", org)]), &help(c))
        .await?;
    orgs["orgs"][0]["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            Error::influx(format!(
                "InfluxDB at {}: organisation `{org}` not found",
                c.base()
            ))
            .with_help("check influxdb.org (or targets.cloud.influx_org) in the manifest")
        })
}

/// Create the bucket of `want` or set its retention rules; every PATCH carries the rules
/// (InfluxDB Cloud refuses one without them). `org_id`: the organisation's id when the caller
/// knows it (else it is looked up by `want.org` for a create). A bucket it creates gets
/// `description` (a found one keeps its own).
pub(super) async fn converge_bucket(
    c: &Client,
    want: &DatabaseSpec,
    (org_id, description): (Option<&str>, &str),
) -> Result<Bucket> {
    let org = want.org.clone().unwrap_or_default();
    // Always one rule: `everySeconds: 0` is infinite. An empty list would not do: InfluxDB 2
    // keeps a bucket's retention when a PATCH carries no rule (`http/bucket_service.go`).
    let rules = vec![RetentionRule {
        kind: "expire".into(),
        every_seconds: every_seconds(want),
    }];
    let (method, path, body) = match find_bucket(c, want).await? {
        Some(b) => (
            Method::PATCH,
            format!("/api/v2/buckets/{}", segment(&b.id)),
            json!({ "retentionRules": rules }),
        ),
        None => {
            let org_id = match org_id {
                Some(id) => id.to_string(),
                None => self::org_id(c, &org).await?,
            };
            (
                Method::POST,
                "/api/v2/buckets".to_string(),
                json!({ "orgID": org_id, "name": want.name, "description": description, "retentionRules": rules }),
            )
        }
    };
    let req = c.request(method, &path).json(&body);
    let resp = c.send_ok(&path, req, &help(c)).await?;
    let answer = super::client::json(&c.url(&path), resp).await?;
    serde_json::from_value(answer).map_err(|e| {
        Error::influx(format!(
            "InfluxDB at {} answered a bucket in an unexpected shape: {e}",
            c.url(&path)
        ))
    })
}

/// A path segment, percent-encoded.
pub(super) fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The authorization whose token is `token`, listed as `c`'s token: its JSON.
async fn find_authorization(c: &Client, token: &str) -> Result<Option<Value>> {
    let list = c.get_json("/api/v2/authorizations", &help(c)).await?;
    Ok(list["authorizations"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["token"].as_str() == Some(token)))
        .cloned())
}

/// `secrets rotate INFLUXDB_ADMIN_TOKEN`, step 1: a new authorization with the organisation
/// and permissions of the one `old` is, created as `old`. Returns the new token (InfluxDB
/// generates token values). The old authorization stays valid until [`delete_token`].
pub async fn create_token_like(c: &Client, old: &str) -> Result<String> {
    let c = with_token(c, old);
    let current = find_authorization(&c, old).await?.ok_or_else(|| {
        Error::influx(format!(
            "InfluxDB at {}: the token in INFLUXDB_ADMIN_TOKEN is not listed among its authorizations",
            c.base()
        ))
        .with_help("check INFLUXDB_ADMIN_TOKEN in .env; nothing was changed")
    })?;
    let path = "/api/v2/authorizations";
    let req = c.request(Method::POST, path).json(&json!({
        "orgID": current["orgID"],
        "description": "promo-infra admin token (secrets rotate)",
        "permissions": current["permissions"],
    }));
    let resp = c.send_ok(path, req, &help(&c)).await?;
    let created = super::client::json(&c.url(path), resp).await?;
    created["token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            Error::influx(format!(
                "InfluxDB at {}: the new authorization has no token",
                c.url(path)
            ))
        })
}

/// Whether `token` is accepted (it may list authorizations).
pub async fn token_works(c: &Client, token: &str) -> bool {
    with_token(c, token)
        .get_json("/api/v2/authorizations", &help(c))
        .await
        .is_ok()
}

/// Rotation, last step: delete the authorization of `old`, as `new`. Already gone: done.
pub async fn delete_token(c: &Client, new: &str, old: &str) -> Result<()> {
    let c = with_token(c, new);
    let Some(a) = find_authorization(&c, old).await? else {
        return Ok(());
    };
    let path = format!(
        "/api/v2/authorizations/{}",
        segment(a["id"].as_str().unwrap_or_default())
    );
    let req = c.request(Method::DELETE, &path);
    c.send_ok(&path, req, &help(&c)).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_v2_token_is_replaced_by_one_with_the_same_permissions_then_deleted() {
        let double = promo_doubles::influx2::spawn(promo_doubles::influx2::Influx2Config {
            setup: Some(promo_doubles::influx2::Influx2Setup {
                username: "admin".into(),
                password: "password123".into(),
                org: "org".into(),
                bucket: "k6".into(),
                retention_seconds: 0,
                token: Some("old-operator-token".into()),
            }),
            ..Default::default()
        })
        .await
        .expect("double");
        let c =
            Client::new(&super::super::Endpoint { url: double.url() }, Auth::None).expect("client");
        let old = "old-operator-token";
        let before = find_authorization(&with_token(&c, old), old)
            .await
            .expect("list")
            .expect("old");
        let new = create_token_like(&c, old).await.expect("create");
        assert_ne!(new, old);
        let after = find_authorization(&with_token(&c, &new), &new)
            .await
            .expect("list")
            .expect("new");
        assert_eq!(after["permissions"], before["permissions"]);
        assert_eq!(after["orgID"], before["orgID"]);
        assert!(
            token_works(&c, old).await,
            "the old token works until deleted"
        );
        delete_token(&c, &new, old).await.expect("delete");
        assert!(!token_works(&c, old).await, "the old token is gone");
        assert!(token_works(&c, &new).await);
        delete_token(&c, &new, old)
            .await
            .expect("deleting again is a no-op");
    }

    #[test]
    fn query_values_and_path_segments_are_encoded() {
        assert_eq!(
            with_query("/api/v2/buckets", &[("name", "k6 metrics"), ("org", "a&b")]),
            "/api/v2/buckets?name=k6+metrics&org=a%26b"
        );
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
