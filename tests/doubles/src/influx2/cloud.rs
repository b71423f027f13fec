//! The InfluxDB 2 double's DBRP mappings, v1-compatibility endpoints (`/query` InfluxQL,
//! `/write`), `/api/v2/query` (Flux) permission checks, and the InfluxDB Cloud Serverless
//! differences of [`super::Product::CloudServerless`].
//!
//! Owns: `/api/v2/dbrps*`, `/query`, `/write`, `/api/v2/query` and the v1 credential forms
//! (`u`/`p` query parameters, `Basic` with the token as password). May not: touch buckets,
//! authorizations or onboarding (those live in `mod.rs`), print, or read the environment.
//!
//! There is no query engine: InfluxQL answers `SHOW DATABASES` and `SHOW MEASUREMENTS` from
//! the mappings and the stored points; every other statement gets a statement error, unless
//! the test gave an InfluxQL backend ([`super::influxql`]): then a `SELECT` (or another
//! `SHOW`) that passed the edge checks runs there, and written points are stored there too.
//! Flux is never evaluated: a query the token may run answers 501 (see the crate README).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    App, Authorization, InfluxError, Reply, Store, allows, decode_body, err, forbidden, invalid,
    lineproto, not_found, parse_json,
};
use crate::common::{lock, now_ns, query_get, query_pairs};

/// A database/retention-policy mapping onto a bucket (`/api/v2/dbrps`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dbrp {
    pub id: String,
    pub org_id: String,
    pub bucket_id: String,
    pub database: String,
    pub retention_policy: String,
    pub default: bool,
}

impl Dbrp {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id, "orgID": self.org_id, "bucketID": self.bucket_id,
            "database": self.database, "retention_policy": self.retention_policy,
            "default": self.default, "virtual": false,
        })
    }
}

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/api/v2/dbrps", get(list_dbrps).post(create_dbrp))
        .route(
            "/api/v2/dbrps/{id}",
            get(get_dbrp).patch(patch_dbrp).delete(delete_dbrp),
        )
        .route("/api/v2/query", post(flux_query))
        .route("/query", get(influxql_query).post(influxql_query))
        .route("/write", post(v1_write))
}

/// The token of a v1-compatibility request (`/query`, `/write`): the `p` query parameter or
/// the password of `Basic` auth (the user name is ignored), as InfluxDB 2 and Cloud take it.
pub(super) fn v1_token(path: &str, headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if !matches!(path, "/query" | "/write") {
        return None;
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(_, p)| p.to_owned()));
    basic.or_else(|| {
        query_get(&query_pairs(query), "p")
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
    })
}

/// Whether the token may read or write the bucket (what makes a mapping visible).
fn can_see(auth: &Authorization, d: &Dbrp) -> bool {
    ["read", "write"]
        .into_iter()
        .any(|a| allows(auth, a, "buckets", &d.org_id, Some(&d.bucket_id)))
}

fn org_param(st: &Store, pairs: &[(String, String)]) -> Result<String, InfluxError> {
    match (query_get(pairs, "orgID"), query_get(pairs, "org")) {
        (Some(id), _) if !id.is_empty() => Ok(id.to_owned()),
        (_, Some(name)) if !name.is_empty() => st
            .find_org(name)
            .map(|o| o.id.clone())
            .ok_or_else(|| not_found(format!("organization name \"{name}\" not found"))),
        _ => Err(invalid("either \"org\" or \"orgID\" must be provided")),
    }
}

async fn list_dbrps(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    RawQuery(q): RawQuery,
) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let st = lock(&app.store);
    let org = org_param(&st, &pairs)?;
    let want = |key: &str, have: &str| query_get(&pairs, key).is_none_or(|v| v == have);
    let content: Vec<Value> = st
        .dbrps
        .iter()
        .filter(|d| d.org_id == org && can_see(&auth, d))
        .filter(|d| want("id", &d.id) && want("bucketID", &d.bucket_id))
        .filter(|d| want("db", &d.database) && want("rp", &d.retention_policy))
        .filter(|d| want("default", if d.default { "true" } else { "false" }))
        .map(Dbrp::to_json)
        .collect();
    Ok(axum::Json(json!({ "content": content })).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CreateDbrpBody {
    #[serde(rename = "orgID")]
    org_id: Option<String>,
    org: Option<String>,
    #[serde(rename = "bucketID")]
    bucket_id: String,
    database: String,
    retention_policy: String,
    default: Option<bool>,
}

async fn create_dbrp(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    body: Bytes,
) -> Reply {
    let b: CreateDbrpBody = parse_json(&body)?;
    let mut st = lock(&app.store);
    let mut pairs = Vec::new();
    if let Some(id) = b.org_id.filter(|o| !o.is_empty()) {
        pairs.push(("orgID".to_owned(), id));
    }
    if let Some(name) = b.org.filter(|o| !o.is_empty()) {
        pairs.push(("org".to_owned(), name));
    }
    let org_id = org_param(&st, &pairs)?;
    for (v, what) in [
        (&b.database, "database"),
        (&b.retention_policy, "retention_policy"),
        (&b.bucket_id, "bucketID"),
    ] {
        if v.trim().is_empty() {
            return Err(invalid(format!("{what} must be provided")));
        }
    }
    if !st
        .buckets
        .iter()
        .any(|x| x.id == b.bucket_id && x.org_id == org_id)
    {
        return Err(not_found("bucket not found"));
    }
    if !allows(&auth, "write", "buckets", &org_id, Some(&b.bucket_id)) {
        return Err(forbidden(format!(
            "write:orgs/{org_id}/buckets/{} is unauthorized",
            b.bucket_id
        )));
    }
    if st.dbrps.iter().any(|d| {
        d.org_id == org_id && d.database == b.database && d.retention_policy == b.retention_policy
    }) {
        return Err(err(
            StatusCode::CONFLICT,
            "conflict",
            "another DBRP mapping with same orgID, db, and rp exists",
        ));
    }
    let first_for_db = !st
        .dbrps
        .iter()
        .any(|d| d.org_id == org_id && d.database == b.database);
    let d = Dbrp {
        id: app.ids.hex16(),
        org_id,
        bucket_id: b.bucket_id,
        database: b.database,
        retention_policy: b.retention_policy,
        default: b.default.unwrap_or(false) || first_for_db,
    };
    if d.default {
        clear_default(&mut st, &d.org_id, &d.database);
    }
    st.dbrps.push(d.clone());
    Ok((StatusCode::CREATED, axum::Json(d.to_json())).into_response())
}

fn clear_default(st: &mut Store, org_id: &str, db: &str) {
    for x in st
        .dbrps
        .iter_mut()
        .filter(|x| x.org_id == org_id && x.database == db)
    {
        x.default = false;
    }
}

fn dbrp_idx(
    st: &Store,
    auth: &Authorization,
    id: &str,
    pairs: &[(String, String)],
) -> Result<usize, InfluxError> {
    let org = org_param(st, pairs)?;
    st.dbrps
        .iter()
        .position(|d| d.id == id && d.org_id == org && can_see(auth, d))
        .ok_or_else(|| not_found("unable to find DBRP"))
}

async fn get_dbrp(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Reply {
    let st = lock(&app.store);
    let i = dbrp_idx(&st, &auth, &id, &query_pairs(q.as_deref()))?;
    Ok(axum::Json(json!({ "content": st.dbrps[i].to_json() })).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PatchDbrpBody {
    retention_policy: Option<String>,
    default: Option<bool>,
}

fn write_allowed(auth: &Authorization, d: &Dbrp) -> Result<(), InfluxError> {
    if allows(auth, "write", "buckets", &d.org_id, Some(&d.bucket_id)) {
        Ok(())
    } else {
        Err(forbidden(format!(
            "write:orgs/{}/buckets/{} is unauthorized",
            d.org_id, d.bucket_id
        )))
    }
}

async fn patch_dbrp(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Reply {
    let b: PatchDbrpBody = parse_json(&body)?;
    let mut st = lock(&app.store);
    let i = dbrp_idx(&st, &auth, &id, &query_pairs(q.as_deref()))?;
    write_allowed(&auth, &st.dbrps[i])?;
    if let Some(rp) = b.retention_policy.filter(|r| !r.trim().is_empty()) {
        let d = &st.dbrps[i];
        if st.dbrps.iter().any(|x| {
            x.id != d.id
                && x.org_id == d.org_id
                && x.database == d.database
                && x.retention_policy == rp
        }) {
            return Err(err(
                StatusCode::CONFLICT,
                "conflict",
                "another DBRP mapping with same orgID, db, and rp exists",
            ));
        }
        st.dbrps[i].retention_policy = rp;
    }
    if b.default == Some(true) {
        let (org, db) = (st.dbrps[i].org_id.clone(), st.dbrps[i].database.clone());
        clear_default(&mut st, &org, &db);
        st.dbrps[i].default = true;
    }
    Ok(axum::Json(json!({ "content": st.dbrps[i].to_json() })).into_response())
}

async fn delete_dbrp(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Reply {
    let mut st = lock(&app.store);
    let i = dbrp_idx(&st, &auth, &id, &query_pairs(q.as_deref()))?;
    write_allowed(&auth, &st.dbrps[i])?;
    st.dbrps.remove(i);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The mapping `/query` and `/write` use: the given rp, else the database's default.
fn find_mapping<'a>(st: &'a Store, org_id: &str, db: &str, rp: Option<&str>) -> Option<&'a Dbrp> {
    st.dbrps.iter().find(|d| {
        d.org_id == org_id
            && d.database == db
            && rp
                .filter(|r| !r.is_empty())
                .map_or(d.default, |r| d.retention_policy == r)
    })
}

/// v1 precision names (`n`, `u`, `ms`, `s`, `m`, `h`) as nanosecond factors.
fn v1_precision(p: Option<&str>) -> Option<i64> {
    match p.unwrap_or("") {
        "m" => Some(60_000_000_000),
        "h" => Some(3_600_000_000_000),
        "n" => lineproto::precision_factor(Some("ns")),
        "u" => lineproto::precision_factor(Some("us")),
        other => lineproto::precision_factor(Some(other)),
    }
}

/// `POST /write?db=&rp=&precision=`: resolves the bucket through the DBRP mappings of the
/// token's org (`legacy/write_handler.go`: 400 `missing db`, 404 `no dbrp mapping found`,
/// 403 `insufficient permissions for write`).
async fn v1_write(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let Some(factor) = v1_precision(query_get(&pairs, "precision")) else {
        return Err(invalid(
            "invalid precision; valid precision units are ns, us, ms, and s",
        ));
    };
    let Some(db) = query_get(&pairs, "db").filter(|d| !d.is_empty()) else {
        return Err(invalid("missing db"));
    };
    let text = decode_body(&headers, &body)?;
    let points = lineproto::parse_body(&text, factor, now_ns()).map_err(invalid)?;
    let bucket_id = store_v1_write(&app, &auth, db, query_get(&pairs, "rp"), points)?;
    if let Some(b) = &app.backend {
        b.write(&bucket_id, query_get(&pairs, "precision"), text)
            .await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The checks of a v1 write (mapping, permission) and its points kept; the bucket's id.
fn store_v1_write(
    app: &App,
    auth: &Authorization,
    db: &str,
    rp: Option<&str>,
    points: Vec<lineproto::Point>,
) -> Result<String, InfluxError> {
    let mut st = lock(&app.store);
    let bucket_id = match find_mapping(&st, &auth.org_id, db, rp) {
        Some(d) => d.bucket_id.clone(),
        None => return Err(not_found("no dbrp mapping found")),
    };
    if !allows(auth, "write", "buckets", &auth.org_id, Some(&bucket_id)) {
        return Err(forbidden("insufficient permissions for write"));
    }
    if points.is_empty() {
        return Err(invalid("writing requires points"));
    }
    st.append_points(&bucket_id, points);
    Ok(bucket_id)
}

fn read_refused() -> InfluxError {
    forbidden("insufficient permissions for read")
}

/// The bucket a Flux script reads: the string after `from(bucket:`.
pub fn flux_bucket(script: &str) -> Option<String> {
    let compact: String = script.split_whitespace().collect();
    let rest = &compact[compact.find("from(bucket:")? + "from(bucket:".len()..];
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

#[derive(Deserialize)]
struct FluxBody {
    #[serde(default)]
    query: String,
}

/// `POST /api/v2/query`. Cloud Serverless: Flux is not supported (501). OSS: the token must
/// read the bucket of `from(bucket: ...)` (else 404 `could not find bucket`, as the
/// authorized bucket lookup makes it); an allowed query answers 501 (no Flux engine here).
async fn flux_query(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let st = lock(&app.store);
    if st.cloud {
        return Err(err(
            StatusCode::NOT_IMPLEMENTED,
            "not implemented",
            "Flux queries are not supported by InfluxDB Cloud Serverless: use InfluxQL (/query) or SQL",
        ));
    }
    let is_flux_text = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/vnd.flux"));
    let script = if is_flux_text {
        String::from_utf8_lossy(&body).into_owned()
    } else {
        parse_json::<FluxBody>(&body)?.query
    };
    let Some(name) = flux_bucket(&script) else {
        return Err(invalid(
            "the double only checks Flux scripts of the form from(bucket: \"name\") ...",
        ));
    };
    let readable = st.buckets.iter().any(|b| {
        b.org_id == auth.org_id
            && b.name == name
            && allows(&auth, "read", "buckets", &b.org_id, Some(&b.id))
    });
    if !readable {
        return Err(not_found(format!(
            "failed to initialize execute state: could not find bucket \"{name}\""
        )));
    }
    Err(err(
        StatusCode::NOT_IMPLEMENTED,
        "not implemented",
        "the InfluxDB 2 double has no Flux engine (the token may read the bucket)",
    ))
}

/// One InfluxQL statement's result (`{"statement_id": n, ...}`).
fn statement(
    st: &Store,
    auth: &Authorization,
    i: usize,
    q: &str,
    db: Option<&str>,
    rp: Option<&str>,
) -> Result<Value, InfluxError> {
    let words: Vec<String> = q
        .split_whitespace()
        .map(|w| w.to_ascii_uppercase())
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let series = |name: &str, values: Vec<Value>| {
        if values.is_empty() {
            json!({ "statement_id": i })
        } else {
            json!({ "statement_id": i, "series": [{ "name": name, "columns": ["name"], "values": values }] })
        }
    };
    match words.as_slice() {
        ["SHOW", "DATABASES", ..] => {
            let mut dbs: Vec<&str> = st
                .dbrps
                .iter()
                .filter(|d| d.org_id == auth.org_id && can_see(auth, d))
                .map(|d| d.database.as_str())
                .collect();
            dbs.sort_unstable();
            dbs.dedup();
            Ok(series(
                "databases",
                dbs.into_iter().map(|d| json!([d])).collect(),
            ))
        }
        ["SHOW", "MEASUREMENTS", ..] => {
            let Some(db) = db.filter(|d| !d.is_empty()) else {
                return Ok(json!({ "statement_id": i, "error": "database name required" }));
            };
            let Some(d) = find_mapping(st, &auth.org_id, db, rp) else {
                return Ok(
                    json!({ "statement_id": i, "error": format!("database not found: {db}") }),
                );
            };
            if !allows(auth, "read", "buckets", &d.org_id, Some(&d.bucket_id)) {
                return Err(read_refused());
            }
            let names = st
                .data
                .get(&d.bucket_id)
                .map(|b| b.counts.keys().map(|m| json!([m])).collect())
                .unwrap_or_default();
            Ok(series("measurements", names))
        }
        _ => Ok(json!({
            "statement_id": i,
            "error": "the InfluxDB 2 double evaluates only SHOW DATABASES and SHOW MEASUREMENTS",
        })),
    }
}

/// How one statement of a `/query` is answered.
enum Answer {
    /// By the double.
    Here(Value),
    /// By the InfluxQL backend (the statement's text).
    Backend(String),
}

/// The bucket a statement forwarded to the backend reads: `db` (and `rp`) through the DBRP
/// mappings of the token's org, the token allowed to read it (else the whole request is 403,
/// as for `SHOW MEASUREMENTS`); a statement error when `db` is missing or unmapped.
fn readable_bucket(
    st: &Store,
    auth: &Authorization,
    i: usize,
    db: Option<&str>,
    rp: Option<&str>,
) -> Result<Result<String, Value>, InfluxError> {
    let Some(db) = db.filter(|d| !d.is_empty()) else {
        return Ok(Err(
            json!({ "statement_id": i, "error": "database name required" }),
        ));
    };
    let Some(d) = find_mapping(st, &auth.org_id, db, rp) else {
        return Ok(Err(
            json!({ "statement_id": i, "error": format!("database not found: {db}") }),
        ));
    };
    if !allows(auth, "read", "buckets", &d.org_id, Some(&d.bucket_id)) {
        return Err(read_refused());
    }
    Ok(Ok(d.bucket_id.clone()))
}

/// `GET|POST /query?db=&rp=&q=&epoch=` (InfluxQL, v1 compatibility): the database resolves
/// through the DBRP mappings; reading a bucket the token may not read is refused with 403.
/// With an InfluxQL backend, the `SELECT`s (and `SHOW`s but databases and measurements) run
/// there, on the mapped bucket's database; bucket management is refused as Cloud Serverless
/// refuses it.
async fn influxql_query(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Reply {
    use super::influxql::{Route, route};
    let mut pairs = query_pairs(q.as_deref());
    pairs.extend(form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())));
    let Some(text) = query_get(&pairs, "q").filter(|t| !t.trim().is_empty()) else {
        return Err(invalid("missing required parameter \"q\""));
    };
    let (db, rp) = (query_get(&pairs, "db"), query_get(&pairs, "rp"));
    let mut bucket = None;
    let answers = {
        let st = lock(&app.store);
        let mut answers = Vec::new();
        for (i, s) in text.split(';').filter(|s| !s.trim().is_empty()).enumerate() {
            let answer = match (&app.backend, route(s)) {
                (Some(_), Route::Refused(what)) => Answer::Here(json!({
                    "statement_id": i,
                    "error": format!("{what} is not supported: InfluxDB Cloud Serverless does not manage buckets with InfluxQL"),
                })),
                (Some(_), Route::Backend) => match readable_bucket(&st, &auth, i, db, rp)? {
                    Ok(id) => {
                        bucket = Some(id);
                        Answer::Backend(s.trim().to_owned())
                    }
                    Err(error) => Answer::Here(error),
                },
                _ => Answer::Here(statement(&st, &auth, i, s, db, rp)?),
            };
            answers.push(answer);
        }
        answers
    };
    let forwarded: Vec<String> = answers
        .iter()
        .filter_map(|a| match a {
            Answer::Backend(s) => Some(s.clone()),
            Answer::Here(_) => None,
        })
        .collect();
    let mut from_backend = match (&app.backend, &bucket) {
        (Some(b), Some(id)) if !forwarded.is_empty() => {
            b.query(id, &forwarded, query_get(&pairs, "epoch")).await?
        }
        _ => Vec::new(),
    }
    .into_iter();
    let results: Vec<Value> = answers
        .into_iter()
        .enumerate()
        .map(|(i, a)| match a {
            Answer::Here(v) => v,
            Answer::Backend(_) => {
                let mut v = from_backend.next().unwrap_or_else(|| json!({}));
                v["statement_id"] = json!(i);
                v
            }
        })
        .collect();
    Ok(axum::Json(json!({ "results": results })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux_bucket_is_read_from_the_from_call() {
        assert_eq!(
            flux_bucket("from(bucket: \"k6\")\n |> range(start: -1h)").as_deref(),
            Some("k6")
        );
        assert_eq!(flux_bucket("buckets()"), None);
    }

    #[test]
    fn v1_precisions() {
        assert_eq!(v1_precision(Some("n")), Some(1));
        assert_eq!(v1_precision(Some("u")), Some(1_000));
        assert_eq!(v1_precision(Some("h")), Some(3_600_000_000_000));
        assert_eq!(v1_precision(None), Some(1));
        assert_eq!(v1_precision(Some("d")), None);
    }
}
