//! The native target with an `influxd` that runs but does not answer: the test's own influxd,
//! SIGSTOPped (its pid read from the stack's pidfile), always continued again by a guard.
//!
//! Before: `plan` read InfluxDB's database anyway, retried four times (about 40 s), and failed
//! with "InfluxDB is not reachable … operation timed out"; `apply` the same, before doing
//! anything. Now, as on docker: the plan starts (waits for) `service.influxdb` and checks the
//! database "while influxdb does not answer"; apply waits for it, bounded, then checks it, or
//! fails naming the service, its pid, URL and what to do; `restart`, which it advises, stops
//! the stopped process gracefully.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::common::Run;
use crate::native::{Ports, Stack, cli, cli_command, destroyed_with_volumes, manifest, pid_of};

/// The test's own influxd, stopped with SIGSTOP until dropped (or [`Self::resume`]): the drop
/// continues it, so a failing test never leaves a stopped process behind.
struct Stopped(Pid);

impl Stopped {
    fn new(pid: i32) -> Self {
        let pid = Pid::from_raw(pid);
        kill(pid, Signal::SIGSTOP).expect("SIGSTOP our influxd");
        Self(pid)
    }

    /// SIGCONT now.
    fn resume(&self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        self.resume();
    }
}

/// `plan`, `status` and `apply` of a stack whose influxd is SIGSTOPped.
#[test]
fn an_influxd_that_runs_but_does_not_answer_is_checked_not_an_error() {
    let (ports, held) = Ports::free();
    let stack = Stack::new(&manifest(ports, "m"));
    held.release();
    let native = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--target", "native"]);
        cli(&stack, &all)
    };
    let r = native(&["apply", "--auto-approve"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let pid = pid_of(stack.project.path(), "influxdb");
    let stopped = Stopped::new(pid);

    // The plan says why the database cannot be read, at once (one health look, 2 s at most).
    let started = Instant::now();
    promo_snapshot!(native(&["plan", "--detailed-exitcode"]), @"
    success: false
    exit_code: 2
    ----- stdout -----
    promo-infra will perform the following actions on stack `native-it` (target native):

      # service.influxdb will be started
      ~ service.influxdb

      # database.k6 will be checked once service.influxdb runs (it cannot be read while influxdb does not answer)
      ~ database.k6 (known after apply)

    Plan: 0 to add, 1 to change, 0 to destroy, 1 known after apply.

    ----- stderr -----
    ");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    // `status` shows it, as docker's words say it, and does not fail.
    let r = native(&["status", "--json", "--exit-code"]);
    assert_eq!(r.code, 3, "{}", r.all());
    let status: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("status json");
    let influx = status["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["service"] == "influxdb"))
        .unwrap_or_else(|| panic!("{}", r.stdout));
    assert_eq!(influx["state"], "running", "{influx}");
    assert_eq!(influx["health"], "unhealthy (no answer)", "{influx}");

    // apply waits for it as for a starting process, bounded, then fails saying what to do.
    let r = native(&["apply", "--auto-approve", "--health-timeout", "2"]);
    assert_eq!(r.code, 1, "{}", r.all());
    let at = format!(
        "influxdb (pid {pid}) runs but did not answer at http://127.0.0.1:{}/ping within 2s",
        ports.influx
    );
    for said in [
        at.as_str(),
        "its process is stopped (state T",
        &format!("`kill -CONT {pid}` resumes it"),
        "logs influxdb --target native`",
        "restart influxdb --target native`",
        "database.k6: not done: it depends on service.influxdb, which failed",
    ] {
        assert!(r.stderr.contains(said), "no `{said}` in:\n{}", r.all());
    }

    // Continued while apply waits: the same process answers (not restarted), and the database
    // is checked: found as declared.
    let r = continued_while_apply_waits(&stack, &stopped);
    assert_eq!(r.code, 0, "{}", r.all());
    for said in [
        "✓ service.influxdb: started",
        "✓ database.k6: unchanged (checked once its service ran)",
    ] {
        assert!(r.stdout.contains(said), "no `{said}` in:\n{}", r.all());
    }
    assert_eq!(pid_of(stack.project.path(), "influxdb"), pid, "restarted");
    let r = native(&["plan", "--detailed-exitcode"]);
    assert_eq!(r.code, 0, "{}", r.all());
    drop(stopped);

    // What the error advises: `restart` stops it gracefully at once, stopped as it is (before:
    // it "ignored SIGTERM" for 10 s and was killed).
    let _stopped = Stopped::new(pid);
    let r = native(&["restart", "influxdb"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!r.stderr.contains("ignored SIGTERM"), "{}", r.all());
    assert_ne!(pid_of(stack.project.path(), "influxdb"), pid, "{}", r.all());
    destroyed_with_volumes(&stack);
}

/// `apply` of the stack, `stopped` continued once apply waits for it (its progress line says
/// `service.influxdb: starting`). Bounded: apply gives up after its 60 s health timeout and
/// ends, which ends its stderr.
fn continued_while_apply_waits(stack: &Stack, stopped: &Stopped) -> Run {
    use std::io::{BufRead, Read};
    let mut child = cli_command(
        stack,
        &[
            "apply",
            "--target",
            "native",
            "--auto-approve",
            "--health-timeout",
            "60",
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("spawn apply");
    let mut stdout = child.stdout.take().expect("stdout");
    // Read while apply runs (a full pipe would block it).
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let mut stderr = String::new();
    for line in std::io::BufReader::new(child.stderr.take().expect("stderr")).lines() {
        let line = line.expect("stderr line");
        if line.contains("service.influxdb: starting") {
            stopped.resume();
        }
        stderr.push_str(&line);
        stderr.push('\n');
    }
    let status = child.wait().expect("apply");
    let stdout = reader.join().expect("stdout reader");
    Run::new(
        status.code().unwrap_or(-1),
        stdout,
        stderr,
        stack.project.path(),
    )
}
