//! InfluxDB initialisation as a converging resource: the database (1.x) or bucket (2.x), its
//! retention, and for 1.x the least-privilege users (admin, a READ user for Grafana, a WRITE
//! user for k6). Observed and applied over the HTTP API, shared by every target that owns an
//! InfluxDB. Passwords travel in request bodies and headers, never in URLs or argv.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::desired::{DatabaseSpec, DbUser};
use crate::error::{Error, Result};
use crate::manifest::duration::Retention;
use crate::secrets::SecretValues;

/// Where an InfluxDB answers.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL (`http://127.0.0.1:8086`).
    pub url: String,
}

/// One HTTP client per process: building one loads the system's CA certificates (~1.5 ms each
/// time), which dominated a no-op `plan`. Idle connections are not pooled, so the client is safe
/// to use from several tokio runtimes (tests) one after another.
fn client() -> Result<reqwest::Client> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c.clone());
    }
    let built = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| Error::Target {
            message: format!("cannot build an HTTP client: {e}"),
            help: None,
        })?;
    Ok(CLIENT.get_or_init(|| built).clone())
}

fn secret<'a>(secrets: &'a SecretValues, name: &str) -> Result<&'a str> {
    secrets.get(name).ok_or_else(|| Error::Target {
        message: format!("secret {name} is not set"),
        help: Some("run `promo-infra generate` to create it in .env".into()),
    })
}

fn transport(url: &str, e: &reqwest::Error) -> Error {
    let message = format!("InfluxDB at {url}: {e}");
    if e.is_connect() || e.is_timeout() {
        Error::Transient { message }
    } else {
        Error::Target {
            message,
            help: None,
        }
    }
}

/// Run InfluxQL statements (1.x) as `user` (or without auth when `None`). Returns the JSON.
async fn influxql(ep: &Endpoint, auth: Option<(&str, &str)>, q: &str) -> Result<Value> {
    let url = format!("{}/query", ep.url);
    let mut req = client()?.post(&url).form(&[("q", q)]);
    if let Some((u, p)) = auth {
        req = req.basic_auth(u, Some(p));
    }
    let resp = req.send().await.map_err(|e| transport(&url, &e))?;
    let status = resp.status();
    let body: Value = resp.json().await.map_err(|e| transport(&url, &e))?;
    let statement_error = body["results"].as_array().and_then(|r| {
        r.iter()
            .find_map(|x| x["error"].as_str().map(str::to_string))
    });
    if let Some(err) = body["error"]
        .as_str()
        .map(str::to_string)
        .or(statement_error)
    {
        let status_transient = status.is_server_error();
        let message = format!("InfluxDB at {url} refused `{}`: {err}", redact_passwords(q));
        return Err(if status_transient {
            Error::Transient { message }
        } else {
            Error::Target {
                message,
                help: Some("check the admin credentials in .env and that InfluxDB is the version the manifest says".into()),
            }
        });
    }
    Ok(body)
}

/// Statements may carry passwords: never let one reach an error message.
fn redact_passwords(q: &str) -> String {
    let mut out = String::new();
    let mut rest = q;
    while let Some(i) = rest.find("PASSWORD '") {
        out.push_str(&rest[..i + 10]);
        rest = &rest[i + 10..];
        match rest.find('\'') {
            Some(j) => {
                out.push_str("(sensitive)'");
                rest = &rest[j + 1..];
            }
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Rows of the first series of the first result.
fn rows(body: &Value) -> Vec<Vec<Value>> {
    body["results"][0]["series"][0]["values"]
        .as_array()
        .map(|v| v.iter().filter_map(|r| r.as_array().cloned()).collect())
        .unwrap_or_default()
}

/// What exists, as a `DatabaseSpec` (with the desired spec's secret names for users that
/// exist), or `None` when the database does not.
pub async fn observe(
    ep: &Endpoint,
    want: &DatabaseSpec,
    secrets: &SecretValues,
) -> Result<Option<DatabaseSpec>> {
    if want.version == 2 {
        return observe_v2(ep, want, secrets).await;
    }
    let admin = want.users.iter().find(|u| u.privilege == "ALL");
    let admin_auth = match admin {
        Some(a) => Some((a.name.as_str(), secret(secrets, &a.password_secret)?)),
        None => None,
    };
    // A fresh server with auth on and no users answers only CREATE USER: treat as empty.
    let dbs = match influxql(ep, admin_auth, "SHOW DATABASES").await {
        Ok(b) => b,
        Err(Error::Target { message, .. }) if message.contains("create admin user first") => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    if !rows(&dbs)
        .iter()
        .any(|r| r.first().and_then(Value::as_str) == Some(want.name.as_str()))
    {
        return Ok(None);
    }
    let rps = influxql(
        ep,
        admin_auth,
        &format!("SHOW RETENTION POLICIES ON {}", quote_ident(&want.name)),
    )
    .await?;
    let (mut retention, mut shard) = (String::new(), String::new());
    for r in rows(&rps) {
        if r.get(4).and_then(Value::as_bool) == Some(true) {
            retention = go_duration_to_influxql(r.get(1).and_then(Value::as_str).unwrap_or(""));
            shard = go_duration_to_influxql(r.get(2).and_then(Value::as_str).unwrap_or(""));
        }
    }
    let users_body = influxql(ep, admin_auth, "SHOW USERS").await?;
    let mut users = Vec::new();
    for r in rows(&users_body) {
        let Some(name) = r.first().and_then(Value::as_str) else {
            continue;
        };
        let Some(wanted) = want.users.iter().find(|u| u.name == name) else {
            continue;
        };
        let privilege = if r.get(1).and_then(Value::as_bool) == Some(true) {
            "ALL".to_string()
        } else {
            let grants = influxql(
                ep,
                admin_auth,
                &format!("SHOW GRANTS FOR {}", quote_ident(name)),
            )
            .await?;
            rows(&grants)
                .iter()
                .find(|g| g.first().and_then(Value::as_str) == Some(want.name.as_str()))
                .and_then(|g| g.get(1).and_then(Value::as_str))
                .map_or_else(
                    || "NO PRIVILEGES".to_string(),
                    |p| p.replace(" PRIVILEGES", ""),
                )
        };
        users.push(DbUser {
            name: name.to_string(),
            privilege,
            password_secret: wanted.password_secret.clone(),
        });
    }
    users.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Some(DatabaseSpec {
        version: 1,
        name: want.name.clone(),
        org: None,
        retention,
        shard_duration: shard,
        users,
    }))
}

/// `672h0m0s` → `672h`; `30m0s` → `30m`; `0s` → `INF`.
fn go_duration_to_influxql(d: &str) -> String {
    let mut secs: u64 = 0;
    let mut num = String::new();
    for c in d.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num.parse().unwrap_or(0);
        num.clear();
        secs += match c {
            'h' => n * 3600,
            'm' => n * 60,
            's' => n,
            _ => 0,
        };
    }
    Retention {
        seconds: (secs > 0).then_some(secs),
    }
    .influxql()
}

/// Create or converge the database, retention and users. Idempotent; never drops data.
pub async fn apply(ep: &Endpoint, want: &DatabaseSpec, secrets: &SecretValues) -> Result<()> {
    if want.version == 2 {
        return apply_v2(ep, want, secrets).await;
    }
    let admin = want
        .users
        .iter()
        .find(|u| u.privilege == "ALL")
        .ok_or_else(|| Error::Target {
            message: "no admin user declared for InfluxDB 1.x".into(),
            help: None,
        })?;
    let admin_pw = secret(secrets, &admin.password_secret)?;
    let auth = Some((admin.name.as_str(), admin_pw));
    // With auth enabled and no user yet, InfluxDB accepts exactly this statement unauthenticated.
    let existing = match influxql(ep, auth, "SHOW USERS").await {
        Ok(b) => rows(&b)
            .iter()
            .filter_map(|r| r.first().and_then(Value::as_str).map(str::to_string))
            .collect(),
        Err(Error::Target { message, .. }) if message.contains("create admin user first") => {
            influxql(
                ep,
                None,
                &format!(
                    "CREATE USER {} WITH PASSWORD {} WITH ALL PRIVILEGES",
                    quote_ident(&admin.name),
                    quote_str(admin_pw)
                ),
            )
            .await?;
            vec![admin.name.clone()]
        }
        Err(e) => return Err(e),
    };
    let db = quote_ident(&want.name);
    influxql(ep, auth, &format!("CREATE DATABASE {db}")).await?;
    influxql(
        ep,
        auth,
        &format!(
            "ALTER RETENTION POLICY \"autogen\" ON {db} DURATION {} SHARD DURATION {} DEFAULT",
            want.retention, want.shard_duration
        ),
    )
    .await?;
    for user in want.users.iter().filter(|u| u.privilege != "ALL") {
        let pw = secret(secrets, &user.password_secret)?;
        let name = quote_ident(&user.name);
        if !existing.contains(&user.name) {
            influxql(
                ep,
                auth,
                &format!("CREATE USER {name} WITH PASSWORD {}", quote_str(pw)),
            )
            .await?;
        }
        influxql(
            ep,
            auth,
            &format!("GRANT {} ON {db} TO {name}", user.privilege),
        )
        .await?;
    }
    Ok(())
}

/// Set a user's password (used by `secrets rotate`).
pub async fn set_password(
    ep: &Endpoint,
    admin: (&str, &str),
    user: &str,
    password: &str,
) -> Result<()> {
    influxql(
        ep,
        Some(admin),
        &format!(
            "SET PASSWORD FOR {} = {}",
            quote_ident(user),
            quote_str(password)
        ),
    )
    .await
    .map(|_| ())
}

/// Whether `user` / `password` are accepted (1.x: `SHOW DATABASES` as that user). Used by
/// `secrets rotate` to tell an interrupted rotation (the new password already set) from a
/// failure.
pub async fn accepts(ep: &Endpoint, user: &str, password: &str) -> bool {
    influxql(ep, Some((user, password)), "SHOW DATABASES")
        .await
        .is_ok()
}

#[derive(Deserialize)]
struct Buckets {
    buckets: Vec<Bucket>,
}

#[derive(Deserialize, Serialize)]
struct Bucket {
    id: String,
    name: String,
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

async fn v2_get(ep: &Endpoint, token: &str, path: &str) -> Result<reqwest::Response> {
    let url = format!("{}{path}", ep.url);
    let resp = client()?
        .get(&url)
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .map_err(|e| transport(&url, &e))?;
    check_v2(&url, resp).await
}

async fn check_v2(url: &str, resp: reqwest::Response) -> Result<reqwest::Response> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    let message = format!("InfluxDB at {url}: HTTP {status}: {}", body.trim());
    Err(if status.as_u16() == 429 || status.is_server_error() {
        Error::Transient { message }
    } else {
        Error::Target {
            message,
            help: Some(
                "check INFLUXDB_ADMIN_TOKEN in .env and the org/bucket in the manifest".into(),
            ),
        }
    })
}

async fn find_bucket(ep: &Endpoint, token: &str, want: &DatabaseSpec) -> Result<Option<Bucket>> {
    let org = want.org.clone().unwrap_or_default();
    let path = format!(
        "/api/v2/buckets?name={}&org={}",
        urlencode(&want.name),
        urlencode(&org)
    );
    let resp = match v2_get(ep, token, &path).await {
        Err(Error::Target { message, .. }) if message.contains("HTTP 404") => return Ok(None),
        other => other?,
    };
    let buckets: Buckets = resp.json().await.map_err(|e| transport(&ep.url, &e))?;
    Ok(buckets.buckets.into_iter().find(|b| b.name == want.name))
}

/// Whether a 2.x server still waits for its initial setup (onboarding).
async fn setup_allowed(ep: &Endpoint) -> Result<bool> {
    let url = format!("{}/api/v2/setup", ep.url);
    let resp = client()?
        .get(&url)
        .send()
        .await
        .map_err(|e| transport(&url, &e))?;
    let body: Value = check_v2(&url, resp)
        .await?
        .json()
        .await
        .map_err(|e| transport(&url, &e))?;
    Ok(body["allowed"].as_bool().unwrap_or(false))
}

async fn observe_v2(
    ep: &Endpoint,
    want: &DatabaseSpec,
    secrets: &SecretValues,
) -> Result<Option<DatabaseSpec>> {
    if setup_allowed(ep).await? {
        return Ok(None);
    }
    let token = secret(secrets, crate::secrets::INFLUX_ADMIN_TOKEN)?;
    Ok(find_bucket(ep, token, want).await?.map(|b| {
        let secs = b
            .retention_rules
            .iter()
            .find(|r| r.kind == "expire")
            .map_or(0, |r| r.every_seconds);
        DatabaseSpec {
            version: 2,
            name: b.name,
            org: want.org.clone(),
            retention: Retention {
                seconds: (secs > 0).then_some(secs),
            }
            .influxql(),
            shard_duration: String::new(),
            // 2.x users are created by the setup and not listed back: the declared admin stands.
            users: want.users.clone(),
        }
    }))
}

async fn apply_v2(ep: &Endpoint, want: &DatabaseSpec, secrets: &SecretValues) -> Result<()> {
    let token = secret(secrets, crate::secrets::INFLUX_ADMIN_TOKEN)?;
    let every = crate::manifest::duration::parse(&want.retention)
        .map(Retention::every_seconds)
        .unwrap_or(0);
    let rules = if every == 0 {
        vec![]
    } else {
        vec![RetentionRule {
            kind: "expire".into(),
            every_seconds: every,
        }]
    };
    let http = client()?;
    if setup_allowed(ep).await? {
        let admin = want
            .users
            .iter()
            .find(|u| u.privilege == "ALL")
            .ok_or_else(|| Error::Target {
                message: "no admin user declared for the InfluxDB 2 setup".into(),
                help: None,
            })?;
        let url = format!("{}/api/v2/setup", ep.url);
        let resp = http
            .post(&url)
            .json(&serde_json::json!({
                "username": admin.name,
                "password": secret(secrets, &admin.password_secret)?,
                "org": want.org.clone().unwrap_or_default(),
                "bucket": want.name,
                "retentionPeriodSeconds": every,
                "token": token,
            }))
            .send()
            .await
            .map_err(|e| transport(&url, &e))?;
        check_v2(&url, resp).await?;
        return Ok(());
    }
    match find_bucket(ep, token, want).await? {
        Some(b) => {
            let url = format!("{}/api/v2/buckets/{}", ep.url, b.id);
            let resp = http
                .patch(&url)
                .header("Authorization", format!("Token {token}"))
                .json(&serde_json::json!({ "retentionRules": rules }))
                .send()
                .await
                .map_err(|e| transport(&url, &e))?;
            check_v2(&url, resp).await?;
        }
        None => {
            let org = want.org.clone().unwrap_or_default();
            let orgs: Value = v2_get(ep, token, &format!("/api/v2/orgs?org={}", urlencode(&org)))
                .await?
                .json()
                .await
                .map_err(|e| transport(&ep.url, &e))?;
            let org_id = orgs["orgs"][0]["id"]
                .as_str()
                .ok_or_else(|| Error::Target {
                    message: format!("InfluxDB at {}: organisation `{org}` not found", ep.url),
                    help: Some("check influxdb.org in the manifest".into()),
                })?;
            let url = format!("{}/api/v2/buckets", ep.url);
            let resp = http
                .post(&url)
                .header("Authorization", format!("Token {token}"))
                .json(&serde_json::json!({ "orgID": org_id, "name": want.name, "retentionRules": rules }))
                .send()
                .await
                .map_err(|e| transport(&url, &e))?;
            check_v2(&url, resp).await?;
        }
    }
    Ok(())
}

/// The authorization whose token is `token`, listed with `as_token`: its JSON.
async fn find_authorization(ep: &Endpoint, as_token: &str, token: &str) -> Result<Option<Value>> {
    let list: Value = v2_get(ep, as_token, "/api/v2/authorizations")
        .await?
        .json()
        .await
        .map_err(|e| transport(&ep.url, &e))?;
    Ok(list["authorizations"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["token"].as_str() == Some(token)))
        .cloned())
}

/// 2.x `secrets rotate INFLUXDB_ADMIN_TOKEN`, step 1: a new authorization with the organisation
/// and permissions of the one `old` is, created as `old`. Returns the new token (InfluxDB
/// generates token values). The old authorization stays valid until [`delete_token`].
pub async fn create_token_like(ep: &Endpoint, old: &str) -> Result<String> {
    let current = find_authorization(ep, old, old)
        .await?
        .ok_or_else(|| Error::Target {
            message: format!(
                "InfluxDB at {}: the token in INFLUXDB_ADMIN_TOKEN is not listed among its authorizations",
                ep.url
            ),
            help: Some("check INFLUXDB_ADMIN_TOKEN in .env; nothing was changed".into()),
        })?;
    let url = format!("{}/api/v2/authorizations", ep.url);
    let resp = client()?
        .post(&url)
        .header("Authorization", format!("Token {old}"))
        .json(&serde_json::json!({
            "orgID": current["orgID"],
            "description": "promo-infra admin token (secrets rotate)",
            "permissions": current["permissions"],
        }))
        .send()
        .await
        .map_err(|e| transport(&url, &e))?;
    let created: Value = check_v2(&url, resp)
        .await?
        .json()
        .await
        .map_err(|e| transport(&url, &e))?;
    created["token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| Error::Target {
            message: format!("InfluxDB at {url}: the new authorization has no token"),
            help: None,
        })
}

/// Whether `token` is accepted by a 2.x server (it may list authorizations).
pub async fn token_works(ep: &Endpoint, token: &str) -> bool {
    v2_get(ep, token, "/api/v2/authorizations").await.is_ok()
}

/// 2.x rotation, last step: delete the authorization of `old`, as `new`. Already gone: done.
pub async fn delete_token(ep: &Endpoint, new: &str, old: &str) -> Result<()> {
    let Some(a) = find_authorization(ep, new, old).await? else {
        return Ok(());
    };
    let id = a["id"].as_str().unwrap_or_default();
    let url = format!("{}/api/v2/authorizations/{}", ep.url, urlencode(id));
    let resp = client()?
        .delete(&url)
        .header("Authorization", format!("Token {new}"))
        .send()
        .await
        .map_err(|e| transport(&url, &e))?;
    check_v2(&url, resp).await.map(|_| ())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An observed database in plan terms: its canonical form and hash computed exactly as the
/// desired resource's are, so an unchanged database plans as no change.
pub fn observed_resource(
    id: &crate::desired::ResourceId,
    spec: DatabaseSpec,
) -> crate::plan::ObservedResource {
    let r = crate::desired::Resource::new(
        id.clone(),
        Vec::new(),
        crate::desired::ResourceSpec::Database(spec),
        &std::collections::BTreeMap::new(),
    );
    crate::plan::ObservedResource {
        id: id.clone(),
        hash: Some(r.hash),
        canonical: r.canonical,
        converged: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact_passwords("CREATE USER \"k6\" WITH PASSWORD 'abc123' WITH ALL PRIVILEGES"),
            "CREATE USER \"k6\" WITH PASSWORD '(sensitive)' WITH ALL PRIVILEGES"
        );
    }

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
        let ep = Endpoint { url: double.url() };
        let old = "old-operator-token";
        let before = find_authorization(&ep, old, old)
            .await
            .expect("list")
            .expect("old");
        let new = create_token_like(&ep, old).await.expect("create");
        assert_ne!(new, old);
        let after = find_authorization(&ep, &new, &new)
            .await
            .expect("list")
            .expect("new");
        assert_eq!(after["permissions"], before["permissions"]);
        assert_eq!(after["orgID"], before["orgID"]);
        assert!(
            token_works(&ep, old).await,
            "the old token works until deleted"
        );
        delete_token(&ep, &new, old).await.expect("delete");
        assert!(!token_works(&ep, old).await, "the old token is gone");
        assert!(token_works(&ep, &new).await);
        delete_token(&ep, &new, old)
            .await
            .expect("deleting again is a no-op");
    }

    #[test]
    fn go_durations_normalise() {
        assert_eq!(go_duration_to_influxql("672h0m0s"), "672h");
        assert_eq!(go_duration_to_influxql("0s"), "INF");
        assert_eq!(go_duration_to_influxql("1h30m0s"), "90m");
    }
}
