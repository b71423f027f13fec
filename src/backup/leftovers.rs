//! The copies a backup or a restore makes in `/tmp` of the stack's InfluxDB container (docker
//! target, 1.x), and what proves whose are still in use, so that a copy left by a killed command
//! is removed later and a copy in use never is.
//!
//! - `/tmp/promo-infra-backup-<id>`: `backup run` of backup `<id>`. Running while it holds the
//!   lock on its `.tmp-<id>/` marker (`run::running`), taken before the copy exists.
//! - `/tmp/promo-infra-restore-<id>`: `backup restore <id>`. Running while it holds a lock on
//!   the backup's directory `<dir>/<id>/` ([`lock_backup`]), taken before the copy exists and
//!   released after it is removed. On the docker target (1.x) the lock is exclusive, so one
//!   restore of a backup at a time uses that copy; `backup rotate` takes the same lock before
//!   removing a backup, so a backup being restored is never removed, and the directory of a
//!   running restore's backup always exists.
//!
//! [`sweep`] (called by `backup run`, `backup restore` and `backup rotate` on the docker target,
//! rotate sweeping before it removes backups) removes every copy whose command is not running.
//! A restore copy whose backup directory is not here is left alone: nothing proves its restore
//! dead (another checkout, with another `backup.dir`, may be running it). A restore copy is removed while the sweep
//! holds the exclusive lock of its backup, so a restore of that backup starting meanwhile waits
//! for the removal instead of losing its upload.
//!
//! The locks are `flock`s: the kernel releases them when the process ends, even on SIGKILL.
//! Locking reads a directory, it never modifies one.
//!
//! Owns: the copies' names, the backup directory's lock, the sweep.
//! May not: remove anything but a copy in the container's `/tmp` whose command is not running,
//! print (progress goes to [`super::Progress`]), or start an async runtime.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use super::id::parse_id;
use super::{Settings, docker, run};
use crate::error::{Error, Result};

/// Name prefix of a backup's copy in `/tmp` of the container.
pub(crate) const BACKUP_COPY: &str = "promo-infra-backup-";
/// Name prefix of a restore's copy in `/tmp` of the container.
pub(crate) const RESTORE_COPY: &str = "promo-infra-restore-";

/// How long `backup restore` waits for another process to release the backup it restores (a
/// sweep holds it for one bounded `rm`; another restore for as long as it runs).
pub(crate) const RESTORE_LOCK_WAIT: Duration = Duration::from_secs(60);

/// A lock on a backup directory, held until dropped.
#[derive(Debug)]
pub(crate) struct Held {
    _file: File,
}

/// What trying to lock a backup directory found.
#[derive(Debug)]
pub(crate) enum Lock {
    /// Locked (by this process, until dropped).
    Held(Held),
    /// Another process holds a lock on it.
    Busy,
    /// The lock could not be taken (the file system refused it): treated as in use.
    Failed(std::io::Error),
    /// Not a directory at that path (absent, a link, a file), or renamed while being locked.
    Gone,
}

/// Try once to lock the directory at `path` (not following a link): `exclusive`, or shared.
/// The lock is on the directory itself, so it follows a rename; a lock taken on a directory
/// renamed away meanwhile is released and reported [`Lock::Gone`].
pub(crate) fn try_lock_dir(path: &Path, exclusive: bool) -> Lock {
    let Ok(file) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_DIRECTORY)
        .open(path)
    else {
        return Lock::Gone;
    };
    let locked = if exclusive {
        file.try_lock()
    } else {
        file.try_lock_shared()
    };
    match locked {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Lock::Busy,
        Err(std::fs::TryLockError::Error(e)) => return Lock::Failed(e),
    }
    let same = match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(held), Ok(now)) => held.dev() == now.dev() && held.ino() == now.ino(),
        _ => false,
    };
    if same {
        Lock::Held(Held { _file: file })
    } else {
        Lock::Gone
    }
}

/// `backup restore`: lock the backup `<dir>/<id>/` for the whole restore (exclusive when the
/// restore copies it into the container), waiting at most `wait` for another process to release
/// it. `Ok(None)`: no directory there (the caller's checks say why). Fails, changing nothing,
/// when it is still held after `wait`.
pub(crate) fn lock_backup(
    s: &Settings,
    id: &str,
    exclusive: bool,
    wait: Duration,
) -> Result<Option<Held>> {
    // Only a plain name of the backup directory (the caller refuses anything else).
    if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
        return Ok(None);
    }
    let path = s.dir.join(id);
    let deadline = Instant::now() + wait;
    let mut told = false;
    loop {
        match try_lock_dir(&path, exclusive) {
            Lock::Held(held) => return Ok(Some(held)),
            Lock::Gone => return Ok(None),
            Lock::Failed(e) => {
                return Err(Error::backup(format!(
                    "cannot lock {}/{id} ({}): {e}; nothing was changed",
                    s.display_dir,
                    path.display()
                ))
                .with_help(
                    "keep backup.dir on a file system with file locks (flock), as `backup run` needs",
                ));
            }
            Lock::Busy if Instant::now() >= deadline => {
                return Err(Error::backup(format!(
                    "backup {}/{id} is still in use by another promo-infra process after {} s: \
                     another `backup restore {id}` (on the docker target one restore of a backup runs at a time), \
                     or a `backup rotate` removing it; nothing was changed",
                    s.display_dir,
                    wait.as_secs()
                ))
                .with_help(format!(
                    "wait for it to finish (`ps -ef | grep promo-infra`), then run `promo-infra backup restore {id}` again"
                )));
            }
            Lock::Busy => {
                if !told {
                    s.step(&format!(
                        "backup {}/{id} is in use by another promo-infra process: waiting up to {} s",
                        s.display_dir,
                        wait.as_secs()
                    ));
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Remove the copies in the container's `/tmp` whose command is not running (see the module
/// doc). `mine`: the copy name of the calling command, whose lock it holds and which it has not
/// created yet; a copy by that name was left by an earlier, killed command and is removed too.
/// Best effort: a failure here never fails the command.
pub(crate) async fn sweep(s: &Settings, c: &docker::Container, mine: Option<&str>) {
    let Ok(names) = c.list_dir("/tmp").await else {
        return;
    };
    for name in names {
        let (what, _lock) = if Some(name.as_str()) == mine {
            let what = if name.starts_with(RESTORE_COPY) {
                "an interrupted restore"
            } else {
                "an interrupted backup"
            };
            (what, None)
        } else if let Some(id) = name.strip_prefix(BACKUP_COPY) {
            if parse_id(id).is_none() || run::running(s, id) {
                continue;
            }
            ("an interrupted backup", None)
        } else if let Some(id) = name.strip_prefix(RESTORE_COPY) {
            if parse_id(id).is_none() {
                continue;
            }
            // Held through the removal: a restore of this backup starting now waits for it.
            // No backup directory here: nothing proves that restore is dead (it may be
            // another checkout's, with another `backup.dir`, running now): left alone.
            match try_lock_dir(&s.dir.join(id), true) {
                Lock::Busy | Lock::Failed(_) | Lock::Gone => continue,
                Lock::Held(held) => ("an interrupted restore", Some(held)),
            }
        } else {
            continue;
        };
        s.step(&format!(
            "removing /tmp/{name} from {}: left by {what}",
            c.name
        ));
        c.remove_dir(&format!("/tmp/{name}")).await;
    }
}

/// `backup rotate` on the docker target (1.x): when the container runs, [`sweep`] it. Silent
/// and harmless when it does not (no engine, no container, or a stack on another target): the
/// check is bounded by the container's pre-flight.
pub(crate) async fn sweep_container(s: &Settings) {
    let Some(c) = s.container() else {
        return;
    };
    if s.version != 1 || c.preflight().await.is_err() {
        return;
    }
    sweep(s, &c, None).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(dir: &Path) -> Settings {
        Settings::example(dir, 1, "http://127.0.0.1:1")
    }

    #[test]
    fn a_held_backup_is_busy_to_every_other_lock_and_free_once_dropped() {
        let dir = tempfile::tempdir().expect("tmp");
        let backup = dir.path().join("20261124T030000Z");
        std::fs::create_dir(&backup).expect("mkdir");
        let Lock::Held(held) = try_lock_dir(&backup, true) else {
            panic!("first lock");
        };
        // flock locks are per open file: a second open, even in this process, conflicts.
        assert!(matches!(try_lock_dir(&backup, true), Lock::Busy));
        assert!(matches!(try_lock_dir(&backup, false), Lock::Busy));
        drop(held);
        let Lock::Held(shared) = try_lock_dir(&backup, false) else {
            panic!("shared lock");
        };
        assert!(matches!(try_lock_dir(&backup, false), Lock::Held(_)));
        assert!(matches!(try_lock_dir(&backup, true), Lock::Busy));
        drop(shared);
        assert!(matches!(try_lock_dir(&backup, true), Lock::Held(_)));
    }

    #[test]
    fn no_directory_a_link_or_a_file_is_gone_never_locked() {
        let dir = tempfile::tempdir().expect("tmp");
        let real = dir.path().join("20261124T030000Z");
        std::fs::create_dir(&real).expect("mkdir");
        let link = dir.path().join("20261125T030000Z");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let file = dir.path().join("20261126T030000Z");
        std::fs::write(&file, "x").expect("file");
        for path in [dir.path().join("20261127T030000Z"), link, file] {
            assert!(
                matches!(try_lock_dir(&path, true), Lock::Gone),
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn a_restore_waits_bounded_for_a_held_backup_and_fails_naming_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let id = "20261124T030000Z";
        std::fs::create_dir(dir.path().join(id)).expect("mkdir");
        let s = example(dir.path());
        let first = lock_backup(&s, id, true, Duration::ZERO).expect("lock");
        assert!(first.is_some());
        let start = Instant::now();
        let err = lock_backup(&s, id, true, Duration::from_millis(300)).expect_err("busy");
        assert!(start.elapsed() >= Duration::from_millis(300));
        assert!(start.elapsed() < Duration::from_secs(5));
        let text = err.to_string();
        assert!(
            text.contains("backup backups/shop/20261124T030000Z is still in use"),
            "{text}"
        );
        assert!(text.contains("nothing was changed"), "{text}");
        // A native restore (shared) does not wait for another native restore, but does for a
        // docker one (exclusive).
        assert!(lock_backup(&s, id, false, Duration::ZERO).is_err());
        drop(first);
        let a = lock_backup(&s, id, false, Duration::ZERO).expect("shared");
        let b = lock_backup(&s, id, false, Duration::ZERO).expect("shared");
        assert!(a.is_some() && b.is_some());
        // No directory, or not a plain name: nothing to lock (the caller says why).
        for bad in ["20261125T030000Z", "", "../shop", ".tmp-x"] {
            assert!(
                lock_backup(&s, bad, true, Duration::ZERO)
                    .expect("none")
                    .is_none(),
                "{bad}"
            );
        }
    }
}
