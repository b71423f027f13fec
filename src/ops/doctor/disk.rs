//! Disk space where the stack writes: the backup directory and the data (the engine's data
//! root for Docker volumes, the native target's data directory), from `statvfs`. Warn under
//! 10 % free, fail under 2 %.
//!
//! Owns: the thresholds ([`level`], a pure function) and this check's wording. May not: change
//! anything, print, read the environment but through `crate::settings`.

use std::path::{Path, PathBuf};

use super::{Ctx, Finding, Level};
use crate::targets::TargetKind;

/// Free space under which the line warns (percent).
const WARN_PCT: u64 = 10;
/// Free space under which it fails (percent).
const FAIL_PCT: u64 = 2;

/// The level for `free` bytes out of `total`.
pub(super) fn level(free: u64, total: u64) -> Level {
    let pct = |p: u64| u128::from(free) * 100 < u128::from(total) * u128::from(p);
    if pct(FAIL_PCT) {
        Level::Fail
    } else if pct(WARN_PCT) {
        Level::Warn
    } else {
        Level::Ok
    }
}

/// One line per place the stack writes to.
pub(super) fn disk(ctx: &Ctx) -> Vec<Finding> {
    let m = &ctx.loaded.manifest;
    let mut places: Vec<(&str, PathBuf)> = Vec::new();
    if let Some(b) = &m.backup {
        places.push(("backups", ctx.project.root.join(b.dir.as_str())));
    }
    match ctx.target {
        TargetKind::Docker => {
            if let Some(root) = docker_root() {
                places.push(("data", root));
            }
        }
        _ => places.push((
            "data",
            ctx.project.root.join(m.targets.native.data_dir.as_str()),
        )),
    }
    places
        .into_iter()
        .map(|(label, path)| line(&format!("disk {label}"), &path))
        .collect()
}

/// The Docker engine's data root (where volumes live), when the engine is on this host.
fn docker_root() -> Option<PathBuf> {
    use crate::targets::docker::engine;
    if !engine::docker_host().starts_with("unix://") {
        return None;
    }
    let docker = engine::connect().ok()?;
    super::live::block_on(docker.info())
        .ok()?
        .ok()?
        .docker_root_dir
        .map(PathBuf::from)
}

/// The nearest existing directory at or above `path` (a backup directory not created yet
/// will be created on the file system of its parent).
fn existing(path: &Path) -> &Path {
    path.ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"))
}

fn line(check: &str, path: &Path) -> Finding {
    let at = existing(path);
    let stat = match nix::sys::statvfs::statvfs(at) {
        Ok(s) => s,
        Err(e) => {
            return Finding::new(
                check,
                Level::Warn,
                format!("cannot read the free space of {}: {e}", at.display()),
                "check that the directory exists and is readable",
            );
        }
    };
    let unit: u64 = stat.fragment_size();
    let (free, total): (u64, u64) = (
        stat.blocks_available().saturating_mul(unit),
        stat.blocks().saturating_mul(unit),
    );
    let pct = (u128::from(free) * 100)
        .checked_div(u128::from(total))
        .unwrap_or(0);
    let finding = format!(
        "{}: {} free of {} ({pct}%)",
        path.display(),
        bytesize::ByteSize::b(free),
        bytesize::ByteSize::b(total)
    );
    match level(free, total) {
        Level::Ok => Finding::ok(check, finding),
        level => Finding::new(
            check,
            level,
            finding,
            "free space there (old backups: `promo-infra backup rotate`; unused images: `docker image prune`), or move it to a larger disk",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_ten_percent_free_warns_and_under_two_fails() {
        assert_eq!(level(50, 100), Level::Ok);
        assert_eq!(level(10, 100), Level::Ok);
        assert_eq!(level(9, 100), Level::Warn);
        assert_eq!(level(2, 100), Level::Warn);
        assert_eq!(level(1, 100), Level::Fail);
        assert_eq!(level(0, 0), Level::Ok);
        assert_eq!(level(u64::MAX / 100, u64::MAX), Level::Fail);
    }
}
