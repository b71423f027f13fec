//! `backup run | list | rotate | restore`.
//!
//! - Real `influxd` 1.6 (Debian's package, started per test on 127.0.0.1 with HTTP auth on, and
//!   initialised by promo-infra's own InfluxDB resource code): the round trip (k6-shaped points →
//!   `backup run` → drop → `restore` → the same points), restore refusing an existing database,
//!   a corrupted backup refused and listed, the scheduled command line of the generated systemd
//!   unit run for real, `systemd-analyze verify` of the generated units.
//! - InfluxDB 2.x: the InfluxDB 2 API double (`tests/doubles`, for `/health`) and a stand-in
//!   `influx` CLI on PATH (`tests/fixtures/influx-standin.sh`) that records argv and env.
//! - Rotation: generated backup trees (no server), against hand-computed expectations.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use promo_infra::backup::manifest::{self as bmanifest, BackupManifest};
use promo_infra::desired::ResourceSpec;
use promo_infra::ops::{self, Selection};
use promo_infra::project::Project;
use promo_infra::secrets::{self, SecretValues};
use sha2::{Digest, Sha256};

use crate::common::{Run, Runs, TestContext};
use crate::influxd::RealInfluxd;

mod answers;
mod clock;
mod kill;
mod leftovers;
mod pending_rotation;
mod restore_race;

const NOW: &str = "2026-11-24T03:00:00Z";
const ID: &str = "20261124T030000Z";

fn v1_manifest(stack: &str, http_port: u16, rpc: &str, extra_backup: &str) -> String {
    format!(
        r#"stack: {stack}
environment: preprod
influxdb:
  version: 1
  image: influxdb:1.8
  port: {http_port}
  bucket: k6
  retention: 4w
grafana:
  image: grafana/grafana:10.2.3
  port: 3999
control_api:
  enabled: false
backup:
  schedule: "0 3 * * *"
  dir: backups
  influx_rpc: "{rpc}"
  keep: {{ last: 2, daily: 7, weekly: 4, monthly: 6 }}
{extra_backup}"#
    )
}

fn ok(run: &Run, what: &str) {
    assert_eq!(run.code, 0, "{what} failed:\n{}", run.all());
    // Negative: no panic anywhere in the output (the callers snapshot what matters).
    assert!(!run.all().contains("panicked"), "{}", run.all());
}

/// `run` with what a backup of a live server changes from run to run as placeholders: the
/// size of what influxd wrote (`1.8 KiB` → `[SIZE]`) and influxd's own log times.
fn live(run: Run) -> Run {
    run.filter_regex(r"\b\d+(\.\d+)? (B|KiB|MiB|GiB)\b", "[SIZE]")
        .filter_regex(r"\b\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\b", "[LOG_TIME]")
}

/// [`live`], plus what a backup taken on the real clock (a scheduled run) names after it:
/// its id → `[BACKUP_ID]`, and the day, ISO week and month rotation files it under.
fn on_the_clock(run: Run) -> Run {
    live(run)
        .filter_regex(r"\b\d{8}T\d{6}Z\b", "[BACKUP_ID]")
        .filter_regex(r"\b\d{4}-\d{2}-\d{2}\b", "[DAY]")
        .filter_regex(r"\b\d{4}-W\d{2}\b", "[WEEK]")
        .filter_regex(r"\b\d{4}-\d{2}\b", "[MONTH]")
}

fn env_values(p: &TestContext, stack: &str) -> SecretValues {
    secrets::read_env(&p.path().join(format!("generated/{stack}/.env")))
        .expect("read .env")
        .expect(".env exists")
}

/// `generate` (creates .env), then initialise the real server the way apply does: admin user,
/// database, retention, the Grafana READ and k6 WRITE users.
async fn init_server(p: &TestContext, server: &RealInfluxd, stack: &str) -> SecretValues {
    ok(&p.run(&["generate"]), "generate");
    let project = Project::new(p.path());
    let (templates, loaded) = ops::load_one(&project, &Selection::Default).expect("load");
    let desired = ops::compile(&project, &templates, &loaded).expect("compile");
    let spec = desired
        .resources
        .values()
        .find_map(|r| match &r.spec {
            ResourceSpec::Database(s) => Some(s.clone()),
            _ => None,
        })
        .expect("a database resource");
    let values = env_values(p, stack);
    promo_infra::influx::apply(
        &promo_infra::influx::Endpoint { url: server.url() },
        &spec,
        &values,
    )
    .await
    .expect("initialise influxd");
    values
}

/// k6-shaped line protocol: http_req_duration and http_reqs per URL and status, vus.
fn k6_points(testid: &str, seconds: u64) -> String {
    // Inside the 4w retention, whole seconds, across yesterday's midnight (UTC): the 4w
    // retention's shard groups last a day, so the points are always in two shards, whatever the
    // time of day (a backup has one `.tar.gz` per shard; restore must bring back both).
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let base: u64 = (now_s - now_s % 86_400 - 86_400 - seconds / 2) * 1_000_000_000;
    let urls = [
        ("home", "https://shop.example/", "200"),
        ("cart", "https://shop.example/cart", "200"),
        ("checkout", "https://shop.example/checkout", "503"),
    ];
    let mut out = String::new();
    for s in 0..seconds {
        let t = base + s * 1_000_000_000;
        for (i, (name, url, status)) in urls.iter().enumerate() {
            let expected = if *status == "200" { "true" } else { "false" };
            let duration = 80.0 + (s % 17) as f64 * 12.5 + i as f64 * 40.0;
            let tags = format!(
                "testid={testid},name={url},method=GET,status={status},expected_response={expected},scenario=promo_{name}"
            );
            out.push_str(&format!(
                "http_req_duration,{tags} value={duration} {}\n",
                t + i as u64
            ));
            out.push_str(&format!("http_reqs,{tags} value=1 {}\n", t + i as u64));
        }
        out.push_str(&format!(
            "vus,testid={testid} value={} {t}\n",
            10 + (s % 50)
        ));
    }
    out
}

async fn write_points(url: &str, values: &SecretValues, body: String) {
    let resp = reqwest::Client::new()
        .post(format!("{url}/write?db=k6&precision=ns"))
        .basic_auth("k6", values.get(secrets::INFLUX_V1_WRITE_PASSWORD))
        .body(body)
        .send()
        .await
        .expect("write");
    assert_eq!(
        resp.status().as_u16(),
        204,
        "{}",
        resp.text().await.unwrap()
    );
}

async fn query(url: &str, values: &SecretValues, db: &str, q: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{url}/query"))
        .basic_auth("promo-admin", values.get(secrets::INFLUX_ADMIN_PASSWORD))
        .form(&[("q", q), ("db", db)])
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json")
}

/// Point counts per measurement and a sha256 of every row of every measurement.
async fn fingerprint(url: &str, values: &SecretValues, db: &str) -> (Vec<(String, u64)>, String) {
    let mut counts = Vec::new();
    let mut hasher = Sha256::new();
    for m in ["http_req_duration", "http_reqs", "vus"] {
        let c = query(
            url,
            values,
            db,
            &format!("SELECT COUNT(value) FROM \"{m}\""),
        )
        .await;
        let n = c
            .pointer("/results/0/series/0/values/0/1")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or_else(|| panic!("COUNT of {m} in {db}: {c}"));
        counts.push((m.to_string(), n));
        let rows = query(
            url,
            values,
            db,
            &format!("SELECT * FROM \"{m}\" ORDER BY time ASC"),
        )
        .await;
        let series = rows
            .pointer("/results/0/series")
            .cloned()
            .unwrap_or_default();
        hasher.update(series.to_string().as_bytes());
    }
    (counts, hex::encode(hasher.finalize()))
}

async fn databases(url: &str, values: &SecretValues) -> Vec<String> {
    let v = query(url, values, "", "SHOW DATABASES").await;
    v.pointer("/results/0/series/0/values")
        .and_then(|v| v.as_array())
        .map(|rows| {
            rows.iter()
                .filter_map(|r| r[0].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn assert_no_secret(values: &SecretValues, text: &str, what: &str) {
    for name in values.names() {
        let v = values.get(name).expect("value");
        // Negative: a secret never appears.
        assert!(!text.contains(v), "{what} contains the value of {name}");
    }
}

/// `backup restore ID --target native` once the live `k6` was dropped: the exact output (the
/// points and the privileges come back) and no secret in it.
fn restore_dropped_k6(p: &TestContext, values: &SecretValues) {
    // Two tests restore this way: the same snapshot, checked by both.
    let r = insta::allow_duplicates! { promo_snapshot!(p.cmd(&["backup", "restore", ID, "--target", "native"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    ✓ backup 20261124T030000Z: 4 files verified (sha256)
    $ influxd restore -portable -host 127.0.0.1:[PORT] -db k6 backups/shop/20261124T030000Z
    ✓ restored into `k6` (3 measurement(s): http_req_duration, http_reqs, vus)
    ✓ privileges restored on `k6`: grafana READ, k6 WRITE

    ----- stderr -----
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
    backup: InfluxDB 1.6.7~rc0 answers
    backup: running influxd restore -portable -host 127.0.0.1:[PORT] -db k6 backups/shop/20261124T030000Z
    backup: waiting for `k6` to answer queries
    backup: restoring privileges on `k6`: grafana READ, k6 WRITE
    ") };
    assert_no_secret(values, &r.all(), "restore output");
}

/// Stack `shop` (InfluxDB 1.x, `v1_manifest`) on a real influxd with auth, initialised as
/// `apply` leaves it ([`init_server`]): the server, the project and its `.env` values.
async fn shop_on_real_influxd() -> (RealInfluxd, TestContext, SecretValues) {
    let server = RealInfluxd::start(true);
    let p = TestContext::new();
    p.write(
        "stacks/promo.yaml",
        &v1_manifest("shop", server.http_port(), &server.rpc(), ""),
    );
    let values = init_server(&p, &server, "shop").await;
    (server, p, values)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_a_real_influxd_1_6() {
    let (server, p, values) = shop_on_real_influxd().await;
    write_points(
        &server.url(),
        &values,
        k6_points("blackfriday_20261124", 300),
    )
    .await;
    let (counts, sum) = fingerprint(&server.url(), &values, "k6").await;
    assert_eq!(
        counts,
        [
            ("http_req_duration".to_string(), 900),
            ("http_reqs".to_string(), 900),
            ("vus".to_string(), 300)
        ]
    );

    // backup run, with a fixed clock so the id is known
    let run = promo_snapshot!(
        live(
            p.cmd(&["backup", "run", "--target", "native"])
                .env("PROMO_INFRA_NOW", NOW)
                .run()
        ),
        @"
    success: true
    exit_code: 0
    ----- stdout -----
    $ influxd backup -portable -host 127.0.0.1:[PORT] -db k6 backups/shop/20261124T030000Z
      + backups/shop/20261124T030000Z (4 files, [SIZE], database k6, InfluxDB 1.6.7~rc0)
    ✓ backup 20261124T030000Z complete

    ----- stderr -----
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
    backup: InfluxDB 1.6.7~rc0 answers
    backup: running influxd backup -portable -host 127.0.0.1:[PORT] -db k6 backups/shop/.tmp-20261124T030000Z
    backup: hashing the files (sha256)
    "
    );
    let dir = p.path().join("backups/shop").join(ID);
    let m = BackupManifest::read(&dir).expect("read").expect("manifest");
    assert_eq!(m.id, ID);
    assert_eq!(m.stack, "shop");
    assert_eq!(m.database, "k6");
    assert_eq!(m.influxdb_version, 1);
    assert!(m.server_version.starts_with("1.6."), "{}", m.server_version);
    assert_eq!(m.started_at, NOW);
    let names: Vec<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
    assert!(names.iter().any(|n| n.ends_with(".manifest")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(".meta")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(".tar.gz")), "{names:?}");
    for f in &m.files {
        assert_eq!(
            promo_infra::writer::sha256_file(&dir.join(&f.name)).expect("hash"),
            f.sha256
        );
    }
    // Nothing temporary is left, and no secret is in the output or the manifest.
    let entries: Vec<String> = std::fs::read_dir(p.path().join("backups/shop"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, [ID]);
    assert_no_secret(&values, &run.all(), "backup run output");
    assert_no_secret(
        &values,
        &p.read(&format!("backups/shop/{ID}/{}", bmanifest::FILE)),
        "backup manifest",
    );

    let list = p.run(&["backup", "list"]);
    ok(&list, "backup list");
    let row = list
        .stdout
        .lines()
        .find(|l| l.starts_with(ID))
        .unwrap_or_else(|| panic!("{}", list.stdout));
    assert_eq!(row.split_whitespace().nth(4), Some("ok"), "{row}");

    // Restoring over the live database is refused (influxd 1.6 would fail half-way).
    promo_snapshot!(p.cmd(&["backup", "restore", ID, "--target", "native"]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
    backup: InfluxDB 1.6.7~rc0 answers
      x database `k6` already exists on http://127.0.0.1:[PORT]: influxd 1.6 restores only into a database that does not exist (nothing was changed)
      help: to replace it: drop it first (`influx -host … -execute 'DROP DATABASE "k6"'`), then run `promo-infra backup restore 20261124T030000Z --target native` again; to look at the backup beside it: `promo-infra backup restore 20261124T030000Z --as k6_restored --target native`
    "#);

    // --as: beside the live database, same points.
    promo_snapshot!(
        p.cmd(&[
            "backup", "restore", ID, "--as", "k6_copy", "--target", "native",
        ]),
        @"
    success: true
    exit_code: 0
    ----- stdout -----
    ✓ backup 20261124T030000Z: 4 files verified (sha256)
    $ influxd restore -portable -host 127.0.0.1:[PORT] -db k6 -newdb k6_copy backups/shop/20261124T030000Z
    ✓ restored into `k6_copy` (3 measurement(s): http_req_duration, http_reqs, vus)

    ----- stderr -----
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
    backup: InfluxDB 1.6.7~rc0 answers
    backup: running influxd restore -portable -host 127.0.0.1:[PORT] -db k6 -newdb k6_copy backups/shop/20261124T030000Z
    backup: waiting for `k6_copy` to answer queries
    "
    );
    assert_eq!(
        fingerprint(&server.url(), &values, "k6_copy").await,
        (counts.clone(), sum.clone())
    );

    // Drop, restore, same points.
    query(&server.url(), &values, "", "DROP DATABASE \"k6\"").await;
    assert!(
        !databases(&server.url(), &values)
            .await
            .contains(&"k6".to_string())
    );
    restore_dropped_k6(&p, &values);
    assert_eq!(
        fingerprint(&server.url(), &values, "k6").await,
        (counts, sum)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_backup_is_listed_and_refused_by_restore() {
    let (server, p, values) = shop_on_real_influxd().await;
    write_points(&server.url(), &values, k6_points("flash_sale", 60)).await;
    ok(
        &p.run_env(
            &["backup", "run", "--target", "native"],
            &[("PROMO_INFRA_NOW", NOW)],
        ),
        "backup run",
    );
    let dir = p.path().join("backups/shop").join(ID);
    let m = BackupManifest::read(&dir).expect("read").expect("manifest");
    let shard = m
        .files
        .iter()
        .find(|f| f.name.ends_with(".tar.gz"))
        .expect("a shard file")
        .name
        .clone();
    // Flip one byte in the middle of the shard archive (same size).
    let path = dir.join(&shard);
    let mut bytes = std::fs::read(&path).expect("read shard");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write shard");

    promo_snapshot!(live(p.cmd(&["backup", "list"]).run()).filter(&shard, "[SHARD]"), @"
    success: true
    exit_code: 0
    ----- stdout -----
    ID                TIME (UTC)            SIZE     STATUS   DETAIL
    20261124T030000Z  [TIMESTAMP]  [SIZE]  corrupt  `[SHARD]` has sha256 [HASH], the manifest recorded [HASH]

    ----- stderr -----
    ");
    let json = p.run(&["backup", "list", "--json"]);
    ok(&json, "backup list --json");
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(doc["format_version"], "1.0", "{doc}");
    let v = &doc["backups"];
    assert_eq!(v[0]["id"], ID);
    assert_eq!(v[0]["status"], "corrupt");
    assert_eq!(v[0]["time"], NOW);

    query(&server.url(), &values, "", "DROP DATABASE \"k6\"").await;
    promo_snapshot!(
        p.cmd(&["backup", "restore", ID, "--target", "native"])
            .run()
            .filter(&shard, "[SHARD]"),
        @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x backup 20261124T030000Z is corrupt: `[SHARD]` has sha256 [HASH], the manifest recorded [HASH]; refusing to restore (nothing was changed)
      help: the file changed after the backup was written: take a new backup with `promo-infra backup run --target native` (no older backup is intact; `promo-infra backup list` marks the corrupt ones)
    "
    );
    // Nothing was restored.
    assert!(
        !databases(&server.url(), &values)
            .await
            .contains(&"k6".to_string())
    );
}

#[test]
fn backup_run_against_no_server_is_a_clear_error_and_leaves_nothing() {
    let port = crate::common::free_port().port(); // let go: nothing listens there
    let p = TestContext::new();
    p.write(
        "stacks/promo.yaml",
        &v1_manifest("shop", port, "127.0.0.1:1", ""),
    );
    // Refused at once (not a timeout): the ping's connection is refused and said so.
    promo_snapshot!(p.cmd(&["backup", "run", "--target", "native"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
      x InfluxDB is not reachable at http://127.0.0.1:[PORT]/ping: Connection refused (os error 111)
      help: check whether the stack runs (`promo-infra status --target native`): start it with `promo-infra apply --target native`, or fix influxdb.bind / influxdb.port in the manifest
    ");
    assert!(
        !p.path().join("backups/shop").exists()
            || std::fs::read_dir(p.path().join("backups/shop"))
                .expect("dir")
                .next()
                .is_none()
    );
}

/// A backup killed half-way leaves only `.tmp-<id>`: listed as incomplete, never as a backup;
/// rotate leaves it while it may still be running and removes it once stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_backup_is_never_listed_as_valid() {
    // A real server answers /ping; a stand-in `influxd` on PATH hangs like a slow backup.
    let server = RealInfluxd::start(false);
    let p = TestContext::new();
    p.write(
        "stacks/promo.yaml",
        &v1_manifest("shop", server.http_port(), &server.rpc(), ""),
    );
    // No database yet: influxd would say "backup failed: EOF"; promo-infra says what is wrong.
    promo_snapshot!(p.cmd(&["backup", "run", "--target", "native"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
    backup: InfluxDB 1.6.7~rc0 answers
      x database `k6` does not exist on http://127.0.0.1:[PORT]: nothing to back up
      help: create it with `promo-infra apply --target native`, or fix influxdb.bucket in the manifest
    ");
    // (auth is off on this server: no .env needed)
    let created = reqwest::Client::new()
        .post(format!("{}/query", server.url()))
        .form(&[("q", "CREATE DATABASE \"k6\"")])
        .send()
        .await
        .expect("create database");
    assert!(created.status().is_success());
    let bin = tempfile::tempdir().expect("bin");
    let pidfile = bin.path().join("standin.pid");
    write_exec(
        &bin.path().join("influxd"),
        &format!(
            "#!/bin/sh\n# stand-in influxd: writes half a backup, then hangs\necho $$ > {}\nfor last in \"$@\"; do :; done\nprintf partial > \"$last/20261124T030000Z.meta\"\nexec sleep 60\n",
            pidfile.display()
        ),
    );
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = crate::common::promo()
        .current_dir(p.path())
        .env("PATH", &path)
        .env("PROMO_INFRA_NOW", NOW)
        .args(["backup", "run", "--target", "native"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let meta = p
        .path()
        .join(format!("backups/shop/.tmp-{ID}/20261124T030000Z.meta"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(meta.exists() && pidfile.exists()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(meta.exists(), "the stand-in never started");
    // Kill promo-infra (SIGKILL: no cleanup), then the stand-in it started, both by PID.
    child.kill().expect("kill promo-infra");
    child.wait().expect("wait");
    let standin: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid")
        .trim()
        .parse()
        .expect("pid number");
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &standin.to_string()])
            .status()
            .expect("kill")
            .success()
    );

    let list = p.run(&["backup", "list", "--json"]);
    ok(&list, "list");
    let doc: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    assert_eq!(doc["format_version"], "1.0", "{doc}");
    let v = &doc["backups"];
    assert_eq!(v.as_array().expect("array").len(), 1, "{v}");
    assert_eq!(v[0]["id"], format!(".tmp-{ID}"));
    assert_eq!(v[0]["status"], "incomplete");

    // One hour later: may still be running → left alone.
    promo_snapshot!(
        p.cmd(&["backup", "rotate"])
            .env("PROMO_INFRA_NOW", "2026-11-24T04:00:00Z"),
        @"
    success: true
    exit_code: 0
    ----- stdout -----
    policy: keep last 2, daily 7, weekly 4, monthly 6 (UTC days, ISO weeks, months)
    keep 0 backup(s):
    removed 0 backup(s):
    left alone 1 entr(y/ies):
      ! .tmp-20261124T030000Z  incomplete backup started 1 h ago: may still be running; removed once older than 24 h
    ✓ 0 kept, 0 removed

    ----- stderr -----
    "
    );
    assert!(p.path().join(format!("backups/shop/.tmp-{ID}")).exists());
    // A day later: stale → removed.
    promo_snapshot!(
        p.cmd(&["backup", "rotate"])
            .env("PROMO_INFRA_NOW", "2026-11-25T04:00:00Z"),
        @"
    success: true
    exit_code: 0
    ----- stdout -----
    policy: keep last 2, daily 7, weekly 4, monthly 6 (UTC days, ISO weeks, months)
    keep 0 backup(s):
    removed 1 backup(s):
      - .tmp-20261124T030000Z  incomplete backup started 25 h ago (interrupted; older than 24 h)
    ✓ 0 kept, 1 removed

    ----- stderr -----
    "
    );
    assert!(!p.path().join(format!("backups/shop/.tmp-{ID}")).exists());

    // A failing tool leaves nothing either.
    write_exec(
        &bin.path().join("influxd"),
        "#!/bin/sh\necho 'backup: connect: connection refused' >&2\nexit 1\n",
    );
    promo_snapshot!(
        p.cmd(&["backup", "run", "--target", "native"])
            .envs(&[("PATH", &path), ("PROMO_INFRA_NOW", NOW)]),
        @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
    backup: InfluxDB 1.6.7~rc0 answers
    backup: running influxd backup -portable -host 127.0.0.1:[PORT] -db k6 backups/shop/.tmp-20261124T030000Z
      x `influxd backup -portable -host 127.0.0.1:[PORT] -db k6 backups/shop/.tmp-20261124T030000Z` failed (exit status: 1):
      |   backup: connect: connection refused
      help: `influxd backup/restore` talk to the RPC bind-address 127.0.0.1:[PORT] (backup.influx_rpc): check that InfluxDB listens there
    "
    );
    assert_eq!(
        std::fs::read_dir(p.path().join("backups/shop"))
            .expect("dir")
            .count(),
        0
    );
}

fn write_exec(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

// ---------------------------------------------------------------------------------------------
// InfluxDB 2.x: double + stand-in CLI

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influx2_backup_and_restore_pass_the_token_in_the_environment_only() {
    let p = TestContext::new();
    // Generate first (placeholder port) to get the .env token, then start the double with it.
    let manifest = |port: u16| {
        format!(
            "stack: shop2\nenvironment: preprod\ninfluxdb:\n  version: 2\n  image: influxdb:2.7\n  port: {port}\n  org: shop-org\n  bucket: k6-metrics\n\
             grafana:\n  image: grafana/grafana:10.2.3\n  port: 3999\ncontrol_api:\n  enabled: false\n\
             backup:\n  schedule: \"0 3 * * *\"\n  keep: {{ last: 3 }}\n"
        )
    };
    p.write("stacks/promo.yaml", &manifest(18086));
    ok(&p.run(&["generate"]), "generate");
    let values = env_values(&p, "shop2");
    let token = values
        .get(secrets::INFLUX_ADMIN_TOKEN)
        .expect("token")
        .to_string();
    let double = promo_doubles::influx2::spawn(promo_doubles::influx2::Influx2Config {
        setup: Some(promo_doubles::influx2::Influx2Setup {
            username: "promo-admin".into(),
            password: values
                .get(secrets::INFLUX_ADMIN_PASSWORD)
                .expect("pw")
                .into(),
            org: "shop-org".into(),
            bucket: "k6-metrics".into(),
            retention_seconds: 0,
            token: Some(token.clone()),
        }),
        version: "2.7.10-double".into(),
        influxql_backend: None,
    })
    .await
    .expect("double");
    p.write("stacks/promo.yaml", &manifest(double.addr().port()));

    let bin = tempfile::tempdir().expect("bin");
    std::fs::copy(
        crate::common::repo().join("tests/fixtures/influx-standin.sh"),
        bin.path().join("influx"),
    )
    .expect("copy stand-in");
    let log = bin.path().join("influx.log");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [
        ("PATH", path.as_str()),
        ("INFLUX_STANDIN_LOG", log.to_str().expect("utf-8")),
        ("PROMO_INFRA_NOW", NOW),
    ];
    let url = double.url();

    let run = promo_snapshot!(
        p.cmd(&["backup", "run", "--target", "native"])
            .envs(&env)
            .run()
            .filter(&url, "[INFLUX2_URL]"),
        @"
    success: true
    exit_code: 0
    ----- stdout -----
    $ influx backup --host [INFLUX2_URL] --org shop-org --bucket k6-metrics backups/shop2/20261124T030000Z
      + backups/shop2/20261124T030000Z (3 files, 153 B, database k6-metrics, InfluxDB 2.7.10-double)
    ✓ backup 20261124T030000Z complete

    ----- stderr -----
    backup: checking InfluxDB at [INFLUX2_URL]
    backup: InfluxDB 2.7.10-double answers
    backup: running influx backup --host [INFLUX2_URL] --org shop-org --bucket k6-metrics backups/shop2/.tmp-20261124T030000Z
    backup: hashing the files (sha256)
    "
    );
    let recorded = std::fs::read_to_string(&log).expect("log");
    let dir = p.path().join(format!("backups/shop2/{ID}"));
    let tmp = p.path().join(format!("backups/shop2/.tmp-{ID}"));
    assert_eq!(
        recorded,
        format!(
            "--- argv\nbackup\n--host\n{url}\n--org\nshop-org\n--bucket\nk6-metrics\n{}\n--- env\nINFLUX_TOKEN={token}\n",
            tmp.display()
        )
    );
    let m = BackupManifest::read(&dir).expect("read").expect("manifest");
    assert_eq!(
        (m.influxdb_version, m.org.as_deref()),
        (2, Some("shop-org"))
    );
    assert_eq!(m.server_version, "2.7.10-double");
    let names: Vec<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "20261124T030000Z.1.tar.gz",
            "20261124T030000Z.bolt.gz",
            "20261124T030000Z.manifest"
        ]
    );
    assert_no_secret(&values, &run.all(), "backup run output");
    assert_no_secret(
        &values,
        &p.read(&format!("backups/shop2/{ID}/{}", bmanifest::FILE)),
        "manifest",
    );

    std::fs::remove_file(&log).expect("reset log");
    let restore = promo_snapshot!(
        p.cmd(&[
            "backup",
            "restore",
            ID,
            "--as",
            "k6-restored",
            "--target",
            "native",
        ])
        .envs(&env)
        .run()
        .filter(&url, "[INFLUX2_URL]"),
        @"
    success: true
    exit_code: 0
    ----- stdout -----
    ✓ backup 20261124T030000Z: 3 files verified (sha256)
    $ influx restore --host [INFLUX2_URL] --org shop-org --bucket k6-metrics --new-bucket k6-restored backups/shop2/20261124T030000Z
    ✓ restored into `k6-restored`

    ----- stderr -----
    backup: checking InfluxDB at [INFLUX2_URL]
    backup: InfluxDB 2.7.10-double answers
    backup: running influx restore --host [INFLUX2_URL] --org shop-org --bucket k6-metrics --new-bucket k6-restored backups/shop2/20261124T030000Z
    "
    );
    assert_eq!(
        std::fs::read_to_string(&log).expect("log"),
        format!(
            "--- argv\nrestore\n--host\n{url}\n--org\nshop-org\n--bucket\nk6-metrics\n--new-bucket\nk6-restored\n{}\n--- env\nINFLUX_TOKEN={token}\n",
            dir.display()
        )
    );
    assert_no_secret(&values, &restore.all(), "restore output");

    // Without the token in .env, promo-infra refuses before running influx.
    let env_file = p.path().join("generated/shop2/.env");
    let text = std::fs::read_to_string(&env_file).expect(".env");
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("INFLUXDB_ADMIN_TOKEN="))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&env_file, without).expect("write .env");
    std::fs::remove_file(&log).expect("reset log");
    promo_snapshot!(
        p.cmd(&["backup", "run", "--target", "native"])
            .envs(&env)
            .run()
            .filter(&url, "[INFLUX2_URL]"),
        @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    backup: checking InfluxDB at [INFLUX2_URL]
    backup: InfluxDB 2.7.10-double answers
      x secrets file `generated/shop2/.env`: INFLUXDB_ADMIN_TOKEN is not set: `influx` needs the operator token
      help: run `promo-infra generate` to create it (or add it to .env)
    "
    );
    assert!(!log.exists(), "influx must not run without a token");
    double.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// systemd units and the scheduled command line

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_backup_units_verify_and_their_command_runs() {
    // The committed units (binary path /usr/local/bin/promo-infra, as on a production host):
    // systemd checks the ExecStart program (/usr/bin/flock), the calendar and the Unit= link.
    for stack in ["promo", "promo-v1"] {
        let dir = crate::common::repo().join(format!("generated/{stack}/systemd"));
        verify_units(&[
            dir.join(format!("promo-infra-{stack}-backup.service")),
            dir.join(format!("promo-infra-{stack}-backup.timer")),
        ]);
    }

    // The same units generated with this build's binary and this project: the command inside
    // `sh -c` (which systemd cannot check) is run for real against a real influxd.
    let server = RealInfluxd::start(true);
    let p = TestContext::new();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_promo-infra"));
    p.write(
        "stacks/promo.yaml",
        &v1_manifest(
            "bkunit",
            server.http_port(),
            &server.rpc(),
            &format!(
                "  project_dir: {}\n  binary: {}\n",
                p.path().display(),
                bin.display()
            ),
        ),
    );
    let values = init_server(&p, &server, "bkunit").await;
    write_points(&server.url(), &values, k6_points("nightly", 10)).await;
    let unit_dir = p.path().join("generated/bkunit/systemd");
    let service = unit_dir.join("promo-infra-bkunit-backup.service");
    verify_units(&[
        service.clone(),
        unit_dir.join("promo-infra-bkunit-backup.timer"),
    ]);
    let text = std::fs::read_to_string(&service).expect("service");
    let exec = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    // The generated unit FILE's ExecStart (its sh quoting is run below, which is the exact check).
    assert!(
        exec.contains(&format!("{} backup run", bin.display())),
        "{exec}"
    );
    assert!(
        exec.contains(&format!("{} backup rotate", bin.display())),
        "{exec}"
    );
    let workdir = text
        .lines()
        .find_map(|l| l.strip_prefix("WorkingDirectory="))
        .expect("WorkingDirectory");
    // The systemd unit sits beside the native target's units: its command names the target.
    assert!(exec.contains(" backup run --target native -f "), "{exec}");
    // systemd's quoting of this line is plain sh quoting (single quotes around the sh -c script).
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(exec)
        .current_dir(workdir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run ExecStart");
    let run = crate::common::Run::new(
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        p.path(),
    );
    promo_snapshot!(on_the_clock(run), @"
    success: true
    exit_code: 0
    ----- stdout -----
    $ influxd backup -portable -host 127.0.0.1:[PORT] -db k6 backups/bkunit/[BACKUP_ID]
      + backups/bkunit/[BACKUP_ID] (4 files, [SIZE], database k6, InfluxDB 1.6.7~rc0)
    ✓ backup [BACKUP_ID] complete
    policy: keep last 2, daily 7, weekly 4, monthly 6 (UTC days, ISO weeks, months)
    keep 1 backup(s):
      = [BACKUP_ID]  last backup #1, daily backup [DAY], weekly backup [WEEK], monthly backup [MONTH], newest valid backup (always kept)
    removed 0 backup(s):
    ✓ 1 kept, 0 removed

    ----- stderr -----
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
    backup: InfluxDB 1.6.7~rc0 answers
    backup: running influxd backup -portable -host 127.0.0.1:[PORT] -db k6 backups/bkunit/.tmp-[BACKUP_ID]
    backup: hashing the files (sha256)
    ");
    let list = p.run(&["backup", "list", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    assert_eq!(doc["format_version"], "1.0", "{doc}");
    let v = &doc["backups"];
    assert_eq!(v.as_array().expect("array").len(), 1);
    assert_eq!(v[0]["status"], "ok");
}

fn verify_units(units: &[PathBuf]) {
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .args(units)
        .output()
        .expect(
            "systemd-analyze must be installed (apt-get install systemd; scripts/setup.sh does it)",
        );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify {units:?}: {}\n{stderr}",
        out.status
    );
}

// ---------------------------------------------------------------------------------------------
// rotation over generated trees

/// A backup as `backup run` leaves it, without a server: one data file plus our manifest.
pub fn fake_backup(root: &Path, stack: &str, id: &str) {
    let dir = root.join(id);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let base = id.split('-').next().expect("base");
    std::fs::write(
        dir.join(format!("{base}.manifest")),
        format!("{{\"id\":\"{id}\"}}\n"),
    )
    .expect("write");
    std::fs::write(dir.join(format!("{base}.s1.tar.gz")), id.repeat(20)).expect("write");
    let time = promo_infra::backup::parse_id(id).expect("id");
    let m = BackupManifest {
        format: bmanifest::FORMAT,
        tool: "promo-infra".into(),
        tool_version: "0.1.0".into(),
        id: id.into(),
        stack: stack.into(),
        influxdb_version: 1,
        server_version: "1.6.7~rc0".into(),
        database: "k6".into(),
        org: None,
        started_at: time.to_string(),
        finished_at: time.to_string(),
        files: bmanifest::hash_dir(&dir).expect("hash"),
    };
    m.write(&dir).expect("manifest");
}

/// [`fake_backup`], restorable: InfluxDB's `.meta` too, recorded in our manifest.
pub fn restorable_fake_backup(root: &Path, stack: &str, id: &str) {
    fake_backup(root, stack, id);
    let dir = root.join(id);
    std::fs::write(dir.join(format!("{id}.meta")), "meta").expect("meta");
    let mut m = BackupManifest::read(&dir).expect("read").expect("manifest");
    m.files = bmanifest::hash_dir(&dir).expect("hash");
    m.write(&dir).expect("write");
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

pub fn rotation_project() -> (TestContext, PathBuf) {
    let p = TestContext::new();
    p.write(
        "stacks/promo.yaml",
        &v1_manifest("shop", 18086, "127.0.0.1:18088", "").replace(
            "last: 2, daily: 7, weekly: 4, monthly: 6",
            "last: 2, daily: 3, weekly: 4, monthly: 2",
        ),
    );
    let root = p.path().join("backups/shop");
    std::fs::create_dir_all(&root).expect("mkdir");
    (p, root)
}

/// Years, ISO-week-year and month boundaries, same-day and same-second duplicates, a corrupt
/// newest backup, incomplete and half-removed backups, foreign files and directories.
#[test]
fn rotation_keeps_exactly_the_hand_computed_set() {
    let (p, root) = rotation_project();
    let valid = [
        "20241129T030000Z",   // A  Fri, 2024-W48, 2024-11
        "20241231T233000Z",   // B  Tue, ISO 2025-W01 (!), 2024-12
        "20250101T003000Z",   // C  Wed, 2025-W01, 2025-01
        "20250131T235959Z",   // D  Fri, 2025-W05, last second of January
        "20250201T000000Z",   // E  Sat, 2025-W05, first second of February
        "20250202T030000Z",   // F  Sun, 2025-W05
        "20250203T030000Z",   // G  Mon, 2025-W06
        "20250203T150000Z",   // H1 same day as G
        "20250203T150000Z-2", // H2 same second as H1
    ];
    for id in valid {
        fake_backup(&root, "shop", id);
    }
    // The newest of all, corrupted after the fact (same size): not counted, left alone.
    fake_backup(&root, "shop", "20250204T030000Z");
    let shard = root.join("20250204T030000Z/20250204T030000Z.s1.tar.gz");
    let mut bytes = std::fs::read(&shard).expect("read");
    bytes[3] ^= 0x20;
    std::fs::write(&shard, bytes).expect("write");
    // Incomplete: a stale one (removed), a recent one (left: may be running).
    for (name, _) in [(".tmp-20250101T030000Z", ()), (".tmp-20250204T090000Z", ())] {
        std::fs::create_dir_all(root.join(name)).expect("mkdir");
        std::fs::write(
            root.join(name).join(".promo-infra-partial"),
            "promo-infra backup of stack shop started 2025-01-01T03:00:00Z by pid 1\n",
        )
        .expect("marker");
        std::fs::write(root.join(name).join("20250101T030000Z.meta"), "half").expect("file");
    }
    // An interrupted removal (ours): finished.
    fake_backup(&root, "shop", "20240101T030000Z");
    std::fs::rename(
        root.join("20240101T030000Z"),
        root.join(".del-20240101T030000Z"),
    )
    .expect("rename");
    // Foreign: never touched, whatever their names.
    std::fs::write(root.join("README.txt"), "hand-made notes").expect("write");
    std::fs::create_dir_all(root.join("manual-copy")).expect("mkdir");
    std::fs::write(root.join("manual-copy/20230101T000000Z.manifest"), "{}").expect("write");
    std::fs::create_dir_all(root.join("20230105T030000Z")).expect("mkdir");
    std::fs::write(root.join("20230105T030000Z/data"), "someone else's").expect("write");
    std::fs::create_dir_all(root.join(".tmp-foo")).expect("mkdir");
    fake_backup(&root, "other-stack", "20220110T030000Z");

    let before = p.snapshot_tree();
    let now = [("PROMO_INFRA_NOW", "2025-02-04T12:00:00Z")];

    // Dry run: decisions printed, nothing removed.
    let dry = promo_snapshot!(p.cmd(&["backup", "rotate", "--dry-run"]).envs(&now), @"
    success: true
    exit_code: 0
    ----- stdout -----
    policy: keep last 2, daily 3, weekly 4, monthly 2 (UTC days, ISO weeks, months)
    keep 7 backup(s):
      = 20250203T150000Z-2  last backup #1, daily backup 2025-02-03, weekly backup 2025-W06, monthly backup 2025-02, newest valid backup (always kept)
      = 20250203T150000Z  last backup #2
      = 20250202T030000Z  daily backup 2025-02-02, weekly backup 2025-W05
      = 20250201T000000Z  daily backup 2025-02-01
      = 20250131T235959Z  monthly backup 2025-01
      = 20250101T003000Z  weekly backup 2025-W01
      = 20241129T030000Z  weekly backup 2024-W48
    would remove 4 backup(s):
      - 20250203T030000Z  not among the 2 newest; day 2025-02-03 is kept as 20250203T150000Z-2; week 2025-W06 is kept as 20250203T150000Z-2; month 2025-02 is kept as 20250203T150000Z-2
      - .tmp-20250101T030000Z  incomplete backup started 825 h ago (interrupted; older than 24 h)
      - 20241231T233000Z  not among the 2 newest; 2024-12-31 is beyond the 3 newest days (keep.daily 3); week 2025-W01 is kept as 20250101T003000Z; 2024-12 is beyond the 2 newest months (keep.monthly 2)
      - .del-20240101T030000Z  removal of this backup was interrupted; finishing it
    left alone 7 entr(y/ies):
      ! .tmp-20250204T090000Z  incomplete backup started 3 h ago: may still be running; removed once older than 24 h
      ! 20250204T030000Z  corrupt (`20250204T030000Z.s1.tar.gz` has sha256 [HASH], the manifest recorded [HASH]): not counted, left for you to inspect and delete
      ! manual-copy  foreign (no promo-infra-backup.json inside: not created by promo-infra): never touched
      ! README.txt  foreign (a file promo-infra did not create): never touched
      ! 20230105T030000Z  foreign (no promo-infra-backup.json inside: not created by promo-infra): never touched
      ! 20220110T030000Z  foreign (a backup of stack `other-stack`): never touched
      ! .tmp-foo  foreign (no promo-infra-backup.json inside: not created by promo-infra): never touched
    ✓ dry run: nothing was removed

    ----- stderr -----
    ");
    assert_eq!(dry.code, 0);
    assert_eq!(p.snapshot_tree(), before, "--dry-run changed the tree");
    let json = p.run_env(&["backup", "rotate", "--dry-run", "--json"], &now);
    ok(&json, "rotate --dry-run --json");
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(v["format_version"], "1.0", "{v}");
    assert_eq!(v["stack"], "shop", "{v}");
    assert_eq!(v["dry_run"], true);
    let removed: BTreeSet<&str> = v["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .filter(|d| d["action"] == "remove")
        .map(|d| d["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        removed,
        BTreeSet::from([
            "20250203T030000Z",
            "20241231T233000Z",
            ".tmp-20250101T030000Z",
            ".del-20240101T030000Z"
        ])
    );
    assert_eq!(p.snapshot_tree(), before);

    // For real: exactly the kept backups, the corrupt one, the young partial and every foreign
    // entry remain — byte for byte.
    promo_snapshot!(p.cmd(&["backup", "rotate"]).envs(&now), @"
    success: true
    exit_code: 0
    ----- stdout -----
    policy: keep last 2, daily 3, weekly 4, monthly 2 (UTC days, ISO weeks, months)
    keep 7 backup(s):
      = 20250203T150000Z-2  last backup #1, daily backup 2025-02-03, weekly backup 2025-W06, monthly backup 2025-02, newest valid backup (always kept)
      = 20250203T150000Z  last backup #2
      = 20250202T030000Z  daily backup 2025-02-02, weekly backup 2025-W05
      = 20250201T000000Z  daily backup 2025-02-01
      = 20250131T235959Z  monthly backup 2025-01
      = 20250101T003000Z  weekly backup 2025-W01
      = 20241129T030000Z  weekly backup 2024-W48
    removed 4 backup(s):
      - 20250203T030000Z  not among the 2 newest; day 2025-02-03 is kept as 20250203T150000Z-2; week 2025-W06 is kept as 20250203T150000Z-2; month 2025-02 is kept as 20250203T150000Z-2
      - .tmp-20250101T030000Z  incomplete backup started 825 h ago (interrupted; older than 24 h)
      - 20241231T233000Z  not among the 2 newest; 2024-12-31 is beyond the 3 newest days (keep.daily 3); week 2025-W01 is kept as 20250101T003000Z; 2024-12 is beyond the 2 newest months (keep.monthly 2)
      - .del-20240101T030000Z  removal of this backup was interrupted; finishing it
    left alone 7 entr(y/ies):
      ! .tmp-20250204T090000Z  incomplete backup started 3 h ago: may still be running; removed once older than 24 h
      ! 20250204T030000Z  corrupt (`20250204T030000Z.s1.tar.gz` has sha256 [HASH], the manifest recorded [HASH]): not counted, left for you to inspect and delete
      ! manual-copy  foreign (no promo-infra-backup.json inside: not created by promo-infra): never touched
      ! README.txt  foreign (a file promo-infra did not create): never touched
      ! 20230105T030000Z  foreign (no promo-infra-backup.json inside: not created by promo-infra): never touched
      ! 20220110T030000Z  foreign (a backup of stack `other-stack`): never touched
      ! .tmp-foo  foreign (no promo-infra-backup.json inside: not created by promo-infra): never touched
    ✓ 7 kept, 4 removed

    ----- stderr -----
    ");
    let want: BTreeSet<String> = [
        "20250203T150000Z-2",
        "20250203T150000Z",
        "20250202T030000Z",
        "20250201T000000Z",
        "20250131T235959Z",
        "20250101T003000Z",
        "20241129T030000Z",
        "20250204T030000Z",
        ".tmp-20250204T090000Z",
        "README.txt",
        "manual-copy",
        "20230105T030000Z",
        ".tmp-foo",
        "20220110T030000Z",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(names(&root), want);
    let after = p.snapshot_tree();
    for (path, bytes) in &before {
        let survives = want.iter().any(|w| {
            path.strip_prefix("backups/shop/")
                .is_some_and(|rest| rest == w || rest.starts_with(&format!("{w}/")))
        }) || !path.starts_with("backups/shop/");
        if survives {
            assert!(
                after.contains(&(path.clone(), bytes.clone())),
                "{path} changed or vanished"
            );
        }
    }
    // Idempotent: a second rotation removes nothing.
    promo_snapshot!(p.cmd(&["backup", "rotate"]).envs(&now), @"
    success: true
    exit_code: 0
    ----- stdout -----
    policy: keep last 2, daily 3, weekly 4, monthly 2 (UTC days, ISO weeks, months)
    keep 7 backup(s):
      = 20250203T150000Z-2  last backup #1, daily backup 2025-02-03, weekly backup 2025-W06, monthly backup 2025-02, newest valid backup (always kept)
      = 20250203T150000Z  last backup #2
      = 20250202T030000Z  daily backup 2025-02-02, weekly backup 2025-W05
      = 20250201T000000Z  daily backup 2025-02-01
      = 20250131T235959Z  monthly backup 2025-01
      = 20250101T003000Z  weekly backup 2025-W01
      = 20241129T030000Z  weekly backup 2024-W48
    removed 0 backup(s):
    left alone 7 entr(y/ies):
      ! .tmp-20250204T090000Z  incomplete backup started 3 h ago: may still be running; removed once older than 24 h
      ! 20250204T030000Z  corrupt (`20250204T030000Z.s1.tar.gz` has sha256 [HASH], the manifest recorded [HASH]): not counted, left for you to inspect and delete
      ! manual-copy  foreign (no promo-infra-backup.json inside: not created by promo-infra): never touched
      ! README.txt  foreign (a file promo-infra did not create): never touched
      ! 20230105T030000Z  foreign (no promo-infra-backup.json inside: not created by promo-infra): never touched
      ! 20220110T030000Z  foreign (a backup of stack `other-stack`): never touched
      ! .tmp-foo  foreign (no promo-infra-backup.json inside: not created by promo-infra): never touched
    ✓ 7 kept, 0 removed

    ----- stderr -----
    ");
    assert_eq!(names(&root), want);

    // `backup list` on what remains.
    let list = p.run(&["backup", "list", "--json"]);
    ok(&list, "list");
    let doc: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    assert_eq!(doc["format_version"], "1.0", "{doc}");
    let v = &doc["backups"];
    let status = |id: &str| {
        v.as_array()
            .expect("array")
            .iter()
            .find(|e| e["id"] == id)
            .map(|e| e["status"].as_str().expect("status").to_string())
            .unwrap_or_else(|| panic!("{id} not listed"))
    };
    assert_eq!(status("20250203T150000Z-2"), "ok");
    assert_eq!(status("20250204T030000Z"), "corrupt");
    assert_eq!(status(".tmp-20250204T090000Z"), "incomplete");
    assert_eq!(status("manual-copy"), "foreign");
    assert_eq!(status("20220110T030000Z"), "foreign");
}

/// Daily backups for three years: whatever the day rotation runs on, the newest valid backup
/// survives, the policy's counts are never exceeded, and foreign entries stay.
#[test]
fn rotation_over_three_years_of_daily_backups() {
    let (p, root) = rotation_project();
    let start: jiff::Timestamp = "2023-12-25T03:00:00Z".parse().expect("t");
    let mut ids = Vec::new();
    for d in 0..(3 * 365) {
        let t = start + jiff::SignedDuration::from_hours(24 * d);
        ids.push(promo_infra::backup::format_id(t));
    }
    for id in &ids {
        fake_backup(&root, "shop", id);
    }
    std::fs::write(root.join("keep-me.txt"), "foreign").expect("write");
    let newest = ids.last().expect("newest").clone();
    let run = p.run_env(
        &["backup", "rotate"],
        &[("PROMO_INFRA_NOW", "2026-12-24T12:00:00Z")],
    );
    ok(&run, "rotate");
    let left = names(&root);
    assert!(left.contains(&newest) && left.contains("keep-me.txt"));
    // last 2 + daily 3 (overlapping) + weekly 4 + monthly 2, ISO weeks of 2026-12: the three
    // newest days (Dec 21-23; Dec 22 is the 2nd newest), the Sundays closing W51, W50, W49
    // (Dec 20, 13, 6), and the newest of November (Nov 30). 2026-12-23 is Wednesday of W52.
    let want: BTreeSet<String> = [
        "20261223T030000Z",
        "20261222T030000Z",
        "20261221T030000Z",
        "20261220T030000Z",
        "20261213T030000Z",
        "20261206T030000Z",
        "20261130T030000Z",
        "keep-me.txt",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(left, want, "{}", run.stdout);
}

#[test]
fn restore_refuses_unknown_ids_and_bad_names_without_touching_anything() {
    let (p, root) = rotation_project();
    fake_backup(&root, "shop", "20250203T030000Z");
    let before = p.snapshot_tree();
    let mut runs = Runs::default();
    for args in [
        &["20250101T000000Z"][..],
        &["../shop"],
        &["20250203T030000Z", "--as=-rp"],
    ] {
        let all = [&["backup", "restore"][..], args, &["--target", "native"]].concat();
        runs.push(all.join(" "), p.run(&all));
    }
    promo_snapshot!(runs, @"
    === backup restore 20250101T000000Z --target native ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x no backup `20250101T000000Z` in backups/shop
      help: backups: 20250203T030000Z (see `promo-infra backup list`)

    === backup restore ../shop --target native ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x no backup `../shop` in backups/shop
      help: backups: 20250203T030000Z (see `promo-infra backup list`)

    === backup restore 20250203T030000Z --as=-rp --target native ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x --as `-rp` is not a database / bucket name
      help: use letters, digits, `_` and `-`, not starting with `-` (e.g. `k6_restored`)
    ");
    assert_eq!(p.snapshot_tree(), before);
}

// ---------------------------------------------------------------------------------------------
// safety (issue 10): rotation loses only what the policy drops; restore uses real files only

/// Flip one byte of a file of a backup, keeping its size.
fn flip_a_byte(dir: &Path) -> String {
    let m = BackupManifest::read(dir).expect("read").expect("manifest");
    let f = m
        .files
        .iter()
        .find(|f| f.name.ends_with(".tar.gz"))
        .expect("a shard file");
    let path = dir.join(&f.name);
    let mut bytes = std::fs::read(&path).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");
    f.name.clone()
}

fn policy_project(keep: &str) -> (TestContext, PathBuf) {
    let p = TestContext::new();
    p.write(
        "stacks/promo.yaml",
        &v1_manifest("shop", 18086, "127.0.0.1:18088", "").replace(
            "keep: { last: 2, daily: 7, weekly: 4, monthly: 6 }",
            &format!("keep: {keep}"),
        ),
    );
    let root = p.path().join("backups/shop");
    std::fs::create_dir_all(&root).expect("mkdir");
    (p, root)
}

/// The newest backup of 2026-W47 is corrupted (one byte, same size), the week has another
/// valid backup, and a newer week's backup is valid. The old rotation checked only sizes below
/// the newest backup: it kept the corrupt one for the week and removed the valid one.
#[test]
fn a_corrupt_backup_never_fills_a_bucket_and_nothing_valid_is_lost() {
    let (p, root) = policy_project("{ weekly: 2 }");
    let older = "20261117T030000Z"; // Tue, 2026-W47
    let corrupt = "20261119T030000Z"; // Thu, 2026-W47: newest of its week
    let newest = "20261124T030000Z"; // Tue, 2026-W48
    for id in [older, corrupt, newest] {
        fake_backup(&root, "shop", id);
    }
    let shard = flip_a_byte(&root.join(corrupt));
    let r = promo_snapshot!(p.cmd(&["backup", "rotate"]).env("PROMO_INFRA_NOW", NOW), @"
    success: true
    exit_code: 0
    ----- stdout -----
    policy: keep last 0, daily 0, weekly 2, monthly 0 (UTC days, ISO weeks, months)
    keep 2 backup(s):
      = 20261124T030000Z  weekly backup 2026-W48, newest valid backup (always kept)
      = 20261117T030000Z  weekly backup 2026-W47
    removed 0 backup(s):
    left alone 1 entr(y/ies):
      ! 20261119T030000Z  corrupt (`20261119T030000Z.s1.tar.gz` has sha256 [HASH], the manifest recorded [HASH]): not counted, left for you to inspect and delete
    ✓ 2 kept, 0 removed

    ----- stderr -----
    ");
    assert_eq!(
        names(&root),
        [older, corrupt, newest]
            .into_iter()
            .map(String::from)
            .collect(),
        "{}",
        r.stdout
    );
    assert_eq!(
        shard,
        format!("{corrupt}.s1.tar.gz"),
        "the snapshot names this shard"
    );
}

/// A backup a `backup restore` holds (its directory's lock, here taken by this test as the
/// restore takes it) is left by rotation, which says why, and removed by the next rotation once
/// released. The old rotation removed it under the running restore, whose copy in the container
/// then looked abandoned.
#[test]
fn a_backup_being_restored_is_left_by_rotation_until_released() {
    use std::os::unix::fs::OpenOptionsExt;

    let (p, root) = policy_project("{ last: 1 }");
    let (older, newest) = ("20261123T030000Z", "20261124T030000Z");
    for id in [older, newest] {
        fake_backup(&root, "shop", id);
    }
    let restoring = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY)
        .open(root.join(older))
        .expect("open");
    restoring.try_lock_shared().expect("lock");
    promo_snapshot!(p.cmd(&["backup", "rotate"]).env("PROMO_INFRA_NOW", NOW), @"
    success: true
    exit_code: 0
    ----- stdout -----
    policy: keep last 1, daily 0, weekly 0, monthly 0 (UTC days, ISO weeks, months)
    keep 1 backup(s):
      = 20261124T030000Z  last backup #1, newest valid backup (always kept)
    removed 0 backup(s):
    left alone 1 entr(y/ies):
      ! 20261123T030000Z  being restored (a `backup restore` holds it): removed by a later rotation
    ✓ 1 kept, 0 removed

    ----- stderr -----
    ");
    assert!(root.join(older).is_dir());
    drop(restoring);
    promo_snapshot!(p.cmd(&["backup", "rotate"]).env("PROMO_INFRA_NOW", NOW), @"
    success: true
    exit_code: 0
    ----- stdout -----
    policy: keep last 1, daily 0, weekly 0, monthly 0 (UTC days, ISO weeks, months)
    keep 1 backup(s):
      = 20261124T030000Z  last backup #1, newest valid backup (always kept)
    removed 1 backup(s):
      - 20261123T030000Z  not among the 1 newest
    ✓ 1 kept, 1 removed

    ----- stderr -----
    ");
    assert_eq!(names(&root), BTreeSet::from([newest.to_string()]));
}

/// `.del-<id>` is removed only when its content proves it is an interrupted removal of OUR
/// backup `<id>` of THIS stack. The old rotation removed any `.del-*` holding a manifest.
#[test]
fn a_del_dir_holding_another_stacks_backup_survives_rotate() {
    let (p, root) = policy_project("{ last: 2 }");
    fake_backup(&root, "shop", "20261124T030000Z");
    // Another stack's backup, renamed as if being removed, with a file of someone else's.
    let theirs = root.join(".del-20261120T030000Z");
    fake_backup(&root, "other", "20261120T030000Z");
    std::fs::rename(root.join("20261120T030000Z"), &theirs).expect("rename");
    std::fs::write(theirs.join("notes.txt"), "keep me").expect("write");
    // Ours, but the id inside does not match the name.
    let mismatched = root.join(".del-20261121T030000Z");
    fake_backup(&root, "shop", "20261119T030000Z");
    std::fs::rename(root.join("20261119T030000Z"), &mismatched).expect("rename");
    // An interrupted removal of our own backup: finished.
    fake_backup(&root, "shop", "20261118T030000Z");
    std::fs::rename(
        root.join("20261118T030000Z"),
        root.join(".del-20261118T030000Z"),
    )
    .expect("rename");
    // A stale partial backup whose marker names another stack.
    let other_tmp = root.join(".tmp-20261101T030000Z");
    std::fs::create_dir(&other_tmp).expect("mkdir");
    std::fs::write(
        other_tmp.join(".promo-infra-partial"),
        "promo-infra backup of stack other started 2026-11-01T03:00:00Z by pid 1\n",
    )
    .expect("marker");

    let r = promo_snapshot!(p.cmd(&["backup", "rotate"]).env("PROMO_INFRA_NOW", NOW), @"
    success: true
    exit_code: 0
    ----- stdout -----
    policy: keep last 2, daily 0, weekly 0, monthly 0 (UTC days, ISO weeks, months)
    keep 1 backup(s):
      = 20261124T030000Z  last backup #1, newest valid backup (always kept)
    removed 1 backup(s):
      - .del-20261118T030000Z  removal of this backup was interrupted; finishing it
    left alone 3 entr(y/ies):
      ! .tmp-20261101T030000Z  foreign (no promo-infra-backup.json inside: not created by promo-infra): never touched
      ! .del-20261121T030000Z  foreign (renamed or copied backup (its manifest says `20261119T030000Z`)): never touched
      ! .del-20261120T030000Z  foreign (renamed or copied backup (its manifest says `20261120T030000Z`)): never touched
    ✓ 1 kept, 1 removed

    ----- stderr -----
    ");
    assert!(theirs.join("notes.txt").is_file(), "{}", r.stdout);
    assert!(theirs.join(bmanifest::FILE).is_file());
    assert!(mismatched.join(bmanifest::FILE).is_file(), "{}", r.stdout);
    assert!(
        other_tmp.join(".promo-infra-partial").is_file(),
        "{}",
        r.stdout
    );
    assert!(!root.join(".del-20261118T030000Z").exists(), "{}", r.stdout);
    let list = p.run(&["backup", "list", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    assert_eq!(doc["format_version"], "1.0", "{doc}");
    let v = &doc["backups"];
    let status = |id: &str| {
        v.as_array()
            .expect("array")
            .iter()
            .find(|e| e["id"] == id)
            .map(|e| e["status"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(status(".del-20261120T030000Z").as_deref(), Some("foreign"));
    assert_eq!(status(".tmp-20261101T030000Z").as_deref(), Some("foreign"));
}

/// A symlinked backup directory and a symlinked file inside a backup are refused by restore
/// (before any server is contacted) and the file case is listed as corrupt. The old restore
/// followed both links and went on to call influxd.
#[test]
fn restore_refuses_symlinked_backups_and_symlinked_files() {
    let (p, root) = policy_project("{ last: 2 }");
    let elsewhere = tempfile::tempdir().expect("tmp");
    let id = "20261123T030000Z";
    fake_backup(elsewhere.path(), "shop", id);
    std::os::unix::fs::symlink(elsewhere.path().join(id), root.join(id)).expect("symlink");
    // Refused before any server is contacted (nothing "not reachable").
    promo_snapshot!(p.cmd(&["backup", "restore", id, "--target", "native"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x backups/shop/20261123T030000Z is a symbolic link: promo-infra restores only real directories inside backups/shop
      help: copy the backup into the backup directory (not a link), or restore it with influxd/influx directly if you trust it
    ");

    // A real directory whose shard file is a link to an identical copy elsewhere.
    let id2 = "20261124T030000Z";
    fake_backup(&root, "shop", id2);
    let shard = format!("{id2}.s1.tar.gz");
    let copy = elsewhere.path().join("shard-copy");
    std::fs::copy(root.join(id2).join(&shard), &copy).expect("copy");
    std::fs::remove_file(root.join(id2).join(&shard)).expect("rm");
    std::os::unix::fs::symlink(&copy, root.join(id2).join(&shard)).expect("symlink");
    let list = p.run(&["backup", "list", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    assert_eq!(doc["format_version"], "1.0", "{doc}");
    let v = &doc["backups"];
    let e = v
        .as_array()
        .expect("array")
        .iter()
        .find(|e| e["id"] == id2)
        .expect("listed");
    assert_eq!(e["status"], "corrupt", "{e}");
    assert_eq!(
        e["detail"],
        format!("`{shard}` is a symbolic link (a backup holds only regular files)"),
        "{e}"
    );
    promo_snapshot!(p.cmd(&["backup", "restore", id2, "--target", "native"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x backup 20261124T030000Z is corrupt: `20261124T030000Z.s1.tar.gz` is a symbolic link (a backup holds only regular files); refusing to restore (nothing was changed)
      help: a symbolic link replaced a file or was added after the backup was written, and promo-infra never reads a backup through a link: put the real file back, or take a new backup with `promo-infra backup run --target native` (no older backup is intact; `promo-infra backup list` marks the corrupt ones)
    ");
}

/// An empty directory added inside a backup makes it corrupt, for list and restore (the old
/// check walked into it, found no file, and called the backup ok).
#[test]
fn an_empty_directory_inside_a_backup_is_corrupt() {
    let (p, root) = policy_project("{ last: 2 }");
    let id = "20261124T030000Z";
    fake_backup(&root, "shop", id);
    std::fs::create_dir(root.join(id).join("extra")).expect("mkdir");
    let mut runs = Runs::default();
    runs.push("backup list", p.run(&["backup", "list"]));
    runs.push(
        "backup restore",
        p.run(&["backup", "restore", id, "--target", "native"]),
    );
    promo_snapshot!(runs, @"
    === backup list ===
    success: true
    exit_code: 0
    ----- stdout -----
    ID                TIME (UTC)            SIZE   STATUS   DETAIL
    20261124T030000Z  [TIMESTAMP]  346 B  corrupt  unexpected empty directory `extra`

    ----- stderr -----

    === backup restore ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x backup 20261124T030000Z is corrupt: unexpected empty directory `extra`; refusing to restore (nothing was changed)
      help: a directory was added to the backup after it was written: remove it if you know where it comes from, or take a new backup with `promo-infra backup run --target native` (no older backup is intact; `promo-infra backup list` marks the corrupt ones)
    ");
}

/// `backup restore ID --target native` of each of `ids`, in that order.
fn restores(p: &TestContext, ids: &[&str]) -> Runs {
    let mut runs = Runs::default();
    for id in ids {
        runs.push(
            format!("backup restore {id}"),
            p.run(&["backup", "restore", id, "--target", "native"]),
        );
    }
    runs
}

/// `backup restore` of a corrupt backup says what to do about the corruption it found: a file
/// missing, added, truncated or changed each get their own help (not all "the file changed").
#[test]
fn restore_of_a_corrupt_backup_says_what_to_do_for_each_kind_of_corruption() {
    let (p, root) = policy_project("{ last: 9 }");
    let data = |id: &str| root.join(id).join(format!("{id}.s1.tar.gz"));
    let ids = [
        "20261121T030000Z",
        "20261122T030000Z",
        "20261123T030000Z",
        "20261124T030000Z",
    ];
    for id in ids {
        fake_backup(&root, "shop", id);
    }
    std::fs::remove_file(data(ids[0])).expect("rm");
    std::fs::write(root.join(ids[1]).join("notes.txt"), "mine").expect("add");
    std::fs::write(data(ids[2]), "short").expect("truncate");
    flip_a_byte(&root.join(ids[3]));
    promo_snapshot!(restores(&p, &ids), @"
    === backup restore 20261121T030000Z ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x backup 20261121T030000Z is corrupt: `20261121T030000Z.s1.tar.gz` is missing; refusing to restore (nothing was changed)
      help: a file of the backup was deleted or renamed after the backup was written: put it back if you have it, or take a new backup with `promo-infra backup run --target native` (no older backup is intact; `promo-infra backup list` marks the corrupt ones)

    === backup restore 20261122T030000Z ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x backup 20261122T030000Z is corrupt: unexpected file `notes.txt` (not in promo-infra-backup.json); refusing to restore (nothing was changed)
      help: a file was added to the backup after it was written: move it out if you know where it comes from (the backup is then whole again), or take a new backup with `promo-infra backup run --target native` (no older backup is intact; `promo-infra backup list` marks the corrupt ones)

    === backup restore 20261123T030000Z ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x backup 20261123T030000Z is corrupt: `20261123T030000Z.s1.tar.gz` is 5 bytes, the manifest recorded 320; refusing to restore (nothing was changed)
      help: the file was truncated or rewritten after the backup was written: take a new backup with `promo-infra backup run --target native` (no older backup is intact; `promo-infra backup list` marks the corrupt ones)

    === backup restore 20261124T030000Z ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x backup 20261124T030000Z is corrupt: `20261124T030000Z.s1.tar.gz` has sha256 [HASH], the manifest recorded [HASH]; refusing to restore (nothing was changed)
      help: the file changed after the backup was written: take a new backup with `promo-infra backup run --target native` (no older backup is intact; `promo-infra backup list` marks the corrupt ones)
    ");
}

/// Fails on the old code, which advised "restore an older backup" even for the oldest one: the
/// help names the newest older backup that is intact, or says that none is and what to do.
#[test]
fn restore_of_a_changed_backup_names_an_older_intact_one_or_says_there_is_none() {
    let (p, root) = policy_project("{ last: 9 }");
    let ids = ["20261122T030000Z", "20261123T030000Z", "20261124T030000Z"];
    for id in ids {
        fake_backup(&root, "shop", id);
    }
    // The oldest and the newest changed; the one between is intact (newer than the oldest).
    flip_a_byte(&root.join(ids[0]));
    flip_a_byte(&root.join(ids[2]));
    promo_snapshot!(restores(&p, &[ids[2], ids[0]]), @"
    === backup restore 20261124T030000Z ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x backup 20261124T030000Z is corrupt: `20261124T030000Z.s1.tar.gz` has sha256 [HASH], the manifest recorded [HASH]; refusing to restore (nothing was changed)
      help: the file changed after the backup was written: restore 20261123T030000Z, the newest older backup that is intact (`promo-infra backup restore 20261123T030000Z --target native`)

    === backup restore 20261122T030000Z ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x backup 20261122T030000Z is corrupt: `20261122T030000Z.s1.tar.gz` has sha256 [HASH], the manifest recorded [HASH]; refusing to restore (nothing was changed)
      help: the file changed after the backup was written: take a new backup with `promo-infra backup run --target native` (no older backup is intact; `promo-infra backup list` marks the corrupt ones)
    ");
}

/// `keep` counts near u32::MAX: no overflow panic (the old validation summed them), but a clear
/// error at the count's line and column; the largest accepted policy rotates. (The rotation's
/// own arithmetic at u32::MAX: `backup::rotate::tests::counts_at_u32_max_do_not_overflow`.)
#[test]
fn a_keep_policy_near_u32_max_does_not_overflow() {
    let (p, root) = policy_project("{ last: 4294967295, daily: 4294967295, weekly: 1 }");
    fake_backup(&root, "shop", "20261123T030000Z");
    fake_backup(&root, "shop", "20261124T030000Z");
    let before = p.snapshot_tree();
    promo_snapshot!(
        p.cmd(&["backup", "rotate", "--dry-run"])
            .env("PROMO_INFRA_NOW", NOW),
        @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stacks/promo.yaml is invalid: 2 problem(s)
      help: fix the manifest; nothing was written or changed

      x backup.keep.last: 4294967295 is more than 10000
        ,-[stacks/promo.yaml:18:17]
     17 |   influx_rpc: "127.0.0.1:18088"
     18 |   keep: { last: 4294967295, daily: 4294967295, weekly: 1 }
        :                 ^^^^^|^^^^
        :                      `-- too many
        `----
      help: keep at most 10000 backups per rule (that is over 27 years of daily backups)

      x backup.keep.daily: 4294967295 is more than 10000
        ,-[stacks/promo.yaml:18:36]
     17 |   influx_rpc: "127.0.0.1:18088"
     18 |   keep: { last: 4294967295, daily: 4294967295, weekly: 1 }
        :                                    ^^^^^|^^^^
        :                                         `-- too many
        `----
      help: keep at most 10000 backups per rule (that is over 27 years of daily backups)
    "#
    );
    assert!(p.snapshot_tree() == before, "nothing changed");

    let (p, root) = policy_project("{ last: 10000, daily: 10000, weekly: 10000, monthly: 10000 }");
    fake_backup(&root, "shop", "20261123T030000Z");
    fake_backup(&root, "shop", "20261124T030000Z");
    promo_snapshot!(
        p.cmd(&["backup", "rotate", "--dry-run"])
            .env("PROMO_INFRA_NOW", NOW),
        @"
    success: true
    exit_code: 0
    ----- stdout -----
    policy: keep last 10000, daily 10000, weekly 10000, monthly 10000 (UTC days, ISO weeks, months)
    keep 2 backup(s):
      = 20261124T030000Z  last backup #1, daily backup 2026-11-24, weekly backup 2026-W48, monthly backup 2026-11, newest valid backup (always kept)
      = 20261123T030000Z  last backup #2, daily backup 2026-11-23, oldest weekly backup 2026-W48, oldest monthly backup 2026-11
    would remove 0 backup(s):
    ✓ dry run: nothing was removed

    ----- stderr -----
    "
    );
}

/// Copy a backup under a new id, with our manifest rewritten for it (sizes and sha256 of what
/// the directory holds after `edit`): consistent checksums, content chosen by the test.
fn rewritten_copy(root: &Path, from: &str, to: &str, edit: impl Fn(&Path)) {
    let src = root.join(from);
    let dst = root.join(to);
    std::fs::create_dir(&dst).expect("mkdir");
    for e in std::fs::read_dir(&src).expect("dir") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), dst.join(e.file_name())).expect("copy");
    }
    std::fs::remove_file(dst.join(bmanifest::FILE)).expect("rm manifest");
    edit(&dst);
    let mut m = BackupManifest::read(&src).expect("read").expect("manifest");
    m.id = to.into();
    m.files = bmanifest::hash_dir(&dst).expect("hash");
    m.write(&dst).expect("write");
}

/// `restore --as X` of an empty backup, and of one whose shard archive is not a valid archive
/// (checksums consistent), fails and X does not exist afterwards. The old restore let influxd
/// create X from the meta file and left it behind when the shard failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_an_invalid_backup_with_as_fails_without_creating_it() {
    let (server, p, values) = shop_on_real_influxd().await;
    write_points(&server.url(), &values, k6_points("flash_sale", 30)).await;
    ok(
        &p.run_env(
            &["backup", "run", "--target", "native"],
            &[("PROMO_INFRA_NOW", NOW)],
        ),
        "backup run",
    );
    let root = p.path().join("backups/shop");
    let empty = "20261125T030000Z";
    rewritten_copy(&root, ID, empty, |dir| {
        for e in std::fs::read_dir(dir).expect("dir") {
            std::fs::remove_file(e.expect("entry").path()).expect("rm");
        }
    });
    let bad_shard = "20261126T030000Z";
    rewritten_copy(&root, ID, bad_shard, |dir| {
        for e in std::fs::read_dir(dir).expect("dir") {
            let path = e.expect("entry").path();
            if path.to_string_lossy().ends_with(".tar.gz") {
                std::fs::write(&path, b"this is not a gzip archive").expect("write");
            }
        }
    });
    promo_snapshot!(
        p.cmd(&[
            "backup", "restore", empty, "--as", "k6_empty", "--target", "native",
        ]),
        @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x backup 20261125T030000Z cannot be restored: it holds no InfluxDB backup manifest (`*.manifest`): 0 file(s), it is empty (nothing was changed)
      help: restore another backup (`promo-infra backup list`)
    "
    );
    promo_snapshot!(
        on_the_clock(
            p.cmd(&[
                "backup", "restore", bad_shard, "--as", "k6_bad", "--target", "native",
            ])
            .run()
        )
        // Both shards are corrupt; influxd restores them in no fixed order.
        .filter_regex(
            r"Restoring shard \d+ live from backup (\S+)\.s\d+\.tar\.gz",
            "Restoring shard [N] live from backup ${1}.s[N].tar.gz"
        ),
        @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
    backup: InfluxDB 1.6.7~rc0 answers
    backup: running influxd restore -portable -host 127.0.0.1:[PORT] -db k6 -newdb k6_bad backups/shop/[BACKUP_ID]
    backup: removing the incomplete database `k6_bad`
      x `influxd restore -portable -host 127.0.0.1:[PORT] -db k6 -newdb k6_bad backups/shop/[BACKUP_ID]` failed (exit status: 1):
      |   [LOG_TIME] Restoring shard [N] live from backup [BACKUP_ID].s[N].tar.gz
      |   [LOG_TIME] error updating shards: gzip: invalid header
      |   restore: gzip: invalid header
      help: `influxd backup/restore` talk to the RPC bind-address 127.0.0.1:[PORT] (backup.influx_rpc): check that InfluxDB listens there
    "
    );
    let dbs = databases(&server.url(), &values).await;
    assert!(
        !dbs.contains(&"k6_empty".to_string()) && !dbs.contains(&"k6_bad".to_string()),
        "{dbs:?}"
    );
    // The valid backup still restores beside the live database.
    ok(
        &p.run(&[
            "backup", "restore", ID, "--as", "k6_good", "--target", "native",
        ]),
        "restore --as k6_good",
    );
}

/// Query as the Grafana READ user: `Ok(points)` or `Err(the server's error)`.
async fn count_as_grafana(
    url: &str,
    values: &SecretValues,
    measurement: &str,
) -> Result<u64, String> {
    let v: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/query"))
        .basic_auth("grafana", values.get(secrets::INFLUX_V1_READ_PASSWORD))
        .form(&[
            (
                "q",
                format!("SELECT count(\"value\") FROM \"{measurement}\""),
            ),
            ("db", "k6".to_string()),
        ])
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    if let Some(e) = v["error"].as_str().or(v["results"][0]["error"].as_str()) {
        return Err(e.to_string());
    }
    v["results"][0]["series"][0]["values"][0][1]
        .as_u64()
        .ok_or_else(|| format!("no count in {v}"))
}

/// Write as the k6 WRITE user: the HTTP status.
async fn write_as_k6(url: &str, values: &SecretValues, line: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{url}/write?db=k6"))
        .basic_auth("k6", values.get(secrets::INFLUX_V1_WRITE_PASSWORD))
        .body(line.to_string())
        .send()
        .await
        .expect("write")
        .status()
        .as_u16()
}

/// After dropping the 1.x database and restoring it, Grafana's READ user can SELECT the
/// restored points and k6's WRITE user can write: restore converges the grants the drop
/// removed (the old restore left both users without privileges until the next apply).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_gives_grafana_and_k6_their_privileges_back_on_native() {
    let (server, p, values) = shop_on_real_influxd().await;
    write_points(&server.url(), &values, k6_points("flash_sale", 30)).await;
    let before = count_as_grafana(&server.url(), &values, "vus")
        .await
        .expect("grafana reads before");
    assert!(before > 0);
    ok(
        &p.run_env(
            &["backup", "run", "--target", "native"],
            &[("PROMO_INFRA_NOW", NOW)],
        ),
        "backup run",
    );
    query(&server.url(), &values, "", "DROP DATABASE \"k6\"").await;
    restore_dropped_k6(&p, &values);
    assert_eq!(
        count_as_grafana(&server.url(), &values, "vus").await,
        Ok(before)
    );
    assert_eq!(
        write_as_k6(&server.url(), &values, "vus,testid=after value=3").await,
        204
    );
}

// ---------------------------------------------------------------------------------------------
// the docker target (issue 11): the real engine, the real InfluxDB 1.6 image from `just images`

/// tests/fixtures/stacks/local.yaml under its own name and ports, with a `backup:` section
/// whose scheduled command uses this build's binary and this project; destroyed with
/// `--volumes` on drop.
struct DockerStack {
    p: TestContext,
    name: String,
    url: String,
}

impl DockerStack {
    fn apply(test: &str) -> Self {
        let name = format!("it-bk-{test}-{}", std::process::id());
        let fixture = crate::engine::LocalFixture::new(&name);
        let influx_port = fixture.influx_port;
        let p = TestContext::on_engine();
        let manifest = fixture
            .manifest
            .replace("  enabled: true", "  enabled: false");
        let manifest = format!(
            "{manifest}backup:\n  schedule: \"0 3 * * *\"\n  dir: backups\n  keep: {{ last: 2, daily: 7 }}\n  project_dir: {}\n  binary: {}\n",
            p.path().display(),
            env!("CARGO_BIN_EXE_promo-infra")
        );
        p.write("stacks/promo.yaml", &manifest);
        let stack = Self {
            p,
            name,
            url: format!("http://127.0.0.1:{influx_port}"),
        };
        fixture.held.release();
        let r = stack
            .p
            .run(&["apply", "--auto-approve", "--health-timeout", "120"]);
        assert_eq!(r.code, 0, "apply failed:\n{}", r.all());
        stack
    }

    fn values(&self) -> SecretValues {
        env_values(&self.p, &self.name)
    }

    /// `run` with this stack's name (it holds the test's pid) as `[STACK]` in its snapshot,
    /// and what a scheduled backup takes from the real clock as in [`on_the_clock`].
    fn filter(&self, run: Run) -> Run {
        on_the_clock(run.filter(&self.name, "[STACK]"))
    }

    fn container(&self) -> String {
        format!("{}-influxdb-1", self.name)
    }

    /// The command line of the generated cron file (`cd DIR && flock … sh -c '…'`), as cron
    /// runs it: `sh -c`, with cron's `\%` unescaped.
    fn cron_command(&self) -> String {
        let text = self.p.read(&format!(
            "generated/{0}/cron/promo-infra-{0}-backup",
            self.name
        ));
        let line = text
            .lines()
            .find(|l| l.starts_with("0 3 * * * "))
            .unwrap_or_else(|| panic!("no schedule line in:\n{text}"));
        let rest = line.strip_prefix("0 3 * * * ").expect("schedule");
        let (_user, command) = rest.split_once(' ').expect("user");
        command.replace("\\%", "%")
    }
}

impl Drop for DockerStack {
    fn drop(&mut self) {
        crate::engine::destroy(&self.p, &self.name, &[]);
    }
}

async fn admin_query(stack: &DockerStack, q: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{}/query", stack.url))
        .basic_auth(
            "promo-admin",
            stack.values().get(secrets::INFLUX_ADMIN_PASSWORD),
        )
        .form(&[("q", q)])
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json")
}

/// The whole journey of issue 11 on the docker target with InfluxDB 1.x: the generated cron
/// command runs `backup run` (influxd backup inside the container, files copied out through
/// the Engine API, no RPC port published) and `backup rotate`; `list` shows it ok; after a
/// DROP, `backup restore` brings the points back, readable by Grafana's READ user, and k6's
/// WRITE user can write again. The old code tried 127.0.0.1:8088 on the host for minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_v1_cron_backup_list_rotate_restore_and_privileges() {
    if !crate::engine::engine() {
        return;
    }
    let stack = DockerStack::apply("journey");
    let values = stack.values();
    let resp = reqwest::Client::new()
        .post(format!("{}/write?db=k6&precision=ns", stack.url))
        .basic_auth("k6", values.get(secrets::INFLUX_V1_WRITE_PASSWORD))
        .body(k6_points("black_friday", 30))
        .send()
        .await
        .expect("write");
    assert_eq!(resp.status().as_u16(), 204);
    let before = count_as_grafana(&stack.url, &values, "vus")
        .await
        .expect("grafana reads");
    assert!(before > 0);

    // The exact command of the generated cron file.
    let command = stack.cron_command();
    // The generated cron FILE's command (it is run below, which is the exact check).
    assert!(
        command.contains(" backup run --target docker -f "),
        "{command}"
    );
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&command)
        .env("NO_COLOR", "1")
        .output()
        .expect("run the cron command");
    let run = crate::common::Run::new(
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        stack.p.path(),
    );
    let run = promo_snapshot!(stack.filter(run), @"
    success: true
    exit_code: 0
    ----- stdout -----
    $ influxd backup -portable -host 127.0.0.1:8088 -db k6 /tmp/promo-infra-backup-[BACKUP_ID] (in container [STACK]-influxdb-1)
      + backups/[STACK]/[BACKUP_ID] (4 files, [SIZE], database k6, InfluxDB 1.6.7~rc0)
    ✓ backup [BACKUP_ID] complete
    policy: keep last 2, daily 7, weekly 0, monthly 0 (UTC days, ISO weeks, months)
    keep 1 backup(s):
      = [BACKUP_ID]  last backup #1, daily backup [DAY], newest valid backup (always kept)
    removed 0 backup(s):
    ✓ 1 kept, 0 removed

    ----- stderr -----
    backup: checking container [STACK]-influxdb-1 (docker target)
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
    backup: InfluxDB 1.6.7~rc0 answers
    backup: running influxd backup -portable -host 127.0.0.1:8088 -db k6 /tmp/promo-infra-backup-[BACKUP_ID] (in container [STACK]-influxdb-1)
    backup: copying /tmp/promo-infra-backup-[BACKUP_ID] out of [STACK]-influxdb-1 into backups/[STACK]/.tmp-[BACKUP_ID]
    backup: hashing the files (sha256)
    ");
    assert_no_secret(&values, &run.all(), "cron command output");

    let list = stack.p.run(&["backup", "list", "--json"]);
    ok(&list, "backup list");
    let doc: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    assert_eq!(doc["format_version"], "1.0", "{doc}");
    let v = &doc["backups"];
    let entries = v.as_array().expect("array");
    assert_eq!(entries.len(), 1, "{v}");
    assert_eq!(entries[0]["status"], "ok", "{v}");
    assert_eq!(entries[0]["database"], "k6", "{v}");
    let id = entries[0]["id"].as_str().expect("id").to_string();
    // Nothing of ours is left in the container.
    let ls = std::process::Command::new("docker")
        .args(["exec", &stack.container(), "ls", "/tmp"])
        .output()
        .expect("docker exec ls");
    // Negative: `ls` in the container (not promo-infra's output) lists no leftover.
    assert!(
        !String::from_utf8_lossy(&ls.stdout).contains("promo-infra-"),
        "{}",
        String::from_utf8_lossy(&ls.stdout)
    );

    // Beside the live database.
    promo_snapshot!(
        stack.filter(stack.p.run(&["backup", "restore", &id, "--as", "k6_copy"])),
        @"
    success: true
    exit_code: 0
    ----- stdout -----
    ✓ backup [BACKUP_ID]: 4 files verified (sha256)
    $ influxd restore -portable -host 127.0.0.1:8088 -db k6 -newdb k6_copy /tmp/promo-infra-restore-[BACKUP_ID] (in container [STACK]-influxdb-1)
    ✓ restored into `k6_copy` (3 measurement(s): http_req_duration, http_reqs, vus)

    ----- stderr -----
    backup: checking container [STACK]-influxdb-1 (docker target)
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
    backup: InfluxDB 1.6.7~rc0 answers
    backup: copying backups/[STACK]/[BACKUP_ID] into [STACK]-influxdb-1:/tmp/promo-infra-restore-[BACKUP_ID]
    backup: running influxd restore -portable -host 127.0.0.1:8088 -db k6 -newdb k6_copy /tmp/promo-infra-restore-[BACKUP_ID] (in container [STACK]-influxdb-1)
    backup: waiting for `k6_copy` to answer queries
    "
    );

    // Drop, restore (default target: docker), privileges back.
    let dropped = admin_query(&stack, "DROP DATABASE \"k6\"").await;
    assert!(
        dropped["results"][0]["error"].is_null() && dropped["error"].is_null(),
        "{dropped}"
    );
    let gone = count_as_grafana(&stack.url, &values, "vus").await;
    assert!(gone.is_err(), "{gone:?}");
    let r = promo_snapshot!(stack.filter(stack.p.run(&["backup", "restore", &id])), @"
    success: true
    exit_code: 0
    ----- stdout -----
    ✓ backup [BACKUP_ID]: 4 files verified (sha256)
    $ influxd restore -portable -host 127.0.0.1:8088 -db k6 /tmp/promo-infra-restore-[BACKUP_ID] (in container [STACK]-influxdb-1)
    ✓ restored into `k6` (3 measurement(s): http_req_duration, http_reqs, vus)
    ✓ privileges restored on `k6`: grafana READ, k6 WRITE

    ----- stderr -----
    backup: checking container [STACK]-influxdb-1 (docker target)
    backup: checking InfluxDB at http://127.0.0.1:[PORT]
    backup: InfluxDB 1.6.7~rc0 answers
    backup: copying backups/[STACK]/[BACKUP_ID] into [STACK]-influxdb-1:/tmp/promo-infra-restore-[BACKUP_ID]
    backup: running influxd restore -portable -host 127.0.0.1:8088 -db k6 /tmp/promo-infra-restore-[BACKUP_ID] (in container [STACK]-influxdb-1)
    backup: waiting for `k6` to answer queries
    backup: restoring privileges on `k6`: grafana READ, k6 WRITE
    ");
    assert_no_secret(&values, &r.all(), "restore output");
    assert_eq!(
        count_as_grafana(&stack.url, &values, "vus").await,
        Ok(before)
    );
    assert_eq!(
        write_as_k6(&stack.url, &values, "vus,testid=after value=3").await,
        204
    );
}

/// A backup against a stack whose InfluxDB container is stopped says so within seconds
/// (pre-flight), writes nothing, and restore says the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_backup_against_a_stopped_influxdb_names_the_cause_within_seconds() {
    if !crate::engine::engine() {
        return;
    }
    let stack = DockerStack::apply("down");
    let stop = std::process::Command::new("docker")
        .args(["stop", "-t", "5", &stack.container()])
        .output()
        .expect("docker stop");
    assert!(stop.status.success());
    let run = promo_snapshot!(stack.filter(stack.p.run(&["backup", "run"])), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    backup: checking container [STACK]-influxdb-1 (docker target)
      x InfluxDB is down: container [STACK]-influxdb-1 is exited
      help: start it (`promo-infra apply`, or `docker start [STACK]-influxdb-1`); its logs: `docker logs [STACK]-influxdb-1`
    ");
    // A complete-looking 1.x backup (our manifest, *.manifest, *.meta, a shard).
    let root = stack.p.path().join(format!("backups/{}", stack.name));
    restorable_fake_backup(&root, &stack.name, "20261124T030000Z");
    let restore = stack.p.run(&["backup", "restore", "20261124T030000Z"]);
    assert_eq!(
        restore.report(),
        run.report(),
        "restore refuses with the same words as backup run"
    );
    // Only the fake backup the test put there.
    assert_eq!(
        names(&stack.p.path().join(format!("backups/{}", stack.name))),
        BTreeSet::from(["20261124T030000Z".to_string()])
    );
}

/// Removes a container this test created, by name, on drop.
struct OwnContainer(String);

impl Drop for OwnContainer {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", &self.0])
            .output();
    }
}

/// InfluxDB 2.x on the docker target: `influx backup/restore` speak HTTP only, so the host's
/// CLI (the stand-in) talks to the published port (the InfluxDB 2 double) once the pre-flight
/// found the stack's container running; with the container stopped, both fail within seconds
/// naming it. No 2.x image can be built here: the container is a stand-in (the local 1.6 image
/// running `sleep`) under the name the docker target gives the InfluxDB container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_v2_backup_and_restore_check_the_container_then_use_the_published_port() {
    if !crate::engine::engine() {
        return;
    }
    let stack = format!("it-bk-v2-{}", std::process::id());
    let p = TestContext::on_engine();
    let manifest = |port: u16| {
        format!(
            "stack: {stack}\nenvironment: preprod\ninfluxdb:\n  version: 2\n  image: influxdb:2.7\n  port: {port}\n  org: shop-org\n  bucket: k6-metrics\n\
             grafana:\n  image: grafana/grafana:10.2.3\n  port: 3999\ncontrol_api:\n  enabled: false\n\
             backup:\n  schedule: \"0 3 * * *\"\n  keep: {{ last: 3 }}\n"
        )
    };
    p.write("stacks/promo.yaml", &manifest(18086));
    ok(&p.run(&["generate"]), "generate");
    let values = env_values(&p, &stack);
    let token = values
        .get(secrets::INFLUX_ADMIN_TOKEN)
        .expect("token")
        .to_string();
    let double = promo_doubles::influx2::spawn(promo_doubles::influx2::Influx2Config {
        setup: Some(promo_doubles::influx2::Influx2Setup {
            username: "promo-admin".into(),
            password: values
                .get(secrets::INFLUX_ADMIN_PASSWORD)
                .expect("pw")
                .into(),
            org: "shop-org".into(),
            bucket: "k6-metrics".into(),
            retention_seconds: 0,
            token: Some(token.clone()),
        }),
        version: "2.7.10-double".into(),
        influxql_backend: None,
    })
    .await
    .expect("double");
    p.write("stacks/promo.yaml", &manifest(double.addr().port()));
    let container = OwnContainer(format!("{stack}-influxdb-1"));
    let started = std::process::Command::new("docker")
        .args([
            "run",
            "-d",
            "--name",
            &container.0,
            "--entrypoint",
            "/bin/sleep",
            "promo-infra-influxdb:1.6.7-local",
            "300",
        ])
        .output()
        .expect("docker run");
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );

    let bin = tempfile::tempdir().expect("bin");
    std::fs::copy(
        crate::common::repo().join("tests/fixtures/influx-standin.sh"),
        bin.path().join("influx"),
    )
    .expect("copy stand-in");
    let log = bin.path().join("influx.log");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [
        ("PATH", path.as_str()),
        ("INFLUX_STANDIN_LOG", log.to_str().expect("utf-8")),
        ("PROMO_INFRA_NOW", NOW),
    ];
    let url = double.url();
    let v2 = |run: Run| run.filter(&stack, "[STACK]").filter(&url, "[INFLUX2_URL]");
    let run = promo_snapshot!(v2(p.run_env(&["backup", "run"], &env)), @"
    success: true
    exit_code: 0
    ----- stdout -----
    $ influx backup --host [INFLUX2_URL] --org shop-org --bucket k6-metrics backups/[STACK]/20261124T030000Z
      + backups/[STACK]/20261124T030000Z (3 files, 153 B, database k6-metrics, InfluxDB 2.7.10-double)
    ✓ backup 20261124T030000Z complete

    ----- stderr -----
    backup: checking container [STACK]-influxdb-1 (docker target)
    backup: checking InfluxDB at [INFLUX2_URL]
    backup: InfluxDB 2.7.10-double answers
    backup: running influx backup --host [INFLUX2_URL] --org shop-org --bucket k6-metrics backups/[STACK]/.tmp-20261124T030000Z
    backup: hashing the files (sha256)
    ");
    assert!(
        std::fs::read_to_string(&log)
            .expect("log")
            .ends_with(&format!("--- env\nINFLUX_TOKEN={token}\n"))
    );
    assert_no_secret(&values, &run.all(), "backup run output");
    let list = p.run(&["backup", "list", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    assert_eq!(doc["format_version"], "1.0", "{doc}");
    let v = &doc["backups"];
    assert_eq!(v[0]["status"], "ok", "{v}");
    promo_snapshot!(
        v2(p.run_env(&["backup", "restore", ID, "--as", "k6-restored"], &env)),
        @"
    success: true
    exit_code: 0
    ----- stdout -----
    ✓ backup 20261124T030000Z: 3 files verified (sha256)
    $ influx restore --host [INFLUX2_URL] --org shop-org --bucket k6-metrics --new-bucket k6-restored backups/[STACK]/20261124T030000Z
    ✓ restored into `k6-restored`

    ----- stderr -----
    backup: checking container [STACK]-influxdb-1 (docker target)
    backup: checking InfluxDB at [INFLUX2_URL]
    backup: InfluxDB 2.7.10-double answers
    backup: running influx restore --host [INFLUX2_URL] --org shop-org --bucket k6-metrics --new-bucket k6-restored backups/[STACK]/20261124T030000Z
    "
    );

    let stop = std::process::Command::new("docker")
        .args(["stop", "-t", "1", &container.0])
        .output()
        .expect("docker stop");
    assert!(stop.status.success());
    std::fs::remove_file(&log).expect("reset log");
    let run = promo_snapshot!(v2(p.run_env(&["backup", "run"], &env)), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    backup: checking container [STACK]-influxdb-1 (docker target)
      x InfluxDB is down: container [STACK]-influxdb-1 is exited (exit code 137)
      help: start it (`promo-infra apply`, or `docker start [STACK]-influxdb-1`); its logs: `docker logs [STACK]-influxdb-1`
    ");
    let restore = p.run_env(&["backup", "restore", ID, "--as", "k6-again"], &env);
    assert_eq!(
        restore.report(),
        run.report(),
        "restore refuses with the same words as backup run"
    );
    assert!(
        !log.exists(),
        "influx must not run when the container is down"
    );
    double.shutdown().await;
}
