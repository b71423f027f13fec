//! `Desired`: what a stack should be — the generated files and the runtime resources — as
//! produced by the pure compile step and consumed by the writer and by plan.
//!
//! Owns: the resource model, canonical forms and content hashes.
//! May not: do IO, or hold a secret value (fingerprints only).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

mod api;
#[cfg(test)]
mod fixtures;
mod order;

pub use api::*;
pub use order::{Order, dependency_order};

/// sha256 of some bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A file to write under `generated/<stack>/`.
#[derive(Debug, Clone)]
pub struct GeneratedFile {
    /// Exact contents (private: the cached sha256 must always be theirs).
    bytes: Vec<u8>,
    /// The contents' sha256, computed once (a run asks for it several times: digests, the
    /// ledger, the writer).
    sha: std::sync::OnceLock<String>,
}

impl PartialEq for GeneratedFile {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for GeneratedFile {}

impl GeneratedFile {
    /// From text.
    pub fn text(s: impl Into<String>) -> Self {
        Self {
            bytes: s.into().into_bytes(),
            sha: std::sync::OnceLock::new(),
        }
    }
    /// The exact contents.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The contents, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
    /// sha256 of the contents.
    pub fn sha256(&self) -> String {
        self.sha.get_or_init(|| sha256_hex(&self.bytes)).clone()
    }
}

/// Kinds of runtime resources, in the order a cold apply creates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// A container network.
    Network,
    /// A named volume.
    Volume,
    /// A long-running service (container or native process).
    Service,
    /// An InfluxDB database / bucket and its retention.
    Database,
    /// An InfluxDB 2 / Cloud authorization (a scoped token), kept in `.env` once minted.
    Token,
    /// A Grafana datasource.
    Datasource,
    /// A Grafana folder.
    Folder,
    /// A Grafana dashboard.
    Dashboard,
    /// A Grafana alerting object (contact point, policy, rule group, template).
    Alerting,
}

impl ResourceKind {
    /// Whether a changed resource of this kind is converged in place (databases, Grafana
    /// objects) rather than deleted and recreated (containers, networks, volumes).
    pub fn updates_in_place(self) -> bool {
        matches!(
            self,
            Self::Database | Self::Datasource | Self::Folder | Self::Dashboard | Self::Alerting
        )
    }

    /// Short name used in plan output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Volume => "volume",
            Self::Service => "service",
            Self::Database => "database",
            Self::Token => "token",
            Self::Datasource => "datasource",
            Self::Folder => "folder",
            Self::Dashboard => "dashboard",
            Self::Alerting => "alerting",
        }
    }
}

/// Identity of a resource within a stack.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ResourceId {
    /// Kind.
    pub kind: ResourceKind,
    /// Name, unique within the kind.
    pub name: String,
}

impl ResourceId {
    /// Build an id.
    pub fn new(kind: ResourceKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
        }
    }
}

impl AsRef<ResourceId> for ResourceId {
    fn as_ref(&self) -> &ResourceId {
        self
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind.as_str(), self.name)
    }
}

/// An environment value: plain, or a secret referenced by name (value never stored here).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvValue {
    /// A literal value.
    Plain(String),
    /// The value of the named secret from `.env`.
    Secret(String),
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PortSpec {
    /// Host address (`127.0.0.1`).
    pub host_ip: String,
    /// Host port.
    pub host_port: u16,
    /// Container port.
    pub container_port: u16,
}

/// Where a mount comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MountSource {
    /// A named volume of the stack (short name, e.g. `influxdb-data`).
    Volume(String),
    /// A path relative to `generated/<stack>/`.
    Generated(String),
}

/// A mount into a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountSpec {
    /// Source.
    pub source: MountSource,
    /// Path inside the container.
    pub target: String,
    /// Read-only.
    pub read_only: bool,
}

/// A health check.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HealthSpec {
    /// Docker-style test (`["CMD-SHELL", "..."]`).
    pub test: Vec<String>,
    /// Seconds between checks.
    pub interval_s: u32,
    /// Seconds before a check counts as failed.
    pub timeout_s: u32,
    /// Failures before unhealthy.
    pub retries: u32,
    /// Grace period, seconds.
    pub start_period_s: u32,
}

/// A long-running service of the stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceSpec {
    /// Service name (`influxdb`, `grafana`, `control-api`).
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Command (empty: the image's default).
    pub command: Vec<String>,
    /// Environment.
    pub env: BTreeMap<String, EnvValue>,
    /// Published ports.
    pub ports: Vec<PortSpec>,
    /// Mounts.
    pub mounts: Vec<MountSpec>,
    /// Health check.
    pub health: HealthSpec,
    /// Services that must be healthy first.
    pub depends_on: Vec<String>,
    /// Restart policy (`unless-stopped`).
    pub restart: String,
    /// sha256 of the generated files mounted into the service that it reads only when it
    /// starts, by mount source: a change recreates exactly that service.
    pub config_digest: BTreeMap<String, String>,
    /// sha256 of the generated files the running service re-reads on request (Grafana's
    /// provisioning reload API), by directory: a change only here is an in-place update.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub reload_digest: BTreeMap<String, String>,
    /// Environment read only on the first start, when the data volume is empty (InfluxDB 2's
    /// `DOCKER_INFLUXDB_INIT_*` setup): passed to the container but kept out of the content
    /// hash, since a resource of its own (the database) converges it afterwards.
    #[serde(skip)]
    pub init_env: BTreeMap<String, EnvValue>,
}

/// A supervised native process (the native target's services).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessSpec {
    /// Service name (`influxdb`, `grafana`, `control-api`).
    pub name: String,
    /// Program looked up on PATH (`influxd`, `grafana`; `promo-infra` is this binary).
    pub program: String,
    /// Arguments; paths are relative to the project directory (the working directory).
    pub args: Vec<String>,
    /// Environment (secrets by reference). `PROMO_INFRA_PROJECT_DIR` is added at start.
    pub env: BTreeMap<String, EnvValue>,
    /// URL answering 2xx when the process is healthy.
    pub health_url: String,
    /// Where people reach it.
    pub url: String,
    /// Services that must be healthy first.
    pub depends_on: Vec<String>,
    /// sha256 of its generated configuration files read at start, by path.
    pub config_digest: BTreeMap<String, String>,
    /// sha256 of the generated files it re-reads on request (see [`ServiceSpec`]), by path.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub reload_digest: BTreeMap<String, String>,
}

/// An InfluxDB user (1.x) and the secret holding its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbUser {
    /// User name.
    pub name: String,
    /// `ALL` (admin), `READ` or `WRITE` on the database.
    pub privilege: String,
    /// Name of the `.env` secret holding the password (the value is changed only by
    /// `secrets rotate`, so it is not part of the content hash).
    pub password_secret: String,
}

/// The InfluxDB database (1.x) or bucket (2.x) and its retention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseSpec {
    /// InfluxDB major version.
    pub version: u8,
    /// Database or bucket name.
    pub name: String,
    /// Organisation (2.x).
    pub org: Option<String>,
    /// Retention in InfluxQL spelling (`720h`, `INF`).
    pub retention: String,
    /// Shard-group duration (1.x; empty for 2.x).
    pub shard_duration: String,
    /// Users (1.x), sorted by name.
    pub users: Vec<DbUser>,
    /// The database name of the bucket's DBRP mapping (InfluxQL through the v1 API: the cloud
    /// target); `None` where the target does not map one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dbrp: Option<String>,
}

/// The typed content of a resource, for the target that executes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResourceSpec {
    /// A network (full name in Docker).
    Network {
        /// Full network name (`<stack>_<network>`).
        name: String,
    },
    /// A named volume.
    Volume {
        /// Full volume name (`<stack>_<volume>`).
        name: String,
    },
    /// A service.
    Service(Box<ServiceSpec>),
    /// The InfluxDB database / bucket, retention and users (converged in place, never dropped).
    Database(DatabaseSpec),
    /// A native process (native target).
    Process(Box<ProcessSpec>),
    /// A Grafana folder (API-managed).
    Folder(FolderSpec),
    /// A Grafana dashboard (API-managed).
    Dashboard(DashboardSpec),
    /// A scoped InfluxDB token (cloud target).
    Token(TokenSpec),
    /// A Grafana datasource (API-managed: cloud target).
    Datasource(DatasourceSpec),
    /// A Grafana alerting object (API-managed: cloud target).
    Alerting(AlertingSpec),
}

/// One runtime resource, with the canonical form plan diffs and its content hash.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// Identity.
    pub id: ResourceId,
    /// What must exist first.
    pub depends_on: Vec<ResourceId>,
    /// Typed content.
    pub spec: ResourceSpec,
    /// Canonical JSON of the content as plan shows it: secret values replaced by
    /// `(sensitive)` markers that carry a fingerprint, never the value.
    pub canonical: serde_json::Value,
    /// sha256 of the canonical form.
    pub hash: String,
}

impl Resource {
    /// Build a resource; `secret_fingerprints` maps secret names to a fingerprint of their
    /// current value, so a rotated secret changes the hash without the value being stored.
    pub fn new(
        id: ResourceId,
        depends_on: Vec<ResourceId>,
        spec: ResourceSpec,
        secret_fingerprints: &BTreeMap<String, String>,
    ) -> Self {
        let mut canonical = serde_json::to_value(&spec).unwrap_or(serde_json::Value::Null);
        mark_secrets(&mut canonical, secret_fingerprints);
        let hash = sha256_hex(canonical.to_string().as_bytes());
        Self {
            id,
            depends_on,
            spec,
            canonical,
            hash,
        }
    }
}

impl Resource {
    /// This resource with the secrets named in `fingerprints` marked by those fingerprints (a
    /// token minted during this apply, read back from `.env`), and its hash to match: what the
    /// next plan will compute for it.
    pub fn with_fingerprints(&self, fingerprints: &BTreeMap<String, String>) -> Self {
        let mut canonical = self.canonical.clone();
        remark_secrets(&mut canonical, fingerprints);
        if canonical == self.canonical {
            return self.clone();
        }
        Self {
            hash: sha256_hex(canonical.to_string().as_bytes()),
            canonical,
            ..self.clone()
        }
    }
}

/// Top-level field of services and processes whose change the running service takes in place.
pub const RELOAD_DIGEST: &str = "reload_digest";

impl Resource {
    /// Whether a change of the field at `path` (as [`crate::plan::diff`] names it) can be made
    /// without recreating the resource: any field of a kind converged in place, and a service's
    /// `reload_digest` (the files it re-reads on request).
    pub fn changes_in_place(&self, path: &str) -> bool {
        self.id.kind.updates_in_place()
            || (matches!(
                self.spec,
                ResourceSpec::Service(_) | ResourceSpec::Process(_)
            ) && path
                .strip_prefix(RELOAD_DIGEST)
                .is_some_and(|rest| rest.starts_with('.')))
    }
}

/// Replace `{"secret": NAME}` nodes by `{"secret": NAME, "fingerprint": ...}`.
fn mark_secrets(value: &mut serde_json::Value, fingerprints: &BTreeMap<String, String>) {
    match value {
        serde_json::Value::Object(map) => {
            if map.len() == 1
                && let Some(serde_json::Value::String(name)) = map.get("secret")
            {
                let fp = fingerprints
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| "unset".into());
                map.insert("fingerprint".into(), serde_json::Value::String(fp));
                return;
            }
            for v in map.values_mut() {
                mark_secrets(v, fingerprints);
            }
        }
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(|v| mark_secrets(v, fingerprints))
        }
        _ => {}
    }
}

/// [`mark_secrets`] again, for the names in `fingerprints` only.
fn remark_secrets(value: &mut serde_json::Value, fingerprints: &BTreeMap<String, String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(name)) = map.get("secret") {
                if let Some(fp) = fingerprints.get(name) {
                    map.insert("fingerprint".into(), serde_json::Value::String(fp.clone()));
                }
                return;
            }
            for v in map.values_mut() {
                remark_secrets(v, fingerprints);
            }
        }
        serde_json::Value::Array(items) => items
            .iter_mut()
            .for_each(|v| remark_secrets(v, fingerprints)),
        _ => {}
    }
}

/// Everything a stack should be.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    /// Stack name.
    pub stack: String,
    /// Files under `generated/<stack>/`, by relative path.
    pub files: BTreeMap<String, GeneratedFile>,
    /// Runtime resources, by id (sorted: networks and volumes first).
    pub resources: BTreeMap<ResourceId, Resource>,
    /// Where the cloud target works (compiled for `cloud` only).
    pub cloud: Option<CloudEndpoints>,
    /// Only part of the stack, read again for a check ([`crate::plan::scoped_to`]): a read asks
    /// for what this part declares and skips what the stack as a whole would sweep (Grafana's
    /// undeclared tagged dashboards), which is no check's business.
    pub partial: bool,
}

impl Desired {
    /// Add a resource.
    pub fn add(&mut self, resource: Resource) {
        self.resources.insert(resource.id.clone(), resource);
    }

    /// The stack's Grafana folder (its id and spec), when it has one.
    pub fn folder(&self) -> Option<(&ResourceId, &FolderSpec)> {
        self.resources.values().find_map(|r| match &r.spec {
            ResourceSpec::Folder(f) => Some((&r.id, f)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests;
