//! Org preferences (`GET`/`PUT`/`PATCH /api/org/preferences`) and the home dashboard
//! (`GET /api/dashboards/home`), as Grafana 10.2's `pkg/api/preferences.go` and
//! `GetHomeDashboard` answer them for org 1 (the admin has no user or team preferences, so the
//! org's apply).
//!
//! The home dashboard is kept by id, as Grafana stores it: a deleted home dashboard leaves the id
//! behind and the answers fall back to the built-in home. May not: touch files, print, read the
//! environment.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::App;
use super::error::{ApiError, ApiResult, parse_body};
use super::model::Store;
use crate::common::lock;

/// Stored preferences (Grafana's `preferences` row plus the parts of its `json_data` the API
/// exposes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Preferences {
    pub theme: String,
    /// `0`: the built-in home dashboard.
    pub home_dashboard_id: i64,
    pub timezone: String,
    pub week_start: String,
    pub language: String,
    pub query_history_home_tab: String,
}

/// `queryHistory` of the request bodies.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct QueryHistory {
    home_tab: Option<String>,
}

/// `dtos.UpdatePrefsCmd` (PUT) and `dtos.PatchPrefsCmd` (PATCH): PUT treats an absent field as
/// its empty value, PATCH leaves it unchanged. Unknown keys are ignored, as Go's decoder does.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct PrefsBody {
    theme: Option<String>,
    home_dashboard_id: Option<i64>,
    #[serde(rename = "homeDashboardUID")]
    home_dashboard_uid: Option<String>,
    timezone: Option<String>,
    week_start: Option<String>,
    language: Option<String>,
    query_history: Option<QueryHistory>,
}

/// `pref.IsValidThemeID` of 10.2 (`""` means the default and is checked before).
fn valid_theme(theme: &str) -> bool {
    matches!(theme, "light" | "dark" | "system" | "debug")
}

/// Grafana's answer to a body it accepted.
fn updated() -> Response {
    axum::Json(json!({ "message": "Preferences updated" })).into_response()
}

impl Store {
    /// The uid of the home dashboard, when it is set and still exists.
    fn home_dashboard(&self) -> Option<&super::model::Dashboard> {
        let id = self.preferences.home_dashboard_id;
        (id != 0)
            .then(|| self.dashboards.iter().find(|d| d.id == id))
            .flatten()
    }

    /// The `preferences.Preferences` answer: only the keys with a value (all `omitempty`).
    pub fn preferences_json(&self) -> Value {
        let p = &self.preferences;
        let mut out = Map::new();
        let mut put = |key: &str, v: &str| {
            if !v.is_empty() {
                out.insert(key.into(), json!(v));
            }
        };
        put("weekStart", &p.week_start);
        put("theme", &p.theme);
        put(
            "homeDashboardUID",
            self.home_dashboard().map_or("", |d| d.uid.as_str()),
        );
        put("timezone", &p.timezone);
        put("language", &p.language);
        if !p.query_history_home_tab.is_empty() {
            out.insert(
                "queryHistory".into(),
                json!({ "homeTab": p.query_history_home_tab }),
            );
        }
        Value::Object(out)
    }

    /// Checks a body as Grafana does (theme, then `homeDashboardUID`) and returns the home
    /// dashboard id it asks for: from `homeDashboardUID` when given (`""` clears), else
    /// `homeDashboardId` (stored unchecked, as Grafana does).
    fn checked_home(&self, body: &PrefsBody) -> ApiResult<Option<i64>> {
        if let Some(theme) = &body.theme
            && !theme.is_empty()
            && !valid_theme(theme)
        {
            return Err(ApiError::bad_request("Invalid theme"));
        }
        match body.home_dashboard_uid.as_deref() {
            None => Ok(body.home_dashboard_id),
            Some("") => Ok(Some(0)),
            Some(uid) => self
                .dashboard(uid)
                .map(|d| Some(d.id))
                .ok_or_else(|| ApiError::not_found("Dashboard not found")),
        }
    }

    /// `PUT`: replaces every preference; `queryHistory` only when given (as `preference.Save`).
    fn put_preferences(&mut self, body: PrefsBody) -> ApiResult<()> {
        let home = self.checked_home(&body)?;
        let tab = body.query_history.map(|q| q.home_tab.unwrap_or_default());
        let p = &mut self.preferences;
        p.theme = body.theme.unwrap_or_default();
        p.home_dashboard_id = home.unwrap_or(0);
        p.timezone = body.timezone.unwrap_or_default();
        p.week_start = body.week_start.unwrap_or_default();
        p.language = body.language.unwrap_or_default();
        if let Some(tab) = tab {
            p.query_history_home_tab = tab;
        }
        Ok(())
    }

    /// `PATCH`: changes only the given preferences.
    fn patch_preferences(&mut self, body: PrefsBody) -> ApiResult<()> {
        let home = self.checked_home(&body)?;
        let p = &mut self.preferences;
        let fields = [
            (body.theme, &mut p.theme),
            (body.timezone, &mut p.timezone),
            (body.week_start, &mut p.week_start),
            (body.language, &mut p.language),
            (
                body.query_history.and_then(|q| q.home_tab),
                &mut p.query_history_home_tab,
            ),
        ];
        for (new, slot) in fields {
            if let Some(v) = new {
                *slot = v;
            }
        }
        if let Some(id) = home {
            p.home_dashboard_id = id;
        }
        Ok(())
    }
}

pub async fn get_org_preferences(State(app): State<App>) -> Response {
    axum::Json(lock(&app.store).preferences_json()).into_response()
}

pub async fn put_org_preferences(State(app): State<App>, body: Bytes) -> ApiResult<Response> {
    let body: PrefsBody = parse_body(&body)?;
    lock(&app.store).put_preferences(body)?;
    Ok(updated())
}

pub async fn patch_org_preferences(State(app): State<App>, body: Bytes) -> ApiResult<Response> {
    let body: PrefsBody = parse_body(&body)?;
    lock(&app.store).patch_preferences(body)?;
    Ok(updated())
}

/// `GET /api/dashboards/home`: `{"redirectUri": "/d/<uid>/<slug>"}` when a home dashboard is
/// set and exists, else the built-in home dashboard with its meta.
pub async fn home_dashboard(State(app): State<App>) -> Response {
    let st = lock(&app.store);
    let body = match st.home_dashboard() {
        Some(d) => json!({ "redirectUri": d.url() }),
        None => json!({
            "dashboard": {
                "editable": false,
                "panels": [],
                "schemaVersion": 38,
                "tags": [],
                "time": { "from": "now-6h", "to": "now" },
                "timezone": "browser",
                "title": "Home",
                "version": 0,
            },
            "meta": {
                "canEdit": true,
                "canSave": false,
                "canStar": false,
                "folderTitle": "General",
                "slug": "",
                "url": "",
                "version": 0,
            },
        }),
    };
    axum::Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> PrefsBody {
        serde_json::from_value(v).unwrap()
    }

    fn store() -> Store {
        Store::new(
            "admin".into(),
            "pw".into(),
            Vec::new(),
            "10.2.3".into(),
            None,
            Default::default(),
        )
    }

    #[test]
    fn put_replaces_and_patch_changes_only_the_given_fields() {
        let mut st = store();
        st.put_preferences(body(
            json!({"theme": "dark", "timezone": "utc", "weekStart": "monday"}),
        ))
        .unwrap();
        st.patch_preferences(body(json!({"timezone": "browser"})))
            .unwrap();
        assert_eq!(
            st.preferences_json(),
            json!({"theme": "dark", "timezone": "browser", "weekStart": "monday"})
        );
        st.put_preferences(body(json!({"timezone": "utc"})))
            .unwrap();
        assert_eq!(st.preferences_json(), json!({"timezone": "utc"}));
    }

    #[test]
    fn an_invalid_theme_or_unknown_home_dashboard_changes_nothing() {
        let mut st = store();
        st.patch_preferences(body(json!({"timezone": "utc"})))
            .unwrap();
        let e = st
            .put_preferences(body(json!({"theme": "pink"})))
            .unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.message()),
            (400, "Invalid theme".into())
        );
        let e = st
            .patch_preferences(body(json!({"homeDashboardUID": "nope", "timezone": "x"})))
            .unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.message()),
            (404, "Dashboard not found".into())
        );
        assert_eq!(st.preferences_json(), json!({"timezone": "utc"}));
    }
}
