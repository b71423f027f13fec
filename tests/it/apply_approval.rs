//! `apply` asks before it changes anything: without an answer (no terminal, no
//! `--auto-approve`) it shows the plan, exits 1, and the project is as it was — no file under
//! `generated/`, no `.env` — but for the stack's empty lock file (kept by design: `src/lock.rs`).
//! Native target: no engine needed.

use crate::common::{BASE, TestContext};

/// The project's files, without the stack lock.
fn files(p: &TestContext) -> Vec<(String, Vec<u8>)> {
    p.snapshot_tree()
        .into_iter()
        .filter(|(rel, bytes)| !(rel.ends_with(".promo-infra.lock") && bytes.is_empty()))
        .collect()
}

#[test]
fn an_unanswered_apply_writes_nothing_cold_or_after_generate() {
    let p = TestContext::new();
    p.write("stacks/promo.yaml", BASE);
    let before = files(&p);
    let run = p.run(&["apply", "--target", "native"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(files(&p), before, "a cold apply wrote before the answer");
    assert_eq!(
        run.stderr.lines().find(|l| l.contains(" x ")),
        Some("  x apply needs confirmation, but stdin is not a terminal"),
        "{}",
        run.all()
    );

    // After `generate`, with a manifest change that rewrites files and a secret to generate.
    assert_eq!(p.run(&["generate"]).code, 0);
    let env = p.read("generated/shop/.env");
    let without_admin: String = env
        .lines()
        .filter(|l| !l.starts_with("GRAFANA_ADMIN_PASSWORD="))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(
        env, without_admin,
        "the base stack generates a Grafana admin password"
    );
    p.write("generated/shop/.env", &without_admin);
    p.write(
        "stacks/promo.yaml",
        &BASE.replace("retention: 30d", "retention: 12h"),
    );
    let before = files(&p);
    let run = p.run(&["apply", "--target", "native"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(
        files(&p),
        before,
        "apply rewrote generated files or completed .env before the answer"
    );
}
