//! Handlers for health, datasources, folders, dashboards, versions, search, annotations,
//! admin and user endpoints.

use std::collections::BTreeMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult, parse_body};
use super::model::{Annotation, Datasource, Folder, SaveDashboard, blank_datasource};
use super::{App, Identity, provisioning};
use crate::common::{lock, now_ms, query_all, query_get, query_pairs};

fn ok(v: Value) -> Response {
    axum::Json(v).into_response()
}

pub async fn health(State(app): State<App>) -> Response {
    let version = lock(&app.store).version.clone();
    ok(json!({ "commit": "double", "database": "ok", "version": version }))
}

pub async fn org() -> Response {
    ok(json!({
        "id": 1,
        "name": "Main Org.",
        "address": { "address1": "", "address2": "", "city": "", "zipCode": "", "state": "", "country": "" }
    }))
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("Not found")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::msg(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

// ------------------------------------------------------------------------------ datasources

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct DatasourceBody {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    uid: String,
    access: Option<String>,
    url: String,
    user: String,
    database: String,
    basic_auth: bool,
    basic_auth_user: String,
    with_credentials: bool,
    is_default: bool,
    json_data: Option<Value>,
    secure_json_data: Option<BTreeMap<String, String>>,
    version: Option<i64>,
}

impl DatasourceBody {
    fn into_datasource(self) -> Datasource {
        Datasource {
            name: self.name,
            kind: self.kind,
            uid: self.uid,
            access: self.access.unwrap_or_else(|| "proxy".into()),
            url: self.url,
            user: self.user,
            database: self.database,
            basic_auth: self.basic_auth,
            basic_auth_user: self.basic_auth_user,
            with_credentials: self.with_credentials,
            is_default: self.is_default,
            json_data: self.json_data.unwrap_or_else(|| json!({})),
            secure_json_data: self.secure_json_data.unwrap_or_default(),
            ..blank_datasource()
        }
    }
}

pub async fn list_datasources(State(app): State<App>) -> Response {
    let st = lock(&app.store);
    ok(Value::Array(
        st.datasources
            .iter()
            .map(Datasource::to_list_json)
            .collect(),
    ))
}

pub async fn get_datasource_by_uid(
    State(app): State<App>,
    Path(uid): Path<String>,
) -> ApiResult<Response> {
    let st = lock(&app.store);
    st.datasource_by_uid(&uid)
        .map(|d| ok(d.to_json()))
        .ok_or_else(|| ApiError::not_found("Data source not found"))
}

pub async fn get_datasource_by_name(
    State(app): State<App>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let st = lock(&app.store);
    st.datasources
        .iter()
        .find(|d| d.name == name)
        .map(|d| ok(d.to_json()))
        .ok_or_else(|| ApiError::not_found("Data source not found"))
}

pub async fn create_datasource(State(app): State<App>, body: Bytes) -> ApiResult<Response> {
    let b: DatasourceBody = parse_body(&body)?;
    let mut st = lock(&app.store);
    let ds = st.add_datasource(&app.ids, b.into_datasource())?;
    Ok(ok(json!({
        "datasource": ds.to_json(),
        "id": ds.id,
        "message": "Datasource added",
        "name": ds.name,
    })))
}

pub async fn update_datasource(
    State(app): State<App>,
    Path(uid): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: DatasourceBody = parse_body(&body)?;
    let version = b.version;
    let mut st = lock(&app.store);
    // Grafana checks the stored object before validating the body.
    if st.datasource_by_uid(&uid).is_some_and(|d| d.read_only) {
        return Err(ApiError::msg(
            StatusCode::FORBIDDEN,
            "Cannot update read-only data source",
        ));
    }
    if b.name.trim().is_empty() || b.kind.trim().is_empty() {
        return Err(ApiError::bad_request_data());
    }
    let ds = st.update_datasource(&uid, b.into_datasource(), version, false)?;
    Ok(ok(json!({
        "datasource": ds.to_json(),
        "id": ds.id,
        "message": "Datasource updated",
        "name": ds.name,
    })))
}

pub async fn delete_datasource(
    State(app): State<App>,
    Path(uid): Path<String>,
) -> ApiResult<Response> {
    let mut st = lock(&app.store);
    let ds = st.delete_datasource(&uid, false)?;
    Ok(ok(json!({ "message": "Data source deleted", "id": ds.id })))
}

// ------------------------------------------------------------------------------ folders

fn paged<T: Clone>(items: &[T], limit: usize, page: usize) -> Vec<T> {
    let page = page.max(1);
    items
        .iter()
        .skip((page - 1).saturating_mul(limit))
        .take(limit)
        .cloned()
        .collect()
}

fn parse_usize(v: Option<&str>, default: usize) -> usize {
    v.and_then(|s| s.parse().ok()).unwrap_or(default)
}

pub async fn list_folders(State(app): State<App>, RawQuery(q): RawQuery) -> Response {
    let pairs = query_pairs(q.as_deref());
    let limit = parse_usize(query_get(&pairs, "limit"), 1000);
    let page = parse_usize(query_get(&pairs, "page"), 1);
    let parent = query_get(&pairs, "parentUid").filter(|p| !p.is_empty());
    let st = lock(&app.store);
    let mut folders: Vec<&Folder> = st
        .folders
        .iter()
        .filter(|f| f.parent_uid.as_deref() == parent)
        .collect();
    folders.sort_by_key(|f| f.title.to_lowercase());
    let items: Vec<Value> = folders
        .into_iter()
        .map(|f| json!({ "id": f.id, "uid": f.uid, "title": f.title }))
        .collect();
    ok(Value::Array(paged(&items, limit, page)))
}

fn folder_not_found() -> ApiError {
    ApiError::with_status(StatusCode::NOT_FOUND, "folder not found", "not-found")
}

pub async fn get_folder(State(app): State<App>, Path(uid): Path<String>) -> ApiResult<Response> {
    let st = lock(&app.store);
    st.folder(&uid)
        .map(|f| ok(f.to_json()))
        .ok_or_else(folder_not_found)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct FolderBody {
    uid: Option<String>,
    title: Option<String>,
    parent_uid: Option<String>,
    version: Option<i64>,
    overwrite: bool,
}

pub async fn create_folder(State(app): State<App>, body: Bytes) -> ApiResult<Response> {
    let b: FolderBody = parse_body(&body)?;
    let mut st = lock(&app.store);
    let f = st.create_folder(
        &app.ids,
        b.uid,
        b.title.as_deref().unwrap_or(""),
        b.parent_uid.filter(|p| !p.is_empty()),
        false,
    )?;
    Ok(ok(f.to_json()))
}

pub async fn update_folder(
    State(app): State<App>,
    Path(uid): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: FolderBody = parse_body(&body)?;
    let mut st = lock(&app.store);
    let Some(idx) = st.folders.iter().position(|f| f.uid == uid) else {
        return Err(folder_not_found());
    };
    let cur = st.folders[idx].clone();
    if !b.overwrite && b.version.unwrap_or(0) != cur.version {
        return Err(ApiError::with_status(
            StatusCode::PRECONDITION_FAILED,
            "the folder has been changed by someone else",
            "version-mismatch",
        ));
    }
    let title = b.title.unwrap_or_else(|| cur.title.clone());
    if title.trim().is_empty() {
        return Err(ApiError::bad_request("folder title cannot be empty"));
    }
    if st
        .folders
        .iter()
        .any(|f| f.uid != uid && f.title == title && f.parent_uid == cur.parent_uid)
    {
        return Err(ApiError::msg(
            StatusCode::CONFLICT,
            "a folder with the same name already exists in the current location",
        ));
    }
    let f = &mut st.folders[idx];
    f.title = title.trim().to_owned();
    f.version += 1;
    f.updated_ms = now_ms();
    Ok(ok(f.to_json()))
}

pub async fn delete_folder(
    State(app): State<App>,
    Path(uid): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let pairs = query_pairs(q.as_deref());
    let force = query_get(&pairs, "forceDeleteRules") == Some("true");
    let mut st = lock(&app.store);
    let f = st.delete_folder(&uid, force)?;
    Ok(ok(json!({
        "title": f.title,
        "message": format!("Folder {} deleted", f.title),
        "id": f.id,
    })))
}

// ------------------------------------------------------------------------------ dashboards

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SaveBody {
    dashboard: Option<Value>,
    folder_uid: Option<String>,
    folder_id: Option<i64>,
    message: String,
    overwrite: bool,
}

pub async fn save_dashboard(
    State(app): State<App>,
    Extension(who): Extension<Identity>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: SaveBody = parse_body(&body)?;
    let Some(dashboard) = b.dashboard.filter(Value::is_object) else {
        return Err(ApiError::bad_request_data());
    };
    let mut st = lock(&app.store);
    let saved = st.save_dashboard(
        &app.ids,
        SaveDashboard {
            dashboard,
            folder_uid: b.folder_uid,
            folder_id: b.folder_id,
            message: b.message,
            overwrite: b.overwrite,
            restored_from: 0,
            actor: who.login(),
            provisioning: None,
        },
    )?;
    Ok(ok(saved.to_json()))
}

fn dashboard_not_found() -> ApiError {
    ApiError::with_status(StatusCode::NOT_FOUND, "Dashboard not found", "not-found")
}

pub async fn get_dashboard(State(app): State<App>, Path(uid): Path<String>) -> ApiResult<Response> {
    let st = lock(&app.store);
    let d = st.dashboard(&uid).ok_or_else(dashboard_not_found)?;
    Ok(ok(st.dashboard_json(d)))
}

pub async fn delete_dashboard(
    State(app): State<App>,
    Path(uid): Path<String>,
) -> ApiResult<Response> {
    let mut st = lock(&app.store);
    let d = st.delete_dashboard(&uid, false)?;
    Ok(ok(json!({
        "title": d.title,
        "message": format!("Dashboard {} deleted", d.title),
        "id": d.id,
    })))
}

fn version_json(
    d: &super::model::Dashboard,
    v: &super::model::DashboardVersion,
    data: bool,
) -> Value {
    let mut out = json!({
        "id": v.id,
        "dashboardId": d.id,
        "uid": d.uid,
        "parentVersion": v.parent_version,
        "restoredFrom": v.restored_from,
        "version": v.version,
        "created": crate::common::rfc3339(v.created_ms),
        "createdBy": v.created_by,
        "message": v.message,
    });
    if data && let Some(obj) = out.as_object_mut() {
        obj.insert("data".into(), v.data.clone());
    }
    out
}

pub async fn list_versions(
    State(app): State<App>,
    Path(uid): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Response> {
    let pairs = query_pairs(q.as_deref());
    let limit = match parse_usize(query_get(&pairs, "limit"), 0) {
        0 => 1000,
        n => n,
    };
    let st = lock(&app.store);
    let d = st.dashboard(&uid).ok_or_else(dashboard_not_found)?;
    // Grafana 11.6 and later answer a page and a continue token; up to 11.5 a bare array.
    let paged = st.version_at_least(11, 6);
    let start = match query_get(&pairs, "continueToken").filter(|t| paged && !t.is_empty()) {
        Some(token) => decode_continue_token(token)
            .ok_or_else(|| ApiError::bad_request(format!("invalid continueToken '{token}'")))?,
        None => parse_usize(query_get(&pairs, "start"), 0),
    };
    let items: Vec<Value> = d
        .versions
        .iter()
        .rev()
        .skip(start)
        .take(limit)
        .map(|v| version_json(d, v, false))
        .collect();
    if !paged {
        return Ok(ok(Value::Array(items)));
    }
    let next = start + items.len();
    let token = if next < d.versions.len() {
        encode_continue_token(next)
    } else {
        String::new()
    };
    Ok(ok(json!({ "continueToken": token, "versions": items })))
}

/// The double's continue token: opaque to clients, the offset of the next page inside.
fn encode_continue_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("double-versions:{offset}"))
}

fn decode_continue_token(token: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("double-versions:")?
        .parse()
        .ok()
}

pub async fn get_version(
    State(app): State<App>,
    Path((uid, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let Ok(version) = version.parse::<i64>() else {
        return Err(ApiError::bad_request("version is not a number"));
    };
    let st = lock(&app.store);
    let d = st.dashboard(&uid).ok_or_else(dashboard_not_found)?;
    let v = d
        .versions
        .iter()
        .find(|v| v.version == version)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Dashboard version {version} not found for dashboard {uid}"
            ))
        })?;
    Ok(ok(version_json(d, v, true)))
}

#[derive(Deserialize)]
struct RestoreBody {
    version: i64,
}

pub async fn restore_version(
    State(app): State<App>,
    Extension(who): Extension<Identity>,
    Path(uid): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let b: RestoreBody = parse_body(&body)?;
    let mut st = lock(&app.store);
    let saved = st.restore_dashboard(&app.ids, &uid, b.version, &who.login())?;
    Ok(ok(saved.to_json()))
}

pub async fn search(State(app): State<App>, RawQuery(q): RawQuery) -> Response {
    let pairs = query_pairs(q.as_deref());
    let query = query_get(&pairs, "query").unwrap_or("").to_lowercase();
    let kind = query_get(&pairs, "type");
    let tags = query_all(&pairs, "tag");
    let split = |key: &str| -> Vec<String> {
        query_all(&pairs, key)
            .iter()
            .flat_map(|v| v.split(','))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let folder_uids = split("folderUIDs");
    let dash_uids = split("dashboardUIDs");
    let limit = parse_usize(query_get(&pairs, "limit"), 1000).min(5000);
    let page = parse_usize(query_get(&pairs, "page"), 1);
    let st = lock(&app.store);

    let mut hits: Vec<(String, Value)> = Vec::new();
    if kind.is_none_or(|k| k == "dash-folder") && tags.is_empty() && dash_uids.is_empty() {
        for f in &st.folders {
            if !query.is_empty() && !f.title.to_lowercase().contains(&query) {
                continue;
            }
            let parent = f.parent_uid.clone().unwrap_or_default();
            if !folder_uids.is_empty()
                && !folder_uids
                    .iter()
                    .any(|u| u == &parent || (u == "general" && parent.is_empty()))
            {
                continue;
            }
            hits.push((
                f.title.to_lowercase(),
                json!({
                    "id": f.id, "uid": f.uid, "orgId": 1, "title": f.title,
                    "uri": format!("db/{}", super::model::slugify(&f.title)),
                    "url": f.url(), "slug": "", "type": "dash-folder", "tags": [],
                    "isStarred": false, "sortMeta": 0,
                }),
            ));
        }
    }
    if kind.is_none_or(|k| k == "dash-db") {
        for d in &st.dashboards {
            if !query.is_empty() && !d.title.to_lowercase().contains(&query) {
                continue;
            }
            let dtags = d.tags();
            if !tags.iter().all(|t| dtags.iter().any(|x| x == t)) {
                continue;
            }
            if !dash_uids.is_empty() && !dash_uids.contains(&d.uid) {
                continue;
            }
            if !folder_uids.is_empty()
                && !folder_uids
                    .iter()
                    .any(|u| u == &d.folder_uid || (u == "general" && d.folder_uid.is_empty()))
            {
                continue;
            }
            let mut hit = json!({
                "id": d.id, "uid": d.uid, "orgId": 1, "title": d.title,
                "uri": format!("db/{}", d.slug()), "url": d.url(), "slug": "",
                "type": "dash-db", "tags": dtags, "isStarred": false, "sortMeta": 0,
            });
            if let (Some(f), Some(obj)) = (st.folder(&d.folder_uid), hit.as_object_mut()) {
                obj.insert("folderId".into(), json!(f.id));
                obj.insert("folderUid".into(), json!(f.uid));
                obj.insert("folderTitle".into(), json!(f.title));
                obj.insert("folderUrl".into(), json!(f.url()));
            }
            hits.push((d.title.to_lowercase(), hit));
        }
    }
    hits.sort_by(|a, b| a.0.cmp(&b.0));
    let items: Vec<Value> = hits.into_iter().map(|(_, v)| v).collect();
    ok(Value::Array(paged(&items, limit, page)))
}

// ------------------------------------------------------------------------------ annotations

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct AnnotationBody {
    #[serde(rename = "dashboardUID")]
    dashboard_uid: Option<String>,
    dashboard_id: Option<i64>,
    panel_id: Option<i64>,
    time: Option<i64>,
    time_end: Option<i64>,
    tags: Option<Vec<String>>,
    text: String,
}

pub async fn create_annotation(State(app): State<App>, body: Bytes) -> ApiResult<Response> {
    let b: AnnotationBody = parse_body(&body)?;
    if b.text.is_empty() {
        return Err(ApiError::bad_request("Failed to save annotation"));
    }
    let now = now_ms();
    let time = b.time.filter(|t| *t > 0).unwrap_or(now);
    let time_end = b.time_end.filter(|t| *t > 0).unwrap_or(time);
    let mut st = lock(&app.store);
    let id = st.add_annotation(Annotation {
        id: 0,
        dashboard_id: b.dashboard_id.unwrap_or(0),
        dashboard_uid: b.dashboard_uid.unwrap_or_default(),
        panel_id: b.panel_id.unwrap_or(0),
        time,
        time_end,
        tags: b.tags.unwrap_or_default(),
        text: b.text,
        created_ms: now,
        updated_ms: now,
    });
    Ok(ok(json!({ "message": "Annotation added", "id": id })))
}

pub async fn list_annotations(State(app): State<App>, RawQuery(q): RawQuery) -> Response {
    let pairs = query_pairs(q.as_deref());
    let num = |k: &str| query_get(&pairs, k).and_then(|v| v.parse::<i64>().ok());
    let from = num("from");
    let to = num("to");
    let limit = num("limit").filter(|l| *l > 0).unwrap_or(100) as usize;
    let dash_uid = query_get(&pairs, "dashboardUID");
    let dash_id = num("dashboardId");
    let panel_id = num("panelId");
    let tags = query_all(&pairs, "tags");
    let match_any = query_get(&pairs, "matchAny") == Some("true");
    let kind = query_get(&pairs, "type");
    let st = lock(&app.store);
    let mut out: Vec<&Annotation> = st
        .annotations
        .iter()
        .filter(|_| kind != Some("alert"))
        .filter(|a| from.is_none_or(|f| a.time_end >= f))
        .filter(|a| to.is_none_or(|t| a.time <= t))
        .filter(|a| dash_uid.is_none_or(|u| a.dashboard_uid == u))
        .filter(|a| dash_id.is_none_or(|i| a.dashboard_id == i))
        .filter(|a| panel_id.is_none_or(|p| a.panel_id == p))
        .filter(|a| {
            if tags.is_empty() {
                true
            } else if match_any {
                tags.iter().any(|t| a.tags.iter().any(|x| x == t))
            } else {
                tags.iter().all(|t| a.tags.iter().any(|x| x == t))
            }
        })
        .collect();
    out.sort_by(|a, b| b.time.cmp(&a.time).then(b.id.cmp(&a.id)));
    ok(Value::Array(
        out.into_iter()
            .take(limit)
            .map(Annotation::to_json)
            .collect(),
    ))
}

pub async fn delete_annotation(
    State(app): State<App>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("annotationId is invalid"))?;
    let mut st = lock(&app.store);
    st.annotations.retain(|a| a.id != id);
    Ok(ok(json!({ "message": "Annotation deleted" })))
}

// ------------------------------------------------------------------------------ admin & user

fn require_basic_admin(who: &Identity) -> ApiResult<()> {
    match who {
        Identity::Admin => Ok(()),
        _ => Err(ApiError {
            status: StatusCode::FORBIDDEN,
            body: json!({
                "message": "You'll need additional permissions to perform this action. Permissions needed: provisioning:reload",
                "title": "Access denied",
            }),
            retry_after: None,
        }),
    }
}

pub async fn reload_provisioning(
    State(app): State<App>,
    Extension(who): Extension<Identity>,
    Path(kind): Path<String>,
) -> ApiResult<Response> {
    require_basic_admin(&who)?;
    let (what, msg) = match kind.as_str() {
        "dashboards" => (provisioning::Kind::Dashboards, "Dashboards config reloaded"),
        "datasources" => (
            provisioning::Kind::Datasources,
            "Datasources config reloaded",
        ),
        "alerting" => (provisioning::Kind::Alerting, "Alerting config reloaded"),
        "plugins" => return Ok(ok(json!({ "message": "Plugins config reloaded" }))),
        _ => return Err(ApiError::not_found("Not found")),
    };
    let mut st = lock(&app.store);
    provisioning::apply(&mut st, &app.ids, &[what])
        .map_err(|e| ApiError::msg(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(ok(json!({ "message": msg })))
}

#[derive(Deserialize)]
struct AdminPasswordBody {
    password: String,
}

pub async fn admin_set_password(
    State(app): State<App>,
    Extension(who): Extension<Identity>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    if who != Identity::Admin {
        return Err(ApiError::msg(StatusCode::FORBIDDEN, "Permission denied"));
    }
    let b: AdminPasswordBody = parse_body(&body)?;
    if id != "1" {
        return Err(ApiError::not_found("user not found"));
    }
    if b.password.chars().count() < 4 {
        return Err(ApiError::bad_request("New password is too short"));
    }
    lock(&app.store)
        .set_admin_password(&app.ids, b.password)
        .map_err(|e| ApiError::msg(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(ok(json!({ "message": "User password updated" })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserPasswordBody {
    old_password: String,
    new_password: String,
}

pub async fn user_change_password(
    State(app): State<App>,
    Extension(who): Extension<Identity>,
    body: Bytes,
) -> ApiResult<Response> {
    if who != Identity::Admin {
        return Err(ApiError::bad_request(
            "Cannot change password of a service account",
        ));
    }
    let b: UserPasswordBody = parse_body(&body)?;
    let mut st = lock(&app.store);
    if !st.admin_login_ok(&st.admin_user, &b.old_password) {
        return Err(ApiError::msg(
            StatusCode::UNAUTHORIZED,
            "Invalid old password",
        ));
    }
    if b.new_password.chars().count() < 4 {
        return Err(ApiError::bad_request("New password is too short"));
    }
    st.set_admin_password(&app.ids, b.new_password)
        .map_err(|e| ApiError::msg(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(ok(json!({ "message": "User password changed" })))
}

/// Double-only: `POST /__double/ui-edit/{uid}` with a JSON merge patch of the dashboard model,
/// saved as the UI's save button would (see `Store::ui_edit`). Answers like a dashboard save.
pub async fn double_ui_edit(
    State(app): State<App>,
    Path(uid): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let patch: Value = parse_body(&body)?;
    let saved = lock(&app.store).ui_edit(&app.ids, &uid, &patch)?;
    Ok(ok(saved.to_json()))
}
