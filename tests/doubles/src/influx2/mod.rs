//! A double of the InfluxDB 2 HTTP API (`influxdata/openapi` shapes): onboarding, orgs,
//! buckets with retention rules, authorizations, and line-protocol writes kept in memory.
//!
//! This is not InfluxDB: there is no query engine of its own (Flux and InfluxQL are only
//! permission-checked, see [`cloud`]; InfluxQL runs on a real InfluxDB 1.x when the test gives
//! one, see [`influxql`]), no persistence and no retention enforcement. See the crate README.

pub mod cloud;
pub mod influxql;
pub mod lineproto;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub use lineproto::{FieldValue, Point};

use crate::common::{
    FaultSpec, HasRecorder, IdGen, Recorder, RequestRecord, ServerTask, double_faults_clear,
    double_faults_list, double_requests, double_requests_clear, lock, now_ms, now_ns,
    parse_duration_secs, query_get, query_pairs, redact_query, rfc3339,
};

/// Initial onboarding, as the official image's `DOCKER_INFLUXDB_INIT_*` variables describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Influx2Setup {
    pub username: String,
    pub password: String,
    pub org: String,
    pub bucket: String,
    /// 0 = infinite.
    pub retention_seconds: u64,
    /// The operator token; generated when `None`.
    pub token: Option<String>,
}

/// How to start the InfluxDB 2 double.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Influx2Config {
    /// Run onboarding at start; `None` leaves the instance waiting for `POST /api/v2/setup`.
    pub setup: Option<Influx2Setup>,
    /// Reported by `/health` and `/ping`.
    pub version: String,
    /// URL of a real InfluxDB 1.x (no auth, 127.0.0.1) that runs the InfluxQL the double lets
    /// through and stores what it accepts to write (see [`influxql`]); `None`: no query engine.
    pub influxql_backend: Option<String>,
}

/// Which InfluxDB the double answers as (see [`spawn_as`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Product {
    /// InfluxDB 2 OSS.
    #[default]
    Oss,
    /// InfluxDB Cloud Serverless: Flux refused (501), a bucket PATCH without `retentionRules`
    /// refused (403), tokens shown only in the create response.
    CloudServerless,
}

impl Default for Influx2Config {
    fn default() -> Self {
        Self {
            setup: None,
            version: "2.7.10-double".into(),
            influxql_backend: None,
        }
    }
}

impl Influx2Config {
    /// Reads the official image's variables: `DOCKER_INFLUXDB_INIT_MODE=setup` with
    /// `DOCKER_INFLUXDB_INIT_USERNAME/PASSWORD/ORG/BUCKET/RETENTION/ADMIN_TOKEN`.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let get = |k: &str| env(k).filter(|v| !v.is_empty());
        let mut cfg = Self::default();
        match get("DOCKER_INFLUXDB_INIT_MODE").as_deref() {
            None => return Ok(cfg),
            Some("setup") => {}
            Some(other) => {
                return Err(format!(
                    "DOCKER_INFLUXDB_INIT_MODE={other} is not supported by the double (only 'setup')"
                ));
            }
        }
        let required = [
            "DOCKER_INFLUXDB_INIT_USERNAME",
            "DOCKER_INFLUXDB_INIT_PASSWORD",
            "DOCKER_INFLUXDB_INIT_ORG",
            "DOCKER_INFLUXDB_INIT_BUCKET",
        ];
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|k| get(k).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "error: missing required values need to be set: {}",
                missing.join(" ")
            ));
        }
        let password = get("DOCKER_INFLUXDB_INIT_PASSWORD").unwrap_or_default();
        if password.chars().count() < 8 {
            return Err("error: DOCKER_INFLUXDB_INIT_PASSWORD: passwords must be at least 8 characters long".into());
        }
        let retention_seconds = match get("DOCKER_INFLUXDB_INIT_RETENTION") {
            None => 0,
            Some(r) => parse_duration_secs(&r)
                .map_err(|e| format!("error: DOCKER_INFLUXDB_INIT_RETENTION: {e}"))?,
        };
        cfg.setup = Some(Influx2Setup {
            username: get("DOCKER_INFLUXDB_INIT_USERNAME").unwrap_or_default(),
            password,
            org: get("DOCKER_INFLUXDB_INIT_ORG").unwrap_or_default(),
            bucket: get("DOCKER_INFLUXDB_INIT_BUCKET").unwrap_or_default(),
            retention_seconds,
            token: get("DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"),
        });
        Ok(cfg)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Org {
    pub id: String,
    pub name: String,
    pub created_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub description: String,
    /// `user` or `system`.
    pub kind: String,
    /// 0 = infinite.
    pub every_seconds: u64,
    pub shard_group_duration_seconds: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Authorization {
    pub id: String,
    pub token: String,
    pub status: String,
    pub description: String,
    pub org_id: String,
    pub user_id: String,
    pub permissions: Vec<Value>,
    pub created_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    password: String,
}

/// Points written to a bucket. Counts cover every point; at most [`MAX_STORED_POINTS`] are kept.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BucketData {
    pub points: Vec<Point>,
    pub counts: BTreeMap<String, u64>,
    pub total: u64,
}

/// Points kept per bucket (counts go on past it).
pub const MAX_STORED_POINTS: usize = 1_000_000;

#[derive(Debug, Default)]
struct Store {
    version: String,
    users: Vec<User>,
    orgs: Vec<Org>,
    buckets: Vec<Bucket>,
    auths: Vec<Authorization>,
    data: BTreeMap<String, BucketData>,
    /// Cloud Serverless mode (see [`Product::CloudServerless`]).
    cloud: bool,
    dbrps: Vec<cloud::Dbrp>,
}

/// InfluxDB's default shard group duration for a retention period.
pub fn shard_group_duration(every_seconds: u64) -> u64 {
    match every_seconds {
        0 => 604_800,
        s if s < 172_800 => 3600,
        s if s < 15_552_000 => 86_400,
        _ => 604_800,
    }
}

const RESOURCE_TYPES: &[&str] = &[
    "authorizations",
    "buckets",
    "dashboards",
    "orgs",
    "tasks",
    "telegrafs",
    "users",
    "variables",
    "secrets",
    "labels",
    "views",
    "documents",
    "notificationRules",
    "notificationEndpoints",
    "checks",
    "dbrp",
    "annotations",
    "sources",
    "scrapers",
    "notebooks",
    "remotes",
    "replications",
];

fn operator_permissions() -> Vec<Value> {
    RESOURCE_TYPES
        .iter()
        .flat_map(|t| {
            ["read", "write"]
                .into_iter()
                .map(move |a| json!({ "action": a, "resource": { "type": t } }))
        })
        .collect()
}

/// An InfluxDB 2 error body: `{"code": "...", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfluxError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl IntoResponse for InfluxError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(json!({ "code": self.code, "message": self.message })),
        )
            .into_response()
    }
}

type Reply = Result<Response, InfluxError>;

fn err(status: StatusCode, code: &str, msg: impl Into<String>) -> InfluxError {
    InfluxError {
        status,
        code: code.to_owned(),
        message: msg.into(),
    }
}

fn not_found(msg: impl Into<String>) -> InfluxError {
    err(StatusCode::NOT_FOUND, "not found", msg)
}

fn invalid(msg: impl Into<String>) -> InfluxError {
    err(StatusCode::BAD_REQUEST, "invalid", msg)
}

fn unauthorized() -> InfluxError {
    err(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "unauthorized access",
    )
}

fn forbidden(msg: impl Into<String>) -> InfluxError {
    err(StatusCode::FORBIDDEN, "forbidden", msg)
}

impl Store {
    fn org_json(&self, o: &Org) -> Value {
        json!({
            "id": o.id, "name": o.name, "description": "",
            "createdAt": rfc3339(o.created_ms), "updatedAt": rfc3339(o.created_ms),
            "links": {
                "self": format!("/api/v2/orgs/{}", o.id),
                "buckets": format!("/api/v2/buckets?org={}", o.name),
                "members": format!("/api/v2/orgs/{}/members", o.id),
                "owners": format!("/api/v2/orgs/{}/owners", o.id),
            },
        })
    }

    fn bucket_json(b: &Bucket) -> Value {
        let rules = if b.every_seconds == 0 && b.kind == "user" {
            json!([])
        } else {
            json!([{ "type": "expire", "everySeconds": b.every_seconds, "shardGroupDurationSeconds": b.shard_group_duration_seconds }])
        };
        json!({
            "id": b.id, "orgID": b.org_id, "type": b.kind, "name": b.name,
            "description": b.description, "retentionRules": rules,
            "createdAt": rfc3339(b.created_ms), "updatedAt": rfc3339(b.updated_ms),
            "links": {
                "self": format!("/api/v2/buckets/{}", b.id),
                "org": format!("/api/v2/orgs/{}", b.org_id),
                "write": format!("/api/v2/write?org={}&bucket={}", b.org_id, b.id),
                "labels": format!("/api/v2/buckets/{}/labels", b.id),
                "members": format!("/api/v2/buckets/{}/members", b.id),
                "owners": format!("/api/v2/buckets/{}/owners", b.id),
            },
            "labels": [],
        })
    }

    fn auth_json(&self, a: &Authorization) -> Value {
        let org = self
            .orgs
            .iter()
            .find(|o| o.id == a.org_id)
            .map(|o| o.name.clone());
        let user = self
            .users
            .iter()
            .find(|u| u.id == a.user_id)
            .map(|u| u.name.clone());
        json!({
            "id": a.id, "token": a.token, "status": a.status, "description": a.description,
            "orgID": a.org_id, "org": org.unwrap_or_default(),
            "userID": a.user_id, "user": user.unwrap_or_default(),
            "permissions": a.permissions,
            "createdAt": rfc3339(a.created_ms), "updatedAt": rfc3339(a.created_ms),
            "links": {
                "self": format!("/api/v2/authorizations/{}", a.id),
                "user": format!("/api/v2/users/{}", a.user_id),
            },
        })
    }

    fn user_json(u: &User) -> Value {
        json!({ "id": u.id, "name": u.name, "status": "active", "links": { "self": format!("/api/v2/users/{}", u.id) } })
    }

    /// Stores points in a bucket's data (counts always; points up to [`MAX_STORED_POINTS`]).
    fn append_points(&mut self, bucket_id: &str, points: Vec<Point>) {
        let data = self.data.entry(bucket_id.to_owned()).or_default();
        for p in points {
            *data.counts.entry(p.measurement.clone()).or_default() += 1;
            data.total += 1;
            if data.points.len() < MAX_STORED_POINTS {
                data.points.push(p);
            }
        }
    }

    /// An authorization as list/get answer it: Cloud shows the token only at creation.
    fn auth_json_listed(&self, a: &Authorization) -> Value {
        let mut v = self.auth_json(a);
        if self.cloud {
            v["token"] = json!("redacted");
        }
        v
    }

    fn find_org(&self, by: &str) -> Option<&Org> {
        self.orgs
            .iter()
            .find(|o| o.id == by)
            .or_else(|| self.orgs.iter().find(|o| o.name == by))
    }

    fn new_bucket(
        &mut self,
        ids: &IdGen,
        org_id: &str,
        name: &str,
        description: &str,
        (every, shard): (u64, Option<u64>),
        kind: &str,
    ) -> Bucket {
        let now = now_ms();
        let b = Bucket {
            id: ids.hex16(),
            org_id: org_id.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            kind: kind.to_owned(),
            every_seconds: every,
            shard_group_duration_seconds: shard
                .filter(|s| *s > 0)
                .unwrap_or_else(|| shard_group_duration(every)),
            created_ms: now,
            updated_ms: now,
        };
        self.buckets.push(b.clone());
        b
    }

    /// Onboarding; returns the `POST /api/v2/setup` body.
    fn setup(&mut self, ids: &IdGen, s: &Influx2Setup) -> Result<Value, InfluxError> {
        if !self.users.is_empty() {
            return Err(err(
                StatusCode::UNPROCESSABLE_ENTITY,
                "conflict",
                "onboarding has already been completed",
            ));
        }
        for (v, what) in [
            (&s.username, "username"),
            (&s.org, "org name"),
            (&s.bucket, "bucket name"),
        ] {
            if v.trim().is_empty() {
                return Err(invalid(format!("{what} is empty")));
            }
        }
        if !s.password.is_empty() && s.password.chars().count() < 8 {
            return Err(invalid("passwords must be at least 8 characters long"));
        }
        check_retention(s.retention_seconds)?;
        let now = now_ms();
        let user = User {
            id: ids.hex16(),
            name: s.username.clone(),
            password: s.password.clone(),
        };
        let org = Org {
            id: ids.hex16(),
            name: s.org.clone(),
            created_ms: now,
        };
        self.users.push(user.clone());
        self.orgs.push(org.clone());
        let bucket = self.new_bucket(
            ids,
            &org.id,
            &s.bucket,
            "",
            (s.retention_seconds, None),
            "user",
        );
        self.new_bucket(
            ids,
            &org.id,
            "_monitoring",
            "System bucket for monitoring logs",
            (604_800, None),
            "system",
        );
        self.new_bucket(
            ids,
            &org.id,
            "_tasks",
            "System bucket for task logs",
            (259_200, None),
            "system",
        );
        let auth = Authorization {
            id: ids.hex16(),
            token: s
                .token
                .clone()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| ids.hex_token()),
            status: "active".into(),
            description: format!("{}'s Token", user.name),
            org_id: org.id.clone(),
            user_id: user.id.clone(),
            permissions: operator_permissions(),
            created_ms: now,
        };
        self.auths.push(auth.clone());
        Ok(json!({
            "user": Self::user_json(&user),
            "org": self.org_json(&org),
            "bucket": Self::bucket_json(&bucket),
            "auth": self.auth_json(&auth),
        }))
    }
}

fn check_retention(every: u64) -> Result<(), InfluxError> {
    if every != 0 && every < 3600 {
        return Err(err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unprocessable entity",
            "expiration seconds must be greater than or equal to one hour",
        ));
    }
    Ok(())
}

/// Whether `auth` grants `action` on `rtype` (optionally a specific id, in an org).
fn allows(auth: &Authorization, action: &str, rtype: &str, org_id: &str, id: Option<&str>) -> bool {
    auth.status == "active"
        && auth.permissions.iter().any(|p| {
            let r = &p["resource"];
            p["action"] == action
                && r["type"] == rtype
                && r.get("orgID")
                    .and_then(Value::as_str)
                    .is_none_or(|o| o == org_id)
                && r.get("id")
                    .and_then(Value::as_str)
                    .is_none_or(|x| Some(x) == id)
        })
}

struct Inner {
    store: Mutex<Store>,
    recorder: Recorder,
    ids: IdGen,
    /// The InfluxQL backend, when the test gave one.
    backend: Option<influxql::Backend>,
}

type App = Arc<Inner>;

impl HasRecorder for Inner {
    fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

/// A cloneable view of the double's data, for assertions and fault injection.
#[derive(Clone)]
pub struct Influx2State {
    inner: App,
}

impl std::fmt::Debug for Influx2State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Influx2State").finish_non_exhaustive()
    }
}

impl Influx2State {
    fn bucket_data(&self, bucket: &str) -> Option<BucketData> {
        let st = lock(&self.inner.store);
        let b = st
            .buckets
            .iter()
            .find(|b| b.name == bucket || b.id == bucket)?;
        Some(st.data.get(&b.id).cloned().unwrap_or_default())
    }
    pub fn is_setup(&self) -> bool {
        !lock(&self.inner.store).users.is_empty()
    }
    pub fn orgs(&self) -> Vec<Org> {
        lock(&self.inner.store).orgs.clone()
    }
    pub fn buckets(&self) -> Vec<Bucket> {
        lock(&self.inner.store).buckets.clone()
    }
    pub fn bucket(&self, name: &str) -> Option<Bucket> {
        lock(&self.inner.store)
            .buckets
            .iter()
            .find(|b| b.name == name)
            .cloned()
    }
    pub fn authorizations(&self) -> Vec<Authorization> {
        lock(&self.inner.store).auths.clone()
    }
    /// The DBRP mappings (`/api/v2/dbrps`).
    pub fn dbrps(&self) -> Vec<cloud::Dbrp> {
        lock(&self.inner.store).dbrps.clone()
    }
    /// Points per measurement in a bucket (by name or id); empty if unknown.
    pub fn point_counts(&self, bucket: &str) -> BTreeMap<String, u64> {
        self.bucket_data(bucket)
            .map(|d| d.counts)
            .unwrap_or_default()
    }
    pub fn total_points(&self, bucket: &str) -> u64 {
        self.bucket_data(bucket).map_or(0, |d| d.total)
    }
    /// Stored points of a bucket (by name or id), oldest write first.
    pub fn points(&self, bucket: &str) -> Vec<Point> {
        self.bucket_data(bucket)
            .map(|d| d.points)
            .unwrap_or_default()
    }
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.inner.recorder.requests()
    }
    pub fn clear_requests(&self) {
        self.inner.recorder.clear_requests();
    }
    pub fn inject_fault(&self, fault: FaultSpec) {
        self.inner.recorder.inject(fault);
    }
    pub fn clear_faults(&self) {
        self.inner.recorder.clear_faults();
    }
}

/// A running InfluxDB 2 double.
#[derive(Debug)]
pub struct Influx2Handle {
    task: ServerTask,
    state: Influx2State,
}

impl Influx2Handle {
    pub fn addr(&self) -> SocketAddr {
        self.task.addr
    }
    pub fn url(&self) -> String {
        format!("http://{}", self.task.addr)
    }
    pub fn state(&self) -> Influx2State {
        self.state.clone()
    }
    /// The operator token created by setup, if any.
    pub fn operator_token(&self) -> Option<String> {
        lock(&self.state.inner.store)
            .auths
            .first()
            .map(|a| a.token.clone())
    }
    pub async fn shutdown(self) {
        self.task.shutdown().await;
    }
    pub async fn wait(self) -> std::io::Result<()> {
        self.task.wait().await
    }
    pub fn trigger_shutdown(&mut self) {
        self.task.trigger_shutdown();
    }
}

/// Starts the double on `127.0.0.1:<free port>`.
pub async fn spawn(cfg: Influx2Config) -> std::io::Result<Influx2Handle> {
    spawn_on(cfg, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
}

/// Starts the double as `product` on `127.0.0.1:<free port>`.
pub async fn spawn_as(cfg: Influx2Config, product: Product) -> std::io::Result<Influx2Handle> {
    spawn_on_as(cfg, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), product).await
}

/// Starts the double on `addr`. An invalid `setup` is `InvalidInput`.
pub async fn spawn_on(cfg: Influx2Config, addr: SocketAddr) -> std::io::Result<Influx2Handle> {
    spawn_on_as(cfg, addr, Product::Oss).await
}

/// Starts the double as `product` on `addr`.
pub async fn spawn_on_as(
    cfg: Influx2Config,
    addr: SocketAddr,
    product: Product,
) -> std::io::Result<Influx2Handle> {
    let ids = IdGen::default();
    let mut store = Store {
        version: cfg.version,
        cloud: product == Product::CloudServerless,
        ..Store::default()
    };
    if let Some(s) = &cfg.setup {
        store.setup(&ids, s).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "invalid initial setup (check username, org, bucket, password length >= 8, retention >= 1h or 0)")
        })?;
    }
    let inner = Arc::new(Inner {
        store: Mutex::new(store),
        recorder: Recorder::default(),
        ids,
        backend: cfg.influxql_backend.as_deref().map(influxql::Backend::new),
    });
    let task = ServerTask::start(addr, router(inner.clone())).await?;
    Ok(Influx2Handle {
        task,
        state: Influx2State { inner },
    })
}

fn router(app: App) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ping", get(ping))
        .route("/api/v2/setup", get(setup_allowed).post(setup))
        .route("/api/v2/orgs", get(list_orgs))
        .route("/api/v2/buckets", get(list_buckets).post(create_bucket))
        .route(
            "/api/v2/buckets/{id}",
            get(get_bucket).patch(patch_bucket).delete(delete_bucket),
        )
        .route("/api/v2/authorizations", get(list_auths).post(create_auth))
        .route(
            "/api/v2/authorizations/{id}",
            get(get_auth).delete(delete_auth),
        )
        .route("/api/v2/write", post(write))
        .merge(cloud::routes())
        .route("/__double/points", get(double_points))
        .route(
            "/__double/faults",
            get(double_faults_list::<App>)
                .post(double_faults_add)
                .delete(double_faults_clear::<App>),
        )
        .route(
            "/__double/requests",
            get(double_requests::<App>).delete(double_requests_clear::<App>),
        )
        .fallback(|| async { not_found("path not found") })
        .method_not_allowed_fallback(|| async {
            err(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed",
                "method not allowed",
            )
        })
        .layer(middleware::from_fn_with_state(app.clone(), gate))
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024 * 1024))
        .with_state(app)
}

fn token_of(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Token ")
        .or_else(|| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
}

async fn gate(State(app): State<App>, mut req: Request<Body>, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let method = req.method().to_string();
    let query = redact_query(req.uri().query());
    let token = token_of(req.headers())
        .or_else(|| cloud::v1_token(&path, req.headers(), req.uri().query()));
    let auth = token.as_ref().and_then(|t| {
        lock(&app.store)
            .auths
            .iter()
            .find(|a| &a.token == t && a.status == "active")
            .cloned()
    });
    let public = matches!(path.as_str(), "/health" | "/ping" | "/api/v2/setup")
        || path.starts_with("/__double/");
    let mut injected = false;
    let resp = if let Some(f) = (!path.starts_with("/__double/"))
        .then(|| app.recorder.take_fault(&path))
        .flatten()
    {
        injected = true;
        fault_response(&f)
    } else if !public && auth.is_none() {
        unauthorized().into_response()
    } else {
        if let Some(a) = auth {
            req.extensions_mut().insert(a);
        }
        next.run(req).await
    };
    app.recorder.record(RequestRecord {
        method,
        path,
        query,
        status: resp.status().as_u16(),
        auth: if token.is_some() {
            "token".into()
        } else {
            "none".into()
        },
        injected,
    });
    resp
}

fn fault_response(f: &FaultSpec) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let code = if f.status == 429 {
        "too many requests"
    } else {
        "internal error"
    };
    let mut resp = err(
        status,
        code,
        status.canonical_reason().unwrap_or("injected fault"),
    )
    .into_response();
    if let Some(secs) = f.effective_retry_after()
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, InfluxError> {
    serde_json::from_slice(body).map_err(|e| invalid(format!("failed to decode request body: {e}")))
}

async fn health(State(app): State<App>) -> Response {
    let v = lock(&app.store).version.clone();
    axum::Json(json!({
        "name": "influxdb", "message": "ready for queries and writes", "status": "pass",
        "checks": [], "version": v, "commit": "double",
    }))
    .into_response()
}

async fn ping(State(app): State<App>) -> Response {
    let v = lock(&app.store).version.clone();
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert("X-Influxdb-Build", HeaderValue::from_static("OSS"));
    if let Ok(h) = HeaderValue::from_str(&v) {
        resp.headers_mut().insert("X-Influxdb-Version", h);
    }
    resp
}

async fn setup_allowed(State(app): State<App>) -> Response {
    let allowed = lock(&app.store).users.is_empty();
    axum::Json(json!({ "allowed": allowed })).into_response()
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SetupBody {
    username: String,
    password: String,
    org: String,
    bucket: String,
    retention_period_seconds: Option<u64>,
    retention_period_hrs: Option<u64>,
    token: Option<String>,
}

async fn setup(State(app): State<App>, body: Bytes) -> Reply {
    let b: SetupBody = match parse_json(&body) {
        Ok(b) => b,
        Err(r) => return Err(r),
    };
    let s = Influx2Setup {
        username: b.username,
        password: b.password,
        org: b.org,
        bucket: b.bucket,
        retention_seconds: b
            .retention_period_seconds
            .or(b.retention_period_hrs.map(|h| h * 3600))
            .unwrap_or(0),
        token: b.token,
    };
    let mut st = lock(&app.store);
    let v = st.setup(&app.ids, &s)?;
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

fn links(path: &str) -> Value {
    json!({ "self": path })
}

async fn list_orgs(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    RawQuery(q): RawQuery,
) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let st = lock(&app.store);
    let orgs: Vec<Value> = st
        .orgs
        .iter()
        .filter(|o| query_get(&pairs, "org").is_none_or(|n| o.name == n))
        .filter(|o| query_get(&pairs, "orgID").is_none_or(|n| o.id == n))
        .filter(|o| allows(&auth, "read", "orgs", &o.id, Some(&o.id)) || auth.org_id == o.id)
        .map(|o| st.org_json(o))
        .collect();
    if orgs.is_empty()
        && let Some(n) = query_get(&pairs, "org")
    {
        return Err(not_found(format!("organization name \"{n}\" not found")));
    }
    Ok(axum::Json(json!({ "links": links("/api/v2/orgs"), "orgs": orgs })).into_response())
}

async fn list_buckets(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    RawQuery(q): RawQuery,
) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let st = lock(&app.store);
    let org_filter = match (query_get(&pairs, "orgID"), query_get(&pairs, "org")) {
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(name)) => match st.find_org(name) {
            Some(o) => Some(o.id.clone()),
            None => return Err(not_found(format!("organization name \"{name}\" not found"))),
        },
        _ => None,
    };
    let limit: usize = query_get(&pairs, "limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(20)
        .clamp(1, 100);
    let offset: usize = query_get(&pairs, "offset")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let buckets: Vec<Value> = st
        .buckets
        .iter()
        .filter(|b| org_filter.as_deref().is_none_or(|o| b.org_id == o))
        .filter(|b| query_get(&pairs, "name").is_none_or(|n| b.name == n))
        .filter(|b| query_get(&pairs, "id").is_none_or(|n| b.id == n))
        .filter(|b| allows(&auth, "read", "buckets", &b.org_id, Some(&b.id)))
        .skip(offset)
        .take(limit)
        .map(Store::bucket_json)
        .collect();
    Ok(
        axum::Json(json!({ "links": links("/api/v2/buckets"), "buckets": buckets }))
            .into_response(),
    )
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct RetentionRule {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    every_seconds: u64,
    #[serde(default)]
    shard_group_duration_seconds: Option<u64>,
}

/// (everySeconds, shardGroupDurationSeconds) from retention rules; none = infinite.
fn retention_of(rules: &[RetentionRule]) -> Result<(u64, Option<u64>), InfluxError> {
    match rules.first() {
        None => Ok((0, None)),
        Some(r) => {
            if r.kind.as_deref().is_some_and(|k| k != "expire") {
                return Err(invalid("retention rule type must be \"expire\""));
            }
            check_retention(r.every_seconds)?;
            if let Some(s) = r.shard_group_duration_seconds
                && r.every_seconds != 0
                && s > r.every_seconds
            {
                return Err(invalid(
                    "shard-group duration must also be less than or equal to bucket retention",
                ));
            }
            Ok((r.every_seconds, r.shard_group_duration_seconds))
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBucketBody {
    #[serde(rename = "orgID")]
    org_id: Option<String>,
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    retention_rules: Vec<RetentionRule>,
}

async fn create_bucket(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    body: Bytes,
) -> Reply {
    let b: CreateBucketBody = match parse_json(&body) {
        Ok(b) => b,
        Err(r) => return Err(r),
    };
    let Some(org_id) = b.org_id.filter(|o| !o.is_empty()) else {
        return Err(invalid("org id must be provided"));
    };
    if b.name.trim().is_empty() || b.name.starts_with('_') {
        return Err(invalid(format!("bucket name {} is invalid", b.name)));
    }
    let (every, shard) = match retention_of(&b.retention_rules) {
        Ok(r) => r,
        Err(r) => return Err(r),
    };
    let mut st = lock(&app.store);
    if !st.orgs.iter().any(|o| o.id == org_id) {
        return Err(not_found(format!("organization not found: {org_id}")));
    }
    if !allows(&auth, "write", "buckets", &org_id, None) {
        return Err(forbidden(format!(
            "write:orgs/{org_id}/buckets is unauthorized"
        )));
    }
    if st
        .buckets
        .iter()
        .any(|x| x.org_id == org_id && x.name == b.name)
    {
        return Err(err(
            StatusCode::UNPROCESSABLE_ENTITY,
            "conflict",
            format!("bucket with name {} already exists", b.name),
        ));
    }
    let bucket = st.new_bucket(
        &app.ids,
        &org_id,
        &b.name,
        &b.description,
        (every, shard),
        "user",
    );
    Ok((StatusCode::CREATED, axum::Json(Store::bucket_json(&bucket))).into_response())
}

fn bucket_idx(
    st: &Store,
    auth: &Authorization,
    id: &str,
    action: &str,
) -> Result<usize, InfluxError> {
    let idx = st
        .buckets
        .iter()
        .position(|b| b.id == id)
        .ok_or_else(|| not_found("bucket not found"))?;
    let b = &st.buckets[idx];
    if !allows(auth, action, "buckets", &b.org_id, Some(&b.id)) {
        return Err(if action == "read" {
            not_found("bucket not found")
        } else {
            forbidden(format!(
                "{action}:orgs/{}/buckets/{} is unauthorized",
                b.org_id, b.id
            ))
        });
    }
    Ok(idx)
}

async fn get_bucket(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    Path(id): Path<String>,
) -> Reply {
    let st = lock(&app.store);
    let i = bucket_idx(&st, &auth, &id, "read")?;
    Ok(axum::Json(Store::bucket_json(&st.buckets[i])).into_response())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct PatchBucketBody {
    name: Option<String>,
    description: Option<String>,
    retention_rules: Option<Vec<RetentionRule>>,
}

async fn patch_bucket(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let b: PatchBucketBody = match parse_json(&body) {
        Ok(b) => b,
        Err(r) => return Err(r),
    };
    let mut st = lock(&app.store);
    let idx = match bucket_idx(&st, &auth, &id, "write") {
        Ok(i) => i,
        Err(r) => return Err(r),
    };
    if let Some(name) = &b.name {
        let org = st.buckets[idx].org_id.clone();
        if st
            .buckets
            .iter()
            .any(|x| x.org_id == org && &x.name == name && x.id != id)
        {
            return Err(err(
                StatusCode::UNPROCESSABLE_ENTITY,
                "conflict",
                format!("bucket with name {name} already exists"),
            ));
        }
        if st.buckets[idx].kind == "system" {
            return Err(invalid("system buckets cannot be renamed"));
        }
    }
    // OSS leaves the retention as it was when `retentionRules` is absent or empty
    // (`http/bucket_service.go` `bucketUpdate.toInfluxDB`); Cloud refuses a PATCH without it.
    if st.cloud && b.retention_rules.is_none() {
        return Err(forbidden(
            "retentionRules is required when updating a bucket on InfluxDB Cloud",
        ));
    }
    let retention = match b
        .retention_rules
        .as_deref()
        .filter(|r| !r.is_empty())
        .map(retention_of)
        .transpose()
    {
        Ok(r) => r,
        Err(r) => return Err(r),
    };
    let bucket = &mut st.buckets[idx];
    if let Some(name) = b.name {
        bucket.name = name;
    }
    if let Some(d) = b.description {
        bucket.description = d;
    }
    if let Some((every, shard)) = retention {
        bucket.every_seconds = every;
        bucket.shard_group_duration_seconds = shard
            .filter(|s| *s > 0)
            .unwrap_or_else(|| shard_group_duration(every));
    }
    bucket.updated_ms = now_ms();
    Ok(axum::Json(Store::bucket_json(bucket)).into_response())
}

async fn delete_bucket(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    Path(id): Path<String>,
) -> Reply {
    let mut st = lock(&app.store);
    match bucket_idx(&st, &auth, &id, "write") {
        Ok(i) => {
            if st.buckets[i].kind == "system" {
                return Err(invalid("system buckets cannot be deleted"));
            }
            st.buckets.remove(i);
            st.data.remove(&id);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Err(r) => Err(r),
    }
}

async fn list_auths(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    RawQuery(q): RawQuery,
) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let st = lock(&app.store);
    let org_filter = query_get(&pairs, "orgID").map(str::to_owned).or_else(|| {
        query_get(&pairs, "org")
            .and_then(|n| st.find_org(n))
            .map(|o| o.id.clone())
    });
    let out: Vec<Value> = st
        .auths
        .iter()
        .filter(|a| org_filter.as_deref().is_none_or(|o| a.org_id == o))
        .filter(|a| allows(&auth, "read", "authorizations", &a.org_id, None) || a.id == auth.id)
        .map(|a| st.auth_json_listed(a))
        .collect();
    Ok(
        axum::Json(json!({ "links": links("/api/v2/authorizations"), "authorizations": out }))
            .into_response(),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateAuthBody {
    #[serde(rename = "orgID")]
    org_id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    status: Option<String>,
    permissions: Vec<Value>,
}

async fn create_auth(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    body: Bytes,
) -> Reply {
    let b: CreateAuthBody = match parse_json(&body) {
        Ok(b) => b,
        Err(r) => return Err(r),
    };
    if b.permissions.is_empty() {
        return Err(invalid("authorization must have at least one permission"));
    }
    for p in &b.permissions {
        let action_ok = matches!(p["action"].as_str(), Some("read" | "write"));
        let type_ok = p["resource"]["type"]
            .as_str()
            .is_some_and(|t| RESOURCE_TYPES.contains(&t));
        if !action_ok || !type_ok {
            return Err(invalid(format!("invalid permission {p}")));
        }
    }
    let mut st = lock(&app.store);
    if !st.orgs.iter().any(|o| o.id == b.org_id) {
        return Err(not_found(format!("organization not found: {}", b.org_id)));
    }
    if !allows(&auth, "write", "authorizations", &b.org_id, None) {
        return Err(forbidden("write:authorizations is unauthorized"));
    }
    let a = Authorization {
        id: app.ids.hex16(),
        token: app.ids.hex_token(),
        status: b.status.unwrap_or_else(|| "active".into()),
        description: b.description,
        org_id: b.org_id,
        user_id: auth.user_id.clone(),
        permissions: b.permissions,
        created_ms: now_ms(),
    };
    st.auths.push(a.clone());
    Ok((StatusCode::CREATED, axum::Json(st.auth_json(&a))).into_response())
}

async fn get_auth(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    Path(id): Path<String>,
) -> Reply {
    let st = lock(&app.store);
    match st.auths.iter().find(|a| a.id == id) {
        Some(a) if allows(&auth, "read", "authorizations", &a.org_id, None) || a.id == auth.id => {
            Ok(axum::Json(st.auth_json_listed(a)).into_response())
        }
        _ => Err(not_found("authorization not found")),
    }
}

async fn delete_auth(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    Path(id): Path<String>,
) -> Reply {
    let mut st = lock(&app.store);
    match st.auths.iter().position(|a| a.id == id) {
        Some(i) if allows(&auth, "write", "authorizations", &st.auths[i].org_id, None) => {
            st.auths.remove(i);
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Some(_) => Err(forbidden("write:authorizations is unauthorized")),
        None => Err(not_found("authorization not found")),
    }
}

fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<String, InfluxError> {
    let gz = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let bytes = if gz {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .take(512 * 1024 * 1024)
            .read_to_end(&mut out)
            .map_err(|e| invalid(format!("unable to decode gzip body: {e}")))?;
        out
    } else {
        body.to_vec()
    };
    String::from_utf8(bytes).map_err(|_| invalid("body is not valid UTF-8"))
}

async fn write(
    State(app): State<App>,
    Extension(auth): Extension<Authorization>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let Some(factor) = lineproto::precision_factor(query_get(&pairs, "precision")) else {
        return Err(invalid(format!(
            "invalid precision {:?}",
            query_get(&pairs, "precision").unwrap_or("")
        )));
    };
    let Some(bucket_ref) = query_get(&pairs, "bucket").filter(|b| !b.is_empty()) else {
        return Err(not_found("bucket not found"));
    };
    let org_id = {
        let st = lock(&app.store);
        match (query_get(&pairs, "orgID"), query_get(&pairs, "org")) {
            (Some(id), _) => match st.orgs.iter().find(|o| o.id == id) {
                Some(o) => o.id.clone(),
                None => return Err(not_found(format!("organization id \"{id}\" not found"))),
            },
            (None, Some(name)) => match st.find_org(name) {
                Some(o) => o.id.clone(),
                None => return Err(not_found(format!("organization name \"{name}\" not found"))),
            },
            (None, None) if !auth.org_id.is_empty() => auth.org_id.clone(),
            (None, None) => return Err(invalid("Please provide either orgID or org")),
        }
    };
    let text = match decode_body(&headers, &body) {
        Ok(t) => t,
        Err(r) => return Err(r),
    };
    let points = match lineproto::parse_body(&text, factor, now_ns()) {
        Ok(p) => p,
        Err(e) => return Err(invalid(e)),
    };
    let bucket = {
        let mut st = lock(&app.store);
        let Some(bucket) = st
            .buckets
            .iter()
            .find(|b| b.org_id == org_id && (b.name == bucket_ref || b.id == bucket_ref))
            .cloned()
        else {
            return Err(not_found(format!("bucket \"{bucket_ref}\" not found")));
        };
        if !allows(&auth, "write", "buckets", &org_id, Some(&bucket.id)) {
            return Err(forbidden("insufficient permissions for write"));
        }
        if points.is_empty() {
            return Err(invalid("writing requires points"));
        }
        st.append_points(&bucket.id, points);
        bucket
    };
    if let Some(b) = &app.backend {
        // 2.x precision names → 1.x's.
        let precision = match query_get(&pairs, "precision").unwrap_or("ns") {
            "ns" => "n",
            "us" => "u",
            other => other,
        };
        b.write(&bucket.id, Some(precision), text).await?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn double_points(State(app): State<App>, RawQuery(q): RawQuery) -> Reply {
    let pairs = query_pairs(q.as_deref());
    let Some(bucket) = query_get(&pairs, "bucket") else {
        return Err(invalid("bucket query parameter is required"));
    };
    let limit: usize = query_get(&pairs, "limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100);
    let st = lock(&app.store);
    let Some(b) = st
        .buckets
        .iter()
        .find(|b| b.name == bucket || b.id == bucket)
    else {
        return Err(not_found(format!("bucket \"{bucket}\" not found")));
    };
    let data = st.data.get(&b.id).cloned().unwrap_or_default();
    let start = data.points.len().saturating_sub(limit);
    Ok(axum::Json(json!({
        "bucket": b.name,
        "bucketID": b.id,
        "total": data.total,
        "measurements": data.counts,
        "points": data.points[start..],
    }))
    .into_response())
}

async fn double_faults_add(State(app): State<App>, body: Bytes) -> Reply {
    match serde_json::from_slice::<FaultSpec>(&body) {
        Ok(f) if (400..=599).contains(&f.status) => {
            app.recorder.inject(f);
            Ok(axum::Json(json!({ "message": "fault queued" })).into_response())
        }
        _ => Err(invalid(
            "expected {\"status\": 400-599, \"count\": N, \"path_prefix\": \"/api/v2/...\", \"retry_after\": secs}",
        )),
    }
}

/// The image's `INFLUXD_HTTP_BIND_ADDRESS` / `--http-bind-address`: `:8086` (every address),
/// `localhost:8086`, or `host:port`.
pub fn parse_bind(s: &str) -> Result<SocketAddr, String> {
    if let Some(port) = s.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid http-bind-address {s:?}"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if let Some((host, port)) = s.rsplit_once(':')
        && host == "localhost"
    {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("invalid http-bind-address {s:?}"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    s.parse()
        .map_err(|_| format!("invalid http-bind-address {s:?}: expected host:port"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_durations_follow_influx_defaults() {
        assert_eq!(shard_group_duration(0), 604_800);
        assert_eq!(shard_group_duration(3600), 3600);
        assert_eq!(shard_group_duration(30 * 86_400), 86_400);
        assert_eq!(shard_group_duration(365 * 86_400), 604_800);
    }

    #[test]
    fn env_setup() {
        let env = |k: &str| -> Option<String> {
            match k {
                "DOCKER_INFLUXDB_INIT_MODE" => Some("setup".into()),
                "DOCKER_INFLUXDB_INIT_USERNAME" => Some("admin".into()),
                "DOCKER_INFLUXDB_INIT_PASSWORD" => Some("password123".into()),
                "DOCKER_INFLUXDB_INIT_ORG" => Some("promo".into()),
                "DOCKER_INFLUXDB_INIT_BUCKET" => Some("k6".into()),
                "DOCKER_INFLUXDB_INIT_RETENTION" => Some("1w".into()),
                _ => None,
            }
        };
        let cfg = Influx2Config::from_env(&env).unwrap();
        let s = cfg.setup.unwrap();
        assert_eq!(s.retention_seconds, 604_800);
        assert_eq!(s.token, None);
        let missing = |k: &str| (k == "DOCKER_INFLUXDB_INIT_MODE").then(|| "setup".to_owned());
        let e = Influx2Config::from_env(&missing).unwrap_err();
        assert!(e.contains("DOCKER_INFLUXDB_INIT_USERNAME"), "{e}");
    }

    #[test]
    fn bind_addresses() {
        assert_eq!(
            parse_bind(":8086").unwrap(),
            "0.0.0.0:8086".parse().unwrap()
        );
        assert_eq!(
            parse_bind("127.0.0.1:9999").unwrap(),
            "127.0.0.1:9999".parse().unwrap()
        );
        assert_eq!(
            parse_bind("localhost:1").unwrap(),
            "127.0.0.1:1".parse().unwrap()
        );
        assert!(parse_bind("nope").is_err());
    }
}
