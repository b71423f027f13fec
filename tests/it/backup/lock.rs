//! `backup restore` takes the stack's lock (`apply`'s) once the backup is verified: between
//! its check that the database does not exist and its clean-up of a failed restore (which
//! drops the database the failed tool left), an apply creating the database or another
//! restore into it would have had that database dropped.

use promo_infra::backup::manifest::{self as bmanifest, BackupManifest};

use super::{fake_backup, rotation_project};

#[test]
fn a_restore_is_refused_while_another_command_holds_the_stack() {
    let (p, root) = rotation_project();
    let id = "20250203T030000Z";
    fake_backup(&root, "shop", id);
    // Restorable: the portable backup's `.meta` too, recorded in our manifest.
    let dir = root.join(id);
    std::fs::write(dir.join(format!("{id}.meta")), "meta").expect("meta");
    let mut m = BackupManifest::read(&dir).expect("read").expect("manifest");
    m.files = bmanifest::hash_dir(&dir).expect("hash");
    m.write(&dir).expect("manifest");
    let _apply =
        promo_infra::lock::StackLock::acquire(&p.path().join("generated/shop"), "shop", "apply")
            .expect("lock");
    let before = p.snapshot_tree();
    // Nothing listens at the stack's InfluxDB: a restore that went past the lock would fail
    // differently (its preflight names the URL).
    promo_snapshot!(
        p.cmd(&["backup", "restore", "20250203T030000Z", "--target", "native"]),
        @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stack `shop` is locked by `apply` (pid [PID] on [HOST], since [TIMESTAMP])
      help: wait for it to finish; the lock is released automatically when that process exits, even if killed
    "
    );
    assert_eq!(p.snapshot_tree(), before);
}
