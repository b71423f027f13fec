//! One apply per stack at a time: an OS file lock (released by the kernel even on SIGKILL, so a
//! dead holder never blocks anyone) plus a note naming the holder for the error message.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Who holds a stack's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// When it started (RFC 3339, UTC).
    pub started: String,
    /// What it is doing (`apply`, `destroy`).
    pub command: String,
}

/// A held lock; released on drop (or by the kernel when the process dies).
#[derive(Debug)]
pub struct StackLock {
    file: File,
    path: PathBuf,
}

/// What acquiring found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Previous {
    /// Nobody held it.
    Free,
    /// A previous holder died without releasing it (its note remained); taken over.
    Stale(Holder),
}

impl StackLock {
    /// Take the lock of `stack` in `dir` (`dir/.promo-infra.lock`), or fail naming the holder.
    pub fn acquire(dir: &Path, stack: &str, command: &str) -> Result<(Self, Previous)> {
        fs_err::create_dir_all(dir).map_err(|e| Error::io("cannot create directory", dir, e))?;
        let path = dir.join(".promo-infra.lock");
        let mut file = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("cannot open lock", &path, e))?
            .into_parts()
            .0;
        let note = fs_err::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Holder>(&t).ok());
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let who = note.map_or_else(
                    || "another promo-infra process".to_string(),
                    |h| {
                        format!(
                            "`{}` (pid {} on {}, since {})",
                            h.command, h.pid, h.host, h.started
                        )
                    },
                );
                return Err(Error::usage(
                    format!("stack `{stack}` is locked by {who}"),
                    "wait for it to finish; the lock is released automatically when that process exits, even if killed",
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("cannot lock", &path, e)),
        }
        let previous = note.map_or(Previous::Free, Previous::Stale);
        let holder = Holder {
            pid: std::process::id(),
            host: hostname(),
            started: jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
                .to_string(),
            command: command.to_string(),
        };
        file.set_len(0)
            .map_err(|e| Error::io("cannot write lock", &path, e))?;
        file.write_all(
            serde_json::to_string(&holder)
                .unwrap_or_default()
                .as_bytes(),
        )
        .map_err(|e| Error::io("cannot write lock", &path, e))?;
        Ok((Self { file, path }, previous))
    }
}

impl Drop for StackLock {
    fn drop(&mut self) {
        // Clear the note first so nobody reports a holder that has finished.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
        let _ = std::fs::remove_file(&self.path);
    }
}

fn hostname() -> String {
    fs_err::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs_err::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_holder_named() {
        let dir = tempfile::tempdir().expect("dir");
        let (lock, prev) = StackLock::acquire(dir.path(), "s", "apply").expect("first");
        assert_eq!(prev, Previous::Free);
        let err = StackLock::acquire(dir.path(), "s", "apply").expect_err("second must fail");
        let msg = err.to_string();
        assert!(msg.contains("stack `s` is locked by `apply` (pid"), "{msg}");
        drop(lock);
        StackLock::acquire(dir.path(), "s", "apply").expect("free again");
    }

    #[test]
    fn a_dead_holders_note_is_reported_as_stale() {
        let dir = tempfile::tempdir().expect("dir");
        let note = Holder {
            pid: 999_999,
            host: "h".into(),
            started: "2026-01-01T00:00:00Z".into(),
            command: "apply".into(),
        };
        std::fs::write(
            dir.path().join(".promo-infra.lock"),
            serde_json::to_string(&note).expect("json"),
        )
        .expect("write");
        let (_lock, prev) = StackLock::acquire(dir.path(), "s", "apply").expect("taken over");
        assert_eq!(prev, Previous::Stale(note));
    }
}
