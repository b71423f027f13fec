//! `just bench` (backup part), timed as a user runs them (the release binary, a fresh process):
//!
//! - `backup rotate` over a generated tree of 10,000 backups (hourly, ~14 months), dry run and
//!   real, the real one against `rm -rf` of exactly the directories it removes;
//! - `backup rotate --dry-run` over 30 nightly backups of 32 MiB each: the cost of verifying
//!   every sha256 (rotation counts only backups whose every file verifies), against
//!   `sha256sum` of the same files (the floor);
//! - `backup run` against plain `influxd backup -portable` of the same database on a real
//!   `influxd` 1.6 started on 127.0.0.1 for the benchmark (k6-shaped data).
//!
//! Results go into BENCHMARKS.md as medians and ratios.
// Benchmarks and tests report on stdout/stderr and read their environment (CI, DOCKER_HOST).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use promo_infra::backup::manifest::{self as bmanifest, BackupManifest};
use support::{release_binary, update_benchmarks};

const BACKUPS: usize = 10_000;
const ROTATE_RUNS: usize = 3;
const RUN_RUNS: usize = 10;

fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = release_binary(&repo);
    let mut body = String::new();
    body.push_str(&rotate_bench(&bin));
    body.push('\n');
    body.push_str(&checksum_bench(&bin));
    body.push('\n');
    body.push_str(&run_bench(&bin));
    println!("{body}");
    update_benchmarks(&repo.join("BENCHMARKS.md"), "backup", &body);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn manifest(http_port: u16, rpc: &str) -> String {
    format!(
        "stack: bench\nenvironment: preprod\ninfluxdb:\n  version: 1\n  image: influxdb:1.8\n  port: {http_port}\n  bucket: k6\n\
         grafana:\n  image: grafana/grafana:10.2.3\n  port: 3999\ncontrol_api:\n  enabled: false\n\
         backup:\n  schedule: \"0 3 * * *\"\n  dir: backups\n  influx_rpc: \"{rpc}\"\n  keep: {{ last: 3, daily: 7, weekly: 4, monthly: 6 }}\n"
    )
}

fn project(http_port: u16, rpc: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(dir.path().join("stacks")).expect("mkdir");
    std::fs::write(
        dir.path().join("stacks/promo.yaml"),
        manifest(http_port, rpc),
    )
    .expect("manifest");
    dir
}

// ---------------------------------------------------------------------------------------------
// rotate

/// 10,000 hourly backups as `backup run` leaves them (influx manifest, meta, one shard file, our
/// manifest with sha256s).
fn generate_tree(root: &Path) {
    let start: jiff::Timestamp = "2025-09-01T00:00:00Z".parse().expect("t");
    for h in 0..BACKUPS {
        let t = start + jiff::SignedDuration::from_hours(i64::try_from(h).expect("h"));
        let id = promo_infra::backup::format_id(t);
        let dir = root.join(&id);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join(format!("{id}.manifest")),
            format!("{{\"id\":\"{id}\"}}"),
        )
        .expect("write");
        std::fs::write(dir.join(format!("{id}.meta")), id.as_bytes()).expect("write");
        std::fs::write(dir.join(format!("{id}.s1.tar.gz")), id.repeat(64)).expect("write");
        BackupManifest {
            format: bmanifest::FORMAT,
            tool: "promo-infra".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            id: id.clone(),
            stack: "bench".into(),
            influxdb_version: 1,
            server_version: "1.6.7~rc0".into(),
            database: "k6".into(),
            org: None,
            started_at: t.to_string(),
            finished_at: t.to_string(),
            files: bmanifest::hash_dir(&dir).expect("hash"),
        }
        .write(&dir)
        .expect("manifest");
    }
}

fn rotate_once(bin: &Path, dir: &Path, dry_run: bool) -> (Duration, Vec<String>) {
    let mut args = vec!["backup", "rotate", "--json"];
    if dry_run {
        args.push("--dry-run");
    }
    let start = Instant::now();
    let out = Command::new(bin)
        .current_dir(dir)
        .args(&args)
        .env("PROMO_INFRA_NOW", "2027-01-01T00:00:00Z")
        .output()
        .expect("run");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let removed = v["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .filter(|d| d["action"] == "remove")
        .map(|d| d["id"].as_str().expect("id").to_string())
        .collect();
    (took, removed)
}

fn rotate_bench(bin: &Path) -> String {
    let p = project(18086, "127.0.0.1:18088");
    let root = p.path().join("backups/bench");
    eprintln!("generating {BACKUPS} backups…");
    generate_tree(&root);
    let mut dry = Vec::new();
    let mut removed = Vec::new();
    for _ in 0..ROTATE_RUNS {
        let (d, r) = rotate_once(bin, p.path(), true);
        dry.push(d);
        removed = r;
    }
    let mut real = Vec::new();
    let mut rm = Vec::new();
    let mut syscalls = Vec::new();
    for i in 0..ROTATE_RUNS {
        if i > 0 {
            std::fs::remove_dir_all(&root).expect("clean");
            generate_tree(&root);
        }
        let (d, r) = rotate_once(bin, p.path(), false);
        assert_eq!(r, removed, "real and dry runs must agree");
        real.push(d);
        let left = std::fs::read_dir(&root).expect("dir").count();
        assert_eq!(left, BACKUPS - removed.len());
        // Baseline: delete exactly the same directories with rm -rf, on a fresh tree.
        std::fs::remove_dir_all(&root).expect("clean");
        generate_tree(&root);
        let start = Instant::now();
        let status = Command::new("rm")
            .arg("-rf")
            .args(removed.iter().map(|id| root.join(id)))
            .status()
            .expect("rm");
        rm.push(start.elapsed());
        assert!(status.success());
        // Baseline 2: the same syscalls promo-infra makes (rename to .del-<id>, then remove),
        // in-process, without scanning, verifying or deciding.
        std::fs::remove_dir_all(&root).expect("clean");
        generate_tree(&root);
        let start = Instant::now();
        for id in &removed {
            let doomed = root.join(format!(".del-{id}"));
            std::fs::rename(root.join(id), &doomed).expect("rename");
            std::fs::remove_dir_all(&doomed).expect("remove");
        }
        syscalls.push(start.elapsed());
    }
    let (dry, real, rm, syscalls) = (median(dry), median(real), median(rm), median(syscalls));
    format!(
        "### `backup rotate` over {BACKUPS} backups\n\n\
         Hourly backups over ~14 months (3 files each plus the manifest), policy `last 3, daily 7, weekly 4, monthly 6`: \
         {kept} kept, {removed} removed. Median of {ROTATE_RUNS} runs of the release binary.\n\n\
         | what | median | per backup |\n|---|---|---|\n\
         | `backup rotate --dry-run` (scan, sha256 of every file of every backup, policy) | {dry:.0} ms | {dry_per:.1} µs |\n\
         | `backup rotate` (the same, then rename + remove {removed} directories) | {real:.0} ms | {real_per:.1} µs |\n\
         | baseline: `rm -rf` of exactly those {removed} directories | {rm:.0} ms | {rm_per:.1} µs |\n\
         | baseline: in-process rename to `.del-<id>` + remove of those directories (promo-infra's syscalls, no logic) | {sys:.0} ms | {sys_per:.1} µs |\n\n\
         Ratios: real rotate / `rm -rf` = **{ratio_rm:.2}×**; real rotate / its own syscalls = **{ratio_sys:.2}×**; real / dry run = {ratio_dry:.2}×. \
         rotate renames each backup to `.del-<id>` before removing it (so an interrupted rotation never leaves a half-deleted \
         backup that looks valid); the in-process row is those same syscalls without promo-infra's logic. Disk timings on a \
         shared machine vary from run to run; a nightly rotation removes one or two backups.\n",
        kept = BACKUPS - removed.len(),
        removed = removed.len(),
        dry = ms(dry),
        real = ms(real),
        rm = ms(rm),
        dry_per = ms(dry) * 1000.0 / BACKUPS as f64,
        real_per = ms(real) * 1000.0 / BACKUPS as f64,
        rm_per = ms(rm) * 1000.0 / removed.len().max(1) as f64,
        sys = ms(syscalls),
        sys_per = ms(syscalls) * 1000.0 / removed.len().max(1) as f64,
        ratio_sys = real.as_secs_f64() / syscalls.as_secs_f64(),
        ratio_rm = real.as_secs_f64() / rm.as_secs_f64(),
        ratio_dry = real.as_secs_f64() / dry.as_secs_f64(),
    )
}

// ---------------------------------------------------------------------------------------------
// run vs plain influxd backup

struct Influxd {
    child: Child,
    _dir: tempfile::TempDir,
    http_port: u16,
    rpc_port: u16,
}

impl Drop for Influxd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn start_influxd() -> Influxd {
    let dir = tempfile::tempdir().expect("dir");
    let (http_port, rpc_port) = (free_port(), free_port());
    let root = dir.path().display();
    let config = format!(
        "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc_port}\"\n\
         [meta]\n  dir = \"{root}/meta\"\n\
         [data]\n  dir = \"{root}/data\"\n  wal-dir = \"{root}/wal\"\n  query-log-enabled = false\n\
         [http]\n  bind-address = \"127.0.0.1:{http_port}\"\n  log-enabled = false\n\
         [monitor]\n  store-enabled = false\n"
    );
    std::fs::write(dir.path().join("influxdb.conf"), config).expect("config");
    let child = Command::new("influxd")
        .arg("-config")
        .arg(dir.path().join("influxdb.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("influxd must be installed (scripts/setup.sh)");
    let me = Influxd {
        child,
        _dir: dir,
        http_port,
        rpc_port,
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if http(me.http_port, "GET", "/ping", "").starts_with("HTTP/1.1 204") {
            return me;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("influxd did not answer /ping within 20 s");
}

/// Minimal HTTP/1.1 client for 127.0.0.1 (bounded by socket timeouts).
fn http(port: u16, method: &str, path: &str, body: &str) -> String {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return String::new();
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn load_k6_data(port: u16, points_per_metric: u64) {
    let created = http(port, "POST", "/query", "q=CREATE+DATABASE+k6");
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let base = (now_s - 24 * 3600) * 1_000_000_000;
    let mut batch = String::new();
    // A fixed pseudo-random sequence (LCG): jittered timestamps and noisy values, so TSM
    // compression sees something closer to real k6 output than a regular ramp.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        seed >> 33
    };
    for i in 0..points_per_metric {
        let t = base + i * 100_000_000 + rnd() % 100_000_000;
        let noise = rnd();
        let url = ["/", "/cart", "/checkout", "/search"][(i % 4) as usize];
        let status = if i % 50 == 0 { "503" } else { "200" };
        batch.push_str(&format!(
            "http_req_duration,testid=bench,name=https://shop.example{url},method=GET,status={status},scenario=promo value={} {t}\n\
             http_reqs,testid=bench,name=https://shop.example{url},method=GET,status={status},scenario=promo value=1 {t}\n\
             vus,testid=bench value={} {t}\n",
            50.0 + (noise % 100_000) as f64 / 37.0,
            10 + noise % 200
        ));
        if batch.len() > 1_000_000 || i + 1 == points_per_metric {
            let resp = http(port, "POST", "/write?db=k6", &batch);
            assert!(resp.starts_with("HTTP/1.1 204"), "{resp}");
            batch.clear();
        }
    }
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|it| {
            it.flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        dir_size(&p)
                    } else {
                        e.metadata().map(|m| m.len()).unwrap_or(0)
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn run_bench(bin: &Path) -> String {
    let server = start_influxd();
    let points = 200_000;
    eprintln!("loading {} k6 points…", points * 3);
    load_k6_data(server.http_port, points);
    let count = http(
        server.http_port,
        "POST",
        "/query",
        "db=k6&q=SELECT+COUNT(value)+FROM+http_reqs",
    );
    assert!(
        count.contains(&format!(",{points}]")),
        "expected {points} http_reqs points: {count}"
    );
    let rpc = format!("127.0.0.1:{}", server.rpc_port);
    let p = project(server.http_port, &rpc);
    let backups = p.path().join("backups/bench");

    let mut plain = Vec::new();
    let mut ours = Vec::new();
    let mut size = 0;
    for i in 0..RUN_RUNS {
        // Alternate the order so neither side always runs on a warmer cache.
        let plain_first = i % 2 == 0;
        for side in [plain_first, !plain_first] {
            if side {
                let out = tempfile::tempdir().expect("dir");
                let start = Instant::now();
                let o = Command::new("influxd")
                    .args(["backup", "-portable", "-host", &rpc, "-db", "k6"])
                    .arg(out.path().join("b"))
                    .output()
                    .expect("influxd backup");
                plain.push(start.elapsed());
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                size = dir_size(&out.path().join("b"));
            } else {
                let start = Instant::now();
                let o = Command::new(bin)
                    .current_dir(p.path())
                    .args(["backup", "run", "--target", "native"])
                    .output()
                    .expect("backup run");
                ours.push(start.elapsed());
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                std::fs::remove_dir_all(&backups).expect("clean");
            }
        }
    }
    let (plain, ours) = (median(plain), median(ours));
    format!(
        "### `backup run` against plain `influxd backup -portable`\n\n\
         Real `influxd` 1.6 on 127.0.0.1, database `k6` with {} k6-shaped points (http_req_duration, http_reqs, vus); \
         backup size {:.1} MiB. Median of {RUN_RUNS} alternating runs.\n\n\
         | what | median |\n|---|---|\n\
         | `influxd backup -portable -host … -db k6 DIR` | {:.0} ms |\n\
         | `promo-infra backup run` (ping, SHOW DATABASES, the same influxd backup into `.tmp-<id>`, sha256 of every file, manifest, rename) | {:.0} ms |\n\n\
         Ratio: `backup run` / plain `influxd backup` = **{:.2}×** (overhead {:.0} ms).\n",
        points * 3,
        size as f64 / 1024.0 / 1024.0,
        ms(plain),
        ms(ours),
        ours.as_secs_f64() / plain.as_secs_f64(),
        ms(ours) - ms(plain),
    )
}

// ---------------------------------------------------------------------------------------------
// rotate: the cost of verifying every checksum

const BIG_BACKUPS: usize = 30;
const BIG_MIB: usize = 32;

/// 30 nightly backups with one 32 MiB shard file each (pseudo-random bytes, so nothing is
/// cached by content), then `backup rotate --dry-run` against `sha256sum` of the same files.
/// No stat-keyed cache is used: bit rot keeps size and mtime, which is what the check exists
/// to catch, so every rotation hashes everything.
fn checksum_bench(bin: &Path) -> String {
    let p = project(18086, "127.0.0.1:18088");
    let root = p.path().join("backups/bench");
    let start: jiff::Timestamp = "2026-10-01T03:00:00Z".parse().expect("t");
    let mut files = Vec::new();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for d in 0..BIG_BACKUPS {
        let t = start + jiff::SignedDuration::from_hours(24 * i64::try_from(d).expect("d"));
        let id = promo_infra::backup::format_id(t);
        let dir = root.join(&id);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(format!("{id}.manifest")), b"{}").expect("write");
        std::fs::write(dir.join(format!("{id}.meta")), id.as_bytes()).expect("write");
        let mut data = vec![0u8; BIG_MIB << 20];
        for chunk in data.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        let shard = dir.join(format!("{id}.s1.tar.gz"));
        std::fs::write(&shard, &data).expect("write");
        files.push(shard);
        BackupManifest {
            format: bmanifest::FORMAT,
            tool: "promo-infra".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            id: id.clone(),
            stack: "bench".into(),
            influxdb_version: 1,
            server_version: "1.6.7~rc0".into(),
            database: "k6".into(),
            org: None,
            started_at: t.to_string(),
            finished_at: t.to_string(),
            files: bmanifest::hash_dir(&dir).expect("hash"),
        }
        .write(&dir)
        .expect("manifest");
    }
    let mut rotate = Vec::new();
    let mut floor = Vec::new();
    for _ in 0..ROTATE_RUNS {
        rotate.push(rotate_once(bin, p.path(), true).0);
        let t = Instant::now();
        let out = Command::new("sha256sum")
            .args(&files)
            .stdout(Stdio::null())
            .status()
            .expect("sha256sum");
        assert!(out.success());
        floor.push(t.elapsed());
    }
    let (rotate, floor) = (ms(median(rotate)), ms(median(floor)));
    let total_mib = (BIG_BACKUPS * BIG_MIB) as f64;
    format!(
        "### `backup rotate` verifies every sha256: {BIG_BACKUPS} backups of {BIG_MIB} MiB\n\n\
         Rotation counts a backup only if every file's sha256 verifies (a corrupt backup never fills a bucket). \
         {BIG_BACKUPS} nightly backups, one {BIG_MIB} MiB shard each ({total_mib:.0} MiB in all). Median of {ROTATE_RUNS} runs (page cache warm).\n\n\
         | what | median | throughput |\n|---|---|---|\n\
         | `backup rotate --dry-run` (every sha256) | {rotate:.0} ms | {:.0} MiB/s |\n\
         | floor: `sha256sum` of the same shard files | {floor:.0} ms | {:.0} MiB/s |\n\n\
         Ratio: rotate / `sha256sum` = **{:.2}×**. No cache keyed by size/mtime/inode: bit rot keeps all of them, and it is what this check exists to catch.\n",
        total_mib / (rotate / 1000.0),
        total_mib / (floor / 1000.0),
        rotate / floor
    )
}
