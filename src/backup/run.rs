//! `backup run`: back up the running server into `<dir>/<id>/`, through `.tmp-<id>/` (renamed
//! only once every file is hashed and our manifest is written).
//!
//! The order makes every instant safe to be killed at (`backup list` says `incomplete`, and
//! rotation removes it once stale, never `foreign`): `.tmp-<id>/` created (empty) → marker
//! written and locked → the tool's files → hashed (the marker excluded) → our manifest written
//! → marker removed (the manifest now proves it) → renamed to `<id>/`.
//!
//! Owns: choosing the id, the `.tmp-` marker and its lock (a running backup holds it), hashing,
//! writing our manifest, the final rename.
//! May not: remove anything but its own `.tmp-<id>/` (and, in the container, the copies of
//! backups and restores that are not running: [`super::leftovers`]), print (progress goes to
//! [`super::Progress`]), or read the environment.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

use super::id::{clock, format_id, rfc3339};
use super::leftovers::{self, BACKUP_COPY};
use super::manifest::{self, BackupManifest};
use super::scan::{PARTIAL_MARKER, TMP_PREFIX};
use super::tool::{self, Op};
use super::{Settings, docker, prune};
use crate::error::{Error, Result};
use crate::influx::blocking::Client as Influx;

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
    let db = s.influx()?;
    let server_version = s.preflight(&db)?;
    // influxd 1.6 answers a missing database with "backup failed: EOF": say it plainly.
    if s.version == 1 && !db.databases()?.contains(&s.database) {
        return Err(Error::backup(format!(
            "database `{}` does not exist on {}: nothing to back up",
            s.database, s.http_url
        ))
        .with_help("create it with `promo-infra apply`, or fix influxdb.bucket in the manifest"));
    }
    fs_err::create_dir_all(&s.dir).map_err(|e| Error::io("cannot create directory", &s.dir, e))?;
    let (id, tmp) = reserve(s, now)?;
    let result = write_backup(s, &db, now, &id, &tmp, &server_version);
    if result.is_err() {
        // Our own partial directory: nothing in it is worth keeping. Its proof (marker,
        // manifest) goes last, so even a kill during this cleanup leaves it `incomplete`.
        let _ = prune::remove_proof_last(&tmp);
    }
    result
}

/// Choose the id (the start time, `-2`, `-3`… when taken) and create its `.tmp-<id>/`.
/// `create_dir` is the reservation: two backups started at once never share an id.
fn reserve(s: &Settings, now: Timestamp) -> Result<(String, PathBuf)> {
    let base = format_id(now);
    for n in 1..=100 {
        let id = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        if s.dir.join(&id).exists() {
            continue;
        }
        let tmp = s.dir.join(format!("{TMP_PREFIX}{id}"));
        match std::fs::create_dir(&tmp) {
            Ok(()) => return Ok((id, tmp)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io("cannot create directory", &tmp, e)),
        }
    }
    Err(Error::usage(
        format!("100 backups already started at {base} in {}", s.display_dir),
        "wait a second and run again",
    ))
}

/// Write our marker into the new `tmp` and hold an exclusive `flock` on it for the life of the
/// backup (released by the kernel when the process ends, even on SIGKILL): a held marker is how
/// another `backup run` knows this backup is still running ([`running`]).
fn mark(s: &Settings, now: Timestamp, tmp: &Path) -> Result<File> {
    let marker = tmp.join(PARTIAL_MARKER);
    let io = |e| Error::io("cannot write", &marker, e);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)
        .map_err(io)?;
    file.try_lock()
        .map_err(|e| io(std::io::Error::other(e.to_string())))?;
    let text = format!(
        "promo-infra backup of stack {} started {} by pid {}\n",
        s.stack,
        rfc3339(now),
        std::process::id()
    );
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(file)
}

/// Whether the backup `id` of this backup directory is still running: its `.tmp-<id>/` marker
/// exists and its writer holds the lock on it. A dead writer's lock is gone (the kernel
/// releases it), and a finished backup has no marker.
pub(crate) fn running(s: &Settings, id: &str) -> bool {
    let marker = s.dir.join(format!("{TMP_PREFIX}{id}")).join(PARTIAL_MARKER);
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&marker)
    else {
        return false;
    };
    matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

/// Run the tool into `tmp` (on this host, or in the container and copied out): returns the
/// command line as shown.
fn take(s: &Settings, db: &Influx, id: &str, tmp: &Path) -> Result<String> {
    let names = (s.database.as_str(), s.org.as_str());
    if let (Some(c), 1) = (s.container(), s.version) {
        // Inside the container: no RPC port to publish, and the host's backup.dir can be any
        // absolute path (the files come out through the Engine API).
        let mine = format!("{BACKUP_COPY}{id}");
        db.block_on(leftovers::sweep(s, &c, Some(&mine)));
        let in_container = format!("/tmp/{mine}");
        let argv = tool::argv(
            s,
            Op::Backup,
            docker::CONTAINER_RPC,
            names,
            None,
            &in_container,
        );
        let shown = tool::shown_in(&argv, &c);
        s.step(&format!("running {shown}"));
        let result = tool::run_in_container(s, db, &c, &argv, &shown).and_then(|()| {
            s.step(&format!(
                "copying {in_container} out of {} into {}/{TMP_PREFIX}{id}",
                c.name, s.display_dir
            ));
            db.block_on(c.download_dir(&in_container, tmp))
        });
        db.block_on(c.remove_dir(&in_container));
        return result.map(|()| shown);
    }
    let env = tool::env(s)?;
    let argv = tool::argv(s, Op::Backup, &s.rpc, names, None, &tmp.to_string_lossy());
    let shown = tool::shown(&argv, tmp, &format!("{}/{TMP_PREFIX}{id}", s.display_dir));
    s.step(&format!("running {shown}"));
    tool::run_on_host(s, &argv, &env, &shown)?;
    Ok(shown)
}

fn write_backup(
    s: &Settings,
    db: &Influx,
    now: Timestamp,
    id: &str,
    tmp: &Path,
    server_version: &str,
) -> Result<RunReport> {
    // At every instant from here to the rename, a kill leaves a `.tmp-<id>` that `list` calls
    // `incomplete` (scan::partial_of): empty, then marked, then with our manifest too.
    let marker_lock = mark(s, now, tmp)?;
    let shown = take(s, db, id, tmp)?;
    s.step("hashing the files (sha256)");
    let files = manifest::hash_dir(tmp)?;
    if !files.iter().any(|f| f.name.ends_with(".manifest")) {
        return Err(Error::backup(format!(
            "`{shown}` exited successfully but wrote no `*.manifest` file"
        ))
        .with_help(format!(
            "check that {} `{}` exists on {}",
            if s.version == 1 { "database" } else { "bucket" },
            s.database,
            s.http_url
        )));
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
    // Our manifest (this stack, this id) now proves the `.tmp-<id>` is ours: the marker can go,
    // so the renamed backup holds exactly the files its manifest lists.
    let marker = tmp.join(PARTIAL_MARKER);
    fs_err::remove_file(&marker).map_err(|e| Error::io("cannot remove", &marker, e))?;
    let final_dir = s.dir.join(id);
    fs_err::rename(tmp, &final_dir).map_err(|e| Error::io("cannot rename", tmp, e))?;
    if let Ok(d) = std::fs::File::open(&s.dir) {
        let _ = d.sync_all();
    }
    drop(marker_lock);
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
