//! Alerting provisioning API (`/api/v1/provisioning/*`): contact points, notification policy,
//! message templates, alert rules and rule groups, with provenance handling.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::App;
use super::error::{ApiError, ApiResult, parse_body};
use super::model::{Store, is_valid_uid};
use crate::common::{
    IdGen, go_duration, lock, now_ms, parse_duration_secs, query_get, query_pairs, rfc3339,
};

/// Provenance values as Grafana reports them.
pub const PROVENANCE_NONE: &str = "";
pub const PROVENANCE_API: &str = "api";
pub const PROVENANCE_FILE: &str = "file";

/// A contact point integration (Grafana's `EmbeddedContactPoint`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContactPoint {
    pub uid: String,
    pub name: String,
    pub kind: String,
    pub settings: Value,
    pub disable_resolve_message: bool,
    pub provenance: String,
}

impl ContactPoint {
    pub fn to_json(&self) -> Value {
        json!({
            "uid": self.uid,
            "name": self.name,
            "type": self.kind,
            "settings": self.settings,
            "disableResolveMessage": self.disable_resolve_message,
            "provenance": self.provenance,
        })
    }
}

/// A notification message template.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Template {
    pub name: String,
    pub template: String,
    pub provenance: String,
}

impl Template {
    pub fn to_json(&self) -> Value {
        json!({ "name": self.name, "template": self.template, "provenance": self.provenance })
    }
}

/// An alert rule (Grafana's `ProvisionedAlertRule`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlertRule {
    pub id: i64,
    pub uid: String,
    pub org_id: i64,
    pub folder_uid: String,
    pub rule_group: String,
    pub title: String,
    pub condition: String,
    pub data: Vec<Value>,
    pub no_data_state: String,
    pub exec_err_state: String,
    /// Pending period in seconds.
    pub for_secs: i64,
    pub annotations: Map<String, Value>,
    pub labels: Map<String, Value>,
    pub is_paused: bool,
    pub provenance: String,
    pub updated_ms: i64,
    pub dashboard_uid: Option<String>,
    pub panel_id: Option<i64>,
    pub notification_settings: Option<Value>,
}

impl AlertRule {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "uid": self.uid,
            "orgID": self.org_id,
            "folderUID": self.folder_uid,
            "ruleGroup": self.rule_group,
            "title": self.title,
            "condition": self.condition,
            "data": self.data,
            "updated": rfc3339(self.updated_ms),
            "noDataState": self.no_data_state,
            "execErrState": self.exec_err_state,
            "for": prom_duration(self.for_secs),
            "annotations": self.annotations,
            "labels": self.labels,
            "provenance": self.provenance,
            "isPaused": self.is_paused,
        });
        if let Some(obj) = v.as_object_mut() {
            if let Some(d) = &self.dashboard_uid {
                obj.insert("annotations".into(), {
                    let mut a = self.annotations.clone();
                    a.insert("__dashboardUid__".into(), json!(d));
                    if let Some(p) = self.panel_id {
                        a.insert("__panelId__".into(), json!(p.to_string()));
                    }
                    Value::Object(a)
                });
            }
            if let Some(ns) = &self.notification_settings {
                obj.insert("notification_settings".into(), ns.clone());
            }
        }
        v
    }
}

/// Formats seconds as Prometheus' `model.Duration` does (`5m`, `1h30m`, `0s`).
pub fn prom_duration(secs: i64) -> String {
    if secs <= 0 {
        return "0s".into();
    }
    let mut s = secs;
    let mut out = String::new();
    for (unit, size) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3600),
        ("m", 60),
        ("s", 1),
    ] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    out
}

pub fn default_contact_point() -> ContactPoint {
    ContactPoint {
        uid: String::new(),
        name: "grafana-default-email".into(),
        kind: "email".into(),
        settings: json!({ "addresses": "<example@email.com>" }),
        disable_resolve_message: false,
        provenance: PROVENANCE_NONE.into(),
    }
}

pub fn default_policy() -> Value {
    json!({
        "receiver": "grafana-default-email",
        "group_by": ["grafana_folder", "alertname"],
    })
}

/// `ValidateProvenanceRelaxed`: anything may move away from none; file-provisioned objects
/// stay file-owned; `api` may not become none except for alert rules.
pub fn check_provenance(stored: &str, incoming: &str, is_rule: bool) -> ApiResult<()> {
    let allowed = stored == incoming
        || stored == PROVENANCE_NONE
        || (is_rule && stored == PROVENANCE_API && incoming == PROVENANCE_NONE);
    if allowed {
        Ok(())
    } else {
        Err(ApiError::msg(
            StatusCode::FORBIDDEN,
            format!("cannot change provenance from '{stored}' to '{incoming}'"),
        ))
    }
}

/// Provenance an alert-rule or rule-group write gets: none with `X-Disable-Provenance`
/// (present, whatever its value), else `api`.
pub(crate) fn request_provenance(headers: &HeaderMap) -> &'static str {
    match headers.get("X-Disable-Provenance") {
        Some(_) => PROVENANCE_NONE,
        _ => PROVENANCE_API,
    }
}

/// Provenance a contact-point, policy or template write gets. Grafana 10.2 hard-codes `api`
/// there ("TODO: provenance is hardcoded for now", `api_provisioning.go`); later releases
/// call `determineProvenance` on every write (the double: from 11.0 on).
pub(crate) fn notification_provenance(st: &Store, headers: &HeaderMap) -> &'static str {
    if st.version_at_least(11, 0) {
        request_provenance(headers)
    } else {
        PROVENANCE_API
    }
}

fn str_field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn map_field(v: &Value, key: &str) -> Map<String, Value> {
    v.get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Validates one query of a rule's `data`, as `AlertQuery` validation does.
pub fn validate_query(q: &Value) -> Result<(), String> {
    let ref_id = str_field(q, "refId");
    if ref_id.is_empty() {
        return Err("refId must be set".into());
    }
    let ds = q
        .get("datasourceUid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if ds.is_empty() {
        return Err(format!("query {ref_id}: datasourceUid must be set"));
    }
    let is_expr = ds == "__expr__" || ds == "-100";
    if !is_expr {
        let rtr = q.get("relativeTimeRange");
        let from = rtr
            .and_then(|r| r.get("from"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let to = rtr
            .and_then(|r| r.get("to"))
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let valid = (from != 0 || to != 0) && from > to;
        if !valid {
            return Err(format!(
                "invalid relative time range [From: {}, To: {}]",
                go_duration(from),
                go_duration(to)
            ));
        }
    }
    Ok(())
}

/// Parses a `for` value: a Prometheus duration string or a number of seconds.
fn parse_for(v: Option<&Value>) -> Result<i64, String> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) if s.is_empty() => Ok(0),
        Some(Value::String(s)) => parse_duration_secs(s).map(|d| d as i64),
        Some(Value::Number(n)) => Ok(n.as_i64().unwrap_or(0)),
        Some(_) => Err("invalid 'for' value".into()),
    }
}

const NO_DATA_STATES: &[&str] = &["NoData", "Alerting", "OK"];
const EXEC_ERR_STATES: &[&str] = &["Error", "Alerting", "OK"];

/// Builds and validates a rule from the API's `ProvisionedAlertRule` JSON.
pub fn rule_from_api(v: &Value, provenance: &str) -> Result<AlertRule, String> {
    let title = str_field(v, "title");
    if title.trim().is_empty() {
        return Err("title must be set".into());
    }
    let rule_group = str_field(v, "ruleGroup");
    if rule_group.trim().is_empty() {
        return Err("rule group must be set".into());
    }
    let folder_uid = str_field(v, "folderUID");
    if folder_uid.trim().is_empty() {
        return Err("folderUID must be set".into());
    }
    let condition = str_field(v, "condition");
    if condition.is_empty() {
        return Err("condition must be set".into());
    }
    let data: Vec<Value> = v
        .get("data")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if data.is_empty() {
        return Err("no queries or expressions are found".into());
    }
    for q in &data {
        validate_query(q)?;
    }
    if !data.iter().any(|q| str_field(q, "refId") == condition) {
        return Err(format!(
            "condition {condition} does not exist, must be one of the refIds of data"
        ));
    }
    let no_data_state = match str_field(v, "noDataState") {
        s if s.is_empty() => "NoData".into(),
        s if NO_DATA_STATES.contains(&s.as_str()) => s,
        s => return Err(format!("unknown NoData state option {s}")),
    };
    let exec_err_state = match str_field(v, "execErrState") {
        s if s.is_empty() => "Alerting".into(),
        s if EXEC_ERR_STATES.contains(&s.as_str()) => s,
        s => return Err(format!("unknown Exec Error state option {s}")),
    };
    let uid = str_field(v, "uid");
    if uid.len() > 40 || !is_valid_uid(&uid) {
        return Err(format!(
            "cannot create rule with UID '{uid}': UID is invalid"
        ));
    }
    Ok(AlertRule {
        id: 0,
        uid,
        org_id: v.get("orgID").and_then(Value::as_i64).unwrap_or(1).max(1),
        folder_uid,
        rule_group,
        title,
        condition,
        data,
        no_data_state,
        exec_err_state,
        for_secs: parse_for(v.get("for"))?,
        annotations: map_field(v, "annotations"),
        labels: map_field(v, "labels"),
        is_paused: v.get("isPaused").and_then(Value::as_bool).unwrap_or(false),
        provenance: provenance.to_owned(),
        updated_ms: now_ms(),
        dashboard_uid: None,
        panel_id: None,
        notification_settings: v.get("notification_settings").cloned(),
    })
}

impl Store {
    fn contact_point_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.contact_points.iter().map(|c| c.name.clone()).collect();
        names.dedup();
        names
    }

    /// Checks that every receiver referenced by a route tree exists.
    pub fn validate_policy(&self, route: &Value) -> Result<(), String> {
        let names = self.contact_point_names();
        fn walk(route: &Value, names: &[String], root: bool) -> Result<(), String> {
            let receiver = route.get("receiver").and_then(Value::as_str).unwrap_or("");
            if root && receiver.is_empty() {
                return Err(
                    "invalid object specification: root route must specify a default receiver"
                        .into(),
                );
            }
            if !receiver.is_empty() && !names.iter().any(|n| n == receiver) {
                return Err(format!(
                    "invalid object specification: receiver '{receiver}' does not exist"
                ));
            }
            if let Some(routes) = route.get("routes").and_then(Value::as_array) {
                for r in routes {
                    walk(r, names, false)?;
                }
            }
            Ok(())
        }
        walk(route, &names, true)
    }

    fn policy_receivers(&self) -> Vec<String> {
        fn walk(route: &Value, out: &mut Vec<String>) {
            if let Some(r) = route.get("receiver").and_then(Value::as_str) {
                out.push(r.to_owned());
            }
            if let Some(routes) = route.get("routes").and_then(Value::as_array) {
                for r in routes {
                    walk(r, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.policy, &mut out);
        out
    }

    /// Creates or replaces a contact point integration.
    pub fn upsert_contact_point(&mut self, cp: ContactPoint) -> ApiResult<()> {
        if let Some(existing) = self.contact_points.iter_mut().find(|c| c.uid == cp.uid) {
            check_provenance(&existing.provenance, &cp.provenance, false)?;
            *existing = cp;
        } else {
            self.contact_points.push(cp);
        }
        Ok(())
    }

    /// Inserts or updates a rule, keeping its id; creates the group (60s) if new.
    pub fn upsert_rule(&mut self, ids: &IdGen, mut rule: AlertRule) -> ApiResult<AlertRule> {
        if self.folder(&rule.folder_uid).is_none() {
            return Err(ApiError::bad_request(format!(
                "invalid alert rule: folder does not exist: {}",
                rule.folder_uid
            )));
        }
        if rule.uid.is_empty() {
            rule.uid = ids.short_uid();
        }
        if self
            .rules
            .iter()
            .any(|r| r.uid != rule.uid && r.folder_uid == rule.folder_uid && r.title == rule.title)
        {
            return Err(ApiError::msg(
                StatusCode::CONFLICT,
                "a conflicting alert rule is found: rule title under the same organisation and folder should be unique",
            ));
        }
        match self.rules.iter_mut().find(|r| r.uid == rule.uid) {
            Some(existing) => {
                check_provenance(&existing.provenance, &rule.provenance, true)?;
                rule.id = existing.id;
                *existing = rule.clone();
            }
            None => {
                rule.id = self.next_rule_id;
                self.next_rule_id += 1;
                self.rules.push(rule.clone());
            }
        }
        self.rule_groups
            .entry((rule.folder_uid.clone(), rule.rule_group.clone()))
            .or_insert(60);
        self.prune_groups();
        Ok(rule)
    }

    /// Drops intervals of groups that no longer have rules.
    pub fn prune_groups(&mut self) {
        let rules = &self.rules;
        self.rule_groups.retain(|(f, g), _| {
            rules
                .iter()
                .any(|r| &r.folder_uid == f && &r.rule_group == g)
        });
    }

    pub fn rule_group_json(&self, folder_uid: &str, group: &str) -> Option<Value> {
        let interval = *self
            .rule_groups
            .get(&(folder_uid.to_owned(), group.to_owned()))?;
        let rules: Vec<Value> = self
            .rules
            .iter()
            .filter(|r| r.folder_uid == folder_uid && r.rule_group == group)
            .map(AlertRule::to_json)
            .collect();
        Some(json!({
            "title": group,
            "folderUid": folder_uid,
            "interval": interval,
            "rules": rules,
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

fn accepted(v: Value) -> Response {
    (StatusCode::ACCEPTED, axum::Json(v)).into_response()
}

pub async fn list_contact_points(State(app): State<App>, RawQuery(q): RawQuery) -> Response {
    let pairs = query_pairs(q.as_deref());
    let name = query_get(&pairs, "name");
    let st = lock(&app.store);
    let out: Vec<Value> = st
        .contact_points
        .iter()
        .filter(|c| name.is_none_or(|n| c.name == n))
        .map(ContactPoint::to_json)
        .collect();
    axum::Json(out).into_response()
}

fn contact_point_from_body(v: &Value, provenance: &str) -> ApiResult<ContactPoint> {
    let name = str_field(v, "name");
    let kind = str_field(v, "type");
    if name.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid object specification: name must be specified",
        ));
    }
    if kind.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid object specification: type must be specified",
        ));
    }
    let settings = match v.get("settings") {
        Some(s @ Value::Object(_)) => s.clone(),
        _ => {
            return Err(ApiError::bad_request(
                "invalid object specification: settings should not be empty",
            ));
        }
    };
    Ok(ContactPoint {
        uid: str_field(v, "uid"),
        name,
        kind,
        settings,
        disable_resolve_message: v
            .get("disableResolveMessage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        provenance: provenance.to_owned(),
    })
}

pub async fn create_contact_point(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let v: Value = parse_body(&body)?;
    let mut cp = contact_point_from_body(&v, PROVENANCE_API)?;
    let mut st = lock(&app.store);
    cp.provenance = notification_provenance(&st, &headers).to_owned();
    if cp.uid.is_empty() {
        cp.uid = app.ids.short_uid();
    } else if cp.uid.len() > 40 || !is_valid_uid(&cp.uid) {
        return Err(ApiError::bad_request(
            "invalid object specification: uid is invalid",
        ));
    }
    if st.contact_points.iter().any(|c| c.uid == cp.uid) {
        return Err(ApiError::bad_request(format!(
            "contact point with UID '{}' already exists",
            cp.uid
        )));
    }
    st.contact_points.push(cp.clone());
    Ok(accepted(cp.to_json()))
}

pub async fn update_contact_point(
    State(app): State<App>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let v: Value = parse_body(&body)?;
    let mut cp = contact_point_from_body(&v, PROVENANCE_API)?;
    cp.uid = uid.clone();
    let mut st = lock(&app.store);
    cp.provenance = notification_provenance(&st, &headers).to_owned();
    if !st.contact_points.iter().any(|c| c.uid == uid) {
        return Err(ApiError::not_found(format!(
            "contact point with UID '{uid}' not found"
        )));
    }
    st.upsert_contact_point(cp)?;
    Ok(accepted(json!({ "message": "contactpoint updated" })))
}

/// Grafana 10.2's `RouteDeleteContactPoint`: 202 `{"message":"contactpoint deleted"}` (also for
/// an unknown uid), no provenance check, and every refusal is a 500.
pub async fn delete_contact_point(
    State(app): State<App>,
    Path(uid): Path<String>,
) -> ApiResult<Response> {
    let mut st = lock(&app.store);
    if let Some(idx) = st.contact_points.iter().position(|c| c.uid == uid) {
        let cp = st.contact_points[idx].clone();
        let still_named = st
            .contact_points
            .iter()
            .filter(|c| c.name == cp.name)
            .count()
            > 1;
        if !still_named && st.policy_receivers().contains(&cp.name) {
            return Err(ApiError::msg(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "contact point '{}' is currently used by a notification policy",
                    cp.name
                ),
            ));
        }
        st.contact_points.remove(idx);
    }
    Ok(accepted(json!({ "message": "contactpoint deleted" })))
}

pub async fn get_policies(State(app): State<App>) -> Response {
    let st = lock(&app.store);
    let mut p = st.policy.clone();
    if let Some(obj) = p.as_object_mut()
        && !st.policy_provenance.is_empty()
    {
        obj.insert("provenance".into(), json!(st.policy_provenance));
    }
    axum::Json(p).into_response()
}

pub async fn put_policies(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let mut route: Value = parse_body(&body)?;
    if !route.is_object() {
        return Err(ApiError::bad_request_data());
    }
    if let Some(obj) = route.as_object_mut() {
        obj.remove("provenance");
    }
    let mut st = lock(&app.store);
    let prov = notification_provenance(&st, &headers);
    check_provenance(&st.policy_provenance, prov, false)?;
    st.validate_policy(&route).map_err(ApiError::bad_request)?;
    st.policy = route;
    st.policy_provenance = prov.to_owned();
    Ok(accepted(json!({ "message": "policies updated" })))
}

/// Grafana 10.2's `RouteResetPolicyTree`: 202 with the default tree, no provenance check.
pub async fn reset_policies(State(app): State<App>) -> ApiResult<Response> {
    let mut st = lock(&app.store);
    st.policy = default_policy();
    st.policy_provenance = PROVENANCE_NONE.into();
    Ok(accepted(st.policy.clone()))
}

pub async fn list_templates(State(app): State<App>) -> Response {
    let st = lock(&app.store);
    let out: Vec<Value> = st.templates.iter().map(Template::to_json).collect();
    axum::Json(out).into_response()
}

pub async fn get_template(State(app): State<App>, Path(name): Path<String>) -> ApiResult<Response> {
    let st = lock(&app.store);
    st.templates
        .iter()
        .find(|t| t.name == name)
        .map(|t| axum::Json(t.to_json()).into_response())
        .ok_or_else(|| ApiError::not_found("template not found"))
}

pub async fn put_template(
    State(app): State<App>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let v: Value = parse_body(&body)?;
    let template = str_field(&v, "template");
    if template.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid object specification: template must have content",
        ));
    }
    let mut st = lock(&app.store);
    let t = Template {
        name: name.clone(),
        template,
        provenance: notification_provenance(&st, &headers).to_owned(),
    };
    match st.templates.iter_mut().find(|x| x.name == name) {
        Some(existing) => {
            check_provenance(&existing.provenance, &t.provenance, false)?;
            *existing = t.clone();
        }
        None => st.templates.push(t.clone()),
    }
    Ok(accepted(t.to_json()))
}

/// Grafana 10.2's `RouteDeleteTemplate`: 204; a refusal (file provenance) is a 500.
pub async fn delete_template(
    State(app): State<App>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let mut st = lock(&app.store);
    if let Some(t) = st.templates.iter().find(|t| t.name == name)
        && t.provenance == PROVENANCE_FILE
    {
        return Err(ApiError::msg(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot change provenance from 'file' to ''",
        ));
    }
    st.templates.retain(|t| t.name != name);
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list_rules(State(app): State<App>) -> Response {
    let st = lock(&app.store);
    let out: Vec<Value> = st.rules.iter().map(AlertRule::to_json).collect();
    axum::Json(out).into_response()
}

pub async fn get_rule(State(app): State<App>, Path(uid): Path<String>) -> ApiResult<Response> {
    let st = lock(&app.store);
    st.rules
        .iter()
        .find(|r| r.uid == uid)
        .map(|r| axum::Json(r.to_json()).into_response())
        .ok_or_else(|| ApiError::not_found("rule not found"))
}

pub async fn create_rule(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let v: Value = parse_body(&body)?;
    let rule = rule_from_api(&v, request_provenance(&headers))
        .map_err(|e| ApiError::bad_request(format!("invalid alert rule: {e}")))?;
    let mut st = lock(&app.store);
    if !rule.uid.is_empty() && st.rules.iter().any(|r| r.uid == rule.uid) {
        return Err(ApiError::msg(
            StatusCode::CONFLICT,
            "a conflicting alert rule is found: rule UID under the same organisation should be unique",
        ));
    }
    let saved = st.upsert_rule(&app.ids, rule)?;
    Ok((StatusCode::CREATED, axum::Json(saved.to_json())).into_response())
}

pub async fn update_rule(
    State(app): State<App>,
    Path(uid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let mut v: Value = parse_body(&body)?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("uid".into(), json!(uid));
    }
    let rule = rule_from_api(&v, request_provenance(&headers))
        .map_err(|e| ApiError::bad_request(format!("invalid alert rule: {e}")))?;
    let mut st = lock(&app.store);
    if !st.rules.iter().any(|r| r.uid == uid) {
        return Err(ApiError::not_found("rule not found"));
    }
    let saved = st.upsert_rule(&app.ids, rule)?;
    Ok(axum::Json(saved.to_json()).into_response())
}

/// Grafana 10.2's `RouteDeleteAlertRule`: 204 (also for an unknown uid); it deletes with
/// provenance `api` whatever `X-Disable-Provenance` says, and every refusal is a 500.
pub async fn delete_rule(State(app): State<App>, Path(uid): Path<String>) -> ApiResult<Response> {
    let mut st = lock(&app.store);
    if let Some(r) = st.rules.iter().find(|r| r.uid == uid) {
        check_provenance(&r.provenance, PROVENANCE_API, true).map_err(|mut e| {
            e.status = StatusCode::INTERNAL_SERVER_ERROR;
            e
        })?;
    }
    st.rules.retain(|r| r.uid != uid);
    st.prune_groups();
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn get_rule_group(
    State(app): State<App>,
    Path((folder_uid, group)): Path<(String, String)>,
) -> ApiResult<Response> {
    let st = lock(&app.store);
    st.rule_group_json(&folder_uid, &group)
        .map(|v| axum::Json(v).into_response())
        .ok_or_else(|| ApiError::not_found("rule group not found under this folder"))
}

pub async fn put_rule_group(
    State(app): State<App>,
    Path((folder_uid, group)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let v: Value = parse_body(&body)?;
    let prov = request_provenance(&headers);
    let interval = v.get("interval").and_then(Value::as_i64).unwrap_or(60);
    if interval <= 0 || interval % 10 != 0 {
        return Err(ApiError::bad_request(format!(
            "invalid rule group: interval ({interval}s) should be non-zero and divided exactly by scheduler interval: 10s"
        )));
    }
    let mut rules = Vec::new();
    for r in v
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut r = r.clone();
        if let Some(obj) = r.as_object_mut() {
            obj.insert("folderUID".into(), json!(folder_uid));
            obj.insert("ruleGroup".into(), json!(group));
        }
        rules.push(
            rule_from_api(&r, prov)
                .map_err(|e| ApiError::bad_request(format!("invalid alert rule: {e}")))?,
        );
    }
    let mut st = lock(&app.store);
    if st.folder(&folder_uid).is_none() {
        return Err(ApiError::bad_request(format!(
            "invalid alert rule: folder does not exist: {folder_uid}"
        )));
    }
    // Rules of the group that are not in the body are deleted (provenance permitting).
    let keep: Vec<String> = rules.iter().map(|r| r.uid.clone()).collect();
    for r in st
        .rules
        .iter()
        .filter(|r| r.folder_uid == folder_uid && r.rule_group == group && !keep.contains(&r.uid))
    {
        check_provenance(&r.provenance, prov, true)?;
    }
    st.rules.retain(|r| {
        !(r.folder_uid == folder_uid && r.rule_group == group && !keep.contains(&r.uid))
    });
    for r in rules {
        st.upsert_rule(&app.ids, r)?;
    }
    let key = (folder_uid.clone(), group.clone());
    if st
        .rules
        .iter()
        .any(|r| r.folder_uid == folder_uid && r.rule_group == group)
    {
        st.rule_groups.insert(key, interval);
    }
    let out = st.rule_group_json(&folder_uid, &group).unwrap_or_else(
        || json!({ "title": group, "folderUid": folder_uid, "interval": interval, "rules": [] }),
    );
    Ok(axum::Json(out).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prom_durations() {
        assert_eq!(prom_duration(300), "5m");
        assert_eq!(prom_duration(5400), "1h30m");
        assert_eq!(prom_duration(0), "0s");
    }

    #[test]
    fn zero_relative_range_is_rejected_except_for_expressions() {
        let q = json!({"refId":"A","datasourceUid":"influx","relativeTimeRange":{"from":0,"to":0}});
        assert_eq!(
            validate_query(&q).unwrap_err(),
            "invalid relative time range [From: 0s, To: 0s]"
        );
        let e =
            json!({"refId":"B","datasourceUid":"__expr__","relativeTimeRange":{"from":0,"to":0}});
        assert!(validate_query(&e).is_ok());
        let ok =
            json!({"refId":"A","datasourceUid":"influx","relativeTimeRange":{"from":600,"to":0}});
        assert!(validate_query(&ok).is_ok());
    }

    #[test]
    fn provenance_rules() {
        assert!(check_provenance("", "api", false).is_ok());
        assert!(check_provenance("api", "", true).is_ok());
        assert!(check_provenance("api", "", false).is_err());
        let e = check_provenance("file", "api", false).unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
    }
}
