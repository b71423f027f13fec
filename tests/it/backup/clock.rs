//! Rotation against the clock and the ids' order, as QA broke it: backups dated in the future
//! (the clock was ahead for a while) made every new backup look old, so each night's rotation
//! removed the backup just taken; a `.tmp-` whose writer still runs was removed once its id was
//! 24 h old; `-10` sorted before `-9` of the same second.

use std::collections::BTreeSet;

use promo_infra::backup::scan::{PARTIAL_MARKER, TMP_PREFIX};

use super::{NOW, fake_backup, names, policy_project};

/// Ten nightly backups dated 2027 (taken while the clock was a year ahead), then the clock
/// put right: tonight's backup is kept as the newest valid one, the future ones are left,
/// named and not counted, and nothing is removed.
#[test]
fn backups_dated_in_the_future_never_make_a_new_backup_look_old() {
    let (p, root) = policy_project("{ last: 2, daily: 7 }");
    let future: Vec<String> = (1..=10).map(|d| format!("202711{d:02}T030000Z")).collect();
    let past = ["20261122T030000Z", "20261123T030000Z"];
    let tonight = "20261124T030000Z";
    for id in future
        .iter()
        .map(String::as_str)
        .chain(past)
        .chain([tonight])
    {
        fake_backup(&root, "shop", id);
    }
    let before = names(&root);
    let r = promo_snapshot!(p.cmd(&["backup", "rotate"]).env("PROMO_INFRA_NOW", NOW), @"
    success: true
    exit_code: 0
    ----- stdout -----
    policy: keep last 2, daily 7, weekly 0, monthly 0 (UTC days, ISO weeks, months)
    keep 3 backup(s):
      = 20261124T030000Z  last backup #1, daily backup 2026-11-24, newest valid backup (always kept)
      = 20261123T030000Z  last backup #2, daily backup 2026-11-23
      = 20261122T030000Z  daily backup 2026-11-22
    removed 0 backup(s):
    left alone 10 entr(y/ies):
      ! 20271110T030000Z  dated later than now ([TIMESTAMP]): not counted and not removed, so that it does not make newer backups look old; check this machine's clock (was it ahead when this backup was taken?), and delete it by hand if it should go
      ! 20271109T030000Z  dated later than now ([TIMESTAMP]): not counted and not removed, so that it does not make newer backups look old; check this machine's clock (was it ahead when this backup was taken?), and delete it by hand if it should go
      ! 20271108T030000Z  dated later than now ([TIMESTAMP]): not counted and not removed, so that it does not make newer backups look old; check this machine's clock (was it ahead when this backup was taken?), and delete it by hand if it should go
      ! 20271107T030000Z  dated later than now ([TIMESTAMP]): not counted and not removed, so that it does not make newer backups look old; check this machine's clock (was it ahead when this backup was taken?), and delete it by hand if it should go
      ! 20271106T030000Z  dated later than now ([TIMESTAMP]): not counted and not removed, so that it does not make newer backups look old; check this machine's clock (was it ahead when this backup was taken?), and delete it by hand if it should go
      ! 20271105T030000Z  dated later than now ([TIMESTAMP]): not counted and not removed, so that it does not make newer backups look old; check this machine's clock (was it ahead when this backup was taken?), and delete it by hand if it should go
      ! 20271104T030000Z  dated later than now ([TIMESTAMP]): not counted and not removed, so that it does not make newer backups look old; check this machine's clock (was it ahead when this backup was taken?), and delete it by hand if it should go
      ! 20271103T030000Z  dated later than now ([TIMESTAMP]): not counted and not removed, so that it does not make newer backups look old; check this machine's clock (was it ahead when this backup was taken?), and delete it by hand if it should go
      ! 20271102T030000Z  dated later than now ([TIMESTAMP]): not counted and not removed, so that it does not make newer backups look old; check this machine's clock (was it ahead when this backup was taken?), and delete it by hand if it should go
      ! 20271101T030000Z  dated later than now ([TIMESTAMP]): not counted and not removed, so that it does not make newer backups look old; check this machine's clock (was it ahead when this backup was taken?), and delete it by hand if it should go
    ✓ 3 kept, 0 removed

    ----- stderr -----
    ");
    assert_eq!(names(&root), before, "nothing removed:\n{}", r.stdout);
    // Once the clock reaches them, they count as any backup does.
    let later = p
        .cmd(&["backup", "rotate", "--dry-run"])
        .env("PROMO_INFRA_NOW", "2027-11-10T04:00:00Z")
        .run();
    assert_eq!(later.code, 0, "{}", later.all());
    assert!(
        later.stdout.contains(
            "20271110T030000Z  last backup #1, daily backup 2027-11-10, newest valid backup"
        ),
        "{}",
        later.stdout
    );
}

/// A `.tmp-<id>` whose id is 25 h old but whose writer still holds its marker's lock (a clock
/// that was behind when it started, a long backup run by hand) is left; once the writer is
/// gone, the same rotation removes it.
#[test]
fn a_backup_still_running_is_never_removed_whatever_its_id_s_age() {
    use std::io::Write;

    let (p, root) = policy_project("{ last: 1 }");
    fake_backup(&root, "shop", "20261124T030000Z");
    let running = "20261123T020000Z"; // 25 h before NOW
    let tmp = root.join(format!("{TMP_PREFIX}{running}"));
    std::fs::create_dir(&tmp).expect("mkdir");
    let mut marker = std::fs::File::create_new(tmp.join(PARTIAL_MARKER)).expect("marker");
    marker.try_lock().expect("lock, as `backup run` holds it");
    writeln!(
        marker,
        "promo-infra backup of stack shop started 2026-11-23T02:00:00Z by pid 1"
    )
    .expect("write");
    promo_snapshot!(p.cmd(&["backup", "rotate"]).env("PROMO_INFRA_NOW", NOW), @"
    success: true
    exit_code: 0
    ----- stdout -----
    policy: keep last 1, daily 0, weekly 0, monthly 0 (UTC days, ISO weeks, months)
    keep 1 backup(s):
      = 20261124T030000Z  last backup #1, newest valid backup (always kept)
    removed 0 backup(s):
    left alone 1 entr(y/ies):
      ! .tmp-20261123T020000Z  incomplete backup still running (its writer holds the lock on its marker)
    ✓ 1 kept, 0 removed

    ----- stderr -----
    ");
    assert!(tmp.is_dir(), "a running backup is left");
    drop(marker);
    let r = p
        .cmd(&["backup", "rotate"])
        .env("PROMO_INFRA_NOW", NOW)
        .run();
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        !tmp.exists(),
        "its writer gone, it is removed:\n{}",
        r.stdout
    );
}

/// Eleven backups started in one second (`-1` … `-10` after the first): the newest is `-10`,
/// kept as the newest valid backup; the old order (by name) kept `-9` and removed `-10`.
#[test]
fn the_tenth_backup_of_a_second_is_newer_than_the_ninth() {
    let (p, root) = policy_project("{ last: 1 }");
    let base = "20261124T030000Z";
    let ids: Vec<String> = std::iter::once(base.to_string())
        .chain((1..=10).map(|n| format!("{base}-{n}")))
        .collect();
    for id in &ids {
        fake_backup(&root, "shop", id);
    }
    let r = p
        .cmd(&["backup", "rotate"])
        .env("PROMO_INFRA_NOW", NOW)
        .run();
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        names(&root),
        BTreeSet::from([format!("{base}-10")]),
        "{}",
        r.stdout
    );
}
