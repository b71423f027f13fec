//! Crash safety of `generate`: SIGKILL at random moments, then the next `generate` converges
//! (no false "edited by hand", no `--force`, no temp file left); and with several stacks, a
//! failure in one leaves every other stack untouched.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{BASE, TestContext};

/// Every path under the project whose name starts with `.promo-infra-tmp` or is a tempfile of
/// the old writer (`.promo-infra-XXXXXX`).
fn temp_files(p: &TestContext) -> Vec<String> {
    p.snapshot_tree()
        .into_iter()
        .map(|(rel, _)| rel)
        .filter(|rel| {
            rel.split('/').any(|part| {
                part.starts_with(".promo-infra-")
                    && part != ".promo-infra-ledger.json"
                    && part != ".promo-infra.lock"
            })
        })
        .collect()
}

/// A small deterministic generator (xorshift), seeded per run and printed on failure.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Variant B changes Grafana's port and the marketing thresholds: most generated files differ.
fn variant_b() -> String {
    BASE.replacen("  port: 3000", "  port: 3300", 1).replacen(
        "p95_ok_ms: 1000, p95_warn_ms: 2000",
        "p95_ok_ms: 800, p95_warn_ms: 1600",
        1,
    )
}

#[test]
fn generate_killed_at_random_moments_then_reverted_converges_without_false_hand_edits() {
    let p = TestContext::new();
    p.write("stacks/shop.yaml", BASE);
    let start = Instant::now();
    assert_eq!(p.run(&["generate"]).code, 0);
    let one_run = start.elapsed().as_micros() as u64;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut rng = Rng(seed);
    let dir = p.path().join("generated/shop");
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut rounds = 0;
    while rounds < 16 && Instant::now() < deadline {
        rounds += 1;
        // Change the manifest, start generate, SIGKILL it at a random moment of its run.
        p.write("stacks/shop.yaml", &variant_b());
        let mut child = crate::common::promo()
            .current_dir(p.path())
            .arg("generate")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn generate");
        // Odd rounds: any moment of the run. Even rounds: a moment of its write phase, which is
        // short: from the first change to generated/shop/ (a temp file or directory appears).
        let at = if rounds % 2 == 1 {
            let at = rng.below(one_run + one_run / 4);
            std::thread::sleep(Duration::from_micros(at));
            at
        } else {
            let mtime = || std::fs::metadata(&dir).and_then(|m| m.modified()).ok();
            let before = mtime();
            let waited = Instant::now();
            while mtime() == before && waited.elapsed() < Duration::from_secs(10) {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
            }
            let at = rng.below(4000);
            std::thread::sleep(Duration::from_micros(at));
            waited.elapsed().as_micros() as u64
        };
        let _ = child.kill();
        let _ = child.wait();
        // Revert the manifest: generate must put the old files back, without --force.
        p.write("stacks/shop.yaml", BASE);
        let run = p.run(&["generate"]);
        assert_eq!(
            run.code,
            0,
            "round {rounds} (seed {seed}, killed after {at} µs): {}",
            run.all()
        );
        // Not a snapshot: what this run still had to write depends on the random moment the
        // previous one was killed.
        assert!(
            !run.all().contains("hand-edited"),
            "round {rounds} (seed {seed}): {}",
            run.all()
        );
        let check = p.run(&["generate", "--check"]);
        assert_eq!(
            check.code,
            0,
            "round {rounds} (seed {seed}): {}",
            check.all()
        );
        assert_eq!(
            temp_files(&p),
            Vec::<String>::new(),
            "round {rounds} (seed {seed}, killed after {at} µs): temp files left"
        );
    }
    assert!(rounds >= 5, "only {rounds} rounds ran");
}

/// Two stacks: `a` (with a pending change) and `b`, whose stack cannot be written.
fn two_stacks() -> TestContext {
    let p = TestContext::new();
    p.write(
        "stacks/a.yaml",
        &BASE.replacen("stack: shop", "stack: a", 1),
    );
    p.write(
        "stacks/b.yaml",
        &BASE.replacen("stack: shop", "stack: b", 1),
    );
    assert_eq!(p.run(&["generate"]).code, 0);
    p.write(
        "stacks/a.yaml",
        &variant_b().replacen("stack: shop", "stack: a", 1),
    );
    p
}

#[test]
fn a_failing_second_stack_leaves_the_first_untouched() {
    // b's ledger is corrupt: refused before a is written.
    let p = two_stacks();
    p.write("generated/b/.promo-infra-ledger.json", "{ not json");
    let before = p.project_files();
    let run = promo_snapshot!(p.cmd(&["generate"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x the ledger `./generated/b/.promo-infra-ledger.json` is corrupt: key must be a string at line 1 column 3
      help: restore it from git (`git checkout -- <path>`), or delete it and run `promo-infra generate --force`
    ");
    assert!(
        p.project_files() == before,
        "stack a was written: {}",
        run.all()
    );

    // b is locked by another process: refused before a is written.
    let p = two_stacks();
    let (held, _) =
        promo_infra::lock::StackLock::acquire(&p.path().join("generated/b"), "b", "apply")
            .expect("lock b");
    let before = p.project_files();
    let run = promo_snapshot!(p.cmd(&["generate"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stack `b` is locked by `apply` (pid [PID] on [HOST], since [TIMESTAMP])
      help: wait for it to finish; the lock is released automatically when that process exits, even if killed
    ");
    assert!(
        p.project_files() == before,
        "stack a was written: {}",
        run.all()
    );
    drop(held);
    promo_snapshot!(p.cmd(&["generate"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
      ~ generated/a/docker-compose.yml
      ~ generated/a/grafana/dashboards/shop-marketing.json
      ~ generated/a/native/grafana.ini
      ~ generated/a/systemd/promo-infra-a-control-api.service
    warning: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards). To send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/a/.env or export SLACK_WEBHOOK_URL, then apply
    ✓ generated/a: 0 created, 4 updated, 13 unchanged, 0 removed
    warning: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards). To send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/b/.env or export SLACK_WEBHOOK_URL, then apply
    ✓ generated/b: 0 created, 0 updated, 17 unchanged, 0 removed

    ----- stderr -----
    ");
}
