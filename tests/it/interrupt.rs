//! Ctrl-C during `apply`, as terraform: the first SIGINT lets the step in flight finish, starts
//! no other, and ends with exit 130 naming what was done and what was not (the next `plan`
//! shows the rest, the next `apply` does it); a second SIGINT quits at once (130). `destroy`
//! (one `Target::destroy` call) is let finish, then exits 130.
//!
//! A real `promo-infra apply --target native` with real `influxd` 1.6 and the Grafana double
//! behind a gate: the stand-in `grafana` on PATH execs the double only once the test creates
//! the gate file, so Grafana's step is in flight (waiting for its health URL) for as long as
//! the test wants, whatever the machine's speed; for `destroy`, a stand-in that exits on SIGTERM
//! only once the gate is open. Every wait is for a line of the command's stderr (or the file
//! the stand-in writes when it gets SIGTERM), bounded.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::native::{Ports, Stack, cli, cli_command, destroyed_with_volumes, manifest};

/// Longest wait for one expected line (influxd's first start included).
const WITHIN: Duration = Duration::from_secs(120);

/// Replace the stand-in `grafana` of `stack` by one that starts the double only once the gate
/// file exists (and takes the gate: the next start waits for a new one). `--version` answers
/// at once. Returns the gate's path.
fn gated_grafana(stack: &Stack) -> PathBuf {
    let bin = stack.bin();
    let stand_in = bin.join("grafana");
    let double = std::fs::read_link(&stand_in).expect("the stand-in grafana is a symlink");
    let gate = bin.join("grafana.gate");
    std::fs::remove_file(&stand_in).expect("remove the stand-in");
    // `exec -a grafana`: the process is then `grafana` to the native target, which checks a
    // pidfile's process by its argv[0].
    let script = format!(
        "#!/bin/bash\n\
         if [ \"$1\" != --version ]; then\n\
         \x20 n=0\n\
         \x20 while [ ! -e '{gate}' ] && [ $n -lt 6000 ]; do /bin/sleep 0.05; n=$((n + 1)); done\n\
         \x20 rm -f '{gate}'\n\
         fi\n\
         exec -a grafana '{double}' \"$@\"\n",
        gate = gate.display(),
        double = double.display(),
    );
    std::fs::write(&stand_in, script).expect("write the gated grafana");
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&stand_in, mode).expect("chmod");
    gate
}

/// Replace the stand-in `grafana` of `stack` by one that runs the double as its child and, on
/// SIGTERM, stops it, creates the marker file, then exits only once the gate file exists: a
/// `destroy` stopping it is held there for as long as the test wants (up to the native target's
/// 10 s grace before SIGKILL). Its process is `grafana` to the native target (`exec -a`).
/// Returns the gate's and the marker's paths.
fn grafana_held_at_stop(stack: &Stack) -> (PathBuf, PathBuf) {
    let bin = stack.bin();
    let stand_in = bin.join("grafana");
    let double = std::fs::read_link(&stand_in).expect("the stand-in grafana is a symlink");
    let (gate, marker) = (bin.join("grafana.gate"), bin.join("grafana.stopping"));
    std::fs::remove_file(&stand_in).expect("remove the stand-in");
    let held = format!(
        "\"$0\" \"$@\" & child=$!\n\
         trap 'kill $child; wait $child; : >\"{marker}\"; n=0; while [ ! -e \"{gate}\" ] && [ $n -lt 6000 ]; do /bin/sleep 0.05; n=$((n + 1)); done; exit 0' TERM\n\
         wait $child\n",
        gate = gate.display(),
        marker = marker.display(),
    );
    let script = format!(
        "#!/bin/bash\n\
         if [ \"$1\" = --version ]; then exec '{double}' \"$@\"; fi\n\
         exec -a grafana /bin/bash -c '{held}' '{double}' \"$@\"\n",
        double = double.display(),
        held = held.replace('\'', "'\\''"),
    );
    std::fs::write(&stand_in, script).expect("write the held grafana");
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&stand_in, mode).expect("chmod");
    (gate, marker)
}

/// Wait until `path` exists, at most [`WITHIN`].
fn until_exists(path: &std::path::Path) {
    let deadline = Instant::now() + WITHIN;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "no {} within {WITHIN:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A command running in the background, its stderr read line by line as it comes.
struct Live {
    child: Child,
    lines: Receiver<String>,
    stderr: Vec<String>,
    stdout: std::thread::JoinHandle<String>,
}

impl Live {
    fn spawn(mut cmd: std::process::Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn promo-infra");
        let mut out = child.stdout.take().expect("stdout");
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut text);
            text
        });
        let err = child.stderr.take().expect("stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            stderr: Vec::new(),
            stdout,
        }
    }

    /// Read stderr until every line of `wanted` was seen (each a line's exact text, or its
    /// start when it ends with `…`), at most [`WITHIN`].
    fn until(&mut self, wanted: &[&str]) {
        let deadline = Instant::now() + WITHIN;
        let seen = |lines: &[String], w: &str| match w.strip_suffix('…') {
            Some(start) => lines.iter().any(|l| l.starts_with(start)),
            None => lines.iter().any(|l| l == w),
        };
        while !wanted.iter().all(|w| seen(&self.stderr, w)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.stderr.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {wanted:?} within {WITHIN:?}; stderr: {:#?}",
                        self.stderr
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("ended before {wanted:?}; stderr: {:#?}", self.stderr)
                }
            }
        }
    }

    fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        kill(pid, signal).expect("signal promo-infra");
    }

    /// The rest of stderr (until the command closes it, at most [`WITHIN`]), then its exit
    /// code, stdout and every stderr line.
    fn end(mut self) -> (i32, String, Vec<String>) {
        let deadline = Instant::now() + WITHIN;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.stderr.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!("still running after {WITHIN:?}; stderr: {:#?}", self.stderr)
                }
            }
        }
        let status = self.child.wait().expect("wait");
        let stdout = self.stdout.join().expect("stdout reader");
        (status.code().unwrap_or(-1), stdout, self.stderr)
    }
}

/// The step events of an apply's stderr (`service.grafana: creating`), their times dropped,
/// sorted (steps of one wave run concurrently); and its other lines, in order.
fn events_and_rest(stderr: &[String]) -> (Vec<String>, Vec<String>) {
    let is_event = |l: &str| {
        ["service.", "database.", "folder.", "dashboard."]
            .iter()
            .any(|p| l.starts_with(p))
    };
    let mut events: Vec<String> = stderr
        .iter()
        .filter(|l| is_event(l))
        .map(|l| match l.rfind(" (") {
            Some(i) if l.ends_with("s)") => l[..i].to_string(),
            _ => l.clone(),
        })
        .collect();
    events.sort();
    let rest = stderr.iter().filter(|l| !is_event(l)).cloned().collect();
    (events, rest)
}

fn apply(stack: &Stack) -> std::process::Command {
    cli_command(stack, &["apply", "--target", "native", "--auto-approve"])
}

#[test]
fn ctrl_c_during_apply_finishes_the_step_in_flight_starts_no_other_and_exits_130() {
    let (ports, held) = Ports::free();
    let stack = Stack::new(&manifest(ports, "m"));
    let gate = gated_grafana(&stack);
    held.release();

    // InfluxDB and its database are done; Grafana's step is in flight, held at the gate.
    let mut live = Live::spawn(apply(&stack));
    live.until(&["database.k6: created …", "service.grafana: creating"]);
    live.signal(Signal::SIGINT);
    live.until(&["interrupt received: finishing the …"]);
    std::fs::write(&gate, "").expect("open the gate");
    let (code, stdout, stderr) = live.end();
    let all = format!("{stdout}{}", stderr.join("\n"));
    assert_eq!(code, 130, "{all}");
    assert!(
        stdout.ends_with("Plan: 7 to add, 0 to change, 0 to destroy.\n"),
        "the plan, and no report of a complete apply: {all}"
    );
    let (events, mut rest) = events_and_rest(&stderr);
    // Grafana's step, and the database's when its "created" line was out but its step had not
    // yet returned when the signal came: the count is the executor's, exact either way.
    let first = "interrupt received: finishing the 1 step(s) in progress, starting no new one (Ctrl-C again to quit at once)";
    if let Some(line) = rest.first_mut()
        && line == &first.replace("the 1 step(s)", "the 2 step(s)")
    {
        *line = first.to_string();
    }
    assert_eq!(
        events,
        [
            "database.k6: created",
            "database.k6: creating",
            "service.grafana: created and healthy",
            "service.grafana: creating",
            "service.influxdb: created and healthy",
            "service.influxdb: creating",
        ],
        "Grafana's step finished; nothing that waited for it started: {all}"
    );
    assert_eq!(
        rest,
        [
            "interrupt received: finishing the 1 step(s) in progress, starting no new one (Ctrl-C again to quit at once)",
            "  x apply interrupted: 3 of 7 step(s) done, 4 not started",
            "  | done: service.grafana created, service.influxdb created, database.k6 created",
            "  | not started: service.control-api, folder.native-it, dashboard.m, dashboard.t",
            "  help: `promo-infra -f stacks/native-it.yaml plan --target native` shows what is left to do; `promo-infra -f stacks/native-it.yaml apply --target native` does it",
        ],
        "{all}"
    );

    // What was not started is what is left; the next apply does it and converges.
    let plan = cli(
        &stack,
        &["plan", "--target", "native", "--detailed-exitcode"],
    );
    assert_eq!(plan.code, 2, "{}", plan.all());
    let planned: Vec<&str> = plan
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  + "))
        .collect();
    assert_eq!(
        planned,
        [
            "service.control-api",
            "folder.native-it",
            "dashboard.m",
            "dashboard.t"
        ],
        "{}",
        plan.all()
    );
    let again = cli(&stack, &["apply", "--target", "native", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.all());
    let converged = cli(
        &stack,
        &["plan", "--target", "native", "--detailed-exitcode"],
    );
    assert_eq!(converged.code, 0, "{}", converged.all());

    // A second Ctrl-C quits at once, while Grafana (moved to another port) is being replaced.
    let moved = Ports {
        grafana: crate::common::free_port().port(),
        ..ports
    };
    stack
        .project
        .write("stacks/native-it.yaml", &manifest(moved, "m"));
    let mut live = Live::spawn(apply(&stack));
    live.until(&["service.grafana: replacing"]);
    live.signal(Signal::SIGINT);
    live.until(&["interrupt received: …"]);
    live.signal(Signal::SIGINT);
    let (code, stdout, stderr) = live.end();
    let all = format!("{stdout}{}", stderr.join("\n"));
    assert_eq!(code, 130, "{all}");
    assert_eq!(
        stderr.last().map(String::as_str),
        Some(
            "interrupted again: quitting at once; a step in flight may be left half-done: `promo-infra -f stacks/native-it.yaml plan --target native` shows what is left, `promo-infra -f stacks/native-it.yaml apply --target native` finishes it"
        ),
        "{all}"
    );
    // Even then the next apply converges (the Grafana left starting is let through).
    std::fs::write(&gate, "").expect("open the gate");
    let again = cli(&stack, &["apply", "--target", "native", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.all());
    let converged = cli(
        &stack,
        &["plan", "--target", "native", "--detailed-exitcode"],
    );
    assert_eq!(converged.code, 0, "{}", converged.all());
    destroyed_with_volumes(&stack);
}

/// README: "`destroy` removes the stack in one go, so Ctrl-C lets it finish, then exits 130".
/// A real `destroy --target native` held while it stops Grafana (the stand-in exits only once
/// the test opens a gate): SIGINT then says so, the destroy goes on and stops InfluxDB too, and
/// the command exits 130 saying it finished; nothing of the stack runs after it.
#[test]
fn ctrl_c_during_destroy_lets_it_finish_then_exits_130() {
    let (ports, held) = Ports::free();
    let stack = Stack::new(&manifest(ports, "m"));
    let (gate, marker) = grafana_held_at_stop(&stack);
    held.release();
    let applied = cli(&stack, &["apply", "--target", "native", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.all());

    let mut live = Live::spawn(cli_command(
        &stack,
        &["destroy", "--target", "native", "--auto-approve"],
    ));
    // Grafana got its SIGTERM: the destroy is under way (the control API, which depends on
    // Grafana, is stopped; InfluxDB, which Grafana depends on, is not yet).
    until_exists(&marker);
    live.signal(Signal::SIGINT);
    live.until(&["interrupt received: …"]);
    std::fs::write(&gate, "").expect("open the gate");
    let (code, stdout, stderr) = live.end();
    let all = format!("{stdout}{}", stderr.join("\n"));
    assert_eq!(code, 130, "{all}");
    assert_eq!(
        stdout,
        "promo-infra will destroy on stack `native-it` (target native):\n\n\
         \x20 - service.control-api\n\
         \x20 - service.grafana\n\
         \x20 - service.influxdb\n\n\
         Data directories are kept (data/native-it/…; use --volumes to remove them too).\n\
         \x20 - process control-api\n\
         \x20 - process grafana\n\
         \x20 - process influxdb\n\
         ✓ Destroy complete: 3 object(s) removed; data directories kept (data/native-it/…).\n",
        "{all}"
    );
    assert_eq!(
        stderr,
        [
            "interrupt received: letting the destroy in progress finish (Ctrl-C again to quit at once)",
            "  x destroy interrupted after it had started: it finished (removed what is listed above)",
            "  help: nothing is left to destroy; `promo-infra -f stacks/native-it.yaml status --target native` confirms it",
        ],
        "{all}"
    );
    // It did finish: nothing of the stack is left to destroy.
    nothing_left(&stack);

    // A second Ctrl-C quits at once, with Grafana's stop in flight: the line says what finishes
    // a destroy (another destroy; `apply`, which the apply's line names, would make it again).
    std::fs::remove_file(&marker).expect("reset the marker");
    let applied = cli(&stack, &["apply", "--target", "native", "--auto-approve"]);
    assert_eq!(applied.code, 0, "{}", applied.all());
    let mut live = Live::spawn(cli_command(
        &stack,
        &["destroy", "--target", "native", "--auto-approve"],
    ));
    until_exists(&marker);
    live.signal(Signal::SIGINT);
    live.until(&["interrupt received: …"]);
    live.signal(Signal::SIGINT);
    let (code, stdout, stderr) = live.end();
    let all = format!("{stdout}{}", stderr.join("\n"));
    assert_eq!(code, 130, "{all}");
    assert_eq!(
        stderr.last().map(String::as_str),
        Some(
            "interrupted again: quitting at once; the destroy may be left half-done: `promo-infra -f stacks/native-it.yaml destroy --target native` removes what is left"
        ),
        "{all}"
    );
    // What that line says: the destroy it names removes what is left (InfluxDB, not stopped).
    std::fs::write(&gate, "").expect("open the gate");
    let rest = cli(&stack, &["destroy", "--target", "native", "--auto-approve"]);
    assert_eq!(rest.code, 0, "{}", rest.all());
    assert!(
        rest.stdout.contains("  - process influxdb\n"),
        "{}",
        rest.all()
    );
    nothing_left(&stack);
    destroyed_with_volumes(&stack);
}

/// A `destroy` of `stack` finds nothing to destroy.
fn nothing_left(stack: &Stack) {
    let again = cli(stack, &["destroy", "--target", "native", "--auto-approve"]);
    assert_eq!(
        (again.code, again.stdout.as_str()),
        (
            0,
            "Stack `native-it` has nothing to destroy on target native.\n\
             ✓ Destroy complete: 0 object(s) removed; data directories kept (data/native-it/…).\n"
        ),
        "{}",
        again.all()
    );
}
