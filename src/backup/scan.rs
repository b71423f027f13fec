//! Reading a stack's backup directory: every entry classified as `ok`, `incomplete`,
//! `corrupt` or `foreign` (the rules are in the module doc of [`crate::backup`]).
//!
//! Owns: what proves an entry is ours (our manifest, our `.tmp-` marker, a `.del-` holding our
//! manifest), and [`Entry`], the row of `backup list`.
//! May not: modify or remove anything, print, or talk to InfluxDB or Docker.

use std::path::Path;

use jiff::Timestamp;
use serde::Serialize;

use super::Settings;
use super::id::{parse_id, rfc3339};
use super::manifest::{self, BackupManifest, Depth};
use crate::error::{Error, Result};

/// Marker file inside a `.tmp-<id>` directory: promo-infra created it.
pub const PARTIAL_MARKER: &str = ".promo-infra-partial";
/// Prefix of a backup being written.
pub const TMP_PREFIX: &str = ".tmp-";
/// Prefix of a backup being removed.
pub const DEL_PREFIX: &str = ".del-";

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

/// What an entry is, as far as promo-infra can prove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A backup directory with our manifest.
    Backup,
    /// A `.tmp-<id>` with our marker.
    Partial,
    /// A `.del-<id>` with our manifest.
    Deleting,
    /// Anything else.
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
    /// What our manifest says was backed up (backups only).
    #[serde(flatten)]
    pub backup: Option<Backed>,
    #[serde(skip)]
    pub(crate) timestamp: Option<Timestamp>,
    #[serde(skip)]
    pub(crate) kind: Kind,
}

/// What a backup holds, from our manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Backed {
    /// Database or bucket.
    pub database: String,
    /// InfluxDB major version.
    pub influxdb_version: u8,
    /// Server version.
    pub server_version: String,
}

impl Entry {
    /// An entry named `id`, its size measured on disk at `path`.
    fn on_disk(id: &str, status: Status, kind: Kind, detail: String, path: &Path) -> Self {
        Self {
            id: id.to_string(),
            time: None,
            size: disk_size(path),
            status,
            detail: Some(detail),
            backup: None,
            timestamp: None,
            kind,
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

/// Whether `path` (a `.tmp-<id>` directory, not a link) proves it is a backup of `stack` being
/// written, at any instant of `backup run` (see [`super::run`]):
///
/// - it holds our marker, a regular file naming this stack (from right after the directory is
///   created until our manifest is written);
/// - or our manifest for this stack and this `id` (the marker is removed after the manifest is
///   written, right before the rename);
/// - or, named with a real backup id, nothing but at most an empty marker (killed as it
///   started, between creating the directory and writing the marker: nothing in it to lose).
pub(crate) fn partial_of(path: &Path, id: &str, stack: &str) -> bool {
    if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        return false;
    }
    let marker = path.join(PARTIAL_MARKER);
    let marker_meta = std::fs::symlink_metadata(&marker).ok();
    if marker_meta.as_ref().is_some_and(|m| m.is_file())
        && std::fs::read_to_string(&marker).is_ok_and(|text| {
            text.strip_prefix("promo-infra backup of stack ")
                .and_then(|rest| rest.split_once(' '))
                .is_some_and(|(s, _)| s == stack)
        })
    {
        return true;
    }
    if removal_of(path, id, stack) {
        return true;
    }
    // Empty: only a name `backup run` gives (`.tmp-<id>`, a real id) proves it.
    if parse_id(id).is_none() {
        return false;
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return false;
    };
    let mut entries = entries.flatten();
    match (entries.next(), entries.next()) {
        (None, _) => true,
        (Some(only), None) => {
            only.file_name() == PARTIAL_MARKER
                && marker_meta.is_some_and(|m| m.is_file() && m.len() == 0)
        }
        _ => false,
    }
}

/// Whether `path` (a `.del-<id>` directory, not a link) proves it is an interrupted removal of
/// backup `id` of `stack`: our manifest, for this stack, with this id. Anything else is foreign.
/// (Also one of the proofs of a `.tmp-<id>`: see [`partial_of`].)
pub(crate) fn removal_of(path: &Path, id: &str, stack: &str) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
        && std::fs::symlink_metadata(path.join(manifest::FILE)).is_ok_and(|m| m.is_file())
        && matches!(BackupManifest::read(path), Ok(Some(m)) if m.id == id && m.stack == stack)
}

fn classify(dir: &Path, name: &str, is_dir: bool, stack: &str, depth: Depth) -> Entry {
    let path = dir.join(name);
    let entry = |status, kind, detail: String| Entry::on_disk(name, status, kind, detail, &path);
    let foreign = |detail: String| entry(Status::Foreign, Kind::Other, detail);
    if !is_dir {
        return foreign("a file promo-infra did not create".into());
    }
    if let Some(id) = name.strip_prefix(TMP_PREFIX)
        && partial_of(&path, id, stack)
    {
        let detail = "backup interrupted or still running".into();
        return entry(Status::Incomplete, Kind::Partial, detail).at(parse_id(id));
    }
    if let Some(id) = name.strip_prefix(DEL_PREFIX)
        && removal_of(&path, id, stack)
    {
        let detail = "removal interrupted; the next `backup rotate` finishes it".into();
        return entry(Status::Incomplete, Kind::Deleting, detail).at(parse_id(id));
    }
    let m = match BackupManifest::read(&path) {
        Ok(None) => {
            return foreign(format!(
                "no {} inside: not created by promo-infra",
                manifest::FILE
            ));
        }
        Ok(Some(m)) => m,
        Err(detail) => {
            return match parse_id(name) {
                None => foreign(detail),
                time => entry(Status::Corrupt, Kind::Backup, detail).at(time),
            };
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
        Err(c) => (Status::Corrupt, Some(c.detail)),
    };
    Entry {
        id: name.to_string(),
        time: None,
        size: m.total_size(),
        status,
        detail,
        backup: Some(Backed {
            database: m.database,
            influxdb_version: m.influxdb_version,
            server_version: m.server_version,
        }),
        timestamp: None,
        kind: Kind::Backup,
    }
    .at(parse_id(name))
}

/// `backup list`: every entry, backups verified against every checksum.
pub fn list(s: &Settings) -> Result<Vec<Entry>> {
    scan(&s.dir, &s.stack, Depth::Checksums)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_json_puts_what_a_backup_holds_beside_its_id_and_nothing_for_other_entries() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("notes.txt"), "hello").expect("write");
        let entries = scan(dir.path(), "shop", Depth::Sizes).expect("scan");
        let mut ok = entries[0].clone();
        let json = serde_json::to_value(&entries[0]).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"id": "notes.txt", "time": null, "size": 5, "status": "foreign",
                "detail": "a file promo-infra did not create"})
        );
        ok.backup = Some(Backed {
            database: "k6".into(),
            influxdb_version: 1,
            server_version: "1.6.7".into(),
        });
        let json = serde_json::to_value(&ok).expect("json");
        assert_eq!(
            (
                &json["database"],
                &json["influxdb_version"],
                &json["server_version"]
            ),
            (
                &serde_json::json!("k6"),
                &serde_json::json!(1),
                &serde_json::json!("1.6.7")
            )
        );
    }

    /// Every state a `.tmp-<id>` passes through in `backup run` (and in its cleanup) is
    /// `incomplete`, ours, this stack's; another stack's marker or a stray file is `foreign`.
    #[test]
    fn every_state_of_a_backup_being_written_is_incomplete_never_foreign() {
        let dir = tempfile::tempdir().expect("tmp");
        let id = "20261124T030000Z";
        let tmp = dir.path().join(format!("{TMP_PREFIX}{id}"));
        let status = || {
            let e = scan(dir.path(), "shop", Depth::Checksums).expect("scan");
            assert_eq!(e.len(), 1, "{e:?}");
            (e[0].status, e[0].kind, e[0].detail.clone())
        };
        let incomplete = |what: &str| {
            let (st, kind, detail) = status();
            assert_eq!(
                (st, kind),
                (Status::Incomplete, Kind::Partial),
                "{what}: {detail:?}"
            );
        };
        std::fs::create_dir(&tmp).expect("mkdir");
        incomplete("created, empty");
        std::fs::write(tmp.join(PARTIAL_MARKER), "").expect("marker");
        incomplete("marker created, not yet written");
        let text = format!("promo-infra backup of stack shop started {id} by pid 1\n");
        std::fs::write(tmp.join(PARTIAL_MARKER), &text).expect("marker");
        incomplete("marked");
        std::fs::write(tmp.join(format!("{id}.meta")), "meta").expect("file");
        std::fs::write(tmp.join(format!("{id}.manifest")), "{}").expect("file");
        incomplete("files copied");
        let files = manifest::hash_dir(&tmp).expect("hash");
        assert!(files.iter().all(|f| f.name != PARTIAL_MARKER), "{files:?}");
        let m = BackupManifest {
            format: manifest::FORMAT,
            tool: "promo-infra".into(),
            tool_version: "0".into(),
            id: id.into(),
            stack: "shop".into(),
            influxdb_version: 1,
            server_version: "1.6.7".into(),
            database: "k6".into(),
            org: None,
            started_at: "x".into(),
            finished_at: "x".into(),
            files,
        };
        m.write(&tmp).expect("manifest");
        incomplete("manifest written, marker still there");
        std::fs::remove_file(tmp.join(PARTIAL_MARKER)).expect("rm marker");
        incomplete("marker removed, not yet renamed");
        std::fs::rename(&tmp, dir.path().join(id)).expect("rename");
        assert_eq!(status().0, Status::Ok, "{:?}", status());

        // Negative: what does not prove it is ours stays foreign.
        std::fs::rename(dir.path().join(id), &tmp).expect("rename back");
        let mut other = m.clone();
        other.stack = "other".into();
        other.write(&tmp).expect("manifest");
        assert_eq!(status().0, Status::Foreign, "another stack's manifest");
        std::fs::remove_file(tmp.join(manifest::FILE)).expect("rm");
        let other_marker = format!("promo-infra backup of stack other started {id} by pid 1\n");
        std::fs::write(tmp.join(PARTIAL_MARKER), other_marker).expect("marker");
        assert_eq!(status().0, Status::Foreign, "another stack's marker");
        std::fs::remove_file(tmp.join(PARTIAL_MARKER)).expect("rm");
        assert_eq!(status().0, Status::Foreign, "files without any proof");
        for f in std::fs::read_dir(&tmp).expect("ls").flatten() {
            std::fs::remove_file(f.path()).expect("rm");
        }
        std::fs::write(tmp.join("stray"), "").expect("stray");
        assert_eq!(status().0, Status::Foreign, "an empty stray file");
        std::fs::remove_file(tmp.join("stray")).expect("rm");
        let odd = dir.path().join(format!("{TMP_PREFIX}foo"));
        std::fs::rename(&tmp, &odd).expect("rename");
        assert_eq!(
            status().0,
            Status::Foreign,
            "an empty .tmp- not named with an id"
        );
    }
}
