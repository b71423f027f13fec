//! Service accounts and their tokens (`/api/serviceaccounts*`), and the basic-role check of
//! requests made with those tokens.
//!
//! Owns: the registry of API-created service accounts (kept in [`super::model::Store`]), the
//! `glsa_` token format, and the role layer ([`enforce_role`]) that runs after the gate has
//! authenticated the caller. May not: print, read the environment, or change how the gate
//! authenticates basic-auth users and configured tokens (those act as Admin, as before).

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::App;
use super::error::{ApiError, ApiResult, parse_body};
use super::model::slugify;
use crate::common::{IdGen, lock, now_ms, query_get, query_pairs, rfc3339};

/// A basic role, as Grafana orders them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "Viewer" => Some(Role::Viewer),
            "Editor" => Some(Role::Editor),
            "Admin" => Some(Role::Admin),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "Viewer",
            Role::Editor => "Editor",
            Role::Admin => "Admin",
        }
    }
}

/// A token of a service account; `key` is shown once, in the create response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaToken {
    pub id: i64,
    pub name: String,
    pub key: String,
    pub created_ms: i64,
    /// `None` = never expires.
    pub expires_ms: Option<i64>,
}

/// A service account created through the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccount {
    pub id: i64,
    pub name: String,
    pub login: String,
    pub role: Role,
    pub is_disabled: bool,
    pub tokens: Vec<SaToken>,
}

impl ServiceAccount {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id, "name": self.name, "login": self.login, "orgId": 1,
            "isDisabled": self.is_disabled, "role": self.role.as_str(),
            "tokens": self.tokens.len(), "avatarUrl": "/avatar/double",
        })
    }
}

/// The API-created service accounts (ids start at 2: the admin user is 1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    pub accounts: Vec<ServiceAccount>,
    next_id: i64,
}

impl Registry {
    /// The role a bearer token grants: `None` for an unknown, expired or disabled one.
    pub fn token_role(&self, key: &str, now: i64) -> Option<Role> {
        self.accounts
            .iter()
            .filter(|a| !a.is_disabled)
            .find(|a| {
                a.tokens
                    .iter()
                    .any(|t| t.key == key && t.expires_ms.is_none_or(|e| e > now))
            })
            .map(|a| a.role)
    }

    fn account_mut(&mut self, id: &str) -> ApiResult<&mut ServiceAccount> {
        let id: i64 = id
            .parse()
            .map_err(|_| ApiError::bad_request("Service account ID is invalid"))?;
        self.accounts
            .iter_mut()
            .find(|a| a.id == id)
            .ok_or_else(|| ApiError::not_found("service account not found"))
    }
}

/// A new `glsa_` key: `glsa_<32 alphanumerics>_<8 hex check digits>` (Grafana's
/// `satokengen` shape; the double's check digits are a SHA-256 prefix, not a CRC32).
pub fn new_key(ids: &IdGen) -> String {
    let secret: String = (0..3).map(|_| ids.short_uid()).collect::<String>()[..32].to_owned();
    let check = Sha256::digest(secret.as_bytes());
    format!("glsa_{secret}_{}", hex::encode(&check[..4]))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct CreateBody {
    name: String,
    role: Option<String>,
    is_disabled: bool,
}

/// `POST /api/serviceaccounts` → 201 with the account.
pub async fn create(State(app): State<App>, body: Bytes) -> ApiResult<Response> {
    let b: CreateBody = parse_body(&body)?;
    if b.name.trim().is_empty() {
        return Err(ApiError::bad_request("Required service account name"));
    }
    let role = match b.role.as_deref().filter(|r| !r.is_empty()) {
        None => Role::Viewer,
        Some(r) => Role::parse(r)
            .ok_or_else(|| ApiError::bad_request(format!("invalid role value: {r}")))?,
    };
    let mut st = lock(&app.store);
    let reg = &mut st.service_accounts;
    let login = format!("sa-{}", slugify(&b.name));
    if reg
        .accounts
        .iter()
        .any(|a| a.name == b.name || a.login == login)
    {
        return Err(ApiError::bad_request("service account already exists"));
    }
    reg.next_id = reg.next_id.max(1) + 1;
    let sa = ServiceAccount {
        id: reg.next_id,
        name: b.name,
        login,
        role,
        is_disabled: b.is_disabled,
        tokens: Vec::new(),
    };
    reg.accounts.push(sa.clone());
    Ok((StatusCode::CREATED, axum::Json(sa.to_json())).into_response())
}

/// `GET /api/serviceaccounts/search?query=` → `{totalCount, serviceAccounts, page, perPage}`.
pub async fn search(State(app): State<App>, RawQuery(q): RawQuery) -> Response {
    let pairs = query_pairs(q.as_deref());
    let needle = query_get(&pairs, "query").unwrap_or("").to_lowercase();
    let st = lock(&app.store);
    let found: Vec<Value> = st
        .service_accounts
        .accounts
        .iter()
        .filter(|a| a.name.to_lowercase().contains(&needle) || a.login.contains(&needle))
        .map(ServiceAccount::to_json)
        .collect();
    axum::Json(json!({
        "totalCount": found.len(), "serviceAccounts": found, "page": 1, "perPage": 1000,
    }))
    .into_response()
}

pub async fn get_one(State(app): State<App>, Path(id): Path<String>) -> ApiResult<Response> {
    let mut st = lock(&app.store);
    let sa = st.service_accounts.account_mut(&id)?;
    Ok(axum::Json(sa.to_json()).into_response())
}

pub async fn delete(State(app): State<App>, Path(id): Path<String>) -> ApiResult<Response> {
    let mut st = lock(&app.store);
    let sa_id = st.service_accounts.account_mut(&id)?.id;
    st.service_accounts.accounts.retain(|a| a.id != sa_id);
    Ok(axum::Json(json!({ "message": "Service account deleted" })).into_response())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct TokenBody {
    name: String,
    seconds_to_live: i64,
}

/// `POST /api/serviceaccounts/{id}/tokens` → 200 `{id, name, key}`; the key is never
/// shown again.
pub async fn create_token(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: TokenBody = parse_body(&body)?;
    if b.name.trim().is_empty() {
        return Err(ApiError::bad_request("Required token name"));
    }
    let key = new_key(&app.ids);
    let mut st = lock(&app.store);
    let reg = &mut st.service_accounts;
    let next = reg
        .accounts
        .iter()
        .flat_map(|a| a.tokens.iter().map(|t| t.id))
        .max()
        .unwrap_or(0)
        + 1;
    let sa = reg.account_mut(&id)?;
    if sa.tokens.iter().any(|t| t.name == b.name) {
        return Err(ApiError::msg(
            StatusCode::CONFLICT,
            "service account token with given name already exists in the organization",
        ));
    }
    let now = now_ms();
    sa.tokens.push(SaToken {
        id: next,
        name: b.name.clone(),
        key: key.clone(),
        created_ms: now,
        expires_ms: (b.seconds_to_live > 0).then(|| now + b.seconds_to_live * 1000),
    });
    Ok(axum::Json(json!({ "id": next, "name": b.name, "key": key })).into_response())
}

/// `GET /api/serviceaccounts/{id}/tokens`: token metadata, never the key.
pub async fn list_tokens(State(app): State<App>, Path(id): Path<String>) -> ApiResult<Response> {
    let mut st = lock(&app.store);
    let now = now_ms();
    let sa = st.service_accounts.account_mut(&id)?;
    let out: Vec<Value> = sa
        .tokens
        .iter()
        .map(|t| {
            json!({
                "id": t.id, "name": t.name, "created": rfc3339(t.created_ms),
                "expiration": t.expires_ms.map(rfc3339),
                "secondsUntilExpiration": t.expires_ms.map(|e| (e - now).max(0) / 1000),
                "hasExpired": t.expires_ms.is_some_and(|e| e <= now),
                "isRevoked": false,
            })
        })
        .collect();
    Ok(axum::Json(out).into_response())
}

pub async fn delete_token(
    State(app): State<App>,
    Path((id, token_id)): Path<(String, i64)>,
) -> ApiResult<Response> {
    let mut st = lock(&app.store);
    let sa = st.service_accounts.account_mut(&id)?;
    let before = sa.tokens.len();
    sa.tokens.retain(|t| t.id != token_id);
    if sa.tokens.len() == before {
        return Err(ApiError::not_found("service account token not found"));
    }
    Ok(axum::Json(json!({ "message": "Service account token deleted" })).into_response())
}

/// The basic role a request needs: Admin for service accounts, server admin, datasource
/// writes and the alerting provisioning API; Editor for other writes; Viewer for reads.
pub fn required_role(method: &Method, path: &str) -> Role {
    let write = !matches!(*method, Method::GET | Method::HEAD);
    let admin_area = path.starts_with("/api/serviceaccounts")
        || path.starts_with("/api/admin/")
        || path.starts_with("/api/v1/provisioning/")
        || (write && path.starts_with("/api/datasources"));
    if admin_area {
        Role::Admin
    } else if write {
        Role::Editor
    } else {
        Role::Viewer
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Refuses a request made with an API-created service-account token whose role is below
/// [`required_role`] (403 `Access denied`). Basic-auth admins and configured tokens pass.
pub async fn enforce_role(State(app): State<App>, req: Request<Body>, next: Next) -> Response {
    let role = bearer(req.headers())
        .and_then(|t| lock(&app.store).service_accounts.token_role(t, now_ms()));
    let needed = required_role(req.method(), req.uri().path());
    match role {
        Some(r) if r < needed && !req.uri().path().starts_with("/__double/") => ApiError {
            status: StatusCode::FORBIDDEN,
            body: json!({
                "message": format!(
                    "You'll need additional permissions to perform this action. Permissions needed: role {}",
                    needed.as_str()
                ),
                "title": "Access denied",
            }),
            retry_after: None,
        }
        .into_response(),
        _ => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_glsa_shape() {
        let k = new_key(&IdGen::default());
        let parts: Vec<&str> = k.split('_').collect();
        assert_eq!(parts.len(), 3, "{k}");
        assert_eq!(parts[0], "glsa");
        assert_eq!(parts[1].len(), 32);
        assert!(parts[1].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(parts[2].len(), 8);
    }

    #[test]
    fn roles_needed() {
        assert_eq!(required_role(&Method::GET, "/api/search"), Role::Viewer);
        assert_eq!(
            required_role(&Method::POST, "/api/dashboards/db"),
            Role::Editor
        );
        assert_eq!(
            required_role(&Method::PUT, "/api/datasources/uid/x"),
            Role::Admin
        );
        assert_eq!(
            required_role(&Method::GET, "/api/v1/provisioning/policies"),
            Role::Admin
        );
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
    }

    #[test]
    fn expired_and_disabled_tokens_grant_nothing() {
        let mut reg = Registry::default();
        let tok = |key: &str, exp| SaToken {
            id: 1,
            name: "t".into(),
            key: key.into(),
            created_ms: 0,
            expires_ms: exp,
        };
        reg.accounts.push(ServiceAccount {
            id: 2,
            name: "a".into(),
            login: "sa-a".into(),
            role: Role::Editor,
            is_disabled: false,
            tokens: vec![tok("live", None), tok("old", Some(10))],
        });
        assert_eq!(reg.token_role("live", 100), Some(Role::Editor));
        assert_eq!(reg.token_role("old", 100), None);
        reg.accounts[0].is_disabled = true;
        assert_eq!(reg.token_role("live", 100), None);
    }
}
