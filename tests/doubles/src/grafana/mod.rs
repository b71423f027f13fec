//! A double of the Grafana HTTP API (Grafana 10.2 shapes) with file provisioning.
//!
//! This is not Grafana: it keeps everything in memory (and, with `[paths] data`, in one JSON file
//! there, see `persist`) and implements only what promo-infra uses. See the crate README for what
//! is and is not covered.

mod alerting;
mod alerting_api;
mod api;
pub mod config;
mod error;
mod health;
mod model;
mod persist;
mod preferences;
mod provisioning;
mod service_accounts;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine;
use serde_json::{Value, json};

pub use alerting::{AlertRule, ContactPoint, Template, prom_duration};
pub use error::ApiError;
pub use model::{
    Annotation, DashProvisioning, Dashboard, DashboardVersion, Datasource, Folder, slugify,
};
pub use service_accounts::{Role, SaToken, ServiceAccount};

use crate::common::{
    FaultSpec, HasRecorder, IdGen, Recorder, RequestRecord, ServerTask, double_faults_clear,
    double_faults_list, double_requests, double_requests_clear, lock, redact_query,
};

/// How to start the Grafana double.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrafanaConfig {
    pub admin_user: String,
    pub admin_password: String,
    /// Accepted as `Authorization: Bearer <token>` (service-account tokens).
    pub service_account_tokens: Vec<String>,
    /// A Grafana provisioning directory (`datasources/`, `dashboards/`, `alerting/`).
    pub provisioning_dir: Option<PathBuf>,
    /// Reported by `/api/health`, e.g. `10.2.3`; also gates version-dependent behaviour
    /// (`prune` from 10.4, the paged version list from 11.6).
    pub version: String,
    /// `[paths] data`: when set, the admin credentials are kept there across runs (the
    /// configured password applies only on the first start of the dir).
    pub data_dir: Option<PathBuf>,
    /// `[auth.anonymous] enabled`: visitors without credentials may read (GET), as Grafana's
    /// anonymous Viewer does.
    pub anonymous: bool,
}

impl Default for GrafanaConfig {
    fn default() -> Self {
        Self {
            admin_user: "admin".into(),
            admin_password: "admin".into(),
            service_account_tokens: Vec::new(),
            provisioning_dir: None,
            version: "10.2.3".into(),
            data_dir: None,
            anonymous: false,
        }
    }
}

/// Extra start options (the defaults are what [`spawn`] uses).
#[derive(Clone, Debug)]
pub struct SpawnOptions {
    /// Address to bind; `127.0.0.1:0` by default.
    pub addr: SocketAddr,
    /// Variables for provisioning interpolation, consulted before the process environment
    /// (lets tests avoid mutating the process environment).
    pub env: BTreeMap<String, String>,
}

impl Default for SpawnOptions {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            env: BTreeMap::new(),
        }
    }
}

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Identity {
    Anonymous,
    Admin,
    ServiceAccount,
    Invalid(&'static str),
}

impl Identity {
    pub(crate) fn login(&self) -> String {
        match self {
            Identity::Admin => "admin".into(),
            Identity::ServiceAccount => "sa-promo-infra".into(),
            _ => "anonymous".into(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Identity::Anonymous => "none",
            Identity::Admin => "basic",
            Identity::ServiceAccount => "bearer",
            Identity::Invalid(k) => k,
        }
    }
}

pub(crate) struct Inner {
    pub(crate) store: Mutex<model::Store>,
    pub(crate) recorder: Recorder,
    pub(crate) ids: IdGen,
    /// Anonymous visitors may read.
    pub(crate) anonymous: bool,
}

pub(crate) type App = Arc<Inner>;

impl HasRecorder for Inner {
    fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

/// A cloneable view of the double's stored objects, for assertions and fault injection.
#[derive(Clone)]
pub struct GrafanaState {
    inner: App,
}

impl std::fmt::Debug for GrafanaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrafanaState").finish_non_exhaustive()
    }
}

impl GrafanaState {
    fn with<T>(&self, f: impl FnOnce(&model::Store) -> T) -> T {
        f(&lock(&self.inner.store))
    }

    pub fn dashboards(&self) -> Vec<Dashboard> {
        self.with(|s| s.dashboards.clone())
    }
    pub fn dashboard(&self, uid: &str) -> Option<Dashboard> {
        self.with(|s| s.dashboard(uid).cloned())
    }
    /// Version history of a dashboard, oldest first.
    pub fn versions(&self, uid: &str) -> Vec<DashboardVersion> {
        self.with(|s| {
            s.dashboard(uid)
                .map(|d| d.versions.clone())
                .unwrap_or_default()
        })
    }
    pub fn folders(&self) -> Vec<Folder> {
        self.with(|s| s.folders.clone())
    }
    pub fn datasources(&self) -> Vec<Datasource> {
        self.with(|s| s.datasources.clone())
    }
    pub fn annotations(&self) -> Vec<Annotation> {
        self.with(|s| s.annotations.clone())
    }
    pub fn contact_points(&self) -> Vec<ContactPoint> {
        self.with(|s| s.contact_points.clone())
    }
    /// The notification policy tree and its provenance.
    pub fn policy(&self) -> (Value, String) {
        self.with(|s| (s.policy.clone(), s.policy_provenance.clone()))
    }
    pub fn templates(&self) -> Vec<Template> {
        self.with(|s| s.templates.clone())
    }
    pub fn alert_rules(&self) -> Vec<AlertRule> {
        self.with(|s| s.rules.clone())
    }
    /// Rule group intervals (seconds) keyed by (folder uid, group).
    pub fn rule_groups(&self) -> BTreeMap<(String, String), i64> {
        self.with(|s| s.rule_groups.clone())
    }
    /// Mute timings read from provisioning files (stored as given).
    /// Service accounts created through the API (with their tokens' keys, for assertions).
    pub fn service_accounts(&self) -> Vec<ServiceAccount> {
        self.with(|s| s.service_accounts.accounts.clone())
    }
    pub fn mute_timings(&self) -> Vec<Value> {
        self.with(|s| s.mute_timings.clone())
    }
    /// Problems Grafana would only log (unreadable dashboard files, duplicate uids).
    pub fn provisioning_warnings(&self) -> Vec<String> {
        self.with(|s| s.warnings.clone())
    }
    /// The admin password as far as the double knows it: `""` after a restart on a data dir
    /// whose stored password differs from the configured one (only its hash is kept).
    pub fn admin_password(&self) -> String {
        self.with(|s| s.admin_password.clone())
    }
    /// Every request answered so far (method, path, status; never bodies or credentials).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.inner.recorder.requests()
    }
    pub fn clear_requests(&self) {
        self.inner.recorder.clear_requests();
    }
    /// Latency and load counters (see [`crate::pace`]).
    pub fn pace(&self) -> &crate::pace::Pace {
        &self.inner.recorder.pace
    }
    /// Queues a fault for the next matching requests.
    pub fn inject_fault(&self, fault: FaultSpec) {
        self.inner.recorder.inject(fault);
    }
    pub fn clear_faults(&self) {
        self.inner.recorder.clear_faults();
    }
    /// Re-reads every part of the provisioning directory, like the three reload endpoints.
    pub fn reload_provisioning(&self) -> Result<(), String> {
        let mut st = lock(&self.inner.store);
        provisioning::apply(&mut st, &self.inner.ids, &provisioning::Kind::ALL)?;
        st.persist()
    }
}

/// A running Grafana double.
#[derive(Debug)]
pub struct GrafanaHandle {
    task: ServerTask,
    state: GrafanaState,
}

impl GrafanaHandle {
    pub fn addr(&self) -> SocketAddr {
        self.task.addr
    }
    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.task.addr)
    }
    pub fn state(&self) -> GrafanaState {
        self.state.clone()
    }
    /// Stops the server and waits for it (bounded).
    pub async fn shutdown(self) {
        self.task.shutdown().await;
    }
    /// Waits until the server stops (after [`GrafanaHandle::trigger_shutdown`]).
    pub async fn wait(self) -> std::io::Result<()> {
        self.task.wait().await
    }
    /// Asks the server to stop without waiting.
    pub fn trigger_shutdown(&mut self) {
        self.task.trigger_shutdown();
    }
}

/// Starts the double on `127.0.0.1:<free port>`. Provisioning errors are `InvalidData`.
pub async fn spawn(cfg: GrafanaConfig) -> std::io::Result<GrafanaHandle> {
    spawn_with(cfg, SpawnOptions::default()).await
}

/// Starts the double with explicit options.
pub async fn spawn_with(cfg: GrafanaConfig, opts: SpawnOptions) -> std::io::Result<GrafanaHandle> {
    let mut store = model::Store::new(
        cfg.admin_user,
        cfg.admin_password,
        cfg.service_account_tokens,
        cfg.version,
        cfg.provisioning_dir,
        opts.env,
    );
    let ids = IdGen::default();
    if let Some(dir) = cfg.data_dir {
        store
            .attach_data_dir(&ids, dir)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    }
    provisioning::apply(&mut store, &ids, &provisioning::Kind::ALL)
        .and_then(|()| store.persist())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let inner = Arc::new(Inner {
        store: Mutex::new(store),
        recorder: Recorder::default(),
        ids,
        anonymous: cfg.anonymous,
    });
    let task = ServerTask::start(opts.addr, router(inner.clone())).await?;
    Ok(GrafanaHandle {
        task,
        state: GrafanaState { inner },
    })
}

fn router(app: App) -> Router {
    let prov = "/api/v1/provisioning";
    let api = Router::new()
        .route("/api/health", get(api::health))
        .route("/api/org", get(api::org))
        .route(
            "/api/org/preferences",
            get(preferences::get_org_preferences)
                .put(preferences::put_org_preferences)
                .patch(preferences::patch_org_preferences),
        )
        .route("/api/dashboards/home", get(preferences::home_dashboard))
        .route(
            "/api/datasources",
            get(api::list_datasources).post(api::create_datasource),
        )
        .route(
            "/api/datasources/uid/{uid}",
            get(api::get_datasource_by_uid)
                .put(api::update_datasource)
                .delete(api::delete_datasource),
        )
        .route(
            "/api/datasources/uid/{uid}/health",
            get(health::check_datasource),
        )
        .route(
            "/api/datasources/name/{name}",
            get(api::get_datasource_by_name),
        )
        .route(
            "/api/folders",
            get(api::list_folders).post(api::create_folder),
        )
        .route(
            "/api/folders/{uid}",
            get(api::get_folder)
                .put(api::update_folder)
                .delete(api::delete_folder),
        )
        .route("/api/dashboards/db", post(api::save_dashboard))
        .route(
            "/api/dashboards/uid/{uid}",
            get(api::get_dashboard).delete(api::delete_dashboard),
        )
        .route(
            "/api/dashboards/uid/{uid}/versions",
            get(api::list_versions),
        )
        .route(
            "/api/dashboards/uid/{uid}/versions/{version}",
            get(api::get_version),
        )
        .route(
            "/api/dashboards/uid/{uid}/restore",
            post(api::restore_version),
        )
        .route("/api/search", get(api::search))
        .route(
            "/api/annotations",
            get(api::list_annotations).post(api::create_annotation),
        )
        .route(
            "/api/annotations/{id}",
            axum::routing::delete(api::delete_annotation),
        )
        .route(
            "/api/admin/provisioning/{kind}/reload",
            post(api::reload_provisioning),
        )
        .route(
            "/api/admin/users/{id}/password",
            put(api::admin_set_password),
        )
        .route("/api/user/password", put(api::user_change_password))
        .route(
            &format!("{prov}/contact-points"),
            get(alerting::list_contact_points).post(alerting::create_contact_point),
        )
        .route(
            &format!("{prov}/contact-points/{{uid}}"),
            put(alerting::update_contact_point).delete(alerting::delete_contact_point),
        )
        .route(
            &format!("{prov}/policies"),
            get(alerting::get_policies)
                .put(alerting::put_policies)
                .delete(alerting::reset_policies),
        )
        .route(
            &format!("{prov}/folder/{{folder_uid}}/rule-groups/{{group}}"),
            get(alerting::get_rule_group)
                .put(alerting::put_rule_group)
                .delete(alerting_api::delete_rule_group),
        )
        .route(
            &format!("{prov}/alert-rules"),
            get(alerting::list_rules).post(alerting::create_rule),
        )
        .route(
            &format!("{prov}/alert-rules/{{uid}}"),
            get(alerting::get_rule)
                .put(alerting::update_rule)
                .delete(alerting::delete_rule),
        )
        .route(&format!("{prov}/templates"), get(alerting::list_templates))
        .route(
            &format!("{prov}/templates/{{name}}"),
            get(alerting::get_template)
                .put(alerting::put_template)
                .delete(alerting::delete_template),
        )
        .route(
            "/__double/faults",
            get(double_faults_list::<App>)
                .post(double_faults_add)
                .delete(double_faults_clear::<App>),
        )
        .route("/__double/ui-edit/{uid}", post(api::double_ui_edit))
        .merge(service_account_routes())
        .route(
            "/__double/requests",
            get(double_requests::<App>).delete(double_requests_clear::<App>),
        )
        .route(
            "/__double/stats",
            get(crate::pace::stats::<App>).delete(crate::pace::reset::<App>),
        )
        .route("/__double/latency", put(crate::pace::set_latency::<App>))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed);
    api.layer(middleware::from_fn_with_state(
        app.clone(),
        persist::save_after_write,
    ))
    .layer(middleware::from_fn_with_state(
        app.clone(),
        service_accounts::enforce_role,
    ))
    .layer(middleware::from_fn_with_state(app.clone(), gate))
    .layer(middleware::from_fn_with_state(
        app.clone(),
        crate::pace::track::<App>,
    ))
    .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
    .with_state(app)
}

/// `/api/serviceaccounts*` and the alerting UI-edit hooks.
fn service_account_routes() -> Router<App> {
    let sa = "/api/serviceaccounts";
    let ui = "/__double/ui-edit-alerting";
    Router::new()
        .route(sa, post(service_accounts::create))
        .route(&format!("{sa}/search"), get(service_accounts::search))
        .route(
            &format!("{sa}/{{id}}"),
            get(service_accounts::get_one).delete(service_accounts::delete),
        )
        .route(
            &format!("{sa}/{{id}}/tokens"),
            get(service_accounts::list_tokens).post(service_accounts::create_token),
        )
        .route(
            &format!("{sa}/{{id}}/tokens/{{token_id}}"),
            axum::routing::delete(service_accounts::delete_token),
        )
        .route(
            &format!("{ui}/contact-points/{{uid}}"),
            post(alerting_api::ui_edit_contact_point),
        )
        .route(
            &format!("{ui}/alert-rules/{{uid}}"),
            post(alerting_api::ui_edit_rule),
        )
        .route(
            &format!("{ui}/policies"),
            post(alerting_api::ui_edit_policies),
        )
}

fn identify(app: &App, headers: &HeaderMap) -> Identity {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Identity::Anonymous;
    };
    let st = lock(&app.store);
    if let Some(token) = value.strip_prefix("Bearer ") {
        let token = token.trim();
        let known = st.tokens.iter().any(|t| t == token)
            || st
                .service_accounts
                .token_role(token, crate::common::now_ms())
                .is_some();
        return if known {
            Identity::ServiceAccount
        } else {
            Identity::Invalid("bearer")
        };
    }
    if let Some(b64) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        if let Some((user, pass)) = decoded.as_deref().and_then(|s| s.split_once(':')) {
            if st.admin_login_ok(user, pass) {
                return Identity::Admin;
            }
            if user == "api_key" && st.tokens.iter().any(|t| t == pass) {
                return Identity::ServiceAccount;
            }
        }
        return Identity::Invalid("basic");
    }
    Identity::Invalid("unknown")
}

fn unauthorized(who: &Identity) -> ApiError {
    let body = match who {
        Identity::Invalid("basic") => json!({
            "message": "Invalid username or password",
            "messageId": "password-auth.failed",
            "statusCode": 401,
            "traceID": "",
        }),
        Identity::Invalid("bearer") => json!({
            "message": "Invalid API key",
            "messageId": "api-key.invalid",
            "statusCode": 401,
            "traceID": "",
        }),
        _ => json!({ "message": "Unauthorized" }),
    };
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        body,
        retry_after: None,
    }
}

/// With `[auth.anonymous] enabled`, a visitor without credentials reads as a Viewer.
fn anonymous_reader(app: &App, who: &Identity, method: &axum::http::Method) -> bool {
    app.anonymous && *who == Identity::Anonymous && method == axum::http::Method::GET
}

/// Faults, authentication and the request log, in front of every route.
async fn gate(State(app): State<App>, mut req: Request<Body>, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let method = req.method().to_string();
    let query = redact_query(req.uri().query());
    let who = identify(&app, req.headers());
    let is_double = path.starts_with("/__double/");
    let mut injected = false;

    let resp = if let Some(fault) = (!is_double)
        .then(|| app.recorder.take_fault(&path))
        .flatten()
    {
        injected = true;
        fault_response(&fault)
    } else if !(is_double
        || path == "/api/health"
        || matches!(who, Identity::Admin | Identity::ServiceAccount)
        || anonymous_reader(&app, &who, req.method()))
    {
        unauthorized(&who).into_response()
    } else {
        req.extensions_mut().insert(who.clone());
        next.run(req).await
    };
    app.recorder.record(RequestRecord {
        method,
        path,
        query,
        status: resp.status().as_u16(),
        auth: who.kind().into(),
        injected,
    });
    resp
}

pub(crate) fn fault_response(f: &FaultSpec) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    ApiError {
        status,
        body: json!({ "message": status.canonical_reason().unwrap_or("injected fault") }),
        retry_after: f.effective_retry_after(),
    }
    .into_response()
}

async fn double_faults_add(State(app): State<App>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<FaultSpec>(&body) {
        Ok(f) if (400..=599).contains(&f.status) => {
            app.recorder.inject(f);
            axum::Json(json!({ "message": "fault queued" })).into_response()
        }
        _ => ApiError::bad_request(
            "expected {\"status\": 400-599, \"count\": N, \"path_prefix\": \"/api/...\", \"retry_after\": secs}",
        )
        .into_response(),
    }
}
