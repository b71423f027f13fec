//! The file operations of the writer: atomic writes (temp file, fsync, rename), the staging
//! of a commit, and the clean-up of what a killed run left.
//!
//! Owns: how bytes reach the disk. May not: decide what to write (the parent module), read the
//! environment, print.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Journal, Steps, TMP_PREFIX};
use crate::error::{Error, Result};

/// sha256 of a file, lowercase hex, streamed (backups and binaries can be large).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Write `bytes` to `staging/name`, fsync, rename it to `path`: two steps.
pub(super) fn put_file(
    staging: &Path,
    path: &Path,
    bytes: &[u8],
    name: &str,
    steps: &mut Steps,
) -> Result<()> {
    let staged = staging.join(name);
    {
        let mut f = fs_err::File::create(&staged)
            .map_err(|e| Error::io("cannot create a temporary file", &staged, e))?;
        set_mode(f.file(), &staged, None)?;
        f.write_all(bytes)
            .map_err(|e| Error::io("cannot write", &staged, e))?;
        f.file()
            .sync_all()
            .map_err(|e| Error::io("cannot write", &staged, e))?;
    }
    steps.tick()?;
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)
            .map_err(|e| Error::io("cannot create directory", parent, e))?;
    }
    fs_err::rename(&staged, path).map_err(|e| Error::io("cannot write", path, e))?;
    steps.tick()
}

pub(super) fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Temp files in `dir`: the temp directory and `.promo-infra-tmp-*` files of [`write_atomic`].
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(TMP_PREFIX))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

pub(super) fn has_leftovers(dir: &Path) -> bool {
    !leftovers(dir).is_empty()
}

/// Remove what a killed run left in `dir`; the journal too when `journal`.
pub(super) fn clean_leftovers(dir: &Path, journal: bool) -> Result<()> {
    let tmp = dir.join(TMP_PREFIX);
    let keep = Journal::path(dir);
    for path in leftovers(dir) {
        if path == tmp && path.is_dir() {
            for entry in fs_err::read_dir(&tmp).map_err(|e| Error::io("cannot list", &tmp, e))? {
                let p = entry.map_err(|e| Error::io("cannot list", &tmp, e))?.path();
                if journal || p != keep {
                    remove_any(&p)?;
                }
            }
            if journal {
                remove_any(&tmp)?;
            }
        } else {
            remove_any(&path)?;
        }
    }
    Ok(())
}

fn remove_any(path: &Path) -> Result<()> {
    let r = if path.is_dir() && !path.is_symlink() {
        fs_err::remove_dir_all(path)
    } else {
        fs_err::remove_file(path)
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("cannot remove the temporary file", path, e)),
    }
}

/// `dir/rel` (`None` when absent), after refusing a symbolic link at `dir` or anywhere on the
/// way to the file, the file included: what is read here is then written, removed or shown as
/// a diff, so a link (committed, or made by hand) would send those through to another place —
/// `/etc/cron.d`, a secret file printed by `generate --check`.
pub(super) fn read_entry(dir: &Path, rel: &str) -> Result<Option<Vec<u8>>> {
    let mut at = dir.to_path_buf();
    let mut parts = rel.split('/');
    loop {
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(Error::State {
                    message: format!(
                        "`{}` is a symbolic link: promo-infra writes generated files only into real directories and files, never through a link; nothing was written",
                        at.display()
                    ),
                    help: Some(
                        "remove the link (`rm` the link itself) and run the command again".into(),
                    ),
                });
            }
            Ok(meta) if is_special(&meta) => {
                return Err(Error::State {
                    message: format!(
                        "`{}` is not a regular file (a FIFO, a socket or a device): promo-infra reads and writes generated files only as regular files; nothing was written",
                        at.display()
                    ),
                    help: Some("remove it and run the command again".into()),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("cannot read", &at, e)),
        }
        match parts.next() {
            Some(part) => at.push(part),
            None => return read_optional(&at),
        }
    }
}

/// A FIFO, socket or device: reading one would block (a FIFO without a writer) or read
/// something that is not a file's content.
fn is_special(meta: &std::fs::Metadata) -> bool {
    !meta.is_file() && !meta.is_dir() && !meta.file_type().is_symlink()
}

pub(super) fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs_err::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("cannot read", path, e)),
    }
}

pub(super) fn remove_empty_parents(root: &Path, path: &Path) {
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
    // Named so that .gitignore covers it and the next `generate` removes it after a crash.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!("{TMP_PREFIX}-"))
        .tempfile_in(dir)
        .map_err(|e| Error::io("cannot create a temporary file in", dir, e))?;
    set_mode(tmp.as_file(), tmp.path(), mode)?;
    tmp.write_all(bytes)
        .map_err(|e| Error::io("cannot write", path, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("cannot write", path, e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("cannot write", path, e.error))?;
    Ok(())
}

/// Unix permissions `mode` (0644 when `None`) on an open file.
fn set_mode(file: &std::fs::File, path: &Path, mode: Option<u32>) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode.unwrap_or(0o644)))
            .map_err(|e| Error::io("cannot set permissions on", path, e))?;
    }
    #[cfg(not(unix))]
    let _ = (file, path, mode);
    Ok(())
}
