//! Docker target: the copies `backup restore` (and `backup run`) make in the InfluxDB
//! container's `/tmp`, when the command is killed (SIGKILL) before removing its own. A later
//! `backup run`, `backup restore` or `backup rotate` removes every copy whose command is not
//! running, and never the copy of one that runs (here: stopped with SIGSTOP, holding its lock).
//! The container's `/tmp` is read with docker's own CLI, not promo-infra.

use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};

use super::kill::{container_tmp, kill_group, signal_group, wait_for_line};
use super::{k6_points, ok, write_points};
use crate::common::TestContext;

/// `backup restore ID --as NAME --target docker` in a process group of its own (see
/// `kill::spawn_backup`).
fn spawn_restore(p: &TestContext, id: &str, as_name: &str) -> Child {
    crate::common::promo()
        .current_dir(p.path())
        .args([
            "backup", "restore", id, "--as", as_name, "--target", "docker",
        ])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn backup restore")
}

/// A restore stopped (SIGSTOP) once `influxd restore` runs on its copy in the container: the
/// copy is complete and the restore holds its backup's lock.
fn stop_restore_on_its_copy(p: &TestContext, container: &str, id: &str, as_name: &str) -> Child {
    let mut child = spawn_restore(p, id, as_name);
    let lines = wait_for_line(&mut child, "running influxd restore");
    signal_group(&child, "STOP");
    // It printed nothing about removing: the copy of a restore running beside it is kept.
    assert!(!lines.iter().any(|l| l.contains("removing")), "{lines:?}");
    let tmp = container_tmp(container);
    assert!(tmp.contains(&restore_copy(id)), "{tmp:?}");
    child
}

fn restore_copy(id: &str) -> String {
    format!("promo-infra-restore-{id}")
}

/// The `removing` progress lines of a command.
fn removing(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("removing")).collect()
}

/// A restore killed while `influxd restore` runs in the container left its copy there for
/// ever. Now the next `backup run` removes it, and so does the next restore of the same backup;
/// neither touches the copy of a restore running beside them (stopped with SIGSTOP), which
/// resumes, completes and removes its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_docker_restore_leaves_no_copy_in_the_container_and_a_running_ones_is_kept() {
    if !crate::engine::engine() {
        return;
    }
    let stack = super::DockerStack::apply("rleftover");
    // Enough points that `influxd restore` takes a moment (the copy is in use meanwhile).
    write_points(&stack.url, &stack.values(), k6_points("rleftover", 600)).await;
    let container = stack.container();
    let p = &stack.p;
    let (killed, paused) = ("20261124T030000Z", "20261124T040000Z");
    for now in ["2026-11-24T03:00:00Z", "2026-11-24T04:00:00Z"] {
        let run = p.run_env(
            &["backup", "run", "--target", "docker"],
            &[("PROMO_INFRA_NOW", now)],
        );
        ok(&run, "backup run");
    }
    let left_by = |id: &str| {
        format!(
            "backup: removing /tmp/{} from {container}: left by an interrupted restore",
            restore_copy(id)
        )
    };

    // 1. A restore stopped while it runs on its copy: still running.
    let mut running = stop_restore_on_its_copy(p, &container, paused, "k6_paused");

    // 2. Another, of another backup, killed at the same moment: its copy stays in the container.
    let mut a = stop_restore_on_its_copy(p, &container, killed, "k6_killed");
    kill_group(&mut a);
    let tmp = container_tmp(&container);
    assert!(
        tmp.contains(&restore_copy(killed)) && tmp.contains(&restore_copy(paused)),
        "{tmp:?}"
    );

    // 3. The next backup removes the killed restore's copy, not the running one's.
    let run = p.run_env(
        &["backup", "run", "--target", "docker"],
        &[("PROMO_INFRA_NOW", "2026-11-24T05:00:00Z")],
    );
    ok(&run, "backup run after the kill");
    assert_eq!(removing(&run.stderr), [left_by(killed)], "{}", run.stderr);
    let tmp = container_tmp(&container);
    assert!(!tmp.contains(&restore_copy(killed)), "{tmp:?}");
    assert!(tmp.contains(&restore_copy(paused)), "{tmp:?}");

    // 4. Killed again; the next restore of that backup removes the copy it left before
    //    uploading its own, and leaves the running one's alone.
    let mut a = stop_restore_on_its_copy(p, &container, killed, "k6_killed_again");
    kill_group(&mut a);
    let r = p.run(&[
        "backup", "restore", killed, "--as", "k6_third", "--target", "docker",
    ]);
    ok(&r, "restore after the kill");
    assert_eq!(removing(&r.stderr), [left_by(killed)], "{}", r.stderr);
    let tmp = container_tmp(&container);
    assert!(!tmp.contains(&restore_copy(killed)), "{tmp:?}");
    assert!(tmp.contains(&restore_copy(paused)), "{tmp:?}");

    // 5. The stopped restore resumes and completes, and removes its own copy.
    signal_group(&running, "CONT");
    let status = running.wait().expect("wait");
    assert!(status.success(), "the resumed restore failed: {status}");
    let tmp = container_tmp(&container);
    // Negative: nothing of ours is left in the container (docker's own `ls`).
    assert!(
        !tmp.iter().any(|n| n.starts_with("promo-infra-")),
        "{tmp:?}"
    );

    // 6. With nothing left over, a restore removes nothing.
    let r = p.run(&[
        "backup",
        "restore",
        paused,
        "--as",
        "k6_fourth",
        "--target",
        "docker",
    ]);
    ok(&r, "last restore");
    assert!(removing(&r.stderr).is_empty(), "{}", r.stderr);
}
