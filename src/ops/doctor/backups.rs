//! Backups are recent and verify: the newest backup under the manifest's `backup.dir` is not
//! older than the schedule allows, and every backup passes the checks of `backup list` (each
//! file's size and sha256 against the backup's manifest; read-only).
//!
//! Owns: this check's wording and its age thresholds. May not: change anything (no backup,
//! rotation or removal), print, read the environment but through `crate::settings`.

use jiff::Timestamp;

use super::{Ctx, Finding, Level};
use crate::backup::manifest::Depth;
use crate::backup::scan::Kind;
use crate::backup::{Entry, Status};
use crate::manifest::Environment;
use crate::targets::common::uptime;

/// Name of the line.
pub(super) const CHECK: &str = "backups";

/// Slack given to a scheduled backup (minutes): the time a backup takes to run.
const GRACE_MIN: i64 = 60;

/// The backups line.
pub(super) fn backups(ctx: &Ctx) -> Finding {
    let m = &ctx.loaded.manifest;
    let Some(b) = &m.backup else {
        let level = if *m.environment == Environment::Prod {
            Level::Warn
        } else {
            Level::Ok
        };
        return Finding::new(
            CHECK,
            level,
            format!("{} has no `backup:` section", ctx.loaded.rel_path),
            if level == Level::Ok {
                ""
            } else {
                "add `backup: { schedule: \"0 3 * * *\", keep: { last: 3, daily: 7 } }` and `promo-infra apply`"
            },
        );
    };
    let dir = ctx.project.root.join(b.dir.as_str()).join(m.stack.as_str());
    let display = format!("{}/{}", b.dir.trim_end_matches('/'), *m.stack);
    let entries = match crate::backup::scan(&dir, &m.stack, Depth::Checksums) {
        Ok(e) => e,
        Err(e) => return Finding::from_error(CHECK, &e),
    };
    let now = match crate::backup::clock() {
        Ok(n) => n,
        Err(e) => return Finding::from_error(CHECK, &e),
    };
    let gap = crate::manifest::cron::parse(&b.schedule)
        .ok()
        .and_then(|c| c.longest_gap_minutes());
    verdict(&entries, &display, &b.schedule, gap, now)
}

/// The line from the backup directory's entries, the schedule's longest gap and now.
fn verdict(
    entries: &[Entry],
    dir: &str,
    schedule: &str,
    gap_min: Option<i64>,
    now: Timestamp,
) -> Finding {
    let backups: Vec<&Entry> = entries.iter().filter(|e| e.kind == Kind::Backup).collect();
    if let Some(bad) = backups.iter().find(|e| e.status == Status::Corrupt) {
        return Finding::new(
            CHECK,
            Level::Fail,
            format!(
                "backup {dir}/{} does not verify: {}",
                bad.id,
                bad.detail.as_deref().unwrap_or("corrupt")
            ),
            "do not restore it; take a new backup (`promo-infra backup run`), then move the corrupt one away (`promo-infra backup list` shows every backup's state)",
        );
    }
    let newest = backups
        .iter()
        .filter(|e| e.status == Status::Ok)
        .filter_map(|e| Some((e.timestamp?, e.id.as_str())))
        .max();
    let take = "take one now (`promo-infra backup run`) and check that the scheduled backup runs (`promo-infra status`, the host's cron or systemd timer)";
    let Some((at, id)) = newest else {
        return Finding::new(
            CHECK,
            Level::Warn,
            format!("no backup in {dir} yet (schedule `{schedule}`)"),
            take,
        );
    };
    let age_s = now.as_second() - at.as_second();
    let age_min = age_s / 60;
    let age = uptime(age_s);
    let count = backups.len();
    let Some(gap) = gap_min else {
        return Finding::ok(CHECK, format!("newest {id} ({age} old), {count} verified"));
    };
    let level = if age_min > 2 * gap + GRACE_MIN {
        Level::Fail
    } else if age_min > gap + GRACE_MIN {
        Level::Warn
    } else {
        Level::Ok
    };
    if level == Level::Ok {
        return Finding::ok(CHECK, format!("newest {id} ({age} old), {count} verified"));
    }
    Finding::new(
        CHECK,
        level,
        format!(
            "newest backup {id} is {age} old; schedule `{schedule}` runs every {} at most",
            uptime(gap * 60)
        ),
        take,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_backup_is_a_warning_with_what_to_do() {
        let f = verdict(
            &[],
            "backups/shop",
            "0 3 * * *",
            Some(1440),
            Timestamp::UNIX_EPOCH,
        );
        assert_eq!(
            (f.level, f.finding.as_str()),
            (
                Level::Warn,
                "no backup in backups/shop yet (schedule `0 3 * * *`)"
            )
        );
    }
}
