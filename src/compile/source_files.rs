//! Reading `dashboards-src/`: its files in a fixed (sorted) order, with their texts.
//!
//! Owns: listing and reading the template sources. May not: parse or render them, print.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The paths in `dir`, sorted (deterministic override order).
pub(super) fn sorted_paths(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs_err::read_dir(dir).map_err(|e| Error::io("cannot list", dir, e))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    Ok(paths)
}

/// [`sorted_paths`], or nothing when `dir` does not exist.
pub(super) fn sorted_paths_if_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.is_dir() {
        sorted_paths(dir)
    } else {
        Ok(Vec::new())
    }
}

/// [`read_sorted`], or nothing when `dir` does not exist.
pub(super) fn read_sorted_if_dir(
    dir: &Path,
    suffix: &str,
) -> Result<Vec<(String, String, String)>> {
    if dir.is_dir() {
        read_sorted(dir, suffix)
    } else {
        Ok(Vec::new())
    }
}

/// `(file name, name without suffix, text)` of each `dir/*<suffix>` file, sorted by path.
pub(super) fn read_sorted(dir: &Path, suffix: &str) -> Result<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    for path in sorted_paths(dir)? {
        let Some(file) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = file.strip_suffix(suffix) else {
            continue;
        };
        let text = fs_err::read_to_string(&path).map_err(|e| Error::io("cannot read", &path, e))?;
        out.push((file.to_string(), stem.to_string(), text));
    }
    Ok(out)
}
