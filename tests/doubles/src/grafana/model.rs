//! Stored objects of the Grafana double and the rules Grafana applies when they change.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::alerting::{AlertRule, ContactPoint, Template, default_contact_point, default_policy};
use super::error::{ApiError, ApiResult};
use super::persist::{self, AdminRecord, Db, RuleGroup};
use super::preferences::Preferences;
use crate::common::{IdGen, now_ms, rfc3339};

/// Grafana's `util.IsValidShortUID`: `^[a-zA-Z0-9\-_]*$`.
pub fn is_valid_uid(uid: &str) -> bool {
    uid.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Grafana's slug: lower case, runs of anything but `[a-z0-9]` become one `-`.
pub fn slugify(title: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in title.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c);
        } else {
            dash = true;
        }
    }
    out
}

/// A datasource as stored (secure values kept only to report `secureJsonFields`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Datasource {
    pub id: i64,
    pub uid: String,
    pub org_id: i64,
    pub name: String,
    pub kind: String,
    pub access: String,
    pub url: String,
    pub user: String,
    pub database: String,
    pub basic_auth: bool,
    pub basic_auth_user: String,
    pub with_credentials: bool,
    pub is_default: bool,
    pub json_data: Value,
    /// Persisted as field names only (`persist::secure_names_only`).
    #[serde(serialize_with = "persist::secure_names_only")]
    pub secure_json_data: BTreeMap<String, String>,
    pub version: i64,
    pub read_only: bool,
    /// Created by file provisioning.
    pub provisioned: bool,
}

impl Datasource {
    fn secure_fields(&self) -> Value {
        Value::Object(
            self.secure_json_data
                .keys()
                .map(|k| (k.clone(), Value::Bool(true)))
                .collect(),
        )
    }

    /// The `GET /api/datasources/uid/:uid` shape. Never includes secure values.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "uid": self.uid,
            "orgId": self.org_id,
            "name": self.name,
            "type": self.kind,
            "typeLogoUrl": format!("public/app/plugins/datasource/{}/img/logo.svg", self.kind),
            "access": self.access,
            "url": self.url,
            "user": self.user,
            "database": self.database,
            "basicAuth": self.basic_auth,
            "basicAuthUser": self.basic_auth_user,
            "withCredentials": self.with_credentials,
            "isDefault": self.is_default,
            "jsonData": self.json_data,
            "secureJsonFields": self.secure_fields(),
            "version": self.version,
            "readOnly": self.read_only,
        })
    }

    /// The `GET /api/datasources` list item shape.
    pub fn to_list_json(&self) -> Value {
        json!({
            "id": self.id,
            "uid": self.uid,
            "orgId": self.org_id,
            "name": self.name,
            "type": self.kind,
            "typeName": self.kind,
            "typeLogoUrl": format!("public/app/plugins/datasource/{}/img/logo.svg", self.kind),
            "access": self.access,
            "url": self.url,
            "user": self.user,
            "database": self.database,
            "basicAuth": self.basic_auth,
            "isDefault": self.is_default,
            "jsonData": self.json_data,
            "readOnly": self.read_only,
        })
    }
}

/// A folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Folder {
    pub id: i64,
    pub uid: String,
    pub title: String,
    pub parent_uid: Option<String>,
    pub version: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Created by dashboard file provisioning (provider `folder:`) or alerting provisioning.
    pub provisioned: bool,
}

impl Folder {
    pub fn url(&self) -> String {
        format!("/dashboards/f/{}/{}", self.uid, slugify(&self.title))
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "uid": self.uid,
            "orgId": 1,
            "title": self.title,
            "url": self.url(),
            "hasAcl": false,
            "canSave": true,
            "canEdit": true,
            "canAdmin": true,
            "canDelete": true,
            "createdBy": "admin",
            "created": rfc3339(self.created_ms),
            "updatedBy": "admin",
            "updated": rfc3339(self.updated_ms),
            "version": self.version,
        });
        if let (Some(p), Some(obj)) = (&self.parent_uid, v.as_object_mut()) {
            obj.insert("parentUid".into(), json!(p));
        }
        v
    }
}

/// Where a provisioned dashboard came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashProvisioning {
    pub provider: String,
    /// Path of the file relative to the provider's `options.path`.
    pub external_id: String,
    pub allow_ui_updates: bool,
}

/// One entry of a dashboard's version history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashboardVersion {
    pub id: i64,
    pub version: i64,
    pub parent_version: i64,
    pub restored_from: i64,
    pub created_ms: i64,
    pub created_by: String,
    pub message: String,
    pub data: Value,
}

/// A dashboard with its full version history (the double keeps every version).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub id: i64,
    pub uid: String,
    pub title: String,
    /// `""` for the root ("General") level.
    pub folder_uid: String,
    pub data: Value,
    pub version: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub provisioning: Option<DashProvisioning>,
    pub versions: Vec<DashboardVersion>,
}

impl Dashboard {
    pub fn slug(&self) -> String {
        slugify(&self.title)
    }

    pub fn url(&self) -> String {
        format!("/d/{}/{}", self.uid, self.slug())
    }

    pub fn tags(&self) -> Vec<String> {
        self.data
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn is_provisioned(&self) -> bool {
        self.provisioning.is_some()
    }
}

/// An annotation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    pub id: i64,
    pub dashboard_id: i64,
    pub dashboard_uid: String,
    pub panel_id: i64,
    pub time: i64,
    pub time_end: i64,
    pub tags: Vec<String>,
    pub text: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl Annotation {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "alertId": 0,
            "alertName": "",
            "dashboardId": self.dashboard_id,
            "dashboardUID": self.dashboard_uid,
            "panelId": self.panel_id,
            "userId": 1,
            "newState": "",
            "prevState": "",
            "created": self.created_ms,
            "updated": self.updated_ms,
            "time": self.time,
            "timeEnd": self.time_end,
            "text": self.text,
            "tags": self.tags,
            "login": "admin",
            "email": "admin@localhost",
            "avatarUrl": "/avatar/46d229b033af06a191ff2267bca9ae56",
            "data": {},
        })
    }
}

/// Everything the double stores.
#[derive(Debug, Clone)]
pub struct Store {
    pub admin_user: String,
    /// The admin password as far as this process knows it (`""` when only the data dir's hash
    /// of it is known).
    pub admin_password: String,
    /// The admin credentials kept in `[paths] data` (see `persist`); they win over the config.
    pub admin_record: Option<AdminRecord>,
    pub data_dir: Option<PathBuf>,
    pub tokens: Vec<String>,
    pub version: String,
    pub provisioning_dir: Option<PathBuf>,
    /// Variables consulted before the process environment during provisioning.
    pub env: BTreeMap<String, String>,
    pub folders: Vec<Folder>,
    pub dashboards: Vec<Dashboard>,
    pub datasources: Vec<Datasource>,
    pub annotations: Vec<Annotation>,
    pub contact_points: Vec<ContactPoint>,
    /// The notification policy tree and its provenance.
    pub policy: Value,
    pub policy_provenance: String,
    pub templates: Vec<Template>,
    pub rules: Vec<AlertRule>,
    /// Rule group intervals in seconds, keyed by (folder uid, group title).
    pub rule_groups: BTreeMap<(String, String), i64>,
    pub mute_timings: Vec<Value>,
    /// Org 1's preferences (`/api/org/preferences`).
    pub preferences: Preferences,
    /// Problems Grafana would only log (e.g. an unreadable dashboard JSON file).
    pub warnings: Vec<String>,
    /// Service accounts created through `/api/serviceaccounts`.
    pub service_accounts: super::service_accounts::Registry,
    next_id: i64,
    next_ds_id: i64,
    next_version_id: i64,
    next_annotation_id: i64,
    pub(crate) next_rule_id: i64,
}

/// What a dashboard save asks for.
#[derive(Debug, Clone, Default)]
pub struct SaveDashboard {
    pub dashboard: Value,
    pub folder_uid: Option<String>,
    pub folder_id: Option<i64>,
    pub message: String,
    pub overwrite: bool,
    pub restored_from: i64,
    pub actor: String,
    /// Set by file provisioning: bypasses the provisioned check and marks the dashboard.
    pub provisioning: Option<DashProvisioning>,
}

/// Result of a successful save.
#[derive(Debug, Clone)]
pub struct Saved {
    pub id: i64,
    pub uid: String,
    pub version: i64,
    pub slug: String,
    pub url: String,
    pub folder_uid: String,
}

impl Saved {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "uid": self.uid,
            "url": self.url,
            "status": "success",
            "version": self.version,
            "slug": self.slug,
            "folderUid": self.folder_uid,
        })
    }
}

impl Store {
    pub fn new(
        admin_user: String,
        admin_password: String,
        tokens: Vec<String>,
        version: String,
        provisioning_dir: Option<PathBuf>,
        env: BTreeMap<String, String>,
    ) -> Self {
        Self {
            admin_user,
            admin_password,
            admin_record: None,
            data_dir: None,
            tokens,
            version,
            provisioning_dir,
            env,
            folders: Vec::new(),
            dashboards: Vec::new(),
            datasources: Vec::new(),
            annotations: Vec::new(),
            contact_points: vec![default_contact_point()],
            policy: default_policy(),
            policy_provenance: String::new(),
            templates: Vec::new(),
            rules: Vec::new(),
            rule_groups: BTreeMap::new(),
            mute_timings: Vec::new(),
            preferences: Preferences::default(),
            warnings: Vec::new(),
            service_accounts: Default::default(),
            next_id: 1,
            next_ds_id: 1,
            next_version_id: 1,
            next_annotation_id: 1,
            next_rule_id: 1,
        }
    }

    /// Keeps the admin credentials in `data_dir`, as Grafana does in its database: the first
    /// start of a data dir stores the configured ones, later starts keep the stored ones. The
    /// objects an earlier run stored there are loaded (before provisioning runs, as Grafana's
    /// database is).
    pub fn attach_data_dir(&mut self, ids: &IdGen, data_dir: PathBuf) -> Result<(), String> {
        match persist::load(&data_dir)? {
            Some(rec) => {
                if !(rec.login == self.admin_user && rec.matches(&self.admin_password)) {
                    self.admin_password.clear();
                }
                self.admin_user = rec.login.clone();
                self.admin_record = Some(rec);
            }
            None => {
                let rec = AdminRecord::new(&self.admin_user, &self.admin_password, ids.hex16());
                persist::save(&data_dir, &rec)?;
                self.admin_record = Some(rec);
            }
        }
        if let Some(db) = persist::load_db(&data_dir)? {
            self.restore(db);
        }
        self.data_dir = Some(data_dir);
        Ok(())
    }

    /// What `[paths] data` keeps of the store (everything but the admin, config and warnings).
    pub(crate) fn snapshot(&self) -> Db {
        Db {
            format: persist::DB_FORMAT,
            next_ids: [
                self.next_id,
                self.next_ds_id,
                self.next_version_id,
                self.next_annotation_id,
                self.next_rule_id,
            ],
            folders: self.folders.clone(),
            dashboards: self.dashboards.clone(),
            datasources: self.datasources.clone(),
            annotations: self.annotations.clone(),
            contact_points: self.contact_points.clone(),
            policy: self.policy.clone(),
            policy_provenance: self.policy_provenance.clone(),
            templates: self.templates.clone(),
            rules: self.rules.clone(),
            rule_groups: self
                .rule_groups
                .iter()
                .map(|((folder_uid, group), secs)| RuleGroup {
                    folder_uid: folder_uid.clone(),
                    group: group.clone(),
                    interval_secs: *secs,
                })
                .collect(),
            mute_timings: self.mute_timings.clone(),
            preferences: self.preferences.clone(),
        }
    }

    fn restore(&mut self, db: Db) {
        [
            self.next_id,
            self.next_ds_id,
            self.next_version_id,
            self.next_annotation_id,
            self.next_rule_id,
        ] = db.next_ids;
        self.folders = db.folders;
        self.dashboards = db.dashboards;
        self.datasources = db.datasources;
        self.annotations = db.annotations;
        self.contact_points = db.contact_points;
        self.policy = db.policy;
        self.policy_provenance = db.policy_provenance;
        self.templates = db.templates;
        self.rules = db.rules;
        self.rule_groups = db
            .rule_groups
            .into_iter()
            .map(|g| ((g.folder_uid, g.group), g.interval_secs))
            .collect();
        self.mute_timings = db.mute_timings;
        self.preferences = db.preferences;
    }

    /// Writes the snapshot to the data dir, if there is one (no-op without).
    pub fn persist(&self) -> Result<(), String> {
        match &self.data_dir {
            Some(dir) => persist::save_db(dir, &self.snapshot()),
            None => Ok(()),
        }
    }

    /// Whether `user` / `password` are the admin's credentials.
    pub fn admin_login_ok(&self, user: &str, password: &str) -> bool {
        user == self.admin_user
            && match &self.admin_record {
                Some(rec) => rec.matches(password),
                None => password == self.admin_password,
            }
    }

    /// Changes the admin password (and its record in the data dir, if there is one).
    pub fn set_admin_password(&mut self, ids: &IdGen, password: String) -> Result<(), String> {
        if let Some(dir) = &self.data_dir {
            let rec = AdminRecord::new(&self.admin_user, &password, ids.hex16());
            persist::save(dir, &rec)?;
            self.admin_record = Some(rec);
        }
        self.admin_password = password;
        Ok(())
    }

    /// Whether the emulated Grafana version is at least `major.minor` (an unparsable version
    /// counts as 10.2).
    pub fn version_at_least(&self, major: u32, minor: u32) -> bool {
        version_at_least(&self.version, major, minor)
    }

    /// Looks a variable up: overrides first, then the process environment.
    pub fn env_lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |name: &str| {
            self.env
                .get(name)
                .cloned()
                .or_else(|| std::env::var(name).ok())
        }
    }

    fn alloc_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    // ------------------------------------------------------------------ folders

    pub fn folder(&self, uid: &str) -> Option<&Folder> {
        self.folders.iter().find(|f| f.uid == uid)
    }

    pub fn folder_title(&self, uid: &str) -> String {
        if uid.is_empty() {
            return "General".into();
        }
        self.folder(uid)
            .map(|f| f.title.clone())
            .unwrap_or_default()
    }

    /// `POST /api/folders` rules.
    pub fn create_folder(
        &mut self,
        ids: &IdGen,
        uid: Option<String>,
        title: &str,
        parent_uid: Option<String>,
        provisioned: bool,
    ) -> ApiResult<Folder> {
        let title = title.trim();
        if title.is_empty() {
            return Err(ApiError::bad_request("folder title cannot be empty"));
        }
        let uid = match uid.filter(|u| !u.is_empty()) {
            Some(u) => {
                if u.len() > 40 {
                    return Err(ApiError::bad_request("uid too long, max 40 characters"));
                }
                if !is_valid_uid(&u) {
                    return Err(ApiError::bad_request("invalid uid for folder provided"));
                }
                u
            }
            None => ids.short_uid(),
        };
        if self.folder(&uid).is_some() || self.dashboards.iter().any(|d| d.uid == uid) {
            return Err(ApiError::msg(
                StatusCode::CONFLICT,
                "a folder/dashboard with the same uid already exists",
            ));
        }
        if let Some(p) = &parent_uid
            && self.folder(p).is_none()
        {
            return Err(ApiError::with_status(
                StatusCode::NOT_FOUND,
                "folder not found",
                "not-found",
            ));
        }
        if self
            .folders
            .iter()
            .any(|f| f.title == title && f.parent_uid == parent_uid)
        {
            return Err(ApiError::msg(
                StatusCode::CONFLICT,
                "a folder with the same name already exists in the current location",
            ));
        }
        let now = now_ms();
        let folder = Folder {
            id: self.alloc_id(),
            uid,
            title: title.to_owned(),
            parent_uid,
            version: 1,
            created_ms: now,
            updated_ms: now,
            provisioned,
        };
        self.folders.push(folder.clone());
        Ok(folder)
    }

    /// Finds a folder by title at the root level, creating it if missing (what dashboard and
    /// alerting provisioning do).
    pub fn ensure_folder(
        &mut self,
        ids: &IdGen,
        title: &str,
        uid: Option<&str>,
    ) -> ApiResult<String> {
        // Grafana 10.2 (pre-11 `getOrCreateFolderID`) looks the folder up by title and uses
        // `uid` only when it has to create it.
        if let Some(f) = self
            .folders
            .iter()
            .find(|f| f.title == title && f.parent_uid.is_none())
        {
            return Ok(f.uid.clone());
        }
        self.create_folder(ids, uid.map(str::to_owned), title, None, true)
            .map(|f| f.uid)
    }

    pub fn delete_folder(&mut self, uid: &str, force_delete_rules: bool) -> ApiResult<Folder> {
        let Some(idx) = self.folders.iter().position(|f| f.uid == uid) else {
            return Err(ApiError::with_status(
                StatusCode::NOT_FOUND,
                "folder not found",
                "not-found",
            ));
        };
        // Nested folders: collect the subtree.
        let mut doomed = vec![uid.to_owned()];
        let mut i = 0;
        while i < doomed.len() {
            let cur = doomed[i].clone();
            doomed.extend(
                self.folders
                    .iter()
                    .filter(|f| f.parent_uid.as_deref() == Some(cur.as_str()))
                    .map(|f| f.uid.clone()),
            );
            i += 1;
        }
        let has_rules = self.rules.iter().any(|r| doomed.contains(&r.folder_uid));
        if has_rules && !force_delete_rules {
            return Err(ApiError::bad_request(
                "folder cannot be deleted: folder contains alert rules",
            ));
        }
        let folder = self.folders[idx].clone();
        let dash_ids: Vec<i64> = self
            .dashboards
            .iter()
            .filter(|d| doomed.contains(&d.folder_uid))
            .map(|d| d.id)
            .collect();
        self.annotations
            .retain(|a| !dash_ids.contains(&a.dashboard_id));
        self.dashboards.retain(|d| !doomed.contains(&d.folder_uid));
        self.rules.retain(|r| !doomed.contains(&r.folder_uid));
        self.rule_groups.retain(|(f, _), _| !doomed.contains(f));
        self.folders.retain(|f| !doomed.contains(&f.uid));
        Ok(folder)
    }

    // ------------------------------------------------------------------ dashboards

    pub fn dashboard(&self, uid: &str) -> Option<&Dashboard> {
        self.dashboards.iter().find(|d| d.uid == uid)
    }

    fn dashboard_idx_by_id(&self, id: i64) -> Option<usize> {
        self.dashboards.iter().position(|d| d.id == id)
    }

    /// Grafana's dashboard save: validation, version and title checks, history entry.
    pub fn save_dashboard(&mut self, ids: &IdGen, cmd: SaveDashboard) -> ApiResult<Saved> {
        let Some(obj) = cmd.dashboard.as_object() else {
            return Err(ApiError::bad_request_data());
        };
        let mut data: Map<String, Value> = obj.clone();
        let title = data
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned();
        if title.is_empty() {
            return Err(ApiError::with_status(
                StatusCode::BAD_REQUEST,
                "Dashboard title cannot be empty",
                "empty-name",
            ));
        }
        if title.chars().count() > 5000 {
            return Err(ApiError::with_status(
                StatusCode::BAD_REQUEST,
                "Dashboard title cannot contain more than 5 000 characters",
                "title-too-long",
            ));
        }
        let mut uid = data
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if !uid.is_empty() {
            if !is_valid_uid(&uid) {
                return Err(ApiError::bad_request("uid contains illegal characters"));
            }
            if uid.len() > 40 {
                return Err(ApiError::bad_request("uid too long, max 40 characters"));
            }
        }
        if cmd.message.chars().count() > 500 {
            return Err(ApiError::bad_request(
                "message too long, max 500 characters",
            ));
        }
        let mut id = data.get("id").and_then(Value::as_i64).unwrap_or(0);
        let mut version = data.get("version").and_then(Value::as_i64).unwrap_or(0);

        // Folder: folderUid wins over the legacy folderId.
        let folder_uid = match (&cmd.folder_uid, cmd.folder_id) {
            (Some(f), _) if !f.is_empty() => f.clone(),
            (_, Some(fid)) if fid > 0 => match self.folders.iter().find(|f| f.id == fid) {
                Some(f) => f.uid.clone(),
                None => return Err(ApiError::not_found("Folder not found")),
            },
            _ => String::new(),
        };
        if !folder_uid.is_empty() && self.folder(&folder_uid).is_none() {
            return Err(ApiError::not_found("Folder not found"));
        }

        // getExistingDashboardByIDOrUIDForUpdate
        let by_id = if id > 0 {
            match self.dashboard_idx_by_id(id) {
                Some(i) => Some(i),
                None => {
                    return Err(ApiError::with_status(
                        StatusCode::NOT_FOUND,
                        "Dashboard not found",
                        "not-found",
                    ));
                }
            }
        } else {
            None
        };
        if let Some(i) = by_id
            && uid.is_empty()
        {
            uid = self.dashboards[i].uid.clone();
        }
        let by_uid = if uid.is_empty() {
            None
        } else {
            self.dashboards.iter().position(|d| d.uid == uid)
        };
        if self.folder(&uid).is_some() {
            return Err(ApiError::bad_request(
                "Dashboard cannot be changed to a folder",
            ));
        }
        let existing = match (by_id, by_uid) {
            (Some(a), Some(b)) if a != b => {
                return Err(ApiError::bad_request(
                    "A dashboard with the same uid already exists",
                ));
            }
            (Some(a), _) => Some(a),
            (None, Some(b)) => {
                id = self.dashboards[b].id;
                Some(b)
            }
            (None, None) => None,
        };
        if let Some(i) = existing {
            let ex = &self.dashboards[i];
            if cmd.provisioning.is_none()
                && ex
                    .provisioning
                    .as_ref()
                    .is_some_and(|p| !p.allow_ui_updates)
            {
                return Err(ApiError::bad_request("Cannot save provisioned dashboard"));
            }
            if version != ex.version {
                if cmd.overwrite || cmd.provisioning.is_some() {
                    version = ex.version;
                } else {
                    return Err(ApiError::with_status(
                        StatusCode::PRECONDITION_FAILED,
                        "The dashboard has been changed by someone else",
                        "version-mismatch",
                    ));
                }
            }
        }

        // getExistingDashboardByTitleAndFolder
        let mut target = existing;
        if let Some(j) = self
            .dashboards
            .iter()
            .position(|d| d.title == title && d.folder_uid == folder_uid && d.id != id)
        {
            if cmd.overwrite {
                let other = &self.dashboards[j];
                id = other.id;
                uid = other.uid.clone();
                version = other.version;
                target = Some(j);
            } else {
                return Err(ApiError::with_status(
                    StatusCode::PRECONDITION_FAILED,
                    "A dashboard with the same name in the folder already exists",
                    "name-exists",
                ));
            }
        }

        let now = now_ms();
        if uid.is_empty() {
            uid = ids.short_uid();
        }
        let parent_version = version;
        let (new_id, new_version, created_ms) = match target {
            Some(i) => (id, version + 1, self.dashboards[i].created_ms),
            None => (self.alloc_id(), 1, now),
        };
        data.insert("id".into(), json!(new_id));
        data.insert("uid".into(), json!(uid));
        data.insert("title".into(), json!(title));
        data.insert("version".into(), json!(new_version));
        let data = Value::Object(data);
        let entry = DashboardVersion {
            id: self.next_version_id,
            version: new_version,
            parent_version,
            restored_from: cmd.restored_from,
            created_ms: now,
            created_by: if cmd.actor.is_empty() {
                "admin".into()
            } else {
                cmd.actor.clone()
            },
            message: cmd.message.clone(),
            data: data.clone(),
        };
        self.next_version_id += 1;
        match target {
            Some(i) => {
                let d = &mut self.dashboards[i];
                d.uid = uid.clone();
                d.title = title;
                d.folder_uid = folder_uid.clone();
                d.data = data;
                d.version = new_version;
                d.updated_ms = now;
                if cmd.provisioning.is_some() {
                    d.provisioning = cmd.provisioning;
                }
                d.versions.push(entry);
            }
            None => self.dashboards.push(Dashboard {
                id: new_id,
                uid: uid.clone(),
                title,
                folder_uid: folder_uid.clone(),
                data,
                version: new_version,
                created_ms,
                updated_ms: now,
                provisioning: cmd.provisioning,
                versions: vec![entry],
            }),
        }
        let d = self
            .dashboard(&uid)
            .ok_or_else(|| ApiError::not_found("Dashboard not found"))?;
        Ok(Saved {
            id: d.id,
            uid: d.uid.clone(),
            version: d.version,
            slug: d.slug(),
            url: d.url(),
            folder_uid,
        })
    }

    /// `GET /api/dashboards/uid/:uid` body.
    pub fn dashboard_json(&self, d: &Dashboard) -> Value {
        let folder = self.folder(&d.folder_uid);
        json!({
            "dashboard": d.data,
            "meta": {
                "type": "db",
                "canSave": true,
                "canEdit": true,
                "canAdmin": true,
                "canStar": true,
                "canDelete": true,
                "slug": d.slug(),
                "url": d.url(),
                "expires": "0001-01-01T00:00:00Z",
                "created": rfc3339(d.created_ms),
                "updated": rfc3339(d.updated_ms),
                "updatedBy": "admin",
                "createdBy": "admin",
                "version": d.version,
                "hasAcl": false,
                "isFolder": false,
                "folderId": folder.map_or(0, |f| f.id),
                "folderUid": d.folder_uid,
                "folderTitle": self.folder_title(&d.folder_uid),
                "folderUrl": folder.map(Folder::url).unwrap_or_default(),
                "provisioned": d.is_provisioned(),
                "provisionedExternalId": d.provisioning.as_ref().map(|p| p.external_id.clone()).unwrap_or_default(),
            }
        })
    }

    pub fn delete_dashboard(&mut self, uid: &str, force: bool) -> ApiResult<Dashboard> {
        let Some(idx) = self.dashboards.iter().position(|d| d.uid == uid) else {
            return Err(ApiError::with_status(
                StatusCode::NOT_FOUND,
                "Dashboard not found",
                "not-found",
            ));
        };
        if !force && self.dashboards[idx].is_provisioned() {
            return Err(ApiError::bad_request(
                "provisioned dashboard cannot be deleted",
            ));
        }
        let d = self.dashboards.remove(idx);
        self.annotations.retain(|a| a.dashboard_id != d.id);
        Ok(d)
    }

    /// Restores `version` of dashboard `uid` as a new version.
    pub fn restore_dashboard(
        &mut self,
        ids: &IdGen,
        uid: &str,
        version: i64,
        actor: &str,
    ) -> ApiResult<Saved> {
        let Some(d) = self.dashboard(uid) else {
            return Err(ApiError::with_status(
                StatusCode::NOT_FOUND,
                "Dashboard not found",
                "not-found",
            ));
        };
        let Some(v) = d.versions.iter().find(|v| v.version == version) else {
            return Err(ApiError::not_found("Dashboard version not found"));
        };
        let data = v.data.clone();
        self.save_as_new_version(
            ids,
            uid,
            data,
            format!("Restored from version {version}"),
            version,
            actor,
        )
    }

    /// What the UI's "Save dashboard" does after an edit: `patch` (a JSON merge patch,
    /// RFC 7396) applied to the current model, saved as the next version in the same folder with
    /// an empty message, by the admin. The patch cannot change `id`, `uid` or `version`.
    pub fn ui_edit(&mut self, ids: &IdGen, uid: &str, patch: &Value) -> ApiResult<Saved> {
        let Some(d) = self.dashboard(uid) else {
            return Err(ApiError::with_status(
                StatusCode::NOT_FOUND,
                "Dashboard not found",
                "not-found",
            ));
        };
        if !patch.is_object() {
            return Err(ApiError::bad_request(
                "expected a JSON merge patch (an object) of the dashboard model",
            ));
        }
        let mut data = d.data.clone();
        json_patch::merge(&mut data, patch);
        self.save_as_new_version(ids, uid, data, String::new(), 0, "admin")
    }

    /// Saves `data` over dashboard `uid` as its next version, in its folder.
    fn save_as_new_version(
        &mut self,
        ids: &IdGen,
        uid: &str,
        mut data: Value,
        message: String,
        restored_from: i64,
        actor: &str,
    ) -> ApiResult<Saved> {
        let Some(d) = self.dashboard(uid) else {
            return Err(ApiError::not_found("Dashboard not found"));
        };
        if let Some(obj) = data.as_object_mut() {
            obj.insert("id".into(), json!(d.id));
            obj.insert("uid".into(), json!(d.uid));
            obj.insert("version".into(), json!(d.version));
        }
        let folder_uid = d.folder_uid.clone();
        self.save_dashboard(
            ids,
            SaveDashboard {
                dashboard: data,
                folder_uid: Some(folder_uid),
                folder_id: None,
                message,
                overwrite: false,
                restored_from,
                actor: actor.to_owned(),
                provisioning: None,
            },
        )
    }

    // ------------------------------------------------------------------ datasources

    pub fn datasource_by_uid(&self, uid: &str) -> Option<&Datasource> {
        self.datasources.iter().find(|d| d.uid == uid)
    }

    /// Adds a datasource (API or provisioning). Errors follow `POST /api/datasources`.
    pub fn add_datasource(&mut self, ids: &IdGen, mut ds: Datasource) -> ApiResult<Datasource> {
        if ds.name.trim().is_empty() {
            return Err(ApiError::bad_request("Name is required"));
        }
        if ds.kind.trim().is_empty() {
            return Err(ApiError::bad_request("Type is required"));
        }
        if self.datasources.iter().any(|d| d.name == ds.name) {
            return Err(ApiError::msg(
                StatusCode::CONFLICT,
                "data source with the same name already exists",
            ));
        }
        if ds.uid.is_empty() {
            ds.uid = ids.short_uid();
        } else {
            if ds.uid.len() > 40 || !is_valid_uid(&ds.uid) {
                return Err(ApiError::bad_request(format!(
                    "Failed to add datasource: invalid UID for datasource {}",
                    ds.uid
                )));
            }
            if self.datasource_by_uid(&ds.uid).is_some() {
                return Err(ApiError::msg(
                    StatusCode::CONFLICT,
                    "data source with the same uid already exists",
                ));
            }
        }
        if ds.is_default {
            for other in &mut self.datasources {
                other.is_default = false;
            }
        }
        ds.id = self.next_ds_id;
        self.next_ds_id += 1;
        ds.version = 1;
        self.datasources.push(ds.clone());
        Ok(ds)
    }

    /// Updates the datasource with `uid` from `new` (secure values merged key by key).
    pub fn update_datasource(
        &mut self,
        uid: &str,
        new: Datasource,
        sent_version: Option<i64>,
        from_provisioning: bool,
    ) -> ApiResult<Datasource> {
        let Some(idx) = self.datasources.iter().position(|d| d.uid == uid) else {
            return Err(ApiError::not_found("Data source not found"));
        };
        if !from_provisioning && self.datasources[idx].read_only {
            return Err(ApiError::msg(
                StatusCode::FORBIDDEN,
                "Cannot update read-only data source",
            ));
        }
        if self
            .datasources
            .iter()
            .any(|d| d.name == new.name && d.uid != uid)
        {
            return Err(ApiError::msg(
                StatusCode::CONFLICT,
                "data source with the same name already exists",
            ));
        }
        let cur = &self.datasources[idx];
        if let Some(v) = sent_version
            && v != 0
            && v < cur.version
        {
            return Err(ApiError::msg(
                StatusCode::CONFLICT,
                "Datasource has already been updated by someone else. Please reload and try again",
            ));
        }
        let mut secure = if from_provisioning {
            BTreeMap::new()
        } else {
            cur.secure_json_data.clone()
        };
        secure.extend(new.secure_json_data);
        let updated = Datasource {
            id: cur.id,
            uid: cur.uid.clone(),
            version: cur.version + 1,
            secure_json_data: secure,
            read_only: if from_provisioning {
                new.read_only
            } else {
                cur.read_only
            },
            provisioned: cur.provisioned || from_provisioning,
            ..new
        };
        if updated.is_default {
            for other in &mut self.datasources {
                other.is_default = false;
            }
        }
        self.datasources[idx] = updated.clone();
        Ok(updated)
    }

    pub fn delete_datasource(
        &mut self,
        uid: &str,
        from_provisioning: bool,
    ) -> ApiResult<Datasource> {
        let Some(idx) = self.datasources.iter().position(|d| d.uid == uid) else {
            return Err(ApiError::not_found("Data source not found"));
        };
        if !from_provisioning && self.datasources[idx].read_only {
            return Err(ApiError::msg(
                StatusCode::FORBIDDEN,
                "Cannot delete read-only data source",
            ));
        }
        Ok(self.datasources.remove(idx))
    }

    // ------------------------------------------------------------------ annotations

    pub fn add_annotation(&mut self, mut a: Annotation) -> i64 {
        a.id = self.next_annotation_id;
        self.next_annotation_id += 1;
        if !a.dashboard_uid.is_empty()
            && let Some(d) = self.dashboard(&a.dashboard_uid)
        {
            a.dashboard_id = d.id;
        }
        let id = a.id;
        self.annotations.push(a);
        id
    }
}

/// A datasource with every field defaulted, for building from requests or files.
/// Whether `version` (`10.2.3`, `11.6.0-pre`, ...) is at least `major.minor`; an unparsable
/// version counts as 10.2.
pub fn version_at_least(version: &str, major: u32, minor: u32) -> bool {
    let mut parts = version.split(['.', '-']).map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(ma), mi) => (ma, mi.unwrap_or(0)) >= (major, minor),
        _ => (10, 2) >= (major, minor),
    }
}

pub fn blank_datasource() -> Datasource {
    Datasource {
        id: 0,
        uid: String::new(),
        org_id: 1,
        name: String::new(),
        kind: String::new(),
        access: "proxy".into(),
        url: String::new(),
        user: String::new(),
        database: String::new(),
        basic_auth: false,
        basic_auth_user: String::new(),
        with_credentials: false,
        is_default: false,
        json_data: json!({}),
        secure_json_data: BTreeMap::new(),
        version: 0,
        read_only: false,
        provisioned: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_grafana() {
        assert_eq!(slugify("Promo — Marketing View!"), "promo-marketing-view");
        assert_eq!(slugify("  k6 Technical  "), "k6-technical");
    }

    #[test]
    fn version_gates() {
        assert!(version_at_least("10.4.0", 10, 4));
        assert!(!version_at_least("10.2.3", 10, 4));
        assert!(version_at_least("11.6.0-pre", 11, 6));
        assert!(!version_at_least("11.5.9", 11, 6));
        assert!(version_at_least("12", 11, 6));
        assert!(!version_at_least("garbage", 10, 4));
    }

    #[test]
    fn uid_validation() {
        assert!(is_valid_uid("promo-k6_1"));
        assert!(!is_valid_uid("promo k6"));
        assert!(!is_valid_uid("a/b"));
    }
}
