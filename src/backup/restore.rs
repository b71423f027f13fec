//! `backup restore ID [--as NAME]`: verify every checksum, then restore into the running
//! server; a failed restore creates nothing, and a restored 1.x stack database gets its users'
//! privileges back.
//!
//! Owns: what makes a backup restorable (a real directory of this stack, every sha256 right,
//! InfluxDB's own `*.manifest` / `*.meta`), refusing an existing target database, waiting for
//! restored shards to answer, converging privileges.
//! A restore holds a lock on the backup's directory from before its checks until it ends
//! ([`super::leftovers::lock_backup`]): rotation leaves that backup alone meanwhile, and on the
//! docker target it proves its copy in the container in use.
//!
//! May not: modify the backup directory, drop a database it did not create, print (progress
//! goes to [`super::Progress`]), or read the environment.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::leftovers::{self, RESTORE_COPY};
use super::manifest::{self, BackupManifest, Depth};
use super::scan::{Kind, Status, scan};
use super::tool::{self, Op};
use super::{Settings, docker};
use crate::error::{Error, Result};
use crate::influx::blocking::Client as Influx;
use crate::influx::v1;

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
    // Held until the restore ends: rotation never removes the backup meanwhile, and on the
    // docker target it proves the copy in the container in use (exclusive: one restore of a
    // backup at a time uses that copy).
    let in_container = s.container().is_some() && s.version == 1;
    let lock = leftovers::lock_backup(s, id, in_container, leftovers::RESTORE_LOCK_WAIT)?;
    let (path, m) = verified(s, id, as_name)?;
    if lock.is_none() {
        return Err(Error::backup(format!(
            "backup {}/{id} changed while it was being opened; nothing was changed",
            s.display_dir
        ))
        .with_help(format!("run `promo-infra backup restore {id}` again")));
    }
    let target = as_name.unwrap_or(&s.database).to_string();
    let db = s.influx()?;
    s.preflight(&db)?;
    if s.version == 1 && db.databases()?.contains(&target) {
        return Err(Error::backup(format!(
            "database `{target}` already exists on {}: influxd 1.6 restores only into a database that does not exist (nothing was changed)",
            s.http_url
        ))
        .with_help(format!(
            "to replace it: drop it first (`influx -host … -execute 'DROP DATABASE \"{target}\"'`), then run `promo-infra backup restore {id}` again; \
             to look at the backup beside it: `promo-infra backup restore {id} --as {target}_restored`"
        )));
    }
    let (shown, result) = put(s, &db, &m, &path, &target)?;
    if let Err(e) = result {
        // The target did not exist before (checked above): whatever the failed tool created
        // there is ours and incomplete. Remove it, so a failed restore creates nothing — unless
        // the tool failed because the database exists: another command made it meanwhile (an
        // apply, a second restore into the same name), and it is not ours to drop.
        let made_by_another = e.to_string().contains("may already exist");
        if s.version == 1
            && !made_by_another
            && db.databases().is_ok_and(|dbs| dbs.contains(&target))
        {
            s.step(&format!("removing the incomplete database `{target}`"));
            let _ = db.query(&format!("DROP DATABASE {}", v1::quote_ident(&target)));
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
        let names = wait_restored(s, &db, &target, has_shards)?;
        if target == s.database {
            privileges = converge_privileges(s, &db)?;
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

/// Run the tool on the verified backup at `path` (on this host, or uploaded into the
/// container): the command line as shown, and how the tool ended.
fn put(
    s: &Settings,
    db: &Influx,
    m: &BackupManifest,
    path: &Path,
    target: &str,
) -> Result<(String, Result<()>)> {
    let id = &m.id;
    let display = format!("{}/{id}", s.display_dir);
    let names = (m.database.as_str(), m.org.as_deref().unwrap_or(&s.org));
    let new_name = (target != m.database).then_some(target);
    if let (Some(c), 1) = (s.container(), s.version) {
        // Our lock on the backup is held: no other restore uses this copy; one left by a
        // killed restore of this backup goes with the other leftovers.
        let dir_name = format!("{RESTORE_COPY}{id}");
        db.block_on(leftovers::sweep(s, &c, Some(&dir_name)));
        let in_container = format!("/tmp/{dir_name}");
        let rpc = docker::CONTAINER_RPC;
        let argv = tool::argv(s, Op::Restore, rpc, names, new_name, &in_container);
        let shown = tool::shown_in(&argv, &c);
        s.step(&format!("copying {display} into {}:{in_container}", c.name));
        let files: Vec<String> = m.files.iter().map(|f| f.name.clone()).collect();
        let result = db
            .block_on(c.upload_dir(path, &files, &dir_name))
            .and_then(|()| {
                s.step(&format!("running {shown}"));
                tool::run_in_container(s, db, &c, &argv, &shown)
            });
        db.block_on(c.remove_dir(&in_container));
        return Ok((shown, result));
    }
    let env = tool::env(s)?;
    let argv = tool::argv(
        s,
        Op::Restore,
        &s.rpc,
        names,
        new_name,
        &path.to_string_lossy(),
    );
    let shown = tool::shown(&argv, path, &display);
    s.step(&format!("running {shown}"));
    let result = tool::run_on_host(s, &argv, &env, &shown);
    Ok((shown, result))
}

/// The newest backup of this stack older than `id` whose every checksum is right: what to
/// restore instead of a corrupt `id`.
fn older_intact(s: &Settings, id: &str) -> Option<String> {
    let when = super::id::place;
    let this = when(id)?;
    let mut older: Vec<_> = scan(&s.dir, &s.stack, Depth::Sizes)
        .ok()?
        .into_iter()
        .filter(|e| e.kind == Kind::Backup && e.status == Status::Ok)
        .filter(|e| when(&e.id).is_some_and(|t| t < this))
        .collect();
    // Newest first, by place (`-10` after `-9`), not by name.
    older.sort_by_key(|e| std::cmp::Reverse(when(&e.id)));
    older
        .into_iter()
        .find(|e| {
            let dir = s.dir.join(&e.id);
            BackupManifest::read(&dir)
                .ok()
                .flatten()
                .is_some_and(|m| manifest::verify(&dir, &m, Depth::Checksums).is_ok())
        })
        .map(|e| e.id)
}

/// The backup `id`, refused unless it is a real directory of this stack's, every checksum
/// right, of the server's major version and restorable (nothing reaches the server before).
fn verified(s: &Settings, id: &str, as_name: Option<&str>) -> Result<(PathBuf, BackupManifest)> {
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
            return Err(Error::backup(format!(
                "backup {display} is corrupt: {detail}; refusing to restore"
            ))
            .with_help("restore another backup (`promo-infra backup list`)"));
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
    if let Err(c) = manifest::verify(&path, &m, Depth::Checksums) {
        // The help fits what the check found: a missing, added, resized, changed file, a link…
        return Err(Error::backup(format!(
            "backup {id} is corrupt: {c}; refusing to restore (nothing was changed)"
        ))
        .with_help(c.fault.help(older_intact(s, id).as_deref())));
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
    check_restorable(&m).map_err(|detail| {
        Error::backup(format!(
            "backup {id} cannot be restored: {detail} (nothing was changed)"
        ))
        .with_help("restore another backup (`promo-infra backup list`)")
    })?;
    Ok((path, m))
}

/// After `influxd restore` returns, the restored shards are reopened in the background and
/// queries answer "shard is disabled" for a moment. Wait (bounded: 30 s) until
/// `SHOW MEASUREMENTS` answers twice in a row (and, when the backup holds shards, lists
/// measurements: a reopening shard can answer an empty list without error), and return them.
fn wait_restored(s: &Settings, db: &Influx, name: &str, has_shards: bool) -> Result<Vec<String>> {
    let q = format!("SHOW MEASUREMENTS ON {}", v1::quote_ident(name));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ok_in_a_row = 0;
    let mut last_error = String::new();
    loop {
        let body = db.query_results(&q)?;
        match v1::statement_error(&body) {
            None => {
                let names = v1::names(&body);
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
            return Err(Error::backup(format!(
                "database `{name}` was restored but still answers `{last_error}` after 30 s on {}",
                s.http_url
            ))
            .with_help(restored_help(&s.database, name, s.container().is_none())));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What to do when a restored database still refuses queries after the wait: the restore
/// itself finished, so the way out is InfluxDB's log, a query later, and (for the stack's own
/// database, whose grants were not restored yet) `apply`, which converges them.
fn restored_help(stack_database: &str, name: &str, native: bool) -> String {
    let target = if native { " --target native" } else { "" };
    let mut help = format!(
        "the restore finished: look at InfluxDB's log (`promo-infra logs{target} --tail 50 influxdb`), then query it again in a minute (`influx -host … -execute 'SHOW MEASUREMENTS ON {}'`)",
        v1::quote_ident(name)
    );
    if name == stack_database {
        help.push_str(&format!(
            "; once it answers, run `promo-infra apply{target}`: it gives Grafana's and k6's users their grants on it again"
        ));
    }
    help
}

/// After a restore of the stack's 1.x database: converge the database resource as `apply` does
/// (users exist, Grafana's user has READ and k6's WRITE on it), since dropping a database drops
/// the grants on it. Returns `user PRIVILEGE` for each non-admin user.
fn converge_privileges(s: &Settings, db: &Influx) -> Result<Vec<String>> {
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
    let ep = crate::influx::Endpoint {
        url: s.http_url.clone(),
    };
    db.block_on(crate::influx::apply(&ep, spec, &s.secret_values))
        .map_err(|e| {
            Error::backup(format!(
                "the data of `{}` was restored, but its users' privileges could not be restored: {e}",
                spec.name
            ))
            .with_help(
                "run `promo-infra apply` to converge the users and grants (Grafana READ, k6 WRITE)",
            )
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

#[cfg(test)]
mod tests {
    use super::restored_help;

    /// The stack's own database lost its grants with the drop: its help adds `apply`; a copy
    /// restored beside it (`--as`) has no grants to restore. On native, `logs` needs its target.
    #[test]
    fn a_restored_database_that_refuses_queries_gets_a_way_out() {
        let log = "the restore finished: look at InfluxDB's log (`promo-infra logs --tail 50 influxdb`), then query it again in a minute";
        assert_eq!(
            restored_help("k6", "k6", false),
            format!(
                "{log} (`influx -host … -execute 'SHOW MEASUREMENTS ON \"k6\"'`); once it answers, run `promo-infra apply`: it gives Grafana's and k6's users their grants on it again"
            )
        );
        assert_eq!(
            restored_help("k6", "k6 old", true),
            format!(
                "{} (`influx -host … -execute 'SHOW MEASUREMENTS ON \"k6 old\"'`)",
                log.replace("logs --tail", "logs --target native --tail")
            )
        );
    }
}
