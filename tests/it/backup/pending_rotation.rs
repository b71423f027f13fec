//! `secrets rotate INFLUXDB_ADMIN_PASSWORD` interrupted after `SET PASSWORD`: InfluxDB accepts
//! only the new value, which `.env` keeps beside the old one (its pending line). The nightly
//! `backup run` logged in with the old one and failed (401) every night until someone resumed
//! the rotation; it now uses the kept value, as `plan` and `apply` do. Real influxd 1.6.

use super::{NOW, k6_points, ok, query, shop_on_real_influxd, write_points};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_during_an_interrupted_admin_password_rotation_uses_the_kept_value() {
    let (server, p, values) = shop_on_real_influxd().await;
    write_points(&server.url(), &values, k6_points("flash_sale", 30)).await;
    // The live change of the rotation, then the crash: `.env` has both values.
    let kept = "fedcba9876543210fedcba9876543210";
    let set = query(
        &server.url(),
        &values,
        "",
        &format!("SET PASSWORD FOR \"promo-admin\" = '{kept}'"),
    )
    .await;
    assert!(set["results"][0].get("error").is_none(), "{set}");
    let env = "generated/shop/.env";
    let text = p.read(env);
    p.write(
        env,
        &format!("{text}PROMO_INFRA_ROTATING_INFLUXDB_ADMIN_PASSWORD={kept}\n"),
    );
    let run = p.run_env(
        &["backup", "run", "--target", "native"],
        &[("PROMO_INFRA_NOW", NOW)],
    );
    ok(&run, "backup run with the rotation pending");
    assert!(!run.all().contains(kept), "the kept value is never shown");
    assert!(
        p.path().join("backups/shop/20261124T030000Z").is_dir(),
        "{}",
        run.all()
    );
}
