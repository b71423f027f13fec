//! The one writer of generated files: atomic (temp file + rename), writes only what changed,
//! and keeps a ledger of the sha256 of every file it wrote so a hand edit is detected and kept
//! rather than overwritten.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::desired::{GeneratedFile, sha256_hex};
use crate::error::{Error, Result};

/// Ledger file name inside `generated/<stack>/` (committed with the generated files).
pub const LEDGER: &str = ".promo-infra-ledger.json";

/// What promo-infra last wrote: path → sha256.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    /// Comment for people who open the file.
    #[serde(rename = "//")]
    pub note: String,
    /// Files and their sha256.
    pub files: BTreeMap<String, String>,
}

impl Ledger {
    fn of(files: &BTreeMap<String, GeneratedFile>) -> Self {
        Self {
            note: "sha256 of each file promo-infra generated here; a file whose hash differs was edited by hand".into(),
            files: files.iter().map(|(p, f)| (p.clone(), f.sha256())).collect(),
        }
    }

    fn to_file(&self) -> GeneratedFile {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        GeneratedFile::text(text)
    }

    /// Read the ledger of a directory (empty when absent or unreadable as a ledger).
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(LEDGER);
        match fs_err::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| Error::Usage {
                message: format!("the ledger `{}` is corrupt: {e}", path.display()),
                help: Some("restore it from git (`git checkout -- <path>`), or delete it and run `promo-infra generate --force`".into()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(Error::io("cannot read", path, e)),
        }
    }
}

/// The full set of files for a directory: the compiled files plus the ledger describing them.
fn with_ledger(files: &BTreeMap<String, GeneratedFile>) -> BTreeMap<String, GeneratedFile> {
    let mut all = files.clone();
    all.insert(LEDGER.to_string(), Ledger::of(files).to_file());
    all
}

/// Outcome of a write.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Files created.
    pub created: Vec<String>,
    /// Files updated.
    pub written: Vec<String>,
    /// Files already up to date.
    pub unchanged: usize,
    /// Files no longer generated that were removed.
    pub removed: Vec<String>,
    /// Files edited by hand and kept (not overwritten, not removed).
    pub kept: Vec<String>,
}

/// Write `files` (and the ledger) into `dir`. A file whose content on disk differs from what the ledger says
/// promo-infra wrote is kept unless `force`.
pub fn write(
    dir: &Path,
    files: &BTreeMap<String, GeneratedFile>,
    force: bool,
) -> Result<WriteReport> {
    let old = Ledger::read(dir)?;
    let mut report = WriteReport::default();
    // Files we keep are recorded with their old hash, so they stay reported until resolved.
    let mut recorded = Ledger::of(files);
    for (rel, file) in files {
        let path = dir.join(rel);
        let on_disk = read_optional(&path)?;
        match on_disk {
            Some(bytes) if bytes == file.bytes => {
                tracing::trace!("unchanged {}", path.display());
                report.unchanged += 1;
            }
            Some(bytes) if !force && is_hand_edited(&old, rel, &bytes) => {
                tracing::debug!(
                    "{} differs from what promo-infra last wrote: kept",
                    path.display()
                );
                report.kept.push(rel.clone());
                match old.files.get(rel) {
                    Some(h) => recorded.files.insert(rel.clone(), h.clone()),
                    None => recorded.files.remove(rel),
                };
            }
            Some(_) => {
                tracing::debug!("update {}", path.display());
                write_atomic(&path, &file.bytes, None)?;
                report.written.push(rel.clone());
            }
            None => {
                tracing::debug!("create {}", path.display());
                write_atomic(&path, &file.bytes, None)?;
                report.created.push(rel.clone());
            }
        }
    }
    for (rel, hash) in &old.files {
        if files.contains_key(rel) {
            continue;
        }
        let path = dir.join(rel);
        match read_optional(&path)? {
            None => {}
            Some(bytes) if !force && &sha256_hex(&bytes) != hash => {
                report.kept.push(rel.clone());
                recorded.files.insert(rel.clone(), hash.clone());
            }
            Some(_) => {
                fs_err::remove_file(&path).map_err(|e| Error::io("cannot remove", &path, e))?;
                remove_empty_parents(dir, &path);
                report.removed.push(rel.clone());
            }
        }
    }
    let ledger = recorded.to_file();
    if read_optional(&dir.join(LEDGER))?.as_deref() != Some(&ledger.bytes[..]) {
        write_atomic(&dir.join(LEDGER), &ledger.bytes, None)?;
    }
    report.kept.sort();
    Ok(report)
}

/// A file on disk that differs from what we last wrote. A file we never recorded counts as
/// edited (it is someone else's), unless it has exactly the desired content (handled earlier).
fn is_hand_edited(ledger: &Ledger, rel: &str, bytes: &[u8]) -> bool {
    ledger
        .files
        .get(rel)
        .is_none_or(|h| *h != sha256_hex(bytes))
}

/// One stale file found by [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// Path relative to the checked directory.
    pub path: String,
    /// Unified diff from what is on disk to what would be generated.
    pub diff: String,
}

/// Compare `files` with `dir` without writing. Returns every file that differs, is missing,
/// or would be removed, each with a unified diff.
pub fn check(
    dir: &Path,
    files: &BTreeMap<String, GeneratedFile>,
    display_dir: &str,
) -> Result<Vec<Stale>> {
    let old = Ledger::read(dir)?;
    let files = &with_ledger(files);
    let mut stale = Vec::new();
    for (rel, file) in files {
        let current = read_optional(&dir.join(rel))?;
        if current.as_deref() == Some(&file.bytes[..]) {
            continue;
        }
        let before = current
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        stale.push(Stale {
            path: rel.clone(),
            diff: unified_diff(
                &before,
                &String::from_utf8_lossy(&file.bytes),
                display_dir,
                rel,
            ),
        });
    }
    for rel in old.files.keys() {
        if files.contains_key(rel) {
            continue;
        }
        if let Some(bytes) = read_optional(&dir.join(rel))? {
            stale.push(Stale {
                path: rel.clone(),
                diff: unified_diff(&String::from_utf8_lossy(&bytes), "", display_dir, rel),
            });
        }
    }
    Ok(stale)
}

fn unified_diff(before: &str, after: &str, display_dir: &str, rel: &str) -> String {
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("a/{display_dir}/{rel}"),
            &format!("b/{display_dir}/{rel}"),
        )
        .to_string()
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs_err::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("cannot read", path, e)),
    }
}

fn remove_empty_parents(root: &Path, path: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || fs_err::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Write a file atomically: a temporary file in the same directory, fsync, then rename.
/// `mode` sets Unix permissions before the rename (so a secret is never briefly readable).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    fs_err::create_dir_all(dir).map_err(|e| Error::io("cannot create directory", dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".promo-infra-")
        .tempfile_in(dir)
        .map_err(|e| Error::io("cannot create a temporary file in", dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let perms = std::fs::Permissions::from_mode(mode.unwrap_or(0o644));
        tmp.as_file()
            .set_permissions(perms)
            .map_err(|e| Error::io("cannot set permissions on", tmp.path(), e))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    tmp.write_all(bytes)
        .map_err(|e| Error::io("cannot write", path, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("cannot write", path, e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("cannot write", path, e.error))?;
    Ok(())
}
