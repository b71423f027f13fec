//! What the Grafana double keeps across runs in its `[paths] data` directory, as Grafana keeps
//! everything in `grafana.db` there:
//! - `grafana-double-admin.json`: the admin login and a salted SHA-256 of its password (never the
//!   password), so `admin_password` from the configuration applies only on the first start;
//! - `grafana-double-db.json`: every stored object ([`Db`]), written atomically (temporary file,
//!   fsync, rename) after each write request and after provisioning, loaded at start before
//!   provisioning runs. Datasource secure values are stored as field names only.
//!
//! May not: touch anything outside the data dir, print, read the environment.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::App;
use super::alerting::{AlertRule, ContactPoint, Template};
use super::error::ApiError;
use super::model::{Annotation, Dashboard, Datasource, Folder};
use super::preferences::Preferences;
use crate::common::lock;

/// File name of the admin record inside the data dir.
pub const FILE: &str = "grafana-double-admin.json";

/// File name of the stored objects inside the data dir.
pub const DB_FILE: &str = "grafana-double-db.json";

/// Version of the [`Db`] layout; another value in a file is refused.
pub const DB_FORMAT: u32 = 1;

/// One rule group's evaluation interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleGroup {
    pub folder_uid: String,
    pub group: String,
    pub interval_secs: i64,
}

/// Everything `grafana-double-db.json` holds. Provisioned objects are kept with their marker
/// (`provisioning`, `provisioned`, provenance `file`) and reconciled by provisioning at start,
/// as Grafana does with the rows of its database.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Db {
    pub format: u32,
    /// Next object, datasource, dashboard version, annotation and alert rule id.
    pub next_ids: [i64; 5],
    pub folders: Vec<Folder>,
    pub dashboards: Vec<Dashboard>,
    pub datasources: Vec<Datasource>,
    pub annotations: Vec<Annotation>,
    pub contact_points: Vec<ContactPoint>,
    pub policy: Value,
    pub policy_provenance: String,
    pub templates: Vec<Template>,
    pub rules: Vec<AlertRule>,
    pub rule_groups: Vec<RuleGroup>,
    pub mute_timings: Vec<Value>,
    pub preferences: Preferences,
}

/// Serialises secure datasource values as their names with empty values: the double only
/// reports which fields are set (`secureJsonFields`), and no secret is written to disk.
pub fn secure_names_only<S: Serializer>(
    map: &BTreeMap<String, String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(map.keys().map(|k| (k, "")))
}

/// The stored admin credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminRecord {
    pub login: String,
    pub salt: String,
    pub sha256: String,
}

impl AdminRecord {
    pub fn new(login: &str, password: &str, salt: String) -> Self {
        let sha256 = digest(&salt, password);
        Self {
            login: login.to_owned(),
            salt,
            sha256,
        }
    }

    pub fn matches(&self, password: &str) -> bool {
        digest(&self.salt, password) == self.sha256
    }
}

fn digest(salt: &str, password: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0u8]);
    h.update(password.as_bytes());
    hex::encode(h.finalize())
}

/// Reads `file` from the data dir: `None` when it does not exist yet.
fn read_json<T: serde::de::DeserializeOwned>(
    data_dir: &Path,
    file: &str,
    what: &str,
) -> Result<Option<T>, String> {
    let p = data_dir.join(file);
    match std::fs::read(&p) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            format!(
                "{}: not a Grafana double {what} ({e}); remove it to start the data dir afresh",
                p.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", p.display())),
    }
}

/// Writes `body` to `file` in the data dir (mode 0600) through a synced temporary file and a
/// rename, creating the data dir if needed.
fn write_atomic(data_dir: &Path, file: &str, body: &[u8]) -> Result<(), String> {
    let p = data_dir.join(file);
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", p.display());
    std::fs::create_dir_all(data_dir).map_err(fail)?;
    let tmp = data_dir.join(format!("{file}.tmp"));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp).map_err(fail)?;
    f.write_all(body).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, &p).map_err(fail)
}

/// The objects an earlier run stored, if the data dir has them.
pub fn load_db(data_dir: &Path) -> Result<Option<Db>, String> {
    let db: Option<Db> = read_json(data_dir, DB_FILE, "state file")?;
    match db {
        Some(db) if db.format != DB_FORMAT => Err(format!(
            "{}: format {} is not the {DB_FORMAT} this double reads; remove it to start the data dir afresh",
            data_dir.join(DB_FILE).display(),
            db.format
        )),
        other => Ok(other),
    }
}

/// Writes the stored objects.
pub fn save_db(data_dir: &Path, db: &Db) -> Result<(), String> {
    let body = serde_json::to_vec(db).map_err(|e| format!("cannot encode {DB_FILE}: {e}"))?;
    write_atomic(data_dir, DB_FILE, &body)
}

/// Middleware: after every request that may change the store (any method but GET, HEAD and
/// OPTIONS, except the double's fault and request-log controls), writes the store to the data
/// dir. A failed write answers 500, as Grafana answers when its database refuses a write.
pub(crate) async fn save_after_write(
    State(app): State<App>,
    req: Request<Body>,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && !path.starts_with("/__double/faults")
        && !path.starts_with("/__double/requests");
    let resp = next.run(req).await;
    if !writes {
        return resp;
    }
    // Written under the store lock, so files are written in the order of the changes.
    match lock(&app.store).persist() {
        Ok(()) => resp,
        Err(e) => ApiError::msg(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Grafana double: cannot persist its state: {e}"),
        )
        .into_response(),
    }
}

/// The record of an earlier start, if the data dir has one.
pub fn load(data_dir: &Path) -> Result<Option<AdminRecord>, String> {
    read_json(data_dir, FILE, "admin record")
}

/// Writes the record (mode 0600), creating the data dir if needed.
pub fn save(data_dir: &Path, rec: &AdminRecord) -> Result<(), String> {
    let body = serde_json::to_vec_pretty(rec).map_err(|e| format!("cannot encode {FILE}: {e}"))?;
    write_atomic(data_dir, FILE, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_verify_only_their_password_and_hold_no_plaintext() {
        let r = AdminRecord::new("admin", "s3cret-pw", "salt1".into());
        assert!(r.matches("s3cret-pw"));
        assert!(!r.matches("s3cret-pw "));
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains("s3cret-pw"), "{text}");
        assert_ne!(
            r.sha256,
            AdminRecord::new("admin", "s3cret-pw", "salt2".into()).sha256
        );
    }
}
