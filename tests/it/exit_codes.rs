//! The exit-code table of the README, command by command: 0 done, 1 error (a refused command
//! line included: 2 is only "changes"), 2 `plan --detailed-exitcode` with changes, 3
//! `status --exit-code` when a service is not running and healthy.

use crate::common::{BASE, TestContext};

#[test]
fn a_command_line_clap_refuses_exits_1_not_2() {
    let p = TestContext::new();
    for args in [
        &["--no-such-flag"][..],
        &["plan", "--target"][..],
        &["plan", "--target", "mars"][..],
        &["no-such-command"][..],
        &["k6", "run"][..],
    ] {
        let run = p.run(args);
        assert_eq!(run.code, 1, "{args:?}\n{}", run.all());
        assert!(
            run.stdout.is_empty(),
            "{args:?}: the refusal goes to stderr"
        );
    }
    let run = p.run(&["--no-such-flag"]);
    promo_snapshot!(run, @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
    error: unexpected argument '--no-such-flag' found

    Usage: promo-infra [OPTIONS] <COMMAND>

    For more information, try '--help'.
    ");
}

#[test]
fn help_and_version_exit_0_on_stdout() {
    let p = TestContext::new();
    for args in [&["--help"][..], &["--version"][..], &["plan", "--help"][..]] {
        let run = p.run(args);
        assert_eq!(run.code, 0, "{args:?}\n{}", run.all());
        assert!(!run.stdout.is_empty() && run.stderr.is_empty(), "{args:?}");
    }
}

/// Nothing runs for a stack never applied: `status` shows it and exits 0, `status --exit-code`
/// exits 3. Native target, so no engine is needed.
#[test]
fn status_exit_code_is_3_when_services_are_stopped() {
    let p = TestContext::new();
    p.write("stacks/promo.yaml", BASE);
    let plain = p.run(&["status", "--target", "native"]);
    assert_eq!(plain.code, 0, "{}", plain.all());
    let asked = p.run(&["status", "--target", "native", "--exit-code"]);
    assert_eq!(asked.code, 3, "{}", asked.all());
    assert_eq!(
        asked.stdout, plain.stdout,
        "--exit-code changes only the code"
    );
    promo_snapshot!(asked);
}

/// Issue 13: a remote engine that does not answer is named with the cause people can act on,
/// not the HTTP client's wrapper ("Error in the hyper legacy client: client error (Connect)").
#[test]
fn an_unreachable_remote_engine_says_connection_refused_and_what_to_do() {
    let p = TestContext::with_repo_stacks();
    // A port nothing listens on: taken, then released.
    let port = crate::common::free_port().port();
    let host = format!("tcp://127.0.0.1:{port}");
    let run = p
        .cmd(&["plan"])
        .env("DOCKER_HOST", &host)
        .run()
        .filter(&host, "tcp://127.0.0.1:[PORT]");
    promo_snapshot!(run, @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x cannot reach the Docker engine at tcp://127.0.0.1:[PORT] (listing the stack's networks): Connection refused (os error 111)
      help: start the engine (`just setup` starts dockerd when no socket answers, or `systemctl start docker`), or point DOCKER_HOST at a running one
    ");
}

/// An error's help suggests commands with the `-C`/`-f` the user gave, so they act on the same
/// stack (`-f stacks/shop.yaml` here; without it they would act on `stacks/promo.yaml`).
#[test]
fn an_errors_suggested_command_carries_the_users_flags() {
    let p = crate::common::TestContext::new();
    p.write("stacks/shop.yaml", crate::common::BASE);
    let run = p.run(&[
        "-f",
        "stacks/shop.yaml",
        "secrets",
        "rotate",
        "GRAFANA_ADMIN_PASSWORD",
        "--auto-approve",
    ]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("help: run `promo-infra -f stacks/shop.yaml apply` first"),
        "{}",
        run.all()
    );
    // On another target the suggestion names it too: `apply` alone would act on Docker.
    let native = p.run(&[
        "-f",
        "stacks/shop.yaml",
        "secrets",
        "rotate",
        "GRAFANA_ADMIN_PASSWORD",
        "--target",
        "native",
        "--auto-approve",
    ]);
    assert_eq!(native.code, 1, "{}", native.all());
    assert!(
        native
            .stderr
            .contains("help: run `promo-infra -f stacks/shop.yaml apply --target native` first"),
        "{}",
        native.all()
    );
}
