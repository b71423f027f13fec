//! The one writer of generated files: atomic (temp file + rename), writes only what changed,
//! and keeps a ledger of the sha256 of every file it wrote so a hand edit is detected and kept
//! rather than overwritten.
//!
//! Crash safety (a SIGKILL at any moment leaves a state the next `generate` converges from,
//! without `--force` and without a false "edited by hand"):
//!
//! 1. [`prepare`] reads everything and decides every change; it writes nothing, so callers can
//!    prepare every stack before committing any.
//! 2. [`Prepared::commit`] first records a journal, `<dir>/.promo-infra-tmp/journal.json`, of the
//!    sha256 of every file it is about to write, merged with any journal a killed run left;
//!    then stages every new file under `<dir>/.promo-infra-tmp/` (fsynced), renames them into
//!    place, writes the ledger the same way, and finally removes the temp directory with the
//!    journal in it.
//! 3. While a journal exists, a file whose hash is in the ledger *or* in the journal is
//!    promo-infra's own (half-written runs never look like hand edits). Temp files of a killed
//!    run (`.promo-infra-tmp*`, git-ignored) are removed by the next run.
//!
//! Owns: every write under `generated/` (here: deciding and committing; `fs`: the atomic
//! file operations; `check`: `generate --check`'s comparison). May not: compile or render
//! anything, read the environment, print (progress goes to `tracing`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::desired::{GeneratedFile, sha256_hex};
use crate::error::{Error, Result};

mod check;
mod fs;

pub use check::{Stale, check};
use fs::{
    clean_leftovers, has_leftovers, put_file, read_entry, read_optional, remove_empty_parents,
    sync_dir,
};
pub use fs::{sha256_file, write_atomic};

/// Ledger file name inside `generated/<stack>/` (committed with the generated files).
pub const LEDGER: &str = ".promo-infra-ledger.json";

/// Prefix of every temporary file or directory promo-infra creates (git-ignored, cleaned).
pub const TMP_PREFIX: &str = ".promo-infra-tmp";

/// Journal of an unfinished write, inside the temp directory of a generated directory.
pub(super) const JOURNAL: &str = "journal.json";

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
    ///
    /// The ledger is committed, so a change under review can edit it: every name in it must be
    /// one promo-infra could have generated ([`is_generated_name`]), or nothing is read —
    /// `generate` removes the ledger's files that are no longer generated, and `--check` prints
    /// them, so `../../x` or `.env` there would delete or show a file outside promo-infra's own.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(LEDGER);
        let corrupt = |what: String| {
            Error::State {
            message: format!("the ledger `{}` {what}", path.display()),
            help: Some(
                "restore it from git (`git checkout -- <path>`), or delete it and run `promo-infra generate --force`"
                    .into(),
            ),
        }
        };
        let ledger: Self = match fs_err::read_to_string(&path) {
            Ok(text) => {
                serde_json::from_str(&text).map_err(|e| corrupt(format!("is corrupt: {e}")))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(Error::io("cannot read", path, e)),
        };
        if let Some(name) = ledger.files.keys().find(|n| !is_generated_name(n)) {
            return Err(corrupt(format!(
                "names `{}`, which is no file promo-infra generates (an absolute path, `..`, a hidden file such as `.env`): it was edited by hand; nothing was written",
                name.escape_debug()
            )));
        }
        Ok(ledger)
    }
}

/// Whether `name` can be a generated file's name under `generated/<stack>/`: relative, made of
/// plain components, none hidden (`.env`, the ledger, the lock and promo-infra's other state
/// files all start with `.`), no control character.
pub(crate) fn is_generated_name(name: &str) -> bool {
    !name.is_empty()
        && !name.chars().any(char::is_control)
        && name
            .split('/')
            .all(|c| !c.is_empty() && !c.starts_with('.') && !c.contains('\\'))
}

/// The hashes an unfinished write was putting in place: path → every hash it may have left.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Journal {
    files: BTreeMap<String, BTreeSet<String>>,
}

impl Journal {
    pub(super) fn path(dir: &Path) -> PathBuf {
        dir.join(TMP_PREFIX).join(JOURNAL)
    }

    /// The journal a killed run left (empty when none). A journal that cannot be parsed was cut
    /// short before its rename, which cannot happen (it is renamed into place whole); it is
    /// reported rather than guessed at.
    fn read(dir: &Path) -> Result<Self> {
        let path = Self::path(dir);
        let corrupt = |what: String| Error::State {
            message: format!(
                "the journal of an interrupted generate `{}` {what}",
                path.display()
            ),
            help: Some(format!(
                "delete {} and run `promo-infra generate` (files it reports as edited by hand can be overwritten with --force)",
                dir.join(TMP_PREFIX).display()
            )),
        };
        let journal: Self = match read_optional(&path)? {
            None => return Ok(Self::default()),
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("is corrupt: {e}")))?
            }
        };
        // Like the ledger's: a name there may be removed by the next run.
        if let Some(name) = journal.files.keys().find(|n| !is_generated_name(n)) {
            return Err(corrupt(format!(
                "names `{}`, which is no file promo-infra generates",
                name.escape_debug()
            )));
        }
        Ok(journal)
    }
}

/// The full set of files for a directory: the compiled files plus the ledger describing them.
pub(super) fn with_ledger(
    files: &BTreeMap<String, GeneratedFile>,
) -> BTreeMap<String, GeneratedFile> {
    let mut all = files.clone();
    all.insert(LEDGER.to_string(), Ledger::of(files).to_file());
    all
}

/// Outcome of a write.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
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

/// Every change to one directory, decided and not yet made (see [`prepare`]).
#[derive(Debug)]
pub struct Prepared {
    dir: PathBuf,
    /// Files to put in place (created or updated), with their bytes.
    put: Vec<(String, Vec<u8>)>,
    /// Files to remove.
    remove: Vec<String>,
    /// The ledger's new bytes, when they differ from the ledger on disk.
    ledger: Option<Vec<u8>>,
    /// The journal of earlier interrupted runs merged with this run's hashes.
    journal: Journal,
    /// Whether an earlier run's journal or temp files are there to clean up.
    leftovers: bool,
    /// Each file to put or remove, with the sha256 of what was on disk when this was decided
    /// (`None`: absent): checked again before anything is written.
    seen: Vec<(String, Option<String>)>,
    report: WriteReport,
}

/// Write `files` (and the ledger) into `dir`. A file whose content on disk differs from what the ledger says
/// promo-infra wrote is kept unless `force`.
pub fn write(
    dir: &Path,
    files: &BTreeMap<String, GeneratedFile>,
    force: bool,
) -> Result<WriteReport> {
    prepare(dir, files, force)?.commit()
}

/// Decide what writing `files` into `dir` changes, reading only. Fails (before anything is
/// written) on an unreadable or corrupt ledger or journal.
pub fn prepare(
    dir: &Path,
    files: &BTreeMap<String, GeneratedFile>,
    force: bool,
) -> Result<Prepared> {
    if let Some(name) = files.keys().find(|n| !is_generated_name(n)) {
        return Err(Error::internal(format!(
            "compile produced `{}`, which the ledger could not name",
            name.escape_debug()
        )));
    }
    let old = Ledger::read(dir)?;
    let previous = Journal::read(dir)?;
    let mut journal = previous.clone();
    let ours = |rel: &str, bytes: &[u8]| {
        let hash = sha256_hex(bytes);
        old.files.get(rel) == Some(&hash)
            || previous.files.get(rel).is_some_and(|h| h.contains(&hash))
    };
    let mut report = WriteReport::default();
    let mut put = Vec::new();
    let mut remove = Vec::new();
    let mut seen = Vec::new();
    // Files we keep are recorded with their old hash, so they stay reported until resolved.
    let mut recorded = Ledger::of(files);
    for (rel, file) in files {
        let path = dir.join(rel);
        match read_entry(dir, rel)? {
            Some(bytes) if bytes == file.bytes() => {
                tracing::trace!("unchanged {}", path.display());
                report.unchanged += 1;
            }
            // A file we never recorded counts as edited (it is someone else's).
            Some(bytes) if !force && !ours(rel, &bytes) => {
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
            on_disk => {
                tracing::debug!("write {}", path.display());
                if on_disk.is_some() {
                    report.written.push(rel.clone());
                } else {
                    report.created.push(rel.clone());
                }
                journal
                    .files
                    .entry(rel.clone())
                    .or_default()
                    .insert(file.sha256());
                seen.push((rel.clone(), on_disk.as_deref().map(sha256_hex)));
                put.push((rel.clone(), file.bytes().to_vec()));
            }
        }
    }
    for (rel, hash) in &old.files {
        if files.contains_key(rel) {
            continue;
        }
        match read_entry(dir, rel)? {
            None => {}
            Some(bytes) if !force && !ours(rel, &bytes) => {
                report.kept.push(rel.clone());
                recorded.files.insert(rel.clone(), hash.clone());
            }
            Some(bytes) => {
                report.removed.push(rel.clone());
                seen.push((rel.clone(), Some(sha256_hex(&bytes))));
                remove.push(rel.clone());
            }
        }
    }
    // Files an interrupted run created that are no longer generated: removed when they are
    // still exactly what it wrote; anything else there is not promo-infra's and is left alone.
    for rel in previous.files.keys() {
        if files.contains_key(rel) || old.files.contains_key(rel) {
            continue;
        }
        if let Some(bytes) = read_entry(dir, rel)?
            && ours(rel, &bytes)
        {
            report.removed.push(rel.clone());
            seen.push((rel.clone(), Some(sha256_hex(&bytes))));
            remove.push(rel.clone());
        }
    }
    report.removed.sort();
    report.kept.sort();
    let ledger = recorded.to_file();
    let ledger =
        (read_entry(dir, LEDGER)?.as_deref() != Some(ledger.bytes())).then(|| ledger.into_bytes());
    let leftovers = !previous.files.is_empty() || has_leftovers(dir);
    Ok(Prepared {
        dir: dir.to_path_buf(),
        put,
        remove,
        ledger,
        journal,
        leftovers,
        seen,
        report,
    })
}

/// A budget of filesystem steps: unlimited in use; tests stop a commit after each step in turn
/// to check that every intermediate state converges.
pub(super) struct Steps(Option<usize>);

impl Steps {
    pub(super) fn tick(&mut self) -> Result<()> {
        match &mut self.0 {
            Some(0) => Err(Error::internal("interrupted (test)")),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl Prepared {
    /// What [`Prepared::commit`] will report.
    pub fn report(&self) -> &WriteReport {
        &self.report
    }

    /// Make the changes (see the module documentation for the order and why).
    pub fn commit(self) -> Result<WriteReport> {
        self.commit_steps(&mut Steps(None))
    }

    fn commit_steps(self, steps: &mut Steps) -> Result<WriteReport> {
        let dir = &self.dir;
        let changes = !self.put.is_empty() || !self.remove.is_empty() || self.ledger.is_some();
        if !changes && !self.leftovers {
            return Ok(self.report);
        }
        // `apply` decides before its question and writes after the answer: a file edited
        // meanwhile (the plan's note says to add a line to `.env`; an editor saving a generated
        // file) is refused, never overwritten with what was decided before the edit.
        let moved: Vec<String> = self
            .seen
            .iter()
            .filter(|(rel, then)| {
                read_entry(dir, rel)
                    .map(|now| now.as_deref().map(sha256_hex) != *then)
                    .unwrap_or(true)
            })
            .map(|(rel, _)| dir.join(rel).display().to_string())
            .collect();
        if !moved.is_empty() {
            return Err(Error::State {
                message: format!(
                    "changed since the plan was made (while it waited for an answer): {}; nothing was written or changed",
                    moved.join(", ")
                ),
                help: Some(
                    "run the command again: the plan then reads the file as it is now (a hand edit of a generated file is kept and named)"
                        .into(),
                ),
            });
        }
        let tmp = dir.join(TMP_PREFIX);
        if changes {
            fs_err::create_dir_all(&tmp)
                .map_err(|e| Error::io("cannot create directory", &tmp, e))?;
            steps.tick()?;
            // 1. The journal, whole (temp + rename), before any file changes.
            let mut text = serde_json::to_vec_pretty(&self.journal).unwrap_or_default();
            text.push(b'\n');
            put_file(&tmp, &Journal::path(dir), &text, "journal.new", steps)?;
        }
        // 2. Temp files a killed run left.
        clean_leftovers(dir, false)?;
        steps.tick()?;
        // 3. Every new file, staged then renamed into place.
        for (i, (rel, bytes)) in self.put.iter().enumerate() {
            put_file(&tmp, &dir.join(rel), bytes, &i.to_string(), steps)?;
        }
        for rel in &self.remove {
            let path = dir.join(rel);
            match fs_err::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("cannot remove", &path, e)),
            }
            remove_empty_parents(dir, &path);
            steps.tick()?;
        }
        // 4. The ledger, then the journal goes (with the temp directory).
        if let Some(bytes) = &self.ledger {
            put_file(&tmp, &dir.join(LEDGER), bytes, "ledger", steps)?;
        }
        sync_dir(dir);
        clean_leftovers(dir, true)?;
        Ok(self.report)
    }
}

#[cfg(test)]
mod tests;
