//! The service verbs that need no engine: `output` (text, JSON, one name, a secret refused),
//! `PROMO_INFRA_FILE`, and the dynamic shell completions (`COMPLETE=fish` protocol). `logs`
//! and `restart` run against real services at the end of native.rs and docker.rs.

use crate::common::{Run, Runs, TestContext};

/// What `restart grafana` prints on every target, once it is healthy again (stderr: the event
/// lines of a run without a terminal). Called by several tests of one process, hence
/// `allow_duplicates!`.
pub fn restarted_grafana(run: Run) {
    insta::allow_duplicates! {
    promo_snapshot!(run, @"
    success: true
    exit_code: 0
    ----- stdout -----
    ✓ service.grafana: restarted, healthy ([TIME])

    ----- stderr -----
    service.grafana: restarting
    service.grafana: restarted and healthy ([TIME])
    ");
    }
}

#[test]
fn output_lists_urls_logins_and_where_the_secrets_are_never_their_values() {
    let p = TestContext::with_repo_stacks();
    promo_snapshot!(p.cmd(&["output"]), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    control_api_token = <sensitive> (CONTROL_API_TOKEN in generated/promo/.env)
    control_api_url = "http://127.0.0.1:5000"
    grafana_admin_password = <sensitive> (GRAFANA_ADMIN_PASSWORD in generated/promo/.env)
    grafana_admin_user = "admin"
    grafana_url = "http://127.0.0.1:3000"
    influxdb_admin_password = <sensitive> (INFLUXDB_ADMIN_PASSWORD in generated/promo/.env)
    influxdb_admin_token = <sensitive> (INFLUXDB_ADMIN_TOKEN in generated/promo/.env)
    influxdb_admin_user = "promo-admin"
    influxdb_url = "http://127.0.0.1:8086"
    k6_out = "xk6-influxdb=http://127.0.0.1:8086"
    secrets_file = "generated/promo/.env"
    stop_page_password = <sensitive> (CONTROL_API_STOP_PASSWORD in generated/promo/.env)
    stop_page_url = "http://127.0.0.1:5000/stop"

    ----- stderr -----
    "#);
}

#[test]
fn output_json_is_versioned_and_one_name_gives_its_value_alone() {
    let p = TestContext::with_repo_stacks();
    let mut runs = Runs::default();
    runs.push(
        "json",
        p.run(&["-f", "stacks/promo-v1.yaml", "output", "--json"]),
    );
    runs.push("one value", p.run(&["output", "grafana_url"]));
    runs.push(
        "one secret, json",
        p.run(&["output", "--json", "control_api_token"]),
    );
    runs.push(
        "a secret alone is refused",
        p.run(&["output", "grafana_admin_password"]),
    );
    runs.push("unknown name", p.run(&["output", "grafana"]));
    promo_snapshot!(runs, @r#"
    === json ===
    success: true
    exit_code: 0
    ----- stdout -----
    {
      "format_version": "1.0",
      "stack": "promo-v1",
      "outputs": {
        "control_api_token": {
          "sensitive": true,
          "env_key": "CONTROL_API_TOKEN",
          "file": "generated/promo-v1/.env"
        },
        "control_api_url": {
          "value": "http://127.0.0.1:5001"
        },
        "grafana_admin_password": {
          "sensitive": true,
          "env_key": "GRAFANA_ADMIN_PASSWORD",
          "file": "generated/promo-v1/.env"
        },
        "grafana_admin_user": {
          "value": "promo-admin"
        },
        "grafana_url": {
          "value": "http://127.0.0.1:3001"
        },
        "influxdb_admin_password": {
          "sensitive": true,
          "env_key": "INFLUXDB_ADMIN_PASSWORD",
          "file": "generated/promo-v1/.env"
        },
        "influxdb_admin_user": {
          "value": "promo-admin"
        },
        "influxdb_url": {
          "value": "http://127.0.0.1:8087"
        },
        "k6_influxdb_password": {
          "sensitive": true,
          "env_key": "INFLUXDB_K6_PASSWORD",
          "file": "generated/promo-v1/.env"
        },
        "k6_influxdb_user": {
          "value": "k6"
        },
        "k6_out": {
          "value": "influxdb=http://127.0.0.1:8087/k6"
        },
        "secrets_file": {
          "value": "generated/promo-v1/.env"
        },
        "stop_page_password": {
          "sensitive": true,
          "env_key": "CONTROL_API_STOP_PASSWORD",
          "file": "generated/promo-v1/.env"
        },
        "stop_page_url": {
          "value": "http://127.0.0.1:5001/stop"
        }
      }
    }

    ----- stderr -----

    === one value ===
    success: true
    exit_code: 0
    ----- stdout -----
    http://127.0.0.1:3000

    ----- stderr -----

    === one secret, json ===
    success: true
    exit_code: 0
    ----- stdout -----
    {
      "sensitive": true,
      "env_key": "CONTROL_API_TOKEN",
      "file": "generated/promo/.env"
    }

    ----- stderr -----

    === a secret alone is refused ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x output `grafana_admin_password` is a secret: promo-infra never prints secrets
      help: it is `GRAFANA_ADMIN_PASSWORD` in generated/promo/.env (mode 0600)

    === unknown name ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stack `promo` has no output `grafana`
      help: outputs: control_api_token, control_api_url, grafana_admin_password, grafana_admin_user, grafana_url, influxdb_admin_password, influxdb_admin_token, influxdb_admin_user, influxdb_url, k6_out, secrets_file, stop_page_password, stop_page_url
    "#);
}

#[test]
fn promo_infra_file_selects_the_stack_and_dash_f_wins() {
    let p = TestContext::with_repo_stacks();
    let env = |v: &'static str| [("PROMO_INFRA_FILE", v)];
    let mut runs = Runs::default();
    let stack = ["output", "secrets_file"];
    runs.push("env", p.run_env(&stack, &env("stacks/promo-v1.yaml")));
    runs.push(
        "-f wins",
        p.run_env(
            &[&["-f", "stacks/promo.yaml"][..], &stack].concat(),
            &env("stacks/promo-v1.yaml"),
        ),
    );
    runs.push("empty means unset", p.run_env(&stack, &env("")));
    runs.push(
        "a list, like COMPOSE_FILE",
        p.run_env(
            &["validate"],
            &env("stacks/promo.yaml:stacks/promo-v1.yaml"),
        ),
    );
    promo_snapshot!(runs, @"
    === env ===
    success: true
    exit_code: 0
    ----- stdout -----
    generated/promo-v1/.env

    ----- stderr -----

    === -f wins ===
    success: true
    exit_code: 0
    ----- stdout -----
    generated/promo/.env

    ----- stderr -----

    === empty means unset ===
    success: true
    exit_code: 0
    ----- stdout -----
    generated/promo/.env

    ----- stderr -----

    === a list, like COMPOSE_FILE ===
    success: true
    exit_code: 0
    ----- stdout -----
    ✓ stacks/promo.yaml is valid (stack `promo`)
    ✓ stacks/promo-v1.yaml is valid (stack `promo-v1`)

    ----- stderr -----
    ");
}

#[test]
fn dynamic_completions_offer_stack_files_dashboards_backups_and_services() {
    let (p, root) = crate::backup::rotation_project();
    let repo_stack = std::fs::read_to_string(crate::common::repo().join("stacks/promo.yaml"));
    p.write("stacks/other.yaml", &repo_stack.expect("stacks/promo.yaml"));
    crate::backup::fake_backup(&root, "shop", "20250204T030000Z");
    std::fs::write(root.join("notes.txt"), "not a backup").expect("write");
    let complete = |words: &[&str]| {
        let line = [&["--", "promo-infra"][..], words].concat();
        p.cmd(&line).env("COMPLETE", "fish").run()
    };
    let mut runs = Runs::default();
    runs.push("-f", complete(&["-f", ""]));
    runs.push(
        "dashboards render",
        complete(&["dashboards", "render", "p"]),
    );
    runs.push("backup restore", complete(&["backup", "restore", "2"]));
    runs.push("restart", complete(&["restart", "i"]));
    runs.push("logs", complete(&["logs", "g"]));
    promo_snapshot!(runs, @"
    === -f ===
    success: true
    exit_code: 0
    ----- stdout -----
    stacks/other.yaml	stack manifest
    stacks/promo.yaml	stack manifest

    ----- stderr -----

    === dashboards render ===
    success: true
    exit_code: 0
    ----- stdout -----
    promo-marketing	dashboard of stack (promo)

    ----- stderr -----

    === backup restore ===
    success: true
    exit_code: 0
    ----- stdout -----
    20250204T030000Z	backup of stack (shop)

    ----- stderr -----

    === restart ===
    success: true
    exit_code: 0
    ----- stdout -----
    influxdb	service of stack (promo, shop)

    ----- stderr -----

    === logs ===
    success: true
    exit_code: 0
    ----- stdout -----
    grafana	service of stack (promo, shop)

    ----- stderr -----
    ");
    // The line's own -C and -f (or PROMO_INFRA_FILE) choose the project and the stacks, as they
    // will for the command; and completing writes nothing.
    let before = p.snapshot_tree();
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let root_arg = p.path().to_str().expect("utf-8 temp path");
    let from_elsewhere = |words: &[&str]| {
        let line = [&["--", "promo-infra"][..], words].concat();
        let mut cmd = p.cmd(&line).env("COMPLETE", "fish");
        cmd.command.current_dir(elsewhere.path());
        cmd.run()
    };
    let mut scoped = Runs::default();
    scoped.push(
        "-C DIR restart",
        from_elsewhere(&["-C", root_arg, "restart", "i"]),
    );
    scoped.push(
        "-C DIR -f",
        from_elsewhere(&["--project-dir", root_arg, "-f", "stacks/o"]),
    );
    scoped.push(
        "-f other: backup restore (the backup is shop's)",
        complete(&["-f", "stacks/other.yaml", "backup", "restore", "2"]),
    );
    scoped.push(
        "restart -f other (flag after the command)",
        complete(&["restart", "--file=stacks/other.yaml", "i"]),
    );
    scoped.push(
        "PROMO_INFRA_FILE=stacks/promo.yaml restart",
        p.cmd(&["--", "promo-infra", "restart", "i"])
            .env("COMPLETE", "fish")
            .env("PROMO_INFRA_FILE", "stacks/promo.yaml")
            .run(),
    );
    promo_snapshot!(scoped, @"
    === -C DIR restart ===
    success: true
    exit_code: 0
    ----- stdout -----
    influxdb	service of stack (promo, shop)

    ----- stderr -----

    === -C DIR -f ===
    success: true
    exit_code: 0
    ----- stdout -----
    stacks/other.yaml	stack manifest

    ----- stderr -----

    === -f other: backup restore (the backup is shop's) ===
    success: true
    exit_code: 0
    ----- stdout -----

    ----- stderr -----

    === restart -f other (flag after the command) ===
    success: true
    exit_code: 0
    ----- stdout -----
    influxdb	service of stack (promo)

    ----- stderr -----

    === PROMO_INFRA_FILE=stacks/promo.yaml restart ===
    success: true
    exit_code: 0
    ----- stdout -----
    influxdb	service of stack (shop)

    ----- stderr -----
    ");
    assert!(
        p.snapshot_tree() == before,
        "completion wrote into the project"
    );
    // The static script still works.
    let bash = p.run(&["completions", "bash"]);
    assert_eq!(
        (bash.code, bash.stdout.lines().next()),
        (0, Some("_promo__infra() {")),
        "{}",
        bash.stderr
    );
}
