//! Backups of a stack's InfluxDB: `backup run | list | rotate | restore`.
//!
//! # Layout
//!
//! ```text
//! <backup.dir>/<stack>/
//!   20261124T030000Z/                 one backup; the id is its UTC start time
//!     20261124T030000Z.manifest       influxd's / influx's own files, untouched
//!     20261124T030000Z.meta
//!     20261124T030000Z.s1.tar.gz
//!     promo-infra-backup.json         ours, written last: files, sizes, sha256, database,
//!                                     InfluxDB version, server version, stack, start/end
//!   .tmp-20261125T030000Z/            a backup being written (or interrupted): holds the
//!     .promo-infra-partial            marker; renamed to its id only once complete
//! ```
//!
//! A backup is written into `.tmp-<id>/` and renamed to `<id>/` once every file is hashed and
//! the manifest is written, so an interrupted backup is never listed as valid. Two backups
//! started in the same second get ids `<ts>` and `<ts>-2`.
//!
//! # Statuses (`backup list`)
//!
//! - `ok`: our manifest is present and every file exists with its recorded size and sha256,
//!   with no unexpected file beside them;
//! - `incomplete`: a `.tmp-<id>` directory holding our marker (interrupted or still running),
//!   or a `.del-<id>` directory (a removal that was interrupted; the next rotate finishes it);
//! - `corrupt`: our manifest is unreadable, or a file is missing, has another size or another
//!   sha256, or an unexpected file, a symbolic link, a device or an empty directory is inside —
//!   the message names the path;
//! - `foreign`: anything promo-infra cannot prove it created for THIS stack (no manifest of
//!   ours, another stack's, a renamed copy, a plain file or link, a `.tmp-*` whose marker names
//!   another stack, a `.del-<id>` without our manifest of this stack and id). Foreign entries
//!   are never modified or removed.
//!
//! # Rotation (`backup rotate`)
//!
//! The policy is restic's `forget` with UTC buckets, documented in [`rotate`]. Around it:
//! only `ok` backups count, and rotation verifies every sha256 of every backup (no stat-keyed
//! cache: bit rot keeps size and mtime), so a corrupt backup never fills a bucket in place of a
//! valid one and rotation can only lose what the policy drops; the newest valid backup is never
//! removed; `corrupt` backups are reported and left for a human to inspect; `.tmp-*` directories
//! with our marker (naming this stack) older than [`STALE_AFTER_HOURS`] hours are removed
//! (younger ones may be a backup still running and are only reported), `.del-<id>` leftovers
//! holding our manifest of this stack and id are removed; the proof is re-checked right before
//! each removal, and our manifest is deleted last; `--dry-run` prints the same decisions and
//! removes nothing.
//!
//! # Targets (`--target`, default docker)
//!
//! [`Runtime::Docker`]: 1.x backups and restores run `influxd` inside the stack's InfluxDB
//! container and move the files through the Engine API ([`docker`]): no RPC port to publish,
//! any absolute `backup.dir`. 2.x uses the host's `influx` against the published port.
//! [`Runtime::Host`] (native): the tools run on this host. Every network step starts with a
//! pre-flight (container running, InfluxDB answering) and prints a progress line on stderr.
//!
//! # Restore (`backup restore ID`)
//!
//! Only a real directory inside the backup directory is restored (a symlink is refused).
//! Every sha256 is verified first: a corrupted backup is refused with the file at fault, as is
//! a backup without InfluxDB's `*.manifest` (1.x: and `*.meta`). If the tool fails anyway, the
//! database it restored into (absent before) is dropped, so a failed restore creates nothing.
//! After restoring the stack's own 1.x database, its users are converged as `apply` does
//! (dropping a database drops the READ/WRITE grants on it).
//! InfluxDB 1.x: `influxd restore -portable -host <backup.influx_rpc> -db <db> <dir>`. influxd
//! 1.6 refuses to restore into a database that exists ("DB metadata not changed. database may
//! already exist"), so promo-infra checks first (`SHOW DATABASES`) and refuses with what to do:
//! drop the database and restore again, or `--as NEWNAME` to restore beside it
//! (`-newdb NEWNAME`). The restored shards are reopened in the background after `influxd
//! restore` returns (queries answer "shard is disabled" meanwhile), so promo-infra waits, bounded,
//! until `SHOW MEASUREMENTS` answers twice in a row before reporting success. InfluxDB 2.x: `influx restore --host <url> --org <org> --bucket
//! <bucket> [--new-bucket NEWNAME] <dir>` with the token in `INFLUX_TOKEN` (the server refuses
//! an existing bucket the same way).
//!
//! Secrets (the 1.x admin password, the 2.x token) go only into HTTP headers and the child's
//! environment: never into argv, output, errors, logs or the backup manifest.

pub mod docker;
pub mod manifest;
pub mod rotate;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::Serialize;

use crate::desired::DatabaseSpec;
use crate::error::{Error, Result};
use crate::secrets::SecretValues;
use manifest::{BackupManifest, Depth};

/// Marker file inside a `.tmp-<id>` directory: promo-infra created it.
pub const PARTIAL_MARKER: &str = ".promo-infra-partial";
/// Prefix of a backup being written.
pub const TMP_PREFIX: &str = ".tmp-";
/// Prefix of a backup being removed.
pub const DEL_PREFIX: &str = ".del-";
/// `.tmp-*` directories older than this are removed by `rotate`.
pub const STALE_AFTER_HOURS: i64 = 24;
/// Layout of a backup id (UTC).
pub const ID_FORMAT: &str = "%Y%m%dT%H%M%SZ";
/// Environment variable that fixes the clock (RFC 3339), for tests and reproducible runs.
pub const CLOCK_ENV: &str = "PROMO_INFRA_NOW";

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
    /// Print one progress line per network step on stderr.
    pub progress: bool,
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
    fn step(&self, msg: &str) {
        if self.progress {
            eprintln!("backup: {msg}");
        }
    }

    fn container(&self) -> Option<docker::Container> {
        match &self.runtime {
            Runtime::Docker { container } => Some(docker::Container {
                name: container.clone(),
            }),
            Runtime::Host => None,
        }
    }

    /// Pre-flight of every network step: the container runs (docker target), then InfluxDB
    /// answers on HTTP. Fails within seconds, naming the cause. Returns the server version.
    fn preflight(&self) -> Result<String> {
        if let Some(c) = self.container() {
            self.step(&format!("checking container {} (docker target)", c.name));
            c.preflight()?;
        }
        self.step(&format!("checking InfluxDB at {}", self.http_url));
        let v = server_version(self)?;
        self.step(&format!("InfluxDB {v} answers"));
        Ok(v)
    }

    fn secrets(&self) -> Vec<&str> {
        [self.admin_password.as_deref(), self.token.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// The current time, or the one fixed by `PROMO_INFRA_NOW`.
pub fn clock() -> Result<Timestamp> {
    match std::env::var(CLOCK_ENV) {
        Ok(v) if !v.is_empty() => v.parse().map_err(|e| {
            Error::usage(
                format!("{CLOCK_ENV}=`{v}` is not an RFC 3339 time: {e}"),
                format!("unset {CLOCK_ENV}, or write e.g. 2026-11-24T03:00:00Z"),
            )
        }),
        _ => Ok(Timestamp::now()),
    }
}

/// The UTC time of a backup id (`20261124T030000Z`, optionally `-N`).
pub fn parse_id(id: &str) -> Option<Timestamp> {
    let base = match id.split_once('-') {
        Some((base, n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => base,
        Some(_) => return None,
        None => id,
    };
    if base.len() != 16 {
        return None;
    }
    let dt = jiff::civil::DateTime::strptime(ID_FORMAT, base).ok()?;
    jiff::tz::TimeZone::UTC.to_timestamp(dt).ok()
}

/// The id of a backup started at `t`.
pub fn format_id(t: Timestamp) -> String {
    t.strftime(ID_FORMAT).to_string()
}

fn rfc3339(t: Timestamp) -> String {
    t.round(jiff::Unit::Second)
        .unwrap_or(t)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// list

/// Status of a backup directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Complete and verified.
    Ok,
    /// Being written / interrupted, or an interrupted removal.
    Incomplete,
    /// Ours, but a file is missing, resized or altered.
    Corrupt,
    /// Not created by promo-infra: never touched.
    Foreign,
}

impl Status {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Incomplete => "incomplete",
            Self::Corrupt => "corrupt",
            Self::Foreign => "foreign",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Backup,
    Partial,
    Deleting,
    Other,
}

/// One entry of a stack's backup directory.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Directory (or file) name; the backup id for backups.
    pub id: String,
    /// UTC time (from the id), RFC 3339.
    pub time: Option<String>,
    /// Bytes (recorded sizes for backups, on-disk sizes otherwise).
    pub size: u64,
    /// Status.
    pub status: Status,
    /// What is wrong / what it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Database or bucket (backups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// InfluxDB major version (backups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub influxdb_version: Option<u8>,
    /// Server version (backups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    #[serde(skip)]
    timestamp: Option<Timestamp>,
    #[serde(skip)]
    kind: Kind,
    #[serde(skip)]
    manifest: Option<BackupManifest>,
}

impl Entry {
    fn new(id: String, status: Status, kind: Kind, detail: Option<String>) -> Self {
        Self {
            id,
            time: None,
            size: 0,
            status,
            detail,
            database: None,
            influxdb_version: None,
            server_version: None,
            timestamp: None,
            kind,
            manifest: None,
        }
    }

    fn at(mut self, t: Option<Timestamp>) -> Self {
        self.timestamp = t;
        self.time = t.map(rfc3339);
        self
    }
}

fn disk_size(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|it| it.flatten().map(|e| disk_size(&e.path())).sum())
        .unwrap_or(0)
}

/// Every entry of `dir`, sorted by name, each classified. `depth` says how far backups are
/// verified. A missing directory has no entries.
pub fn scan(dir: &Path, stack: &str, depth: Depth) -> Result<Vec<Entry>> {
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("cannot list", dir, e)),
    };
    let mut names = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| Error::io("cannot list", dir, e))?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        names.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
    }
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for (name, is_dir) in names {
        out.push(classify(dir, &name, is_dir, stack, depth));
    }
    Ok(out)
}

/// Whether `path` (a `.tmp-<id>` directory) proves it is a backup of `stack` being written:
/// it holds our marker, a regular file naming this stack.
fn partial_of(path: &Path, stack: &str) -> bool {
    let marker = path.join(PARTIAL_MARKER);
    if !std::fs::symlink_metadata(&marker).is_ok_and(|m| m.is_file()) {
        return false;
    }
    std::fs::read_to_string(&marker).is_ok_and(|text| {
        text.strip_prefix("promo-infra backup of stack ")
            .and_then(|rest| rest.split_once(' '))
            .is_some_and(|(s, _)| s == stack)
    })
}

/// Whether `path` (a `.del-<id>` directory, not a link) proves it is an interrupted removal of
/// backup `id` of `stack`: our manifest, for this stack, with this id. Anything else is foreign.
fn removal_of(path: &Path, id: &str, stack: &str) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
        && std::fs::symlink_metadata(path.join(manifest::FILE)).is_ok_and(|m| m.is_file())
        && matches!(BackupManifest::read(path), Ok(Some(m)) if m.id == id && m.stack == stack)
}

fn classify(dir: &Path, name: &str, is_dir: bool, stack: &str, depth: Depth) -> Entry {
    let path = dir.join(name);
    if !is_dir {
        let mut e = Entry::new(
            name.to_string(),
            Status::Foreign,
            Kind::Other,
            Some("a file promo-infra did not create".into()),
        );
        e.size = disk_size(&path);
        return e;
    }
    if let Some(id) = name.strip_prefix(TMP_PREFIX)
        && partial_of(&path, stack)
    {
        let mut e = Entry::new(
            name.to_string(),
            Status::Incomplete,
            Kind::Partial,
            Some("backup interrupted or still running".into()),
        )
        .at(parse_id(id));
        e.size = disk_size(&path);
        return e;
    }
    if let Some(id) = name.strip_prefix(DEL_PREFIX)
        && removal_of(&path, id, stack)
    {
        let mut e = Entry::new(
            name.to_string(),
            Status::Incomplete,
            Kind::Deleting,
            Some("removal interrupted; the next `backup rotate` finishes it".into()),
        )
        .at(parse_id(id));
        e.size = disk_size(&path);
        return e;
    }
    let foreign = |detail: String| {
        let mut e = Entry::new(name.to_string(), Status::Foreign, Kind::Other, Some(detail));
        e.size = disk_size(&path);
        e
    };
    let m = match BackupManifest::read(&path) {
        Ok(None) => {
            return foreign(format!(
                "no {} inside: not created by promo-infra",
                manifest::FILE
            ));
        }
        Ok(Some(m)) => m,
        Err(detail) => {
            let time = parse_id(name);
            if time.is_none() {
                return foreign(detail);
            }
            let mut e = Entry::new(
                name.to_string(),
                Status::Corrupt,
                Kind::Backup,
                Some(detail),
            )
            .at(time);
            e.size = disk_size(&path);
            return e;
        }
    };
    if m.id != name || parse_id(name).is_none() {
        return foreign(format!(
            "renamed or copied backup (its manifest says `{}`)",
            m.id
        ));
    }
    if m.stack != stack {
        return foreign(format!("a backup of stack `{}`", m.stack));
    }
    let (status, detail) = match manifest::verify(&path, &m, depth) {
        Ok(()) => (Status::Ok, None),
        Err(d) => (Status::Corrupt, Some(d)),
    };
    let mut e = Entry::new(name.to_string(), status, Kind::Backup, detail).at(parse_id(name));
    e.size = m.total_size();
    e.database = Some(m.database.clone());
    e.influxdb_version = Some(m.influxdb_version);
    e.server_version = Some(m.server_version.clone());
    e.manifest = Some(m);
    e
}

/// `backup list`: every entry, backups verified against every checksum.
pub fn list(s: &Settings) -> Result<Vec<Entry>> {
    scan(&s.dir, &s.stack, Depth::Checksums)
}

// ---------------------------------------------------------------------------------------------
// run

/// What `backup run` did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Backup id.
    pub id: String,
    /// Where, as displayed (`backups/promo/20261124T030000Z`).
    pub path: String,
    /// The tool's command line (no secret in it).
    pub command: String,
    /// Number of files.
    pub files: usize,
    /// Total bytes.
    pub size: u64,
    /// Database or bucket.
    pub database: String,
    /// Server version.
    pub server_version: String,
}

/// `backup run`: back up the running server into `<dir>/<id>/` via `.tmp-<id>/`.
pub fn run(s: &Settings, now: Timestamp) -> Result<RunReport> {
    let server_version = s.preflight()?;
    // influxd 1.6 answers a missing database with "backup failed: EOF": say it plainly.
    if s.version == 1 && !v1_databases(s)?.contains(&s.database) {
        return Err(Error::Target {
            message: format!(
                "database `{}` does not exist on {}: nothing to back up",
                s.database, s.http_url
            ),
            help: Some(
                "create it with `promo-infra apply`, or fix influxdb.bucket in the manifest".into(),
            ),
        });
    }
    fs_err::create_dir_all(&s.dir).map_err(|e| Error::io("cannot create directory", &s.dir, e))?;
    let base = format_id(now);
    let id = (1..=100)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|id| !s.dir.join(id).exists() && !s.dir.join(format!("{TMP_PREFIX}{id}")).exists())
        .ok_or_else(|| {
            Error::usage(
                format!("100 backups already started at {base} in {}", s.display_dir),
                "wait a second and run again",
            )
        })?;
    let tmp = s.dir.join(format!("{TMP_PREFIX}{id}"));
    fs_err::create_dir(&tmp).map_err(|e| Error::io("cannot create directory", &tmp, e))?;
    let result = write_backup(s, now, &id, &tmp, &server_version);
    if result.is_err() {
        // Our own partial directory: nothing in it is worth keeping.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn write_backup(
    s: &Settings,
    now: Timestamp,
    id: &str,
    tmp: &Path,
    server_version: &str,
) -> Result<RunReport> {
    let marker = tmp.join(PARTIAL_MARKER);
    fs_err::write(
        &marker,
        format!(
            "promo-infra backup of stack {} started {} by pid {}\n",
            s.stack,
            rfc3339(now),
            std::process::id()
        ),
    )
    .map_err(|e| Error::io("cannot write", &marker, e))?;
    let tmp_arg = tmp.to_string_lossy().into_owned();
    let (program, args, env) = if s.version == 1 {
        (
            "influxd",
            vec![
                "backup".to_string(),
                "-portable".into(),
                "-host".into(),
                s.rpc.clone(),
                "-db".into(),
                s.database.clone(),
                tmp_arg,
            ],
            Vec::new(),
        )
    } else {
        (
            "influx",
            vec![
                "backup".to_string(),
                "--host".into(),
                s.http_url.clone(),
                "--org".into(),
                s.org.clone(),
                "--bucket".into(),
                s.database.clone(),
                tmp_arg,
            ],
            vec![("INFLUX_TOKEN", require_token(s)?)],
        )
    };
    let shown = if let (Some(c), 1) = (s.container(), s.version) {
        // Inside the container: no RPC port to publish, and the host's backup.dir can be any
        // absolute path (the files come out through the Engine API).
        let in_container = format!("/tmp/promo-infra-backup-{id}");
        let args = vec![
            "influxd".to_string(),
            "backup".into(),
            "-portable".into(),
            "-host".into(),
            docker::CONTAINER_RPC.into(),
            "-db".into(),
            s.database.clone(),
            in_container.clone(),
        ];
        let shown = format!("{} (in container {})", args.join(" "), c.name);
        s.step(&format!("running {shown}"));
        let result = run_in_container(s, &c, &args, &shown).and_then(|()| {
            s.step(&format!(
                "copying {in_container} out of {} into {}/{TMP_PREFIX}{id}",
                c.name, s.display_dir
            ));
            c.download_dir(&in_container, tmp)
        });
        c.remove_dir(&in_container);
        result?;
        shown
    } else {
        let shown = shown_command(
            program,
            &args,
            tmp,
            &format!("{}/{TMP_PREFIX}{id}", s.display_dir),
        );
        s.step(&format!("running {shown}"));
        run_tool(s, program, &args, &env, &shown)?;
        shown
    };
    s.step("hashing the files (sha256)");
    fs_err::remove_file(&marker).map_err(|e| Error::io("cannot remove", &marker, e))?;
    let files = manifest::hash_dir(tmp)?;
    if !files.iter().any(|f| f.name.ends_with(".manifest")) {
        return Err(Error::Target {
            message: format!("`{shown}` exited successfully but wrote no `*.manifest` file"),
            help: Some(format!(
                "check that {} `{}` exists on {}",
                if s.version == 1 { "database" } else { "bucket" },
                s.database,
                s.http_url
            )),
        });
    }
    let m = BackupManifest {
        format: manifest::FORMAT,
        tool: "promo-infra".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        id: id.to_string(),
        stack: s.stack.clone(),
        influxdb_version: s.version,
        server_version: server_version.to_string(),
        database: s.database.clone(),
        org: (s.version == 2).then(|| s.org.clone()),
        started_at: rfc3339(now),
        finished_at: rfc3339(now.max(clock().unwrap_or(now))),
        files,
    };
    m.write(tmp)?;
    let final_dir = s.dir.join(id);
    fs_err::rename(tmp, &final_dir).map_err(|e| Error::io("cannot rename", tmp, e))?;
    if let Ok(d) = std::fs::File::open(&s.dir) {
        let _ = d.sync_all();
    }
    Ok(RunReport {
        id: id.to_string(),
        path: format!("{}/{id}", s.display_dir),
        command: shown.replace(&format!("{TMP_PREFIX}{id}"), id),
        files: m.files.len(),
        size: m.total_size(),
        database: s.database.clone(),
        server_version: server_version.to_string(),
    })
}

fn require_token(s: &Settings) -> Result<String> {
    s.token
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::Secrets {
            path: PathBuf::from(&s.env_display),
            message: format!(
                "{} is not set: `influx` needs the operator token",
                crate::secrets::INFLUX_ADMIN_TOKEN
            ),
            help: Some("run `promo-infra generate` to create it (or add it to .env)".into()),
        })
}

fn shown_command(program: &str, args: &[String], dir: &Path, display: &str) -> String {
    let dir = dir.to_string_lossy();
    let mut out = program.to_string();
    for a in args {
        out.push(' ');
        if *a == dir {
            out.push_str(display);
        } else {
            out.push_str(a);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// restore

/// What `backup restore` did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// Backup id.
    pub id: String,
    /// Files verified.
    pub files: usize,
    /// Database / bucket restored into.
    pub database: String,
    /// The tool's command line.
    pub command: String,
    /// 1.x: the measurements the restored database answers with once its shards are open.
    pub measurements: Option<Vec<String>>,
    /// 1.x: the privileges converged after restoring the stack's database (`grafana READ`).
    pub privileges: Vec<String>,
}

/// `backup restore ID [--as NAME]`: verify every checksum, then restore into the running
/// server.
pub fn restore(s: &Settings, id: &str, as_name: Option<&str>) -> Result<RestoreReport> {
    let path = s.dir.join(id);
    let display = format!("{}/{id}", s.display_dir);
    let not_found = || {
        let ids: Vec<String> = scan(&s.dir, &s.stack, Depth::Sizes)
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.kind == Kind::Backup)
            .map(|e| e.id)
            .collect();
        Error::usage(
            format!("no backup `{id}` in {}", s.display_dir),
            if ids.is_empty() {
                "there are no backups yet: run `promo-infra backup run`".to_string()
            } else {
                format!(
                    "backups: {} (see `promo-infra backup list`)",
                    ids.join(", ")
                )
            },
        )
    };
    if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
        return Err(not_found());
    }
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_dir() => {}
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(Error::usage(
                format!(
                    "{display} is a symbolic link: promo-infra restores only real directories inside {}",
                    s.display_dir
                ),
                "copy the backup into the backup directory (not a link), or restore it with influxd/influx directly if you trust it",
            ));
        }
        _ => return Err(not_found()),
    }
    let m = match BackupManifest::read(&path) {
        Ok(Some(m)) => m,
        Ok(None) => {
            return Err(Error::usage(
                format!(
                    "{display} was not created by promo-infra (no {} inside)",
                    manifest::FILE
                ),
                "restore it with influxd/influx directly if you trust it",
            ));
        }
        Err(detail) => {
            return Err(Error::Target {
                message: format!("backup {display} is corrupt: {detail}; refusing to restore"),
                help: Some("restore another backup (`promo-infra backup list`)".into()),
            });
        }
    };
    if m.stack != s.stack || m.id != id {
        return Err(Error::usage(
            format!(
                "{display} holds backup `{}` of stack `{}`, not `{id}` of `{}`",
                m.id, m.stack, s.stack
            ),
            "restore a backup of this stack (`promo-infra backup list`)",
        ));
    }
    if let Err(detail) = manifest::verify(&path, &m, Depth::Checksums) {
        return Err(Error::Target {
            message: format!(
                "backup {id} is corrupt: {detail}; refusing to restore (nothing was changed)"
            ),
            help: Some(
                "the file changed after the backup was written; restore an older backup (`promo-infra backup list` marks the corrupt ones)"
                    .into(),
            ),
        });
    }
    if m.influxdb_version != s.version {
        return Err(Error::usage(
            format!(
                "backup {id} is of InfluxDB {}.x, the stack runs InfluxDB {}.x",
                m.influxdb_version, s.version
            ),
            "restore it on a server of the same major version",
        ));
    }
    if let Some(name) = as_name
        && (name.is_empty()
            || name.starts_with('-')
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    {
        return Err(Error::usage(
            format!("--as `{name}` is not a database / bucket name"),
            "use letters, digits, `_` and `-`, not starting with `-` (e.g. `k6_restored`)",
        ));
    }
    check_restorable(&m).map_err(|detail| Error::Target {
        message: format!("backup {id} cannot be restored: {detail} (nothing was changed)"),
        help: Some("restore another backup (`promo-infra backup list`)".into()),
    })?;
    let target = as_name.unwrap_or(&s.database).to_string();
    let path_arg = path.to_string_lossy().into_owned();
    s.preflight()?;
    let (program, args, env) = if s.version == 1 {
        if v1_databases(s)?.contains(&target) {
            return Err(Error::Target {
                message: format!(
                    "database `{target}` already exists on {}: influxd 1.6 restores only into a database that does not exist (nothing was changed)",
                    s.http_url
                ),
                help: Some(format!(
                    "to replace it: drop it first (`influx -host … -execute 'DROP DATABASE \"{target}\"'`), then run `promo-infra backup restore {id}` again; \
                     to look at the backup beside it: `promo-infra backup restore {id} --as {target}_restored`"
                )),
            });
        }
        let mut args = vec![
            "restore".to_string(),
            "-portable".into(),
            "-host".into(),
            s.rpc.clone(),
            "-db".into(),
            m.database.clone(),
        ];
        if target != m.database {
            args.extend(["-newdb".to_string(), target.clone()]);
        }
        args.push(path_arg);
        ("influxd", args, Vec::new())
    } else {
        let mut args = vec![
            "restore".to_string(),
            "--host".into(),
            s.http_url.clone(),
            "--org".into(),
            m.org.clone().unwrap_or_else(|| s.org.clone()),
            "--bucket".into(),
            m.database.clone(),
        ];
        if target != m.database {
            args.extend(["--new-bucket".to_string(), target.clone()]);
        }
        args.push(path_arg);
        ("influx", args, vec![("INFLUX_TOKEN", require_token(s)?)])
    };
    let (shown, result) = if let (Some(c), 1) = (s.container(), s.version) {
        let dir_name = format!("promo-infra-restore-{id}");
        let in_container = format!("/tmp/{dir_name}");
        let mut args = vec![
            "influxd".to_string(),
            "restore".into(),
            "-portable".into(),
            "-host".into(),
            docker::CONTAINER_RPC.into(),
            "-db".into(),
            m.database.clone(),
        ];
        if target != m.database {
            args.extend(["-newdb".to_string(), target.clone()]);
        }
        args.push(in_container.clone());
        let shown = format!("{} (in container {})", args.join(" "), c.name);
        s.step(&format!("copying {display} into {}:{in_container}", c.name));
        let names: Vec<String> = m.files.iter().map(|f| f.name.clone()).collect();
        let result = c.upload_dir(&path, &names, &dir_name).and_then(|()| {
            s.step(&format!("running {shown}"));
            run_in_container(s, &c, &args, &shown)
        });
        c.remove_dir(&in_container);
        (shown, result)
    } else {
        let shown = shown_command(program, &args, &path, &display);
        s.step(&format!("running {shown}"));
        let result = run_tool(s, program, &args, &env, &shown);
        (shown, result)
    };
    if let Err(e) = result {
        // The target did not exist before (checked above): whatever the failed tool created
        // there is ours and incomplete. Remove it, so a failed restore creates nothing.
        if s.version == 1 && v1_databases(s).is_ok_and(|dbs| dbs.contains(&target)) {
            s.step(&format!("removing the incomplete database `{target}`"));
            let _ = v1_query(
                s,
                &format!("DROP DATABASE \"{}\"", target.replace('"', "\\\"")),
            );
        }
        return Err(e);
    }
    let mut privileges = Vec::new();
    let measurements = if s.version == 1 {
        // A portable 1.x backup holds one `<ts>.s<shard>.tar.gz` per shard with data.
        let has_shards = m
            .files
            .iter()
            .any(|f| f.name.contains(".s") && f.name.ends_with(".tar.gz"));
        s.step(&format!("waiting for `{target}` to answer queries"));
        let names = v1_wait_restored(s, &target, has_shards)?;
        if target == s.database {
            privileges = converge_privileges(s)?;
        }
        Some(names)
    } else {
        None
    };
    Ok(RestoreReport {
        id: id.to_string(),
        files: m.files.len(),
        database: target,
        command: shown,
        measurements,
        privileges,
    })
}

/// After a restore of the stack's 1.x database: converge the database resource as `apply` does
/// (users exist, Grafana's user has READ and k6's WRITE on it), since dropping a database drops
/// the grants on it. Returns `user PRIVILEGE` for each non-admin user.
fn converge_privileges(s: &Settings) -> Result<Vec<String>> {
    let Some(spec) = &s.database_spec else {
        return Ok(Vec::new());
    };
    let granted: Vec<String> = spec
        .users
        .iter()
        .filter(|u| u.privilege != "ALL")
        .map(|u| format!("{} {}", u.name, u.privilege))
        .collect();
    s.step(&format!(
        "restoring privileges on `{}`: {}",
        spec.name,
        granted.join(", ")
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Target {
            message: format!("cannot start the async runtime: {e}"),
            help: None,
        })?;
    let ep = crate::influx::Endpoint {
        url: s.http_url.clone(),
    };
    rt.block_on(crate::influx::apply(&ep, spec, &s.secret_values))
        .map_err(|e| Error::Target {
            message: format!(
                "the data of `{}` was restored, but its users' privileges could not be restored: {e}",
                spec.name
            ),
            help: Some(
                "run `promo-infra apply` to converge the users and grants (Grafana READ, k6 WRITE)"
                    .into(),
            ),
        })?;
    Ok(granted)
}

/// What `influxd restore` / `influx restore` need beyond matching checksums: an InfluxDB
/// backup manifest (`*.manifest`) and, for a 1.x portable backup, the meta file and every
/// shard file it names. Refused before anything reaches the server.
fn check_restorable(m: &BackupManifest) -> std::result::Result<(), String> {
    let names: Vec<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
    let manifests: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| n.ends_with(".manifest"))
        .collect();
    if manifests.is_empty() {
        return Err(format!(
            "it holds no InfluxDB backup manifest (`*.manifest`): {} file(s){}",
            names.len(),
            if names.is_empty() {
                ", it is empty"
            } else {
                ""
            }
        ));
    }
    if m.influxdb_version != 1 {
        return Ok(());
    }
    if !names.iter().any(|n| n.ends_with(".meta")) {
        return Err("it holds no `*.meta` file (the databases, users and shards)".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// rotate

/// One decision of `backup rotate`.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// Entry name.
    pub id: String,
    /// UTC time, RFC 3339.
    pub time: Option<String>,
    /// Status before rotation.
    pub status: Status,
    /// `keep`, `remove` or `leave` (not a valid backup: not counted, not removed).
    pub action: &'static str,
    /// Why (rule names for kept backups).
    pub reasons: Vec<String>,
}

/// What `backup rotate` decided (and, unless dry run, did).
#[derive(Debug, Clone, Serialize)]
pub struct RotateReport {
    /// Nothing was removed.
    pub dry_run: bool,
    /// The policy applied.
    pub policy: rotate::Policy,
    /// Every entry, newest first (entries without a time last, by name).
    pub decisions: Vec<Decision>,
}

impl RotateReport {
    /// Entries with this action.
    pub fn with_action(&self, action: &str) -> impl Iterator<Item = &Decision> {
        self.decisions.iter().filter(move |d| d.action == action)
    }
}

/// `backup rotate [--dry-run]`.
pub fn rotate_dir(s: &Settings, now: Timestamp, dry_run: bool) -> Result<RotateReport> {
    // Every backup is checked against every sha256: only a backup that restores may fill a
    // bucket (a corrupt one never displaces a valid one). No stat-keyed cache: bit rot keeps
    // size and mtime, which is exactly what this check exists to catch (cost: BENCHMARKS.md).
    let entries = scan(&s.dir, &s.stack, Depth::Checksums)?;
    let candidates: Vec<rotate::Candidate> = entries
        .iter()
        .map(|e| rotate::Candidate {
            id: e.id.clone(),
            time: e.timestamp.unwrap_or(Timestamp::UNIX_EPOCH),
            valid: e.status == Status::Ok && e.timestamp.is_some(),
        })
        .collect();
    let verdicts = rotate::decide(&candidates, &s.policy);
    let newest_valid = candidates
        .iter()
        .filter(|c| c.valid)
        .max_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)))
        .map(|c| c.id.clone());

    let mut decisions = Vec::with_capacity(entries.len());
    for (e, verdict) in entries.iter().zip(verdicts) {
        let (action, reasons) = match verdict {
            rotate::Verdict::Keep { reasons } => ("keep", reasons),
            rotate::Verdict::Remove { reason } => ("remove", vec![reason]),
            rotate::Verdict::Ignore => leave_or_clean(e, now),
        };
        decisions.push(Decision {
            id: e.id.clone(),
            time: e.time.clone(),
            status: e.status,
            action,
            reasons,
        });
    }
    // Belt and braces: the policy never removes the newest valid backup.
    if let Some(newest) = &newest_valid
        && decisions
            .iter()
            .any(|d| d.action == "remove" && d.id == *newest)
    {
        return Err(Error::Target {
            message: format!(
                "internal error: rotation would remove the newest valid backup {newest}; nothing was removed"
            ),
            help: Some("please report this".into()),
        });
    }
    if !dry_run {
        for d in &decisions {
            if d.action == "remove" {
                remove_backup(s, &d.id)?;
            }
        }
    }
    decisions.sort_by(|a, b| {
        let ta = a.time.as_deref().map(|_| 0).unwrap_or(1);
        let tb = b.time.as_deref().map(|_| 0).unwrap_or(1);
        ta.cmp(&tb)
            .then_with(|| b.time.cmp(&a.time))
            .then_with(|| b.id.cmp(&a.id))
    });
    Ok(RotateReport {
        dry_run,
        policy: s.policy,
        decisions,
    })
}

/// What happens to an entry that is not a valid backup.
fn leave_or_clean(e: &Entry, now: Timestamp) -> (&'static str, Vec<String>) {
    match (e.status, e.kind) {
        (Status::Incomplete, Kind::Deleting) => (
            "remove",
            vec!["removal of this backup was interrupted; finishing it".into()],
        ),
        (Status::Incomplete, Kind::Partial) => {
            let age_h = e
                .timestamp
                .map(|t| (now.as_second() - t.as_second()) / 3600);
            match age_h {
                Some(h) if h >= STALE_AFTER_HOURS => (
                    "remove",
                    vec![format!(
                        "incomplete backup started {h} h ago (interrupted; older than {STALE_AFTER_HOURS} h)"
                    )],
                ),
                Some(h) => (
                    "leave",
                    vec![format!(
                        "incomplete backup started {h} h ago: may still be running; removed once older than {STALE_AFTER_HOURS} h"
                    )],
                ),
                None => (
                    "leave",
                    vec!["incomplete backup with an unreadable start time: remove it by hand once no backup is running".into()],
                ),
            }
        }
        (Status::Corrupt, _) => (
            "leave",
            vec![format!(
                "corrupt ({}): not counted, left for you to inspect and delete",
                e.detail.as_deref().unwrap_or("?")
            )],
        ),
        (Status::Foreign, _) => (
            "leave",
            vec![format!(
                "foreign ({}): never touched",
                e.detail.as_deref().unwrap_or("not created by promo-infra")
            )],
        ),
        (Status::Ok, _) | (Status::Incomplete, _) => ("leave", vec!["not counted".into()]),
    }
}

/// Remove one entry promo-infra created: rename it out of the way first, so an interruption
/// leaves a `.del-*` (finished by the next rotate), never a half-deleted backup.
fn remove_backup(s: &Settings, name: &str) -> Result<()> {
    let path = s.dir.join(name);
    let changed = || Error::Target {
        message: format!(
            "{}/{name} changed during rotation; it was not removed",
            s.display_dir
        ),
        help: Some("run `promo-infra backup rotate --dry-run` again".into()),
    };
    // Re-check the proof right before removing anything.
    let doomed = if let Some(id) = name.strip_prefix(DEL_PREFIX) {
        if !removal_of(&path, id, &s.stack) {
            return Err(changed());
        }
        path.clone()
    } else if name.starts_with(TMP_PREFIX) {
        if !partial_of(&path, &s.stack) {
            return Err(changed());
        }
        path.clone()
    } else {
        // Re-check right before removing: only a directory with our manifest.
        let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        match BackupManifest::read(&path) {
            Ok(Some(m)) if is_dir && m.id == name && m.stack == s.stack => {}
            _ => return Err(changed()),
        }
        let doomed = s.dir.join(format!("{DEL_PREFIX}{name}"));
        fs_err::rename(&path, &doomed).map_err(|e| Error::io("cannot rename", &path, e))?;
        doomed
    };
    remove_manifest_last(&doomed)
}

/// Remove a backup directory, our manifest last: a removal interrupted half-way leaves a
/// `.del-<id>` that still proves whose it is, so the next rotate can finish it.
fn remove_manifest_last(dir: &Path) -> Result<()> {
    let entries = fs_err::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("cannot list", dir, e))?;
        if entry.file_name() == manifest::FILE {
            continue;
        }
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let r = if is_dir {
            fs_err::remove_dir_all(&path)
        } else {
            fs_err::remove_file(&path)
        };
        r.map_err(|e| Error::io("cannot remove", &path, e))?;
    }
    let m = dir.join(manifest::FILE);
    match fs_err::remove_file(&m) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("cannot remove", &m, e)),
    }
    fs_err::remove_dir(dir).map_err(|e| Error::io("cannot remove", dir, e))
}

// ---------------------------------------------------------------------------------------------
// talking to InfluxDB

/// Ask the running server its version (1.x: `/ping`'s `X-Influxdb-Version`; 2.x: `/health`).
pub fn server_version(s: &Settings) -> Result<String> {
    let (path, auth) = if s.version == 1 {
        ("/ping", Auth::None)
    } else {
        ("/health", Auth::None)
    };
    let url = format!("{}{path}", s.http_url);
    let resp = http_get(&url, auth)?;
    if s.version == 1 {
        if resp.status >= 300 {
            return Err(unexpected(&url, resp.status));
        }
        Ok(resp.version.unwrap_or_else(|| "unknown".into()))
    } else {
        let v: serde_json::Value = serde_json::from_str(&resp.body).unwrap_or_default();
        if resp.status >= 300 && v.get("status").is_none() {
            return Err(unexpected(&url, resp.status));
        }
        Ok(v.get("version")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
            .to_string())
    }
}

fn unexpected(url: &str, status: u16) -> Error {
    Error::Target {
        message: format!("InfluxDB at {url} answered HTTP {status}"),
        help: Some("check that the stack's InfluxDB is the server on that port".into()),
    }
}

/// Run one InfluxQL statement on a 1.x server (as the admin user when `.env` has a password)
/// and return the JSON answer.
fn v1_query(s: &Settings, q: &str) -> Result<serde_json::Value> {
    let encoded: String = q
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let url = format!("{}/query?q={encoded}", s.http_url);
    let auth = match &s.admin_password {
        Some(p) if !p.is_empty() => Auth::Basic(s.admin_user.clone(), p.clone()),
        _ => Auth::None,
    };
    let resp = http_get(&url, auth)?;
    if resp.status == 401 || resp.status == 403 {
        return Err(Error::Target {
            message: format!(
                "InfluxDB at {} refused `{q}` as `{}` (HTTP {})",
                s.http_url, s.admin_user, resp.status
            ),
            help: Some(format!(
                "the admin password is INFLUXDB_ADMIN_PASSWORD in {}; check that the server was initialised with it",
                s.env_display
            )),
        });
    }
    if resp.status >= 300 && resp.status != 400 {
        return Err(unexpected(&format!("{}/query", s.http_url), resp.status));
    }
    serde_json::from_str(&resp.body).map_err(|e| Error::Target {
        message: format!(
            "InfluxDB at {} sent a response that is not JSON: {e}",
            s.http_url
        ),
        help: None,
    })
}

/// Databases of a 1.x server (`SHOW DATABASES`).
pub fn v1_databases(s: &Settings) -> Result<Vec<String>> {
    let v = v1_query(s, "SHOW DATABASES")?;
    if let Some(err) = v.pointer("/results/0/error").and_then(|e| e.as_str()) {
        return Err(Error::Target {
            message: format!("InfluxDB at {}: `SHOW DATABASES` failed: {err}", s.http_url),
            help: None,
        });
    }
    Ok(v.pointer("/results/0/series/0/values")
        .and_then(|v| v.as_array())
        .map(|rows| {
            rows.iter()
                .filter_map(|r| r.get(0).and_then(|n| n.as_str()).map(String::from))
                .collect()
        })
        .unwrap_or_default())
}

/// After `influxd restore` returns, the restored shards are reopened in the background and
/// queries answer "shard is disabled" for a moment. Wait (bounded: 30 s) until
/// `SHOW MEASUREMENTS` answers twice in a row (and, when the backup holds shards, lists
/// measurements: a reopening shard can answer an empty list without error), and return them.
fn v1_wait_restored(s: &Settings, db: &str, has_shards: bool) -> Result<Vec<String>> {
    let q = format!("SHOW MEASUREMENTS ON \"{}\"", db.replace('"', "\\\""));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ok_in_a_row = 0;
    let mut last_error = String::new();
    loop {
        let v = v1_query(s, &q)?;
        match v.pointer("/results/0/error").and_then(|e| e.as_str()) {
            None => {
                let names: Vec<String> = v
                    .pointer("/results/0/series/0/values")
                    .and_then(|v| v.as_array())
                    .map(|rows| {
                        rows.iter()
                            .filter_map(|r| r.get(0).and_then(|n| n.as_str()).map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                if has_shards && names.is_empty() {
                    ok_in_a_row = 0;
                    last_error = "no measurement yet (shards still opening)".into();
                } else {
                    ok_in_a_row += 1;
                    if ok_in_a_row == 2 {
                        return Ok(names);
                    }
                }
            }
            Some(e) => {
                ok_in_a_row = 0;
                last_error = e.to_string();
            }
        }
        if Instant::now() >= deadline {
            return Err(Error::Transient {
                message: format!(
                    "database `{db}` was restored but still answers `{last_error}` after 30 s on {}",
                    s.http_url
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

enum Auth {
    None,
    Basic(String, String),
}

struct Response {
    status: u16,
    version: Option<String>,
    body: String,
}

fn http_get(url: &str, auth: Auth) -> Result<Response> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Target {
            message: format!("cannot start the HTTP runtime: {e}"),
            help: None,
        })?;
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| Error::Target {
                message: format!("cannot build an HTTP client: {e}"),
                help: None,
            })?;
        let mut req = client.get(url);
        if let Auth::Basic(user, pass) = &auth {
            req = req.basic_auth(user, Some(pass));
        }
        let resp = req.send().await.map_err(|e| Error::Target {
            message: format!("InfluxDB is not reachable at {url}: {}", root_cause(&e)),
            help: Some(
                "start the stack (`promo-infra apply`) or fix influxdb.bind / influxdb.port in the manifest"
                    .into(),
            ),
        })?;
        let status = resp.status().as_u16();
        let version = resp
            .headers()
            .get("x-influxdb-version")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let body = resp.text().await.unwrap_or_default();
        Ok(Response {
            status,
            version,
            body,
        })
    })
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Run `influxd` / `influx` with a bounded wait; stdout and stderr are captured and, on failure,
/// shown with every secret value redacted.
fn run_tool(
    s: &Settings,
    program: &str,
    args: &[String],
    env: &[(&str, String)],
    shown: &str,
) -> Result<()> {
    tracing::debug!(command = shown, "running");
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Target {
                message: format!("`{program}` is not installed (not found on PATH)"),
                help: Some(if program == "influxd" {
                    "install Debian's `influxdb` package (scripts/setup.sh does)".into()
                } else {
                    "install the InfluxDB 2 CLI (`influx`, influxdata/influx-cli)".into()
                }),
            }
        } else {
            Error::Target {
                message: format!("cannot start `{shown}`: {e}"),
                help: None,
            }
        }
    })?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + s.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Target {
                    message: format!(
                        "`{shown}` did not finish within {} s; it was stopped",
                        s.timeout.as_secs()
                    ),
                    help: Some("check the server's load and logs, then run again".into()),
                });
            }
            Err(e) => {
                return Err(Error::Target {
                    message: format!("cannot wait for `{shown}`: {e}"),
                    help: None,
                });
            }
        }
    };
    let mut output = String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned();
    output.push_str(&String::from_utf8_lossy(&err.join().unwrap_or_default()));
    for secret in s.secrets() {
        output = output.replace(secret, "(redacted)");
    }
    tracing::debug!(output = %output, "finished");
    if status.success() {
        return Ok(());
    }
    let tail: Vec<&str> = output.lines().rev().take(8).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(Error::Target {
        message: format!(
            "`{shown}` failed ({status}):\n{}",
            tail.iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        help: Some(if s.version == 1 {
            format!(
                "`influxd backup/restore` talk to the RPC bind-address {} (backup.influx_rpc): check that InfluxDB listens there",
                s.rpc
            )
        } else {
            format!(
                "check the InfluxDB 2 server at {} and the token in {}",
                s.http_url, s.env_display
            )
        }),
    })
}

/// Run a backup tool inside the stack's container (docker target), bounded by the timeout; a
/// failure shows the tool's last lines, secrets redacted.
fn run_in_container(
    s: &Settings,
    c: &docker::Container,
    args: &[String],
    shown: &str,
) -> Result<()> {
    let (code, output) = c.exec(args, s.timeout)?;
    let mut output = output;
    for secret in s.secrets() {
        output = output.replace(secret, "(redacted)");
    }
    tracing::debug!(output = %output, code, "finished in container");
    if code == 0 {
        return Ok(());
    }
    let tail: Vec<&str> = output.lines().rev().take(8).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(Error::Target {
        message: format!(
            "`{shown}` failed (exit code {code}):\n{}",
            tail.iter()
                .map(|l| format!("  {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        help: Some(format!(
            "`influxd backup/restore` talk to influxd's RPC address {} inside container {}: check `docker logs {}`",
            docker::CONTAINER_RPC,
            c.name,
            c.name
        )),
    })
}
