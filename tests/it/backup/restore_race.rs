//! A failed restore drops the database its tool left (absent before: checked first), so a
//! failed restore creates nothing. But between that check and the clean-up another command may
//! create the database (an apply, a second restore into the same name): the tool then fails
//! with influxd's "database may already exist", and the clean-up dropped that command's
//! database. Real influxd 1.6; `influxd restore` is a stand-in that makes the database as the
//! other command would, then fails as influxd does.

use std::os::unix::fs::PermissionsExt;

use super::{databases, restorable_fake_backup, shop_on_real_influxd};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_restore_never_drops_a_database_another_command_made_meanwhile() {
    let (server, p, values) = shop_on_real_influxd().await;
    let id = "20261124T030000Z";
    restorable_fake_backup(&p.path().join("backups/shop"), "shop", id);
    // `influxd` on PATH: the other command creates `k6_copy` (with the real `influx` CLI),
    // then the restore fails as influxd 1.6 does on an existing database.
    let bin = p.path().join("standin");
    std::fs::create_dir(&bin).expect("mkdir");
    let admin = values
        .get("INFLUXDB_ADMIN_PASSWORD")
        .expect("admin password");
    let script = format!(
        "#!/bin/sh\n/usr/bin/influx -host 127.0.0.1 -port {port} -username promo-admin -password '{admin}' -execute 'CREATE DATABASE \"k6_copy\"' >/dev/null\necho 'error updating meta: DB metadata not changed. database may already exist' >&2\nexit 1\n",
        port = server.http_port()
    );
    std::fs::write(bin.join("influxd"), script).expect("stand-in");
    std::fs::set_permissions(bin.join("influxd"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let r = p
        .cmd(&[
            "backup", "restore", id, "--as", "k6_copy", "--target", "native",
        ])
        .env("PATH", &path)
        .run();
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains("may already exist"), "{}", r.all());
    assert!(
        databases(&server.url(), &values)
            .await
            .contains(&"k6_copy".to_string()),
        "the database the other command made is kept:\n{}",
        r.all()
    );
}
