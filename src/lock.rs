//! One apply per stack at a time: an OS file lock (released by the kernel even on SIGKILL, so a
//! dead holder never blocks anyone) plus a note naming the holder for the error message.
//!
//! The lock file `generated/<stack>/.promo-infra.lock` is created once and never removed: an
//! `flock` belongs to an inode, so a file that was unlinked on release let a process that had
//! opened the old inode and one that created a new file both hold "the" lock. The holder note
//! lives inside the locked file; it is cleared (truncated) before the lock is released, so a note
//! found by the next holder means the previous one died holding it.
//!
//! Owns: the stack lock and its holder note. May not: print, or read the environment.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

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
}

/// Name of the lock file inside `generated/<stack>/` (git-ignored; never removed).
pub const LOCK_FILE: &str = ".promo-infra.lock";

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
    /// `command` is what the holder does (`apply`, `destroy`, `generate`), shown to others.
    pub fn acquire(dir: &Path, stack: &str, command: &str) -> Result<(Self, Previous)> {
        fs_err::create_dir_all(dir).map_err(|e| Error::io("cannot create directory", dir, e))?;
        let path = dir.join(LOCK_FILE);
        // Never through a symbolic link: the holder note is written into the file and it is
        // emptied on release, which would truncate whatever a link points to.
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| {
                if e.raw_os_error() == Some(nix::libc::ELOOP) {
                    Error::State {
                        message: format!(
                            "the lock `{}` is a symbolic link: promo-infra never writes through one; nothing was changed",
                            path.display()
                        ),
                        help: Some("remove the link (`rm` the link itself) and run the command again".into()),
                    }
                } else {
                    Error::io("cannot open lock", &path, e)
                }
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let who = read_note(&mut file).map_or_else(
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
        // Read through the locked descriptor: the note is the previous holder's only if it died.
        let previous = read_note(&mut file).map_or(Previous::Free, Previous::Stale);
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
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io("cannot write lock", &path, e))?;
        file.write_all(
            serde_json::to_string(&holder)
                .unwrap_or_default()
                .as_bytes(),
        )
        .map_err(|e| Error::io("cannot write lock", &path, e))?;
        Ok((Self { file }, previous))
    }
}

impl Drop for StackLock {
    fn drop(&mut self) {
        // Clear the note first so nobody reports a holder that has finished. The file itself
        // stays: removing it is what let two processes hold the lock at once.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn read_note(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
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

    /// Threads that each open the lock file themselves (separate open file descriptions, as
    /// separate processes have) take and release it as fast as they can for a bounded time; a
    /// shared counter of holders, bumped inside the critical section, must never exceed one.
    /// With the old unlock-then-unlink release, a thread that had opened the old inode and one
    /// that created a new file both held it, and this saw two holders within milliseconds.
    #[test]
    fn never_two_holders_under_parallel_acquires() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::time::{Duration, Instant};

        let dir = tempfile::tempdir().expect("dir");
        let holders = Arc::new(AtomicUsize::new(0));
        let overlaps = Arc::new(AtomicUsize::new(0));
        let taken = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + Duration::from_millis(1500);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (dir, holders, overlaps, taken, stop) = (
                    dir.path().to_path_buf(),
                    holders.clone(),
                    overlaps.clone(),
                    taken.clone(),
                    stop.clone(),
                );
                std::thread::spawn(move || {
                    while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
                        let Ok((lock, _)) = StackLock::acquire(&dir, "s", "apply") else {
                            continue;
                        };
                        taken.fetch_add(1, Ordering::SeqCst);
                        if holders.fetch_add(1, Ordering::SeqCst) != 0 {
                            overlaps.fetch_add(1, Ordering::SeqCst);
                            stop.store(true, Ordering::SeqCst);
                        }
                        std::thread::yield_now();
                        holders.fetch_sub(1, Ordering::SeqCst);
                        drop(lock);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        let taken = taken.load(Ordering::SeqCst);
        assert_eq!(
            overlaps.load(Ordering::SeqCst),
            0,
            "two holders of the lock at once ({taken} acquisitions)"
        );
        assert!(
            taken > 50,
            "the lock was taken only {taken} times: the test proved nothing"
        );
        assert!(
            dir.path().join(".promo-infra.lock").exists(),
            "the lock file must never be removed"
        );
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
