//! Docker target: the copies `backup restore` (and `backup run`) make in the InfluxDB
//! container's `/tmp`, when the command is killed (SIGKILL) before removing its own. A later
//! `backup run`, `backup restore` or `backup rotate` removes every copy whose command is not
//! running, and never the copy of one that runs (here: stopped with SIGSTOP, holding its lock).
//! The container's `/tmp` is read with docker's own CLI, not promo-infra.

use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};

use super::kill::{
    container_tmp, kill_group, signal_group, spawn_backup, wait_for_copy, wait_for_line,
};
use super::{k6_points, ok, write_points};
use crate::common::TestContext;

/// `backup restore ID --as NAME --target docker` in a process group of its own (see
/// `kill::spawn_backup`).
fn spawn_restore(p: &TestContext, id: &str, as_name: &str) -> Child {
    p.command()
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

/// `backup rotate` on the docker target (its default, and what the generated cron runs after
/// `backup run`) removes the copies killed backups and restores left in the container; it used
/// to leave them to the next `backup run`. It never removes the copy of a backup or a restore
/// running beside it (both stopped with SIGSTOP), nor the backup that restore holds; both
/// resume and complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_rotate_removes_the_copies_of_killed_backups_and_restores_never_a_running_ones() {
    if !crate::engine::engine() {
        return;
    }
    let stack = super::DockerStack::apply("rotleft");
    write_points(&stack.url, &stack.values(), k6_points("rotleft", 600)).await;
    let container = stack.container();
    let p = &stack.p;
    let (old, new) = ("20261124T010000Z", "20261124T020000Z");
    let (killed, paused) = ("20261124T030000Z", "20261124T040000Z");
    for now in ["2026-11-24T01:00:00Z", "2026-11-24T02:00:00Z"] {
        let run = p.run_env(
            &["backup", "run", "--target", "docker"],
            &[("PROMO_INFRA_NOW", now)],
        );
        ok(&run, "backup run");
    }
    // The policy now drops `old`, which a running restore will hold.
    let manifest = p.read("stacks/promo.yaml");
    assert!(
        manifest.contains("keep: { last: 2, daily: 7 }"),
        "{manifest}"
    );
    p.write(
        "stacks/promo.yaml",
        &manifest.replace("keep: { last: 2, daily: 7 }", "keep: { last: 1 }"),
    );
    let backup_copy = |id: &str| format!("promo-infra-backup-{id}");

    // A restore and a backup stopped on their copies: running.
    let mut running_restore = stop_restore_on_its_copy(p, &container, old, "k6_paused");
    let mut running_backup = spawn_backup(p, "2026-11-24T04:00:00Z", "docker");
    wait_for_line(&mut running_backup, "copying /tmp/promo-infra-backup-");
    signal_group(&running_backup, "STOP");
    wait_for_copy(&container, paused);
    // A backup and a restore killed on their copies. Each command sweeps as it starts, so both
    // are stopped on their complete copies before either is killed: the restore's sweep keeps
    // the backup's copy (its backup runs), and both copies are left.
    let mut a = spawn_backup(p, "2026-11-24T03:00:00Z", "docker");
    wait_for_line(&mut a, "copying /tmp/promo-infra-backup-");
    signal_group(&a, "STOP");
    wait_for_copy(&container, killed);
    let mut b = stop_restore_on_its_copy(p, &container, new, "k6_killed");
    kill_group(&mut a);
    kill_group(&mut b);
    let tmp = container_tmp(&container);
    for copy in [
        backup_copy(killed),
        backup_copy(paused),
        restore_copy(old),
        restore_copy(new),
    ] {
        assert!(tmp.contains(&copy), "{copy} not in {tmp:?}");
    }

    // Rotation removes the two killed ones' copies, and leaves the backup being restored.
    let rotate = p.run_env(
        &["backup", "rotate"],
        &[("PROMO_INFRA_NOW", "2026-11-24T05:00:00Z")],
    );
    ok(&rotate, "backup rotate");
    assert_eq!(
        removing(&rotate.stderr),
        [
            format!(
                "backup: removing /tmp/{} from {container}: left by an interrupted backup",
                backup_copy(killed)
            ),
            format!(
                "backup: removing /tmp/{} from {container}: left by an interrupted restore",
                restore_copy(new)
            ),
        ],
        "{}",
        rotate.stderr
    );
    assert!(
        rotate.stdout.contains(&format!(
            "! {old}  being restored (a `backup restore` holds it): removed by a later rotation"
        )),
        "{}",
        rotate.stdout
    );
    let tmp = container_tmp(&container);
    assert!(!tmp.contains(&backup_copy(killed)), "{tmp:?}");
    assert!(!tmp.contains(&restore_copy(new)), "{tmp:?}");
    assert!(tmp.contains(&backup_copy(paused)), "{tmp:?}");
    assert!(tmp.contains(&restore_copy(old)), "{tmp:?}");
    let dir = p.path().join("backups").join(&stack.name);
    assert!(dir.join(old).is_dir());

    // Both resume and complete, each removing its own copy.
    for (what, child) in [
        ("backup", &mut running_backup),
        ("restore", &mut running_restore),
    ] {
        signal_group(child, "CONT");
        let status = child.wait().expect("wait");
        assert!(status.success(), "the resumed {what} failed: {status}");
    }
    let tmp = container_tmp(&container);
    // Negative: nothing of ours is left in the container (docker's own `ls`).
    assert!(
        !tmp.iter().any(|n| n.starts_with("promo-infra-")),
        "{tmp:?}"
    );

    // Released, `old` goes with the next rotation, which finds nothing left in the container;
    // a dry run removes nothing, in the container either.
    let dry = p.run_env(
        &["backup", "rotate", "--dry-run"],
        &[("PROMO_INFRA_NOW", "2026-11-24T06:00:00Z")],
    );
    ok(&dry, "backup rotate --dry-run");
    assert!(dry.stderr.is_empty(), "{}", dry.stderr);
    let rotate = p.run_env(
        &["backup", "rotate"],
        &[("PROMO_INFRA_NOW", "2026-11-24T06:00:00Z")],
    );
    ok(&rotate, "second rotate");
    assert!(removing(&rotate.stderr).is_empty(), "{}", rotate.stderr);
    assert!(!dir.join(old).exists(), "{}", rotate.stdout);
}
