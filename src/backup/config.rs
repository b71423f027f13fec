//! What the backup commands know about one stack: [`Settings`] (secrets included, never
//! printed), where its InfluxDB runs ([`Runtime`]), and how progress is reported ([`Progress`]).
//!
//! Owns: the pre-flight of every network step (container running, InfluxDB answering) and the
//! connection to InfluxDB (one [`influx::blocking::Client`] per command).
//! May not: print (progress goes to the caller's [`Progress`]), read the environment, or write
//! files.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::desired::DatabaseSpec;
use crate::error::Result;
use crate::influx::{self, Auth, Endpoint};
use crate::secrets::SecretValues;

use super::docker;
use super::rotate;

/// Where progress lines go: one line per network step (`checking InfluxDB at …`). The CLI
/// prints them on stderr as `backup: <line>`; [`Progress::default`] drops them.
#[derive(Clone, Default)]
pub struct Progress(Option<Arc<Report>>);

/// What receives the progress lines.
type Report = dyn Fn(&str) + Send + Sync;

impl Progress {
    /// Report each step to `f`.
    pub fn new(f: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(f)))
    }

    /// Report one step.
    pub fn step(&self, line: &str) {
        if let Some(f) = &self.0 {
            f(line);
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Progress(reported)"
        } else {
            "Progress(silent)"
        })
    }
}

/// Everything the backup commands need about one stack, secrets included (never printed).
#[derive(Clone)]
pub struct Settings {
    /// Stack name.
    pub stack: String,
    /// `<project>/<backup.dir>/<stack>`.
    pub dir: PathBuf,
    /// The same, as shown to the user (`backups/promo`).
    pub display_dir: String,
    /// InfluxDB major version (1 or 2).
    pub version: u8,
    /// Database (1.x) or bucket (2.x).
    pub database: String,
    /// Organisation (2.x).
    pub org: String,
    /// InfluxDB HTTP URL (`http://127.0.0.1:8086`).
    pub http_url: String,
    /// InfluxDB 1.x RPC address (`127.0.0.1:8088`).
    pub rpc: String,
    /// 1.x admin user (HTTP queries).
    pub admin_user: String,
    /// 1.x admin password from `.env` (absent when `.env` does not hold one).
    pub admin_password: Option<String>,
    /// 1.x: the new admin password an interrupted `secrets rotate` kept in `.env` beside the
    /// old one (its pending line), used when InfluxDB accepts only that one.
    pub admin_password_kept: Option<String>,
    /// 2.x operator token from `.env`.
    pub token: Option<String>,
    /// Where the token came from, for messages (`generated/promo/.env`).
    pub env_display: String,
    /// Rotation policy.
    pub policy: rotate::Policy,
    /// Upper bound for one `influxd`/`influx` backup or restore.
    pub timeout: Duration,
    /// Where the stack's InfluxDB runs (decides how the backup tools reach it).
    pub runtime: Runtime,
    /// The stack's database resource (1.x: with its users), converged after a restore of the
    /// stack's database: dropping a 1.x database drops the READ/WRITE grants on it.
    pub database_spec: Option<DatabaseSpec>,
    /// The stack's `.env` values (for that convergence). Never printed.
    pub secret_values: SecretValues,
    /// Where the progress lines of network steps go.
    pub progress: Progress,
}

/// Where the stack's InfluxDB runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runtime {
    /// On this host or reachable from it (native target): `influxd` / `influx` run here and
    /// talk to [`Settings::rpc`] / [`Settings::http_url`].
    Host,
    /// In a container of the docker target: 1.x backups and restores run inside it through
    /// the Engine API ([`docker`]); 2.x uses the host's `influx` against the published port.
    Docker {
        /// Container name (`<stack>-influxdb-1`).
        container: String,
    },
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("stack", &self.stack)
            .field("dir", &self.dir)
            .field("version", &self.version)
            .field("database", &self.database)
            .field("http_url", &self.http_url)
            .field("rpc", &self.rpc)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "(sensitive)"),
            )
            .field("token", &self.token.as_ref().map(|_| "(sensitive)"))
            .field("runtime", &self.runtime)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// Report one step of progress.
    pub(crate) fn step(&self, msg: &str) {
        self.progress.step(msg);
    }

    /// The stack's container (docker target).
    pub(crate) fn container(&self) -> Option<docker::Container> {
        match &self.runtime {
            Runtime::Docker { container } => Some(docker::Container {
                name: container.clone(),
            }),
            Runtime::Host => None,
        }
    }

    /// The command's InfluxDB client (1.x: as the admin user when `.env` has a password).
    /// While a rotation of the admin password is pending (`secrets rotate` interrupted after
    /// `SET PASSWORD`), InfluxDB may accept only the kept new value: then that one is used, so
    /// the nightly backup goes on (as `plan` and `apply` do).
    pub(crate) fn influx(&self) -> Result<influx::blocking::Client> {
        let ep = Endpoint {
            url: self.http_url.clone(),
        };
        let db = influx::blocking::Client::new(&ep, Auth::None)?;
        Ok(match &self.admin_password {
            Some(p) if self.version == 1 && !p.is_empty() => {
                let kept = self.admin_password_kept.as_deref();
                let auth = db.block_on(influx::v1::admin_auth(
                    db.inner(),
                    &self.admin_user,
                    p,
                    kept,
                ));
                db.with_auth(auth)
            }
            _ => db,
        })
    }

    /// Pre-flight of every network step: the container runs (docker target), then InfluxDB
    /// answers on HTTP. Fails within seconds, naming the cause. Returns the server version.
    pub(crate) fn preflight(&self, db: &influx::blocking::Client) -> Result<String> {
        if let Some(c) = self.container() {
            self.step(&format!("checking container {} (docker target)", c.name));
            db.block_on(c.preflight())?;
        }
        self.step(&format!("checking InfluxDB at {}", self.http_url));
        let v = db.server_version(self.version)?;
        self.step(&format!("InfluxDB {v} answers"));
        Ok(v)
    }

    /// The secret values a tool's output may echo (redacted before it is shown).
    pub(crate) fn secrets(&self) -> Vec<&str> {
        [
            self.admin_password.as_deref(),
            self.admin_password_kept.as_deref(),
            self.token.as_deref(),
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect()
    }
}

#[cfg(test)]
impl Settings {
    /// A stack `shop` of InfluxDB `version` at `http_url`, backups in `dir` (tests).
    pub(crate) fn example(dir: &std::path::Path, version: u8, http_url: &str) -> Self {
        Self {
            stack: "shop".into(),
            dir: dir.to_path_buf(),
            display_dir: "backups/shop".into(),
            version,
            database: "k6".into(),
            org: "org".into(),
            http_url: http_url.into(),
            rpc: "127.0.0.1:8088".into(),
            admin_user: "promo-admin".into(),
            admin_password: Some("admin-secret".into()),
            admin_password_kept: None,
            token: Some("token-secret".into()),
            env_display: "generated/shop/.env".into(),
            policy: rotate::Policy::default(),
            timeout: Duration::from_secs(5),
            runtime: Runtime::Host,
            database_spec: None,
            secret_values: SecretValues::default(),
            progress: Progress::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn a_run_against_no_server_reports_its_steps_to_the_caller_and_fails_naming_the_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port(); // released: nothing listens there
        let dir = tempfile::tempdir().expect("tmp");
        let url = format!("http://127.0.0.1:{port}");
        let mut s = Settings::example(dir.path(), 1, &url);
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = Arc::clone(&seen);
        s.progress = Progress::new(move |line| sink.lock().expect("lock").push(line.into()));
        let err = super::super::run(&s, jiff::Timestamp::UNIX_EPOCH).expect_err("no server");
        assert_eq!(
            *seen.lock().expect("lock"),
            [format!("checking InfluxDB at {url}")]
        );
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("InfluxDB is not reachable at {url}/ping: ")),
            "{text}"
        );
        assert!(
            matches!(&err, crate::Error::Influx { help: Some(h), .. } if h.contains("promo-infra apply")),
            "{err:?}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }
}
