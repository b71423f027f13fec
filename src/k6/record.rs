//! The run record: a small JSON pidfile `k6 run` writes into the run directory, so a second
//! `k6 run` in the same directory is refused while the first one's k6 lives (one tracked run
//! per run directory). It carries the k6 process's start time (from `/proc/<pid>/stat`) so a
//! recycled pid is not mistaken for the run, and the pid namespace it was written from.
//!
//! The control API does NOT read it: stops go through the API's registry and the wrapper's
//! poll ([`crate::control`], [`super::coordinator`]), never through a pid.
//!
//! Owns: the record file, the liveness check of its pid.
//! May not: signal a process, print, read the environment.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// File name of the record in the run directory.
pub const RECORD_FILE: &str = "k6-run.json";
/// The test currently running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Test id.
    pub testid: String,
    /// Promotion name.
    pub promo: String,
    /// Promotion type.
    pub promo_type: String,
    /// Stack.
    pub stack: String,
    /// pid of the k6 process.
    pub pid: i32,
    /// Start of the test, RFC 3339 UTC.
    pub started_at: String,
    /// Start time of the k6 process in clock ticks after boot (`/proc/<pid>/stat` field 22).
    pub proc_start_ticks: u64,
    /// `/proc/self/ns/pid` of the writer (`pid:[4026531836]`).
    pub pid_ns: Option<String>,
    /// pid of the `promo-infra k6 run` wrapper.
    pub wrapper_pid: i32,
    /// Where the summary is exported.
    pub summary: PathBuf,
}

/// Write the record atomically (mode 0600).
pub fn write(dir: &Path, rec: &RunRecord) -> Result<()> {
    write_json(&dir.join(RECORD_FILE), rec)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    crate::writer::write_atomic(path, text.as_bytes(), Some(0o600))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::k6(format!(
                "the run record `{}` is unreadable: {e}",
                path.display()
            ))
            .with_help("it is written by `promo-infra k6 run`; delete it if no test is running")
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("cannot read", path, e)),
    }
}

/// Read the record, if any.
pub fn read(dir: &Path) -> Result<Option<RunRecord>> {
    read_json(&dir.join(RECORD_FILE))
}

/// Remove the record if it is about `testid`.
pub fn clear(dir: &Path, testid: &str) {
    if read(dir).ok().flatten().is_some_and(|r| r.testid == testid) {
        let _ = std::fs::remove_file(dir.join(RECORD_FILE));
    }
}

/// State and start time of a process, from `/proc/<pid>/stat` (the native target's parser).
pub use crate::targets::native::proc_stat;

/// This process's pid namespace.
pub fn own_pid_ns() -> Option<String> {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// What the recorded k6 process is now, seen from this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Running (not a zombie), same start time.
    Running,
    /// Gone, a zombie waiting for its parent, or the pid now belongs to another process.
    Gone,
    /// Recorded from another pid namespace (e.g. the host, while we are in a container).
    OtherNamespace,
}

/// Check the recorded process.
pub fn liveness(rec: &RunRecord) -> Liveness {
    if let (Some(theirs), Some(ours)) = (&rec.pid_ns, own_pid_ns())
        && *theirs != ours
    {
        return Liveness::OtherNamespace;
    }
    match proc_stat(rec.pid) {
        Some((state, start)) if start == rec.proc_start_ticks && state != 'Z' && state != 'X' => {
            Liveness::Running
        }
        _ => Liveness::Gone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_running_and_a_wrong_start_time_is_not() {
        let pid = std::process::id() as i32;
        let (state, start) = proc_stat(pid).unwrap();
        assert_ne!(state, 'Z');
        let mut rec = RunRecord {
            testid: "t".into(),
            promo: "p".into(),
            promo_type: "x".into(),
            stack: "s".into(),
            pid,
            started_at: String::new(),
            proc_start_ticks: start,
            pid_ns: own_pid_ns(),
            wrapper_pid: pid,
            summary: PathBuf::new(),
        };
        assert_eq!(liveness(&rec), Liveness::Running);
        rec.proc_start_ticks += 1;
        assert_eq!(liveness(&rec), Liveness::Gone, "a recycled pid is not ours");
        rec.proc_start_ticks -= 1;
        rec.pid_ns = Some("pid:[1]".into());
        assert_eq!(liveness(&rec), Liveness::OtherNamespace);
    }
}
