//! `apply` asks before it changes anything: without an answer (no terminal, no
//! `--auto-approve`) it shows the plan, exits 1, and the project is as it was — no file under
//! `generated/`, no `.env` — but for the stack's empty lock file (kept by design: `src/lock.rs`).
//! Native target: no engine needed.

use crate::common::{BASE, TestContext};

/// The project's files ([`TestContext::project_files`]: not the render cache the plan fills),
/// without the stack lock.
fn files(p: &TestContext) -> Vec<(String, Vec<u8>)> {
    p.project_files()
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

/// A host port already held (here by this test) stops `apply` before anything is written or
/// started, naming the manifest key with its position, the address and the holder. Every
/// conflict is listed at once.
#[test]
fn a_host_port_in_use_is_refused_before_any_change_naming_key_and_holder() {
    let grafana = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let control = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let (g, c) = (
        grafana.local_addr().expect("addr").port(),
        control.local_addr().expect("addr").port(),
    );
    let p = TestContext::new();
    p.write(
        "stacks/promo.yaml",
        &BASE
            .replace("  port: 3000", &format!("  port: {g}"))
            .replace("  port: 5000", &format!("  port: {c}")),
    );
    let before = files(&p);
    let run = p.run(&["apply", "--target", "native", "--auto-approve"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert_eq!(files(&p), before, "the refused apply wrote something");
    // The refusal alone (the plan shown before it is other tests' business).
    let refusal = run
        .stderr_from("  x cannot apply")
        .filter(&g.to_string(), "[GRAFANA_PORT]")
        .filter(&c.to_string(), "[CONTROL_PORT]");
    promo_snapshot!(refusal, @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x cannot apply: 2 host port(s) already in use; nothing was changed
      |   - control_api.port = [CONTROL_PORT] (stacks/promo.yaml:17:9): 127.0.0.1:[CONTROL_PORT] is already in use by pid [PID] (it-[ID])
      |   - grafana.port = [GRAFANA_PORT] (stacks/promo.yaml:12:9): 127.0.0.1:[GRAFANA_PORT] is already in use by pid [PID] (it-[ID])
      help: stop what holds the port, or choose another port in the manifest, then apply again
    ");
    drop((grafana, control));
}
