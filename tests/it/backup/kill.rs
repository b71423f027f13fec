//! `backup run` killed with SIGKILL at many moments of its life, on a real influxd 1.6: at each
//! progress line (and a few milliseconds after the last, while it hashes) and at evenly spread
//! delays across a whole run. After every kill, `backup list --json` shows only `ok` and
//! `incomplete` entries (never `foreign`, never `corrupt`); a rotation 25 h later removes every
//! leftover and keeps every valid backup.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{init_server, k6_points, ok, v1_manifest, write_points};
use crate::common::TestContext;
use crate::influxd::RealInfluxd;

/// When to kill a run.
#[derive(Debug, Clone, Copy)]
enum Moment {
    /// This long after the progress line number `n` (1-based) appeared on stderr.
    AfterLine(usize, Duration),
    /// This long after the start.
    After(Duration),
}

/// `backup run --target <target>` (the clock at `now`) in a process group of its own: the
/// group id is the pid of the process we started, so signalling the group by that id also
/// reaches the `influxd backup` it runs, and nothing else.
pub(super) fn spawn_backup(p: &TestContext, now: &str, target: &str) -> Child {
    p.command()
        .env("PROMO_INFRA_NOW", now)
        .args(["backup", "run", "--target", target])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn backup run")
}

/// Send `signal` (`KILL`, `STOP`, `CONT`) to the group of `child`, by its pid (the group id),
/// at once (no `kill` process to start). Only before the child is reaped, so its pid (and group
/// id) cannot have been reused. The group may have ended already: that is not an error.
pub(super) fn signal_group(child: &Child, signal: &str) {
    use nix::sys::signal::{Signal, killpg};
    let signal = match signal {
        "KILL" => Signal::SIGKILL,
        "STOP" => Signal::SIGSTOP,
        "CONT" => Signal::SIGCONT,
        other => panic!("signal {other}"),
    };
    let pid = i32::try_from(child.id()).expect("pid");
    let _ = killpg(nix::unistd::Pid::from_raw(pid), signal);
}

/// SIGKILL the group of `child`, then reap it.
pub(super) fn kill_group(child: &mut Child) {
    signal_group(child, "KILL");
    child.wait().expect("wait");
}

/// Run one backup and kill it at `moment`; returns the progress lines seen.
fn run_and_kill(p: &TestContext, now: &str, moment: Moment) -> Vec<String> {
    let mut child = spawn_backup(p, now, "native");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut lines = Vec::new();
    match moment {
        Moment::After(d) => std::thread::sleep(d.saturating_sub(start.elapsed())),
        Moment::AfterLine(n, d) => {
            while lines.len() < n {
                match rx.recv_timeout(Duration::from_secs(30)) {
                    Ok(line) => lines.push(line),
                    Err(_) => break,
                }
            }
            std::thread::sleep(d);
        }
    }
    kill_group(&mut child);
    reader.join().expect("reader");
    lines.extend(rx.try_iter());
    lines
}

/// `backup list --json`: (id, status) of every entry; fails on anything but ok / incomplete.
fn statuses(p: &TestContext, context: &str) -> BTreeMap<String, String> {
    let list = p.run(&["backup", "list", "--json"]);
    ok(&list, "backup list");
    let doc: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    assert_eq!(doc["stack"], "shop", "{doc}");
    let mut out = BTreeMap::new();
    for e in doc["backups"].as_array().expect("backups") {
        let status = e["status"].as_str().expect("status").to_string();
        assert!(
            status == "ok" || status == "incomplete",
            "{context}: {e} (every entry: {doc})"
        );
        out.insert(e["id"].as_str().expect("id").to_string(), status);
    }
    out
}

/// The clock of round `i`: one minute apart, so every round has its own id.
fn clock(i: usize) -> String {
    format!("2026-11-24T{:02}:{:02}:00Z", 3 + i / 60, i % 60)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_killed_at_any_moment_is_incomplete_then_rotated_never_foreign() {
    let server = RealInfluxd::start(true);
    let p = TestContext::new();
    // Keep every valid backup: whatever rotation removes must be a leftover.
    let manifest =
        v1_manifest("shop", server.http_port(), &server.rpc(), "").replace("last: 2", "last: 1000");
    p.write("stacks/promo.yaml", &manifest);
    let values = init_server(&p, &server, "shop").await;
    // Enough points that the shards take a moment to back up and hash.
    write_points(&server.url(), &values, k6_points("kill_me", 20_000)).await;

    // One whole run, to know how long a run lasts and which progress lines it prints.
    let start = Instant::now();
    let run = p.run_env(
        &["backup", "run", "--target", "native"],
        &[("PROMO_INFRA_NOW", &clock(0))],
    );
    ok(&run, "backup run");
    let whole = start.elapsed();
    let progress = run.stderr.lines().count();
    assert!(
        run.stderr
            .lines()
            .last()
            .unwrap_or_default()
            .contains("hashing the files"),
        "{}",
        run.stderr
    );

    let mut moments = Vec::new();
    for n in 1..=progress {
        moments.push(Moment::AfterLine(n, Duration::ZERO));
    }
    for us in [100, 300, 1_000, 2_000, 4_000, 8_000] {
        moments.push(Moment::AfterLine(progress, Duration::from_micros(us)));
    }
    let steps = 30;
    for j in 0..=steps {
        moments.push(Moment::After(whole * j / steps));
    }

    // What the kills left behind, by what was inside the `.tmp-` directory.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let dir = p.path().join("backups/shop");
    for (i, moment) in moments.iter().enumerate() {
        let now = clock(i + 1);
        let lines = run_and_kill(&p, &now, *moment);
        let context = format!("killed {moment:?} (progress seen: {lines:?})");
        let statuses = statuses(&p, &context);
        let id = promo_infra::backup::format_id(now.parse().expect("time"));
        let tmp = dir.join(format!(".tmp-{id}"));
        let kind = if dir.join(&id).is_dir() {
            assert_eq!(
                statuses.get(&id).map(String::as_str),
                Some("ok"),
                "{context}"
            );
            assert!(
                !dir.join(&id).join(".promo-infra-partial").exists(),
                "{context}"
            );
            "complete"
        } else if tmp.is_dir() {
            let key = format!(".tmp-{id}");
            assert_eq!(
                statuses.get(&key).map(String::as_str),
                Some("incomplete"),
                "{context}"
            );
            let has = |name: &str| tmp.join(name).exists();
            if has("promo-infra-backup.json") {
                "our manifest written"
            } else if std::fs::read_dir(&tmp)
                .expect("ls")
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".manifest"))
            {
                "influxd's files, hashing"
            } else if has(".promo-infra-partial") {
                "marker, tool running"
            } else {
                "just created"
            }
        } else {
            "nothing (killed before the directory)"
        };
        *seen.entry(kind).or_default() += 1;
    }
    // The kills landed across the run: before the directory or in it, and after it finished.
    assert!(seen.get("complete").is_some_and(|n| *n > 0), "{seen:?}");
    assert!(
        seen.keys()
            .any(|k| *k != "complete" && *k != "nothing (killed before the directory)"),
        "no kill left a .tmp- directory: {seen:?}"
    );

    let before = statuses(&p, "before rotate");
    let valid: Vec<&String> = before
        .iter()
        .filter(|(_, s)| *s == "ok")
        .map(|(id, _)| id)
        .collect();
    // 25 h after the last one started: every leftover is stale.
    let last: jiff::Timestamp = clock(moments.len()).parse().expect("time");
    let later = (last + jiff::SignedDuration::from_hours(25)).to_string();
    let rotate = p.run_env(&["backup", "rotate"], &[("PROMO_INFRA_NOW", &later)]);
    ok(&rotate, "backup rotate");
    let after = statuses(&p, "after rotate");
    assert!(
        after.values().all(|s| s == "ok"),
        "{after:?}\n{}",
        rotate.stdout
    );
    assert_eq!(after.keys().collect::<Vec<_>>(), valid, "{}", rotate.stdout);
    let left: Vec<String> = std::fs::read_dir(&dir)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}\n{}", rotate.stdout);
    eprintln!("kills: {seen:?}");
}

/// Wait (at most 60 s) for a stderr line of `child` containing `text`; the lines seen.
pub(super) fn wait_for_line(child: &mut Child, text: &str) -> Vec<String> {
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        let found = line.contains(text);
        lines.push(line);
        if found {
            return lines;
        }
    }
    panic!("no line with `{text}` in {lines:?}");
}

/// `ls /tmp` in the container (docker's own CLI, not promo-infra).
pub(super) fn container_tmp(container: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["exec", container, "ls", "-1A", "/tmp"])
        .output()
        .expect("docker exec ls");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Wait (at most 60 s) until the container's copy of backup `id` holds influxd's `*.manifest`
/// (it is complete once `copying` is printed: this checks that it is still there).
pub(super) fn wait_for_copy(container: &str, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let dir = format!("/tmp/promo-infra-backup-{id}");
    loop {
        let out = Command::new("docker")
            .args(["exec", container, "ls", "-1A", &dir])
            .output()
            .expect("docker exec ls");
        if String::from_utf8_lossy(&out.stdout).contains(".manifest") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no complete copy {dir} in {container}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Docker target: a backup killed after `influxd backup` ran in the container leaves its copy
/// in the container's /tmp; the next `backup run` removes it, but never the copy of a backup
/// running beside it (here one stopped with SIGSTOP, holding its marker's lock), which then
/// resumes and completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_docker_backup_leaves_no_copy_in_the_container_and_a_running_ones_is_kept() {
    if !crate::engine::engine() {
        return;
    }
    let stack = super::DockerStack::apply("leftover");
    write_points(&stack.url, &stack.values(), k6_points("leftover", 60)).await;
    let container = stack.container();
    let p = &stack.p;
    let copy = |id: &str| format!("promo-infra-backup-{id}");
    let (killed, paused, third, fourth) = (
        "20261124T030000Z",
        "20261124T040000Z",
        "20261124T050000Z",
        "20261124T060000Z",
    );

    // 1. A backup stopped (SIGSTOP) once its copy is in the container, about to copy it out:
    //    still running (it holds its marker's lock).
    let mut b = spawn_backup(p, "2026-11-24T04:00:00Z", "docker");
    wait_for_line(&mut b, "copying /tmp/promo-infra-backup-");
    signal_group(&b, "STOP");
    wait_for_copy(&container, paused);

    // 2. Another one, killed (SIGKILL) at the same moment (stopped at that progress line first,
    //    so it cannot get further): its copy stays in the container. Before taking its own
    //    backup it swept the container, and left the running one's copy alone.
    let mut a = spawn_backup(p, "2026-11-24T03:00:00Z", "docker");
    let lines = wait_for_line(&mut a, "copying /tmp/promo-infra-backup-");
    signal_group(&a, "STOP");
    wait_for_copy(&container, killed);
    kill_group(&mut a);
    assert!(!lines.iter().any(|l| l.contains("removing")), "{lines:?}");
    let tmp = container_tmp(&container);
    assert!(
        tmp.contains(&copy(killed)) && tmp.contains(&copy(paused)),
        "{tmp:?}"
    );

    // 3. A third backup removes the killed one's copy, not the running one's.
    let run = p.run_env(
        &["backup", "run", "--target", "docker"],
        &[("PROMO_INFRA_NOW", "2026-11-24T05:00:00Z")],
    );
    let removing: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("removing"))
        .collect();
    signal_group(&b, "CONT");
    ok(&run, "third backup");
    assert_eq!(
        removing,
        [format!(
            "backup: removing /tmp/{} from {container}: left by an interrupted backup",
            copy(killed)
        )],
        "{}",
        run.stderr
    );
    let tmp = container_tmp(&container);
    assert!(!tmp.contains(&copy(killed)), "{tmp:?}");
    assert!(!tmp.contains(&copy(third)), "{tmp:?}");

    // 4. The stopped backup resumes and completes with its own copy, then removes it.
    let status = b.wait().expect("wait");
    assert!(status.success(), "the resumed backup failed: {status}");
    let tmp = container_tmp(&container);
    // Negative: nothing of ours is left in the container (docker's own `ls`).
    assert!(
        !tmp.iter().any(|n| n.starts_with("promo-infra-")),
        "{tmp:?}"
    );

    let list = p.run(&["backup", "list", "--json"]);
    ok(&list, "backup list");
    let doc: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    let got: Vec<(String, String)> = doc["backups"]
        .as_array()
        .expect("backups")
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap_or("").into(),
                e["status"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        (format!(".tmp-{killed}"), "incomplete"),
        (paused.into(), "ok"),
        (third.into(), "ok"),
    ]
    .into_iter()
    .map(|(i, s)| (i, s.to_string()))
    .collect();
    assert_eq!(got, want, "{doc}");

    // 5. With nothing left over, a backup removes nothing.
    let run = p.run_env(
        &["backup", "run", "--target", "docker"],
        &[("PROMO_INFRA_NOW", "2026-11-24T06:00:00Z")],
    );
    ok(&run, "fourth backup");
    assert!(!run.stderr.contains("removing"), "{}", run.stderr);
    assert!(!container_tmp(&container).contains(&copy(fourth)));
}
