//! `backup rotate [--dry-run]` on a directory: the policy of [`super::rotate`] applied to what
//! [`super::scan`] proves, and the removals it decides, done so an interruption never leaves a
//! half-deleted backup.
//!
//! Owns: which entries count (only `ok` backups), cleaning our stale `.tmp-` and `.del-`
//! leftovers, re-checking the proof right before each removal, removing our manifest last,
//! leaving a backup a restore holds ([`super::leftovers::lock_backup`]) for a later rotation.
//! May not: remove anything it cannot prove is ours (foreign entries are never touched), remove
//! the newest valid backup, print, or talk to InfluxDB or Docker.

use std::path::Path;

use jiff::Timestamp;
use serde::Serialize;

use super::leftovers::{Lock, try_lock_dir};
use super::manifest::{self, BackupManifest, Depth};
use super::scan::{
    DEL_PREFIX, Entry, Kind, PARTIAL_MARKER, Status, TMP_PREFIX, partial_of, removal_of, scan,
};
use super::{Settings, rotate};
use crate::error::{Error, Result};

/// `.tmp-*` directories older than this are removed by `rotate` (unless their writer still
/// holds their marker's lock: a backup still running).
pub const STALE_AFTER_HOURS: i64 = 24;
/// How far past now a backup's time may be (clocks of hosts differ a little) before rotation
/// takes it for a clock that was ahead.
const FUTURE_SLACK_SECONDS: i64 = 3600;

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
    // A backup dated later than now (a clock that was ahead when it was taken) would be the
    // newest of every rule and make each new backup look old: not counted, never removed.
    let future = |e: &Entry| {
        e.timestamp
            .is_some_and(|t| t.as_second() > now.as_second() + FUTURE_SLACK_SECONDS)
    };
    let candidates: Vec<rotate::Candidate> = entries
        .iter()
        .map(|e| rotate::Candidate {
            id: e.id.clone(),
            time: e.timestamp.unwrap_or(Timestamp::UNIX_EPOCH),
            valid: e.status == Status::Ok && e.timestamp.is_some() && !future(e),
        })
        .collect();
    let verdicts = rotate::decide(&candidates, &s.policy);
    let newest_valid = candidates
        .iter()
        .filter(|c| c.valid)
        .max_by_key(|c| (c.time, super::id::place(&c.id)))
        .map(|c| c.id.clone());

    let mut decisions = Vec::with_capacity(entries.len());
    for (e, verdict) in entries.iter().zip(verdicts) {
        let (action, reasons) = match verdict {
            rotate::Verdict::Keep { reasons } => ("keep", reasons),
            rotate::Verdict::Remove { reason } => ("remove", vec![reason]),
            rotate::Verdict::Ignore if e.status == Status::Ok && future(e) => (
                "leave",
                vec![format!(
                    "dated later than now ({}): not counted and not removed, so that it does not make newer backups look old; check this machine's clock (was it ahead when this backup was taken?), and delete it by hand if it should go",
                    super::id::rfc3339(now)
                )],
            ),
            rotate::Verdict::Ignore => leave_or_clean(s, e, now),
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
        return Err(Error::internal(format!(
            "rotation would remove the newest valid backup {newest}; nothing was removed"
        )));
    }
    if !dry_run {
        for d in &mut decisions {
            if d.action == "remove" && !remove_backup(s, &d.id)? {
                d.action = "leave";
                d.reasons = vec![
                    "being restored (a `backup restore` holds it): removed by a later rotation"
                        .into(),
                ];
            }
        }
    }
    decisions.sort_by(|a, b| {
        let ta = a.time.as_deref().map(|_| 0).unwrap_or(1);
        let tb = b.time.as_deref().map(|_| 0).unwrap_or(1);
        ta.cmp(&tb)
            .then_with(|| b.time.cmp(&a.time))
            .then_with(|| {
                // Same time: by `-N` as a number; entries without a time stay in name order.
                let place = |d: &Decision| d.time.as_ref().and_then(|_| super::id::place(&d.id));
                place(b).cmp(&place(a))
            })
            .then_with(|| b.id.cmp(&a.id))
    });
    Ok(RotateReport {
        dry_run,
        policy: s.policy,
        decisions,
    })
}

/// What happens to an entry that is not a valid backup.
fn leave_or_clean(s: &Settings, e: &Entry, now: Timestamp) -> (&'static str, Vec<String>) {
    match (e.status, e.kind) {
        (Status::Incomplete, Kind::Partial) if still_running(s, &e.id) => (
            "leave",
            vec![
                "incomplete backup still running (its writer holds the lock on its marker)".into(),
            ],
        ),
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

/// Whether the `.tmp-<id>` entry `name` is a backup still running: its writer holds the lock
/// on its marker, whatever its id's age says (a clock that was behind when it started, a long
/// backup run by hand).
fn still_running(s: &Settings, name: &str) -> bool {
    name.strip_prefix(TMP_PREFIX)
        .is_some_and(|id| super::run::running(s, id))
}

/// Remove one entry promo-infra created: rename it out of the way first, so an interruption
/// leaves a `.del-*` (finished by the next rotate), never a half-deleted backup. A backup is
/// removed only under its exclusive lock: `false` (nothing removed) while a restore holds it.
fn remove_backup(s: &Settings, name: &str) -> Result<bool> {
    let path = s.dir.join(name);
    let changed = || {
        Error::backup(format!(
            "{}/{name} changed during rotation; it was not removed",
            s.display_dir
        ))
        .with_help("run `promo-infra backup rotate --dry-run` again")
    };
    // Re-check the proof right before removing anything.
    let (doomed, _lock) = if let Some(id) = name.strip_prefix(DEL_PREFIX) {
        if !removal_of(&path, id, &s.stack) {
            return Err(changed());
        }
        (path.clone(), None)
    } else if let Some(id) = name.strip_prefix(TMP_PREFIX) {
        if !partial_of(&path, id, &s.stack) || still_running(s, name) {
            return Err(changed());
        }
        (path.clone(), None)
    } else {
        // Held until it is gone: a restore of it waits, then finds no backup.
        let lock = match try_lock_dir(&path, true) {
            Lock::Held(held) => held,
            Lock::Busy | Lock::Failed(_) => return Ok(false),
            Lock::Gone => return Err(changed()),
        };
        // Re-check right before removing: only a directory with our manifest.
        let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        match BackupManifest::read(&path) {
            Ok(Some(m)) if is_dir && m.id == name && m.stack == s.stack => {}
            _ => return Err(changed()),
        }
        let doomed = s.dir.join(format!("{DEL_PREFIX}{name}"));
        fs_err::rename(&path, &doomed).map_err(|e| Error::io("cannot rename", &path, e))?;
        (doomed, Some(lock))
    };
    remove_proof_last(&doomed).map(|()| true)
}

/// Remove a backup directory (`.del-<id>`, or a `.tmp-<id>` of `backup run`) with what proves
/// it is ours removed last: every other file first, then our manifest, then our `.tmp-` marker,
/// then the empty directory. A removal interrupted at any point leaves a directory that still
/// proves whose it is (see [`super::scan::partial_of`], [`super::scan::removal_of`]), so the
/// next rotate can finish it; it is never left `foreign`.
pub(crate) fn remove_proof_last(dir: &Path) -> Result<()> {
    let entries = fs_err::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("cannot list", dir, e))?;
        if entry.file_name() == manifest::FILE || entry.file_name() == PARTIAL_MARKER {
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
    for proof in [manifest::FILE, PARTIAL_MARKER] {
        let path = dir.join(proof);
        match fs_err::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("cannot remove", &path, e)),
        }
    }
    fs_err::remove_dir(dir).map_err(|e| Error::io("cannot remove", dir, e))
}
