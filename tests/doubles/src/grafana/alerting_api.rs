//! Alerting additions over [`super::alerting`]: `DELETE …/folder/{uid}/rule-groups/{group}`
//! (Grafana 11+) and the double-only UI-edit hooks that show what provenance locks.
//!
//! Owns: `DELETE /api/v1/provisioning/folder/{folder_uid}/rule-groups/{group}` and
//! `POST /__double/ui-edit-alerting/{contact-points/{uid} | alert-rules/{uid} | policies}`.
//! May not: change how the provisioning API writes objects (that is `alerting.rs`), print, or
//! read the environment.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::App;
use super::alerting::{PROVENANCE_NONE, check_provenance, request_provenance, rule_from_api};
use super::error::{ApiError, ApiResult, parse_body};
use crate::common::lock;

/// `DELETE …/rule-groups/{group}`: absent in Grafana 10.2 (405 here, like any unrouted
/// method); from 11.0, 204 after deleting the group's rules with the request's provenance
/// (`RouteDeleteAlertRuleGroup`); an unknown group is 404.
pub async fn delete_rule_group(
    State(app): State<App>,
    Path((folder_uid, group)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let mut st = lock(&app.store);
    if !st.version_at_least(11, 0) {
        return Err(ApiError::msg(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
        ));
    }
    let in_group = |r: &super::AlertRule| r.folder_uid == folder_uid && r.rule_group == group;
    if !st.rules.iter().any(in_group) {
        return Err(ApiError::not_found(
            "rule group not found under this folder",
        ));
    }
    let prov = request_provenance(&headers);
    for r in st.rules.iter().filter(|r| in_group(r)) {
        check_provenance(&r.provenance, prov, true)?;
    }
    st.rules.retain(|r| !in_group(r));
    st.prune_groups();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// What the UI refuses: any object whose provenance is not none.
fn ui_locked(kind: &str, id: &str, provenance: &str) -> ApiResult<()> {
    if provenance == PROVENANCE_NONE {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "cannot edit {kind} '{id}' in the UI: its provenance is '{provenance}'"
        )))
    }
}

fn merge_patch(body: &Bytes, mut target: Value) -> ApiResult<Value> {
    let patch: Value = parse_body(body)?;
    if !patch.is_object() {
        return Err(ApiError::bad_request("the patch must be a JSON object"));
    }
    json_patch::merge(&mut target, &patch);
    Ok(target)
}

/// `POST /__double/ui-edit-alerting/contact-points/{uid}` with a JSON merge patch of the
/// contact point (e.g. `{"settings": {"recipient": "#other"}}`): saved as the UI would, the
/// provenance staying none; 400 when the provenance locks it, 404 when unknown.
pub async fn ui_edit_contact_point(
    State(app): State<App>,
    Path(uid): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let mut st = lock(&app.store);
    let Some(cp) = st.contact_points.iter_mut().find(|c| c.uid == uid) else {
        return Err(ApiError::not_found(format!(
            "contact point with UID '{uid}' not found"
        )));
    };
    ui_locked("contact point", &uid, &cp.provenance)?;
    let v = merge_patch(&body, cp.to_json())?;
    if let Some(s) = v.get("settings").filter(|s| s.is_object()) {
        cp.settings = s.clone();
    }
    if let Some(n) = v.get("name").and_then(Value::as_str) {
        cp.name = n.to_owned();
    }
    Ok(axum::Json(cp.to_json()).into_response())
}

/// `POST /__double/ui-edit-alerting/alert-rules/{uid}` with a merge patch of the rule
/// (e.g. `{"title": "renamed"}`); 400 when locked or invalid, 404 when unknown.
pub async fn ui_edit_rule(
    State(app): State<App>,
    Path(uid): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let mut st = lock(&app.store);
    let Some(idx) = st.rules.iter().position(|r| r.uid == uid) else {
        return Err(ApiError::not_found("rule not found"));
    };
    ui_locked("alert rule", &uid, &st.rules[idx].provenance)?;
    let v = merge_patch(&body, st.rules[idx].to_json())?;
    let mut rule = rule_from_api(&v, PROVENANCE_NONE)
        .map_err(|e| ApiError::bad_request(format!("invalid alert rule: {e}")))?;
    rule.id = st.rules[idx].id;
    st.rules[idx] = rule.clone();
    Ok(axum::Json(rule.to_json()).into_response())
}

/// `POST /__double/ui-edit-alerting/policies` with a merge patch of the policy tree; 400 when
/// the tree's provenance locks it or a receiver does not exist.
pub async fn ui_edit_policies(State(app): State<App>, body: Bytes) -> ApiResult<Response> {
    let mut st = lock(&app.store);
    ui_locked(
        "the notification policy tree",
        "root",
        &st.policy_provenance,
    )?;
    let tree = merge_patch(&body, st.policy.clone())?;
    st.validate_policy(&tree).map_err(ApiError::bad_request)?;
    st.policy = tree;
    Ok(axum::Json(st.policy.clone()).into_response())
}
