//! `generate --check`: what writing would change, as unified diffs, without writing.
//!
//! Owns: the comparison and the diffs. May not: write, read the environment, print.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Ledger, fs::read_entry, with_ledger};
use crate::desired::GeneratedFile;
use crate::error::Result;

/// One stale file found by [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// Path relative to the checked directory.
    pub path: String,
    /// Unified diff from what is on disk to what would be generated.
    pub diff: String,
    /// What is on disk is not what promo-infra last wrote (the ledger says otherwise): an edit
    /// by hand, which `generate` keeps (only `generate --force` overwrites it).
    pub hand_edited: bool,
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
        let current = read_entry(dir, rel)?;
        if current.as_deref() == Some(file.bytes()) {
            continue;
        }
        // The ledger itself records the others, not itself.
        let hand_edited = rel != super::LEDGER
            && current
                .as_deref()
                .is_some_and(|b| old.files.get(rel) != Some(&crate::desired::sha256_hex(b)));
        let before = current
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        stale.push(Stale {
            hand_edited,
            path: rel.clone(),
            diff: unified_diff(
                &before,
                &String::from_utf8_lossy(file.bytes()),
                display_dir,
                rel,
            ),
        });
    }
    for rel in old.files.keys() {
        if files.contains_key(rel) {
            continue;
        }
        if let Some(bytes) = read_entry(dir, rel)? {
            stale.push(Stale {
                hand_edited: old.files.get(rel) != Some(&crate::desired::sha256_hex(&bytes)),
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
