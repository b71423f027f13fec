//! The record `k6 run` keeps of every run: `<run dir>/<testid>/outcome.json` (mode 0600), next
//! to k6's summary. Versioned with `format_version`; records written before it existed (no
//! `format_version`, no environment) are still read.
//!
//! Owns: the record's format, writing it, and finding every record of a run directory.
//! May not: print, read the environment, query InfluxDB.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::k6::grade::Grade;
use crate::k6::run::Ending;

/// File name of a run's record, in `<run dir>/<testid>/`.
pub const RECORD_FILE: &str = "outcome.json";

/// The version of the record's format this build writes.
pub const FORMAT_VERSION: &str = "1";

/// What is known of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFile {
    /// Format of this record (`1`); empty for records written before it was versioned.
    #[serde(default)]
    pub format_version: String,
    /// Test id.
    pub testid: String,
    /// Stack the run wrote into.
    #[serde(default)]
    pub stack: String,
    /// Promotion name.
    pub promo: String,
    /// Promotion type.
    pub promo_type: String,
    /// The manifest's environment (`preprod`, `prod`).
    #[serde(default)]
    pub environment: String,
    /// Load intensity given to the script, if any.
    #[serde(default)]
    pub intensity: Option<String>,
    /// Test id of the baseline run this run is compared with (`k6 run --baseline`).
    #[serde(default)]
    pub baseline: Option<String>,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// End, RFC 3339 UTC; none while no outcome is recorded.
    #[serde(default)]
    pub ended_at: Option<String>,
    /// How it ended; none (written `"unknown"`) while no outcome is recorded: `k6 run` writes
    /// the record so as k6 starts and completes it at the end, so a run whose wrapper died
    /// (killed) is still listed, as unknown.
    #[serde(with = "ending_or_unknown")]
    pub ending: Option<Ending>,
    /// Who stopped it, when it was stopped by hand (`STOP page, alice`, `API`, `Ctrl+C`).
    pub stopped_by: Option<String>,
    /// k6's exit code; none while no outcome is recorded.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Grade, score and the numbers they came from, when k6's summary was readable.
    pub grade: Option<Grade>,
    /// k6's summary.
    pub summary: PathBuf,
    /// The marketing dashboard showing this run (and its baseline).
    pub dashboard_url: String,
}

/// `ending` as the record writes it: the ending's name, or `unknown` when none was recorded.
mod ending_or_unknown {
    use serde::de::IntoDeserializer;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::k6::run::Ending;

    pub(super) const UNKNOWN: &str = "unknown";

    pub(super) fn serialize<S: Serializer>(e: &Option<Ending>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(e.map_or(UNKNOWN, Ending::as_str))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Ending>, D::Error> {
        let text = String::deserialize(d)?;
        if text == UNKNOWN {
            return Ok(None);
        }
        Ending::deserialize(text.as_str().into_deserializer()).map(Some)
    }
}

/// What `runs` says of a run's ending: its name, `running` for the run the run directory
/// tracks while its k6 lives, `unknown` for a record no outcome completed.
pub fn ending_name(rec: &RunFile, running: Option<&str>) -> &'static str {
    match rec.ending {
        Some(e) => e.as_str(),
        None if running == Some(rec.testid.as_str()) => "running",
        None => ending_or_unknown::UNKNOWN,
    }
}

/// The test id of the run `run_dir` tracks (`k6 run`'s lock, [`crate::k6::record`]) while its
/// k6 lives (or lives in another pid namespace, where it cannot be checked).
pub fn running(run_dir: &Path) -> Option<String> {
    let rec = crate::k6::record::read(run_dir).ok().flatten()?;
    (crate::k6::record::liveness(&rec) != crate::k6::record::Liveness::Gone).then_some(rec.testid)
}

/// Write `rec` to `dir/outcome.json` atomically (mode 0600).
pub fn write(dir: &Path, rec: &RunFile) -> Result<()> {
    let mut text = serde_json::to_string_pretty(rec)
        .map_err(|e| Error::internal(format!("cannot serialise the run record: {e}")))?;
    text.push('\n');
    crate::writer::write_atomic(&dir.join(RECORD_FILE), text.as_bytes(), Some(0o600))
}

/// Read one record.
pub fn read(path: &Path) -> Result<RunFile> {
    let text = fs_err::read_to_string(path).map_err(|e| Error::io("cannot read", path, e))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::k6(format!(
            "the run record `{}` is unreadable: {e}",
            path.display()
        ))
        .with_help("it is written by `promo-infra k6 run`; move it away if it was edited by hand")
    })
}

/// Every record under `run_dir` (`<run_dir>/*/outcome.json`), sorted by start then test id,
/// and the records that could not be read (each as its error). A missing directory has none.
pub fn list(run_dir: &Path) -> Result<(Vec<RunFile>, Vec<Error>)> {
    let entries = match std::fs::read_dir(run_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(Error::io("cannot list", run_dir, e)),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path().join(RECORD_FILE)))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let (mut runs, mut problems) = (Vec::new(), Vec::new());
    for p in paths {
        match read(&p) {
            Ok(r) => runs.push(r),
            Err(e) => problems.push(e),
        }
    }
    runs.sort_by(|a, b| {
        (start_key(&a.started_at), &a.testid).cmp(&(start_key(&b.started_at), &b.testid))
    });
    Ok((runs, problems))
}

/// Records sort by their start instant (whatever offset they were written with).
fn start_key(text: &str) -> Option<jiff::Timestamp> {
    text.parse().ok()
}

/// The record of `testid`, if `run_dir` has one.
pub fn find(run_dir: &Path, testid: &str) -> Result<Option<RunFile>> {
    let path = run_dir.join(testid).join(RECORD_FILE);
    if path.is_file() {
        read(&path).map(Some)
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(testid: &str, started_at: &str) -> RunFile {
        RunFile {
            format_version: FORMAT_VERSION.into(),
            testid: testid.into(),
            stack: "s".into(),
            promo: "p".into(),
            promo_type: "t".into(),
            environment: "preprod".into(),
            intensity: None,
            baseline: None,
            started_at: started_at.into(),
            ended_at: Some(started_at.into()),
            ending: Some(Ending::Completed),
            stopped_by: None,
            exit_code: Some(0),
            grade: None,
            summary: PathBuf::from("summary.json"),
            dashboard_url: String::new(),
        }
    }

    #[test]
    fn listed_by_start_instant_with_unreadable_ones_reported_and_old_ones_read() {
        let dir = tempfile::tempdir().unwrap();
        for (id, at) in [
            ("b", "2026-11-27T10:00:00Z"),
            ("a", "2026-11-27T11:30:00+02:00"), // 09:30 UTC: first
            ("c", "2026-11-27T10:00:00Z"),
        ] {
            let d = dir.path().join(id);
            std::fs::create_dir_all(&d).unwrap();
            write(&d, &rec(id, at)).unwrap();
        }
        // A record of the first format (no format_version, stack, environment).
        let old = dir.path().join("old");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(
            old.join(RECORD_FILE),
            r#"{"testid":"old","promo":"p","promo_type":"t","started_at":"2026-11-26T00:00:00Z","ended_at":"2026-11-26T00:01:00Z","ending":"stopped","stopped_by":"API","exit_code":105,"grade":null,"summary":"s.json","dashboard_url":"u"}"#,
        )
        .unwrap();
        // Written as k6 starts: no outcome yet, `"ending": "unknown"`, read back as none.
        let started = RunFile {
            ended_at: None,
            ending: None,
            exit_code: None,
            ..rec("d", "2026-11-27T12:00:00Z")
        };
        let d = dir.path().join("d");
        write(&d, &started).unwrap();
        let text = std::fs::read_to_string(d.join(RECORD_FILE)).unwrap();
        assert!(text.contains(r#""ending": "unknown","#), "{text}");
        assert_eq!(find(dir.path(), "d").unwrap(), Some(started.clone()));
        assert_eq!(ending_name(&started, None), "unknown");
        assert_eq!(ending_name(&started, Some("d")), "running");
        assert_eq!(ending_name(&rec("e", ""), Some("e")), "completed");
        let bad = dir.path().join("bad");
        std::fs::create_dir_all(&bad).unwrap();
        std::fs::write(bad.join(RECORD_FILE), "{").unwrap();
        let (runs, problems) = list(dir.path()).unwrap();
        let ids: Vec<_> = runs.iter().map(|r| r.testid.as_str()).collect();
        assert_eq!(ids, ["old", "a", "b", "c", "d"]);
        assert_eq!(runs[0].format_version, "");
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0]
                .to_string()
                .contains("bad/outcome.json` is unreadable")
        );
        assert_eq!(find(dir.path(), "a").unwrap().unwrap().testid, "a");
        assert!(find(dir.path(), "zz").unwrap().is_none());
        let (none, _) = list(&dir.path().join("missing")).unwrap();
        assert!(none.is_empty());
    }
}
