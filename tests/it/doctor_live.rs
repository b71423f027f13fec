//! `doctor` on a running stack in the native layout: real `influxd` 1.6, the Grafana double
//! started through a stand-in `grafana` on PATH, the real control API, `backup run` with the
//! real `influxd backup`. First every check is ok; then each live check's fail case is made on
//! purpose and reported with its fix: a dead influxd, dropped and revoked users, a run without
//! points, a skewed clock and an old backup, a corrupt backup, a full disk, ports held by other
//! programs, missing binaries, and prod without HTTPS (the checks that ask a stopped service
//! skipped). Also: a preprod stack without Slack (a warning), and a docker stack whose InfluxDB
//! container is stopped.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{Cmd, HeldPorts, Run, Runs, TestContext};
use crate::doctor::only;

const STACK: &str = "doc";

fn manifest(influx: u16, grafana: u16, rpc: u16, control: u16, url: &str) -> String {
    format!(
        "stack: {STACK}\nenvironment: prod\nlocale: en\n\
         influxdb:\n  version: 1\n  image: influxdb:1.8\n  port: {influx}\n  bucket: k6\n  retention: 4w\n\
         grafana:\n  image: grafana/grafana:10.2.3\n  port: {grafana}\n  admin_user: ops\n  url: {url}\n\
         control_api:\n  enabled: true\n  port: {control}\n\
         dashboards:\n  - uid: m\n    template: marketing\n\
         backup:\n  schedule: \"0 3 * * *\"\n  keep: {{ last: 3 }}\n  influx_rpc: 127.0.0.1:{rpc}\n"
    )
}

struct Rig {
    /// `backups/` and `data/` on file systems of their own (unmounted before `p` is removed),
    /// so the disk lines do not depend on how full this machine's disk is.
    _disks: [Tmpfs; 2],
    p: TestContext,
    /// `grafana` (the double) and `promo-infra` for the native target's programs.
    _bin: tempfile::TempDir,
    path: std::ffi::OsString,
    held: HeldPorts,
    ports: [u16; 4],
}

impl Rig {
    fn new() -> Self {
        let held = HeldPorts::default();
        let ports = [held.take(), held.take(), held.take(), held.take()];
        let p = TestContext::new();
        let disks = [
            Tmpfs::mount(&p.path().join("backups"), "64m"),
            Tmpfs::mount(&p.path().join("data"), "256m"),
        ];
        let [influx, grafana, rpc, control] = ports;
        p.write(
            "stacks/promo.yaml",
            &manifest(influx, grafana, rpc, control, "https://grafana.doc.test"),
        );
        let bin = tempfile::tempdir().expect("bin");
        let path = crate::native::search_path(bin.path());
        Self {
            _disks: disks,
            p,
            _bin: bin,
            path,
            held,
            ports,
        }
    }

    fn cmd(&self, args: &[&str]) -> Cmd {
        self.p.cmd(args).env("PATH", &self.path)
    }

    /// A command that must succeed.
    fn ok(&self, args: &[&str]) {
        let r = self.cmd(args).run();
        assert_eq!(r.code, 0, "{args:?}: {}", r.all());
    }

    fn doctor(&self) -> Cmd {
        self.cmd(&["doctor", "--target", "native"])
    }

    fn secret(&self, name: &str) -> String {
        self.p
            .read(&format!("generated/{STACK}/.env"))
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_string))
            .unwrap_or_else(|| panic!("{name} not in .env"))
    }

    /// An InfluxQL statement as the admin.
    fn influxql(&self, q: &str) {
        let out = std::process::Command::new("influx")
            .args(["-host", "127.0.0.1", "-port", &self.ports[0].to_string()])
            .args(["-username", "promo-admin", "-execute", q])
            .env("INFLUX_PASSWORD", self.secret("INFLUXDB_ADMIN_PASSWORD"))
            .output()
            .expect("influx");
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{q}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pid(&self, service: &str) -> i32 {
        let text = self.p.read(&format!("data/{STACK}/run/{service}.pid"));
        let pid = serde_json::from_str::<serde_json::Value>(&text).expect("pidfile")["pid"]
            .as_i64()
            .expect("pid");
        i32::try_from(pid).expect("pid")
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self
            .cmd(&["destroy", "--target", "native", "--auto-approve"])
            .run();
    }
}

/// The findings the live checks vary in: measured sizes, ages, versions and ids.
fn live(run: Run) -> Run {
    run.filter_regex(r"\b\d{8}T\d{6}Z\b", "[BACKUP]")
        .filter_regex(r"\(\d+[dhms]( \d+[hms])? old\)", "([AGE] old)")
        .filter_regex(r"is \d+[dhms]( \d+[hms])? old", "is [AGE] old")
        .filter_regex(
            r"[\d.]+ [KMGT]?i?B free of [\d.]+ [KMGT]?i?B \(\d+%\)",
            "[FREE] of [SIZE] ([PCT])",
        )
        .filter_regex(
            r"(?m)running, healthy \(.*\)$",
            "running, healthy ([VERSION])",
        )
        .filter_regex(r"-25(919\d|920\d) s", "-259200 s")
}

/// Kill `pid` and wait (bounded) until `port` is free.
fn kill(pid: i32, port: u16) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL)
        .expect("kill");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpListener::bind(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} still held");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A tmpfs mounted on `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).expect("mkdir");
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "promo-infra-doctor",
            ])
            .arg(dir)
            .output()
            .expect("mount");
        assert!(
            out.status.success(),
            "the doctor test mounts tmpfs file systems (its disk lines) and needs root (CAP_SYS_ADMIN): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_path_buf())
    }

    /// A 1 MiB tmpfs on `dir`, filled.
    fn full(dir: &Path) -> Self {
        let disk = Self::mount(dir, "1m");
        let mut f = std::fs::File::create(dir.join("filler")).expect("filler");
        let block = vec![0u8; 64 * 1024];
        // Bounded: 1 MiB fills in 16 blocks; the 17th fails with ENOSPC.
        for _ in 0..64 {
            if f.write_all(&block).is_err() {
                break;
            }
        }
        disk
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// A program that is not the control API answers 200 on its port to anyone (bounded: the
/// first 16 connections).
fn foreign_server(port: u16) -> TcpListener {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let serving = listener.try_clone().expect("clone");
    std::thread::spawn(move || {
        for stream in serving.incoming().take(16) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    listener
}

#[test]
fn doctor_on_a_live_native_stack_reports_each_fault_made_on_purpose() {
    let rig = Rig::new();
    let [influx, grafana, _rpc, control] = rig.ports;
    rig.ok(&["generate"]);
    rig.held.release();
    rig.ok(&["apply", "--target", "native", "--auto-approve"]);
    rig.ok(&["backup", "run", "--target", "native"]);
    let before = rig.p.snapshot_tree();
    let healthy = live(rig.doctor().run());
    assert_eq!(rig.p.snapshot_tree(), before, "doctor changed a file");
    let json = rig.cmd(&["doctor", "--target", "native", "--json"]).run();
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("doctor --json");
    let checks = report["checks"].as_array().expect("checks");
    assert_eq!(
        (json.code, report["format_version"].as_str(), checks.len()),
        (0, Some("1.0"), healthy.stdout.lines().count() - 1),
        "{}",
        json.stdout
    );
    assert!(checks.iter().all(|c| c["level"] == "ok"), "{}", json.stdout);

    // influxd dies.
    kill(rig.pid("influxdb"), influx);
    let dead = live(rig.doctor().run());
    rig.ok(&["apply", "--target", "native", "--auto-approve"]);

    // Someone drops Grafana's user and takes k6's write privilege.
    rig.influxql("DROP USER grafana");
    rig.influxql("REVOKE ALL ON k6 FROM k6");
    let users = live(rig.doctor().run());
    rig.ok(&["apply", "--target", "native", "--auto-approve"]);

    // A run wrote nothing; the host's clock is 3 days ahead (so is the newest backup's age).
    crate::doctor::record_run(
        &rig.p.path().join(format!("generated/{STACK}/run")),
        STACK,
        "prod",
    );
    let ahead = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(72)).to_string();
    let faults = live(rig.doctor().env("PROMO_INFRA_NOW", &ahead).run());

    // A backup file changes after the backup.
    let backups = rig.p.path().join(format!("backups/{STACK}"));
    let id = std::fs::read_dir(&backups)
        .expect("backups")
        .filter_map(Result::ok)
        .find(|e| e.path().is_dir())
        .expect("a backup")
        .path();
    let file = std::fs::read_dir(&id)
        .expect("backup dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "meta"))
        .expect("a .meta file");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .and_then(|mut f| f.write_all(b"tampered"))
        .expect("tamper");
    let corrupt = live(only(rig.doctor().run(), &["backups"]));

    // The backup disk is full.
    let disk = {
        let _full = Tmpfs::full(&rig.p.path().join("backups"));
        live(only(rig.doctor().run(), &["backups", "disk backups"]))
    };

    // Everything stopped; other programs hold Grafana's and the control API's ports (Grafana
    // open to anonymous visitors, a server answering anyone: not ours, so the checks that ask
    // our services, prod auth included, are skipped); the public URL is plain HTTP; no influxd
    // or grafana on PATH.
    rig.ok(&["destroy", "--target", "native", "--auto-approve"]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let open_grafana = rt
        .block_on(promo_doubles::grafana::spawn_with(
            promo_doubles::grafana::GrafanaConfig {
                anonymous: true,
                ..Default::default()
            },
            promo_doubles::grafana::SpawnOptions {
                addr: ([127, 0, 0, 1], grafana).into(),
                ..Default::default()
            },
        ))
        .expect("grafana double");
    let _foreign = foreign_server(control);
    rig.p.write(
        "stacks/promo.yaml",
        &manifest(
            influx,
            grafana,
            rig.ports[2],
            control,
            "http://grafana.doc.test",
        ),
    );
    let empty = tempfile::tempdir().expect("empty PATH");
    let stopped = live(
        rig.p
            .cmd(&["doctor", "--target", "native"])
            .env("PATH", empty.path())
            .run(),
    );
    rt.block_on(open_grafana.shutdown());

    let mut runs = Runs::default();
    runs.push("healthy", healthy);
    runs.push("influxd killed", dead);
    runs.push("grafana user dropped, k6's grant revoked", users);
    runs.push("a run without points, clock 3 days ahead", faults);
    runs.push("a backup file changed", corrupt);
    runs.push("backup disk full", disk);
    runs.push(
        "stopped; ports held by others; plain HTTP; no binaries",
        stopped,
    );
    promo_snapshot!(runs);
}

/// A healthy preprod stack whose alerts go nowhere (no Slack webhook: optional in preprod) is
/// all ok but the secrets line's warning, and doctor exits 0; the same stack in prod fails on
/// that line alone.
#[test]
fn a_preprod_stack_without_slack_warns_and_a_prod_one_fails() {
    let rig = Rig::new();
    let [influx, grafana, rpc, control] = rig.ports;
    let stack = |environment: &str| {
        manifest(influx, grafana, rpc, control, "https://grafana.doc.test")
            .replace("environment: prod", &format!("environment: {environment}"))
            + "alerting:\n  slack:\n    webhook_url_env: SLACK_WEBHOOK_URL\n    channel: \"#alerts\"\n"
    };
    rig.p.write("stacks/promo.yaml", &stack("preprod"));
    rig.ok(&["generate"]);
    rig.held.release();
    rig.ok(&["apply", "--target", "native", "--auto-approve"]);
    let mut runs = Runs::default();
    runs.push("preprod", live(rig.doctor().run()));
    rig.p.write("stacks/promo.yaml", &stack("prod"));
    runs.push("prod", live(rig.doctor().run()));
    promo_snapshot!(runs);
}

/// One outage, one fail: with the engine down, every check that asks a service (the services,
/// the datasource, the grants, the data of the last run, the clock, prod's auth lines) is
/// skipped naming the engine's line, instead of failing on its own connection error. Fails
/// without the fix: datasource, grants and the prod auth lines failed (or warned) each,
/// the clock warned "start the stack".
#[test]
fn without_a_docker_engine_the_engine_fails_and_the_services_are_skipped() {
    let rig = Rig::new();
    rig.ok(&["generate"]);
    crate::doctor::record_run(
        &rig.p.path().join(format!("generated/{STACK}/run")),
        STACK,
        "prod",
    );
    rig.held.release();
    let missing = rig.p.path().join("no-docker.sock");
    let r = rig
        .cmd(&["doctor", "--target", "docker"])
        .env("DOCKER_HOST", format!("unix://{}", missing.display()))
        .run();
    promo_snapshot!(live(r), @"
    success: false
    exit_code: 1
    ----- stdout -----
    Doctor for stack `doc`:
    [ok]   .env: ./generated/doc/.env is private (mode 0600)
    [ok]   secrets: 7 set, none a default
    [fail] Docker engine: cannot use the Docker engine at unix://[TEMP]/no-docker.sock: Socket not found: [TEMP]/no-docker.sock
             fix: start the engine (`just setup` starts dockerd when no socket answers, or `systemctl start docker`), or point DOCKER_HOST at a running one
    [skip] services: skipped (needs the Docker engine, which fails: see its line)
    [ok]   port influxdb: influxdb.port = [PORT] (stacks/promo.yaml:7:9): 127.0.0.1:[PORT] is free
    [ok]   port grafana: grafana.port = [PORT] (stacks/promo.yaml:12:9): 127.0.0.1:[PORT] is free
    [ok]   port control-api: control_api.port = [PORT] (stacks/promo.yaml:17:9): 127.0.0.1:[PORT] is free
    [skip] datasource: skipped (needs the Docker engine, which fails: see its line)
    [skip] grants: skipped (needs the Docker engine, which fails: see its line)
    [skip] data: skipped (needs the Docker engine, which fails: see its line)
    [skip] clock: skipped (needs the Docker engine, which fails: see its line)
    [warn] backups: no backup in backups/doc yet (schedule `0 3 * * *`)
             fix: take one now (`promo-infra backup run`) and check that the scheduled backup runs (`promo-infra status`, the host's cron or systemd timer)
    [ok]   disk backups: ./backups: [FREE] of [SIZE] ([PCT])
    [ok]   prod grafana URL: https://grafana.doc.test is HTTPS
    [skip] prod grafana auth: skipped (needs the Docker engine, which fails: see its line)
    [skip] prod control API auth: skipped (needs the Docker engine, which fails: see its line)

    ----- stderr -----
    ");
}

/// The docker target, InfluxDB's container stopped (`docker stop`) under a healthy stack: its
/// service line fails once, and the checks that ask InfluxDB are skipped, naming it. A stopped
/// container has no health: `status` shows `exited` and `-`, as native's stopped process, and
/// doctor says `exited` (before: `unhealthy`, the engine's last word from before the stop).
#[test]
fn on_docker_a_stopped_influxdb_is_one_fail_and_its_checks_are_skipped() {
    if !crate::engine::engine() {
        return;
    }
    let s = crate::docker::EngineStack::new("docdown");
    s.apply();
    crate::engine::docker(&["stop", &format!("{}-influxdb-1", s.name)]);
    crate::doctor::record_run(
        &s.dir().join(format!("generated/{}/run", s.name)),
        &s.name,
        "preprod",
    );
    let lines = [
        "service grafana",
        "service influxdb",
        "datasource",
        "grants",
        "data",
    ];
    promo_snapshot!(crate::doctor::only(s.run(&["doctor"]), &lines), @"
    success: false
    exit_code: 1
    ----- stdout -----
    Doctor for stack `[STACK]`:
    [ok]   service grafana: running, healthy (0.1.0)
    [fail] service influxdb: exited
             fix: `promo-infra logs influxdb` to see why, then `promo-infra apply` to start it
    [skip] datasource: skipped (needs influxdb, which is down: see its service line)
    [skip] grants: skipped (needs influxdb, which is down: see its service line)
    [skip] data: skipped (needs influxdb, which is down: see its service line)

    ----- stderr -----
    ");
    promo_snapshot!(s.run(&["status"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    Stack `[STACK]` (stacks/promo.yaml) on target docker:

    SERVICE      STATE    HEALTH   IMAGE                             VERSION  URL                     UPTIME  CONFIG
    control-api  running  healthy  promo-infra:0.1.0                 0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    grafana      running  healthy  promo-infra-grafana-double:0.1.0  0.1.0    http://127.0.0.1:[PORT]  [UPTIME]  current
    influxdb     exited   -        promo-infra-influxdb:1.6.7-local  1.6.7    http://127.0.0.1:[PORT]  -       current

    ----- stderr -----
    ");
}
