//! The promo-infra backup manifest (`promo-infra-backup.json`), written last into every backup
//! directory: which files the backup holds, their sizes and sha256, and what was backed up.
//!
//! Its presence is what makes a directory "created by promo-infra": rotation never touches a
//! directory without one. It holds no secret (no token, no password, no URL credentials).
//!
//! Owns: the manifest's format, verifying a directory against its manifest.
//! May not: remove anything, print, read the environment, or talk to InfluxDB or Docker.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::writer::sha256_file;

/// File name of the manifest inside a backup directory. It does not end in `.manifest`, so
/// neither `influxd restore` nor `influx restore` mistakes it for one of theirs.
pub const FILE: &str = "promo-infra-backup.json";

/// Format version of [`BackupManifest`].
pub const FORMAT: u32 = 1;

/// What a backup directory holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupManifest {
    /// Format version ([`FORMAT`]).
    pub format: u32,
    /// Always `promo-infra`.
    pub tool: String,
    /// promo-infra version that wrote it.
    pub tool_version: String,
    /// Backup id: the UTC start time `YYYYMMDDTHHMMSSZ` (with `-N` when two start in one second).
    pub id: String,
    /// Stack name.
    pub stack: String,
    /// InfluxDB major version (1 or 2).
    pub influxdb_version: u8,
    /// Version the server reported (`1.6.7~rc0`, `2.7.4`).
    pub server_version: String,
    /// Database (1.x) or bucket (2.x) backed up.
    pub database: String,
    /// Organisation (2.x only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// Start time, RFC 3339 UTC.
    pub started_at: String,
    /// End time, RFC 3339 UTC.
    pub finished_at: String,
    /// Every file of the backup (sorted by name), the manifest itself excluded.
    pub files: Vec<FileEntry>,
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Name relative to the backup directory (`/`-separated).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// sha256, lowercase hex.
    pub sha256: String,
}

impl BackupManifest {
    /// Total size of the backed-up files.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Read and parse `dir/promo-infra-backup.json`. `Ok(None)` when the file does not exist.
    pub fn read(dir: &Path) -> std::result::Result<Option<Self>, String> {
        let path = dir.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {FILE}: {e}")),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{FILE} is not a valid promo-infra backup manifest: {e}"))
    }

    /// Write it to `dir/promo-infra-backup.json` (pretty JSON, trailing newline, fsynced).
    pub fn write(&self, dir: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        let path = dir.join(FILE);
        crate::writer::write_atomic(&path, text.as_bytes(), None)
    }
}

/// How thoroughly to check a backup against its manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Every file exists with its recorded size and there is no unexpected file.
    Sizes,
    /// [`Depth::Sizes`] plus every sha256.
    Checksums,
}

/// What [`verify`] found wrong with a backup: which kind of fault, and the message naming the
/// path at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// The kind of fault (what to do about it depends on it).
    pub fault: Fault,
    /// What is wrong, naming the file.
    pub detail: String,
}

/// The kinds of faults [`verify`] tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The directory or a file cannot be read.
    Unreadable,
    /// A symbolic link inside the backup.
    Symlink,
    /// An empty directory inside the backup.
    EmptyDir,
    /// A device, socket or FIFO inside the backup.
    NotRegular,
    /// A file our manifest does not list.
    Added,
    /// Our manifest names a path outside the backup.
    Outside,
    /// A file our manifest lists is missing.
    Missing,
    /// A file has another size than recorded.
    Resized,
    /// A file has another sha256 than recorded.
    Changed,
}

impl Fault {
    /// What to do about it (the `help:` of `backup restore`), where `older` is the newest
    /// backup older than the corrupt one that is intact, if there is one.
    pub fn help(self, older: Option<&str>) -> String {
        let other = match older {
            Some(id) => format!(
                "restore {id}, the newest older backup that is intact (`promo-infra backup restore {id}`)"
            ),
            None => "take a new backup with `promo-infra backup run` (no older backup is intact; `promo-infra backup list` marks the corrupt ones)".to_string(),
        };
        match self {
            Self::Unreadable => "promo-infra must read every file of the backup: check the permissions of the backup directory, then run again".into(),
            Self::Symlink => format!("a symbolic link replaced a file or was added after the backup was written, and promo-infra never reads a backup through a link: put the real file back, or {other}"),
            Self::EmptyDir => format!("a directory was added to the backup after it was written: remove it if you know where it comes from, or {other}"),
            Self::NotRegular => format!("a device, socket or FIFO was put in the backup after it was written: remove it if you know where it comes from, or {other}"),
            Self::Added => format!("a file was added to the backup after it was written: move it out if you know where it comes from (the backup is then whole again), or {other}"),
            Self::Outside => format!("{FILE} was edited after the backup was written (it names a path outside the backup): {other}"),
            Self::Missing => format!("a file of the backup was deleted or renamed after the backup was written: put it back if you have it, or {other}"),
            Self::Resized => format!("the file was truncated or rewritten after the backup was written: {other}"),
            Self::Changed => format!("the file changed after the backup was written: {other}"),
        }
    }
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Check a backup directory against its manifest. The error names the file at fault.
///
/// A backup holds only real directories and regular files: a symbolic link (to a file or a
/// directory), a device, a socket, or an empty directory anywhere inside it makes it corrupt,
/// as does a file that is missing, resized, altered (with [`Depth::Checksums`]) or not listed.
pub fn verify(dir: &Path, m: &BackupManifest, depth: Depth) -> std::result::Result<(), Corruption> {
    let fail = |fault, detail: String| Err(Corruption { fault, detail });
    let mut expected: Vec<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
    expected.sort_unstable();
    let mut present = Vec::new();
    if let Err(e) = walk(dir, dir, &mut present) {
        return fail(Fault::Unreadable, format!("cannot list the backup: {e}"));
    }
    for (name, kind) in &present {
        match kind {
            Node::File => {}
            Node::Symlink => {
                return fail(
                    Fault::Symlink,
                    format!("`{name}` is a symbolic link (a backup holds only regular files)"),
                );
            }
            Node::EmptyDir => {
                return fail(
                    Fault::EmptyDir,
                    format!("unexpected empty directory `{name}`"),
                );
            }
            Node::Other => {
                return fail(Fault::NotRegular, format!("`{name}` is not a regular file"));
            }
        }
        if name != FILE && expected.binary_search(&name.as_str()).is_err() {
            return fail(
                Fault::Added,
                format!("unexpected file `{name}` (not in {FILE})"),
            );
        }
    }
    for f in &m.files {
        if f.name.contains("..") || f.name.starts_with('/') {
            return fail(
                Fault::Outside,
                format!("{FILE} names `{}`, outside the backup", f.name),
            );
        }
        let path = dir.join(&f.name);
        // Not followed: every path was checked above to be a regular file, not a link.
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return fail(Fault::Missing, format!("`{}` is missing", f.name));
            }
            Err(e) => return fail(Fault::Unreadable, format!("cannot read `{}`: {e}", f.name)),
        };
        if !meta.is_file() {
            return fail(
                Fault::NotRegular,
                format!("`{}` is not a regular file", f.name),
            );
        }
        if meta.len() != f.size {
            return fail(
                Fault::Resized,
                format!(
                    "`{}` is {} bytes, the manifest recorded {}",
                    f.name,
                    meta.len(),
                    f.size
                ),
            );
        }
        if depth == Depth::Checksums {
            let sum = match sha256_file(&path) {
                Ok(sum) => sum,
                Err(e) => return fail(Fault::Unreadable, format!("cannot read `{}`: {e}", f.name)),
            };
            if sum != f.sha256 {
                return fail(
                    Fault::Changed,
                    format!(
                        "`{}` has sha256 {sum}, the manifest recorded {}",
                        f.name, f.sha256
                    ),
                );
            }
        }
    }
    Ok(())
}

/// What a path inside a backup directory is (symbolic links are never followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    File,
    Symlink,
    EmptyDir,
    Other,
}

/// Every entry under `dir` that is not a non-empty directory, relative to `root`, sorted.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Node)>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    let rel = |path: &Path| {
        let rel = path.strip_prefix(root).unwrap_or(path);
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    };
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let before = out.len();
            walk(root, &path, out)?;
            if out.len() == before {
                out.push((rel(&path), Node::EmptyDir));
            }
        } else if kind.is_symlink() {
            out.push((rel(&path), Node::Symlink));
        } else if kind.is_file() {
            out.push((rel(&path), Node::File));
        } else {
            out.push((rel(&path), Node::Other));
        }
    }
    Ok(())
}

/// Every regular file under `dir`, as `/`-separated names relative to `root`, sorted.
pub fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            list_files(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            out.push(
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
            );
        }
    }
    Ok(())
}

/// Entries for every file in `dir` (our manifest and the `.tmp-` marker of a backup being
/// written excluded), hashed.
pub fn hash_dir(dir: &Path) -> Result<Vec<FileEntry>> {
    let mut names = Vec::new();
    list_files(dir, dir, &mut names).map_err(|e| Error::io("cannot list", dir, e))?;
    names.sort();
    names
        .into_iter()
        .filter(|n| n != FILE && n != super::scan::PARTIAL_MARKER)
        .map(|name| {
            let path = dir.join(&name);
            let size = std::fs::metadata(&path)
                .map_err(|e| Error::io("cannot read", &path, e))?
                .len();
            let sha256 = sha256_file(&path).map_err(|e| Error::io("cannot read", &path, e))?;
            Ok(FileEntry { name, size, sha256 })
        })
        .collect()
}
