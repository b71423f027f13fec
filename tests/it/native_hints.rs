//! A command that takes no `--target` (`runs`) on a stack that runs on the native target: the
//! commands its help suggests name `--target native`, the one target the stack was applied to
//! (its apply record). Before, `runs show` with the stack's InfluxDB down said
//! `promo-infra -f stacks/native-it.yaml apply`, which acts on docker (found by QA).

use crate::native::{Ports, Stack, cli, destroyed_with_volumes, manifest, pid_of};

#[test]
fn runs_suggests_the_target_the_stack_was_applied_to() {
    let (ports, held) = Ports::free();
    let stack = Stack::new(&manifest(ports, "m"));
    held.release();
    let applied = cli(&stack, &["apply", "--target", "native", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    // InfluxDB dies (ours, by its pidfile).
    let pid = pid_of(stack.project.path(), "influxdb");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL our influxd");
    let proc = std::path::PathBuf::from(format!("/proc/{pid}"));
    for _ in 0..100 {
        let dead = std::fs::read_to_string(proc.join("stat"))
            .map_or(true, |s| s.split_whitespace().nth(2) == Some("Z"));
        if dead {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let run = cli(&stack, &["runs", "show", "promo_20261129_101500_abcdef12"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let help = run
        .stderr
        .lines()
        .find(|l| l.trim_start().starts_with("help:"))
        .unwrap_or_else(|| panic!("{}", run.all()));
    assert_eq!(
        help.trim(),
        "help: check whether the stack runs (`promo-infra -f stacks/native-it.yaml status --target native`): start it with `promo-infra -f stacks/native-it.yaml apply --target native`, or fix influxdb.bind / influxdb.port in the manifest"
    );
    destroyed_with_volumes(&stack);
}
