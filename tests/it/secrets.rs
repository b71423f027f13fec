//! Secrets: `.env` is 0600, created once, completed, never printed, never in another file.

use std::os::unix::fs::PermissionsExt;

use crate::common::{BASE, Runs, TestContext};

fn env_values(p: &TestContext, stack: &str) -> Vec<(String, String)> {
    p.read(&format!("generated/{stack}/.env"))
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').expect("k=v");
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn env_is_private_random_hex_and_stable() {
    let p = TestContext::new();
    p.write("stacks/shop.yaml", BASE);
    assert_eq!(p.run(&["generate"]).code, 0);
    let path = p.path().join("generated/shop/.env");
    assert_eq!(
        std::fs::metadata(&path).expect("env").permissions().mode() & 0o777,
        0o600
    );
    let values = env_values(&p, "shop");
    let names: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "INFLUXDB_ADMIN_PASSWORD",
            "GRAFANA_ADMIN_PASSWORD",
            "GRAFANA_SECRET_KEY",
            "INFLUXDB_ADMIN_TOKEN",
            "CONTROL_API_TOKEN",
            "CONTROL_API_STOP_PASSWORD"
        ]
        .iter()
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    for (k, v) in &values {
        let want = if k.ends_with("TOKEN") || k == "GRAFANA_SECRET_KEY" {
            64
        } else {
            32
        };
        assert_eq!(v.len(), want, "{k}");
        assert!(v.chars().all(|c| c.is_ascii_hexdigit()), "{k} is hex");
    }
    let distinct: std::collections::BTreeSet<&String> = values.iter().map(|(_, v)| v).collect();
    assert_eq!(
        distinct.len(),
        values.len(),
        "every secret is drawn separately"
    );

    // Never regenerated.
    assert_eq!(p.run(&["generate"]).code, 0);
    assert_eq!(env_values(&p, "shop"), values);

    // A missing key is added; the others are untouched; user lines survive.
    let text = p.read("generated/shop/.env");
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with("CONTROL_API_TOKEN="))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + "SLACK_WEBHOOK_URL=http://127.0.0.1:9/hook\n";
    std::fs::write(&path, kept).expect("write");
    // std::fs::write keeps the file's 0600; the key is added, the mode stays private.
    promo_snapshot!(p.cmd(&["generate"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
      ~ generated/shop/.env (added CONTROL_API_TOKEN)
    ✓ generated/shop: 0 created, 0 updated, 17 unchanged, 0 removed

    ----- stderr -----
    ");
    assert_eq!(
        std::fs::metadata(&path).expect("env").permissions().mode() & 0o777,
        0o600
    );
    let after = env_values(&p, "shop");
    for (k, v) in &values {
        if k != "CONTROL_API_TOKEN" {
            assert!(after.contains(&(k.clone(), v.clone())), "{k} changed");
        }
    }
    assert!(after.iter().any(|(k, _)| k == "SLACK_WEBHOOK_URL"));
    assert!(
        !after.contains(&(
            "CONTROL_API_TOKEN".into(),
            values
                .iter()
                .find(|(k, _)| k == "CONTROL_API_TOKEN")
                .expect("token")
                .1
                .clone()
        ))
    );
}

#[test]
fn secrets_never_printed_nor_in_other_files() {
    let p = TestContext::with_repo_stacks();
    let mut outputs = vec![p.run(&["generate"]).all()];
    for args in [
        &["validate"][..],
        &["secrets", "list"],
        &["secrets", "list", "--json"],
        &["generate", "--check"],
        &["dashboards", "render", "promo-marketing"],
        &["-v", "generate"],
    ] {
        let run = p.run(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.all());
        outputs.push(run.all());
    }
    let tree = p.snapshot_tree();
    for stack in ["promo", "promo-v1"] {
        for (name, value) in env_values(&p, stack) {
            for out in &outputs {
                // Negative: a secret never appears.
                assert!(!out.contains(&value), "{name} printed");
            }
            for (rel, bytes) in &tree {
                if !rel.ends_with(".env") {
                    assert!(
                        !String::from_utf8_lossy(bytes).contains(&value),
                        "{name} leaked into {rel}"
                    );
                }
            }
        }
    }
    promo_snapshot!(p.cmd(&["secrets", "list"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    NAME                          KIND                              USED BY                                                   STATUS
    CONTROL_API_STOP_PASSWORD     generated password (16 bytes)     control-api (STOP page)                                   set in .env
    CONTROL_API_TOKEN             generated token (32 bytes)        control-api, k6 run                                       set in .env
    GRAFANA_ADMIN_PASSWORD        generated password (16 bytes)     grafana, control-api (annotations), k6 run (annotations)  set in .env
    GRAFANA_CLOUD_TOKEN           provided by you                   cloud target                                              missing
    GRAFANA_SECRET_KEY            generated token (32 bytes)        grafana                                                   set in .env
    INFLUXDB_ADMIN_PASSWORD       generated password (16 bytes)     influxdb, backup                                          set in .env
    INFLUXDB_ADMIN_TOKEN          generated token (32 bytes)        influxdb, backup, apply (mints the scoped tokens)         set in .env
    INFLUXDB_CLOUD_GRAFANA_TOKEN  minted by apply (InfluxDB token)  cloud target, grafana (datasource)                        not minted yet (apply)
    INFLUXDB_CLOUD_K6_TOKEN       minted by apply (InfluxDB token)  cloud target, k6                                          not minted yet (apply)
    INFLUXDB_GRAFANA_TOKEN        minted by apply (InfluxDB token)  grafana (datasource)                                      not minted yet (apply)
    INFLUXDB_K6_TOKEN             minted by apply (InfluxDB token)  k6                                                        not minted yet (apply)
    INFLUX_CLOUD_TOKEN            provided by you                   cloud target                                              missing
    SLACK_WEBHOOK_URL             provided by you                   grafana (alerting), k6 run                                missing

    ----- stderr -----
    ");
}

#[test]
fn env_is_gitignored() {
    let gitignore =
        std::fs::read_to_string(crate::common::repo().join(".gitignore")).expect(".gitignore");
    assert!(
        gitignore.lines().any(|l| l == "generated/*/.env"),
        "{gitignore}"
    );
}

#[test]
fn prod_refuses_a_default_password_in_env() {
    let p = TestContext::new();
    let prod = BASE
        .replacen("environment: preprod", "environment: prod", 1)
        .replacen("admin_user: admin", "admin_user: shop-admin", 1);
    p.write("stacks/shop.yaml", &prod);
    assert_eq!(p.run(&["generate"]).code, 0);
    let path = p.path().join("generated/shop/.env");
    let text = p.read("generated/shop/.env");
    let replaced: String = text
        .lines()
        .map(|l| {
            if l.starts_with("GRAFANA_ADMIN_PASSWORD=") {
                "GRAFANA_ADMIN_PASSWORD=admin".to_string()
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect();
    std::fs::write(&path, &replaced).expect("write");
    // A manifest change is pending, but nothing is written while the password is refused.
    p.write(
        "stacks/shop.yaml",
        &prod.replacen("retention: 30d", "retention: 12h", 1),
    );
    let before = p.snapshot_tree();
    let run = promo_snapshot!(p.cmd(&["generate"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x secrets file `./generated/shop/.env`: GRAFANA_ADMIN_PASSWORD is a well-known default password, refused for `environment: prod`
      help: delete the GRAFANA_ADMIN_PASSWORD line and run `promo-infra generate` to get a random one
    ");
    assert_eq!(p.snapshot_tree(), before, "nothing written");
    // Negative (the output is snapshotted above): the value is not echoed.
    assert!(
        !run.all().contains("=admin"),
        "the value itself is not echoed"
    );
}

fn set_line(p: &TestContext, stack: &str, name: &str, value: &str) {
    let path = p.path().join(format!("generated/{stack}/.env"));
    let text: String = std::fs::read_to_string(&path)
        .expect(".env")
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{name}=")) {
                format!("{name}={value}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&path, text).expect("write .env");
}

/// Fails on the old code: `GRAFANA_ADMIN_PASSWORD=` counted as set (kept empty, "set in .env").
#[test]
fn an_empty_secret_is_missing_so_it_is_generated_and_never_counted_as_set() {
    let p = TestContext::new();
    p.write("stacks/promo.yaml", BASE);
    assert_eq!(p.run(&["generate"]).code, 0);
    let before = env_values(&p, "shop");
    set_line(&p, "shop", "GRAFANA_ADMIN_PASSWORD", "");
    let list = p.run(&["secrets", "list", "--json"]);
    assert_eq!(list.code, 0, "{}", list.all());
    let doc: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    assert_eq!(doc["format_version"], "1.0", "{doc}");
    assert_eq!(doc["stack"], "shop", "{doc}");
    let row = doc["secrets"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["name"] == "GRAFANA_ADMIN_PASSWORD")
        .expect("row");
    assert_eq!(row["status"], "missing", "{row}");

    promo_snapshot!(p.cmd(&["generate"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
      ~ generated/shop/.env (added GRAFANA_ADMIN_PASSWORD)
    warning: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards). To send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/shop/.env or export SLACK_WEBHOOK_URL, then apply
    ✓ generated/shop: 0 created, 0 updated, 17 unchanged, 0 removed

    ----- stderr -----
    ");
    let after = env_values(&p, "shop");
    let lines: Vec<&(String, String)> = after
        .iter()
        .filter(|(k, _)| k == "GRAFANA_ADMIN_PASSWORD")
        .collect();
    assert_eq!(lines.len(), 1, "the empty line is replaced, not kept");
    assert_eq!(lines[0].1.len(), 32);
    for (k, v) in &before {
        if k != "GRAFANA_ADMIN_PASSWORD" {
            assert!(after.contains(&(k.clone(), v.clone())), "{k} changed");
        }
    }
}

/// Fails on the old code: an empty (or blank) webhook counted as set, and prod planned anyway.
#[test]
fn prod_without_a_webhook_refuses_at_plan_time_before_anything_is_shown_or_changed() {
    let p = TestContext::new();
    let prod = BASE
        .replacen("environment: preprod", "environment: prod", 1)
        .replacen("admin_user: admin", "admin_user: shop-admin", 1);
    p.write("stacks/promo.yaml", &prod);
    assert_eq!(p.run(&["generate"]).code, 0);
    // An empty value is no value either.
    let env = p.read("generated/shop/.env") + "SLACK_WEBHOOK_URL=\n";
    p.write("generated/shop/.env", &env);
    let mut runs = Runs::default();
    for args in [
        &["plan"][..],
        &["plan", "--json"],
        &["apply", "--auto-approve"],
        &["plan", "--target", "native"],
    ] {
        let before = p.snapshot_tree();
        // DOCKER_HOST points nowhere: the refusal comes before any engine call.
        runs.push(
            args.join(" "),
            p.run_env(args, &[("DOCKER_HOST", "tcp://127.0.0.1:9")]),
        );
        let after: Vec<_> = p
            .snapshot_tree()
            .into_iter()
            .filter(|(rel, _)| !rel.ends_with(".lock"))
            .collect();
        let before: Vec<_> = before
            .into_iter()
            .filter(|(rel, _)| !rel.ends_with(".lock"))
            .collect();
        assert_eq!(after, before, "{args:?}: nothing changed");
    }
    // No plan shown, no engine call (127.0.0.1:9 never named), where and why.
    promo_snapshot!(runs, @"
    === plan ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x secrets file `generated/shop/.env`: No value for required secret SLACK_WEBHOOK_URL (stacks/promo.yaml:26:22: alerting.slack.webhook_url_env): `environment: prod` sends alerts to Slack and cannot run without the webhook
      help: add `SLACK_WEBHOOK_URL=...` to generated/shop/.env or export SLACK_WEBHOOK_URL, then run the command again; nothing was changed

    === plan --json ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x secrets file `generated/shop/.env`: No value for required secret SLACK_WEBHOOK_URL (stacks/promo.yaml:26:22: alerting.slack.webhook_url_env): `environment: prod` sends alerts to Slack and cannot run without the webhook
      help: add `SLACK_WEBHOOK_URL=...` to generated/shop/.env or export SLACK_WEBHOOK_URL, then run the command again; nothing was changed

    === apply --auto-approve ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x secrets file `generated/shop/.env`: No value for required secret SLACK_WEBHOOK_URL (stacks/promo.yaml:26:22: alerting.slack.webhook_url_env): `environment: prod` sends alerts to Slack and cannot run without the webhook
      help: add `SLACK_WEBHOOK_URL=...` to generated/shop/.env or export SLACK_WEBHOOK_URL, then run the command again; nothing was changed

    === plan --target native ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x secrets file `generated/shop/.env`: No value for required secret SLACK_WEBHOOK_URL (stacks/promo.yaml:26:22: alerting.slack.webhook_url_env): `environment: prod` sends alerts to Slack and cannot run without the webhook
      help: add `SLACK_WEBHOOK_URL=...` to generated/shop/.env or export SLACK_WEBHOOK_URL, then run the command again; nothing was changed
    ");
}

/// Fails on the old code: a dangling `.env` link made generate write a fresh `.env` (through
/// the link), a directory gave a parse error, a 0644 file was silently tightened.
#[test]
fn an_env_that_is_a_link_a_directory_or_readable_by_others_is_refused_never_replaced() {
    use std::os::unix::fs::symlink;
    let p = TestContext::new();
    p.write("stacks/promo.yaml", BASE);
    assert_eq!(p.run(&["generate"]).code, 0);
    let env = p.path().join("generated/shop/.env");
    let real = p.path().join("store/shop.env");
    std::fs::create_dir_all(real.parent().expect("parent")).expect("mkdir");
    std::fs::rename(&env, &real).expect("move .env");

    type Setup<'a> = Box<dyn Fn() + 'a>;
    let cases: Vec<(&str, Setup<'_>)> = vec![
        (
            "dangling link",
            Box::new(|| symlink(p.path().join("store/unmounted.env"), &env).expect("link")),
        ),
        (
            "link to the real file",
            Box::new(|| symlink(&real, &env).expect("link")),
        ),
        (
            "directory",
            Box::new(|| std::fs::create_dir(&env).expect("dir")),
        ),
        (
            "group/world-readable file",
            Box::new(|| {
                std::fs::copy(&real, &env).expect("copy");
                std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o644))
                    .expect("chmod");
            }),
        ),
    ];
    let mut runs = Runs::default();
    for (what, setup) in cases {
        setup();
        let kind_before = std::fs::symlink_metadata(&env).expect("meta").file_type();
        let mode_before = std::fs::symlink_metadata(&env)
            .expect("meta")
            .permissions()
            .mode();
        let real_before = std::fs::read(&real).expect("real");
        for args in [
            &["generate"][..],
            &["secrets", "list"],
            &["plan"],
            &["apply", "--auto-approve"],
            &["secrets", "rotate", "CONTROL_API_TOKEN", "--auto-approve"],
        ] {
            let run = p.run_env(args, &[("DOCKER_HOST", "tcp://127.0.0.1:9")]);
            runs.push(format!("{what}: {}", args.join(" ")), run);
            let meta = std::fs::symlink_metadata(&env).expect("still there");
            assert_eq!(meta.file_type(), kind_before, "{what}: not replaced");
            assert_eq!(
                meta.permissions().mode(),
                mode_before,
                "{what}: not tightened"
            );
            assert_eq!(std::fs::read(&real).expect("real"), real_before, "{what}");
            assert!(
                !p.path().join("store/unmounted.env").exists(),
                "{what}: nothing written through the link"
            );
        }
        if std::fs::symlink_metadata(&env).expect("meta").is_dir() {
            std::fs::remove_dir(&env).expect("rmdir");
        } else {
            std::fs::remove_file(&env).expect("rm");
        }
    }
    promo_snapshot!(runs);
    // The real file, in place and private, works again.
    std::fs::rename(&real, &env).expect("move back");
    assert_eq!(p.run(&["secrets", "list"]).code, 0);
}

/// `secrets rotate` refuses, before any change, a name the stack does not have, a secret the
/// user provides, and Grafana's secret_key.
#[test]
fn rotate_refuses_an_unknown_name_a_provided_secret_and_the_grafana_secret_key() {
    let p = TestContext::new();
    p.write("stacks/promo.yaml", BASE);
    assert_eq!(p.run(&["generate"]).code, 0);
    let before = p.snapshot_tree();
    let mut runs = Runs::default();
    for name in [
        "NOT_A_SECRET",
        "GRAFANA_ADMIN",
        "SLACK_WEBHOOK_URL",
        "GRAFANA_SECRET_KEY",
        "INFLUXDB_GRAFANA_TOKEN",
    ] {
        let run = p.run_env(
            &["secrets", "rotate", name, "--auto-approve"],
            &[("DOCKER_HOST", "tcp://127.0.0.1:9")],
        );
        runs.push(format!("rotate {name} --auto-approve"), run);
    }
    // Without --auto-approve too; the stack's names are listed.
    runs.push(
        "rotate NOT_A_SECRET",
        p.run(&["secrets", "rotate", "NOT_A_SECRET"]),
    );
    promo_snapshot!(runs, @r#"
    === rotate NOT_A_SECRET --auto-approve ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x `NOT_A_SECRET` is not a secret of stack `shop` (stacks/promo.yaml)
      help: its secrets: CONTROL_API_STOP_PASSWORD, CONTROL_API_TOKEN, GRAFANA_ADMIN_PASSWORD, GRAFANA_SECRET_KEY, INFLUXDB_ADMIN_PASSWORD, INFLUXDB_ADMIN_TOKEN, SLACK_WEBHOOK_URL (`promo-infra secrets list`); nothing was changed

    === rotate GRAFANA_ADMIN --auto-approve ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x `GRAFANA_ADMIN` is not a secret of stack `shop` (stacks/promo.yaml)
      help: its secrets: CONTROL_API_STOP_PASSWORD, CONTROL_API_TOKEN, GRAFANA_ADMIN_PASSWORD, GRAFANA_SECRET_KEY, INFLUXDB_ADMIN_PASSWORD, INFLUXDB_ADMIN_TOKEN, SLACK_WEBHOOK_URL (`promo-infra secrets list`); nothing was changed

    === rotate SLACK_WEBHOOK_URL --auto-approve ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x `SLACK_WEBHOOK_URL` is provided by you, promo-infra cannot generate or rotate it
      help: change it where it comes from (your environment or the stack's .env), then `promo-infra apply`; nothing was changed

    === rotate GRAFANA_SECRET_KEY --auto-approve ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x GRAFANA_SECRET_KEY cannot be rotated: it encrypts the datasource secrets stored in Grafana's database, which a new key cannot decrypt
      help: nothing was changed; see the README section "Secrets"

    === rotate INFLUXDB_GRAFANA_TOKEN --auto-approve ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x INFLUXDB_GRAFANA_TOKEN cannot be rotated: InfluxDB draws it when apply mints it
      help: to replace it, delete its line from generated/shop/.env and run `promo-infra apply`: a new token is minted, the old one deleted, and what uses it restarted; nothing was changed

    === rotate NOT_A_SECRET ===
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x `NOT_A_SECRET` is not a secret of stack `shop` (stacks/promo.yaml)
      help: its secrets: CONTROL_API_STOP_PASSWORD, CONTROL_API_TOKEN, GRAFANA_ADMIN_PASSWORD, GRAFANA_SECRET_KEY, INFLUXDB_ADMIN_PASSWORD, INFLUXDB_ADMIN_TOKEN, SLACK_WEBHOOK_URL (`promo-infra secrets list`); nothing was changed
    "#);
    let after: Vec<_> = p
        .snapshot_tree()
        .into_iter()
        .filter(|(rel, _)| !rel.ends_with(".lock"))
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .filter(|(rel, _)| !rel.ends_with(".lock"))
        .collect();
    assert_eq!(after, before, "nothing changed");
}

/// Fails on the old code: the native target refused a preprod stack without a webhook at plan
/// time, and would have started Grafana on a provisioning tree with an empty Slack URL.
#[test]
fn preprod_native_without_a_webhook_runs_grafana_on_the_slackless_provisioning() {
    use promo_infra::compile;
    use promo_infra::desired::ResourceSpec;
    use promo_infra::ops::{self, Selection};
    use promo_infra::project::Project;
    use promo_infra::targets::TargetKind;

    let p = TestContext::new();
    p.write("stacks/promo.yaml", BASE);
    assert_eq!(p.run(&["generate"]).code, 0);
    // The refusal came before the plan: now the plan is shown, with the note first.
    promo_snapshot!(
        p.cmd(&["plan", "--target", "native"])
            .env("SLACK_WEBHOOK_URL", ""),
        @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    warning: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards). To send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/shop/.env or export SLACK_WEBHOOK_URL, then apply
    promo-infra will perform the following actions on stack `shop` (target native):

      # service.control-api will be created
      + service.control-api
          + args[0]: "control-api"
          + args[1]: "--listen"
          + args[2]: "127.0.0.1:5000"
          + depends_on[0]: "grafana"
          + env.CONTROL_API_STOP_PASSWORD: (sensitive)
          + env.CONTROL_API_TOKEN: (sensitive)
          + env.GRAFANA_ADMIN_PASSWORD: (sensitive)
          + env.PROMO_INFRA_CORS_ORIGIN: "http://127.0.0.1:3000"
          + env.PROMO_INFRA_GRAFANA_URL: "http://127.0.0.1:3000"
          + env.PROMO_INFRA_GRAFANA_USER: "admin"
          + env.PROMO_INFRA_LOCALE: "fr"
          + env.PROMO_INFRA_STACK: "shop"
          + health_url: "http://127.0.0.1:5000/health"
          + name: "control-api"
          + program: "promo-infra"
          + url: "http://127.0.0.1:5000"

      # service.grafana will be created
      + service.grafana
          + args[0]: "server"
          + args[1]: "--config"
          + args[2]: "generated/shop/native/grafana.ini"
          + args[3]: "--homepath"
          + args[4]: "/usr/share/grafana"
          + args[5]: "cfg:paths.provisioning=$__env{PROMO_INFRA_PROJECT_DIR}/generated/shop/native/grafana/provisioning-without-slack"
          + config_digest.native/grafana.ini: "[HASH]"
          + depends_on[0]: "influxdb"
          + env.GF_SECURITY_ADMIN_USER: "admin"
          + env.GRAFANA_ADMIN_PASSWORD: (sensitive)
          + env.GRAFANA_SECRET_KEY: (sensitive)
          + env.INFLUXDB_GRAFANA_TOKEN: (known after apply)
          + health_url: "http://127.0.0.1:3000/api/health"
          + name: "grafana"
          + program: "grafana"
          + reload_digest.native/grafana/provisioning-without-slack/alerting: "[HASH]"
          + reload_digest.native/grafana/provisioning-without-slack/datasources: "[HASH]"
          + url: "http://127.0.0.1:3000"

      # service.influxdb will be created
      + service.influxdb
          + args[0]: "--bolt-path"
          + args[1]: "data/shop/influxdb/influxd.bolt"
          + args[2]: "--engine-path"
          + args[3]: "data/shop/influxdb/engine"
          + args[4]: "--http-bind-address"
          + args[5]: "127.0.0.1:8086"
          + args[6]: "--reporting-disabled"
          + config_digest.native/influxdb.conf: "[HASH]"
          + depends_on: []
          + health_url: "http://127.0.0.1:8086/ping"
          + name: "influxdb"
          + program: "influxd"
          + url: "http://127.0.0.1:8086"

      # database.k6 will be created
      + database.k6
          + name: "k6"
          + org: "shop-org"
          + retention: "720h"
          + shard_duration: ""
          + users[0].name: "promo-admin"
          + users[0].password_secret: "INFLUXDB_ADMIN_PASSWORD"
          + users[0].privilege: "ALL"
          + version: 2

      # token.grafana-read will be created
      + token.grafana-read
          + description: "promo-infra shop: Grafana reads metrics"
          + permissions[0]: "read:buckets/k6"
          + secret: "INFLUXDB_GRAFANA_TOKEN"

      # token.k6-write will be created
      + token.k6-write
          + description: "promo-infra shop: k6 writes metrics"
          + permissions[0]: "write:buckets/k6"
          + secret: "INFLUXDB_K6_TOKEN"

      # folder.shop will be created
      + folder.shop
          + title: "promo-infra: shop"
          + uid: "shop"

      # dashboard.shop-marketing will be created
      + dashboard.shop-marketing
          + folder_uid: "shop"
          + home: true
          + panels.Arrêt d'urgence: "[ID]"
          + panels.Erreurs en plus: "[ID]"
          + panels.Impact de la promo (comparé au test de référence): "[ID]"
          + panels.Les chiffres derrière la note: "[ID]"
          + panels.Les deux tests côte à côte: "[ID]"
          + panels.Pages demandées par seconde: "[ID]"
          + panels.Santé du site: "[ID]"
          + panels.Taux d'erreur: "[ID]"
          + panels.Temps de réponse: "[ID]"
          + panels.Temps de réponse en plus: "[ID]"
          + panels.Temps de réponse en plus (%): "[ID]"
          + panels.Visiteurs simultanés: "[ID]"
          + settings: "[ID]"
          + title: "Test de charge promo – vue marketing"
          + uid: "shop-marketing"

      # dashboard.shop-tech will be created
      + dashboard.shop-tech
          + folder_uid: "shop"
          + home: false
          + panels.Checks: "[ID]"
          + panels.Checks réussis: "[ID]"
          + panels.Checks, données et itérations: "[ID]"
          + panels.Données échangées: "[ID]"
          + panels.Durée des itérations: "[ID]"
          + panels.Durée des requêtes HTTP: "[ID]"
          + panels.Durée des requêtes p95: "[ID]"
          + panels.Débit de données: "[ID]"
          + panels.HTTP: "[ID]"
          + panels.Itérations par seconde: "[ID]"
          + panels.Phases des requêtes HTTP (moyenne): "[ID]"
          + panels.Phases des requêtes HTTP (p95): "[ID]"
          + panels.Pic de requêtes/s: "[ID]"
          + panels.Requêtes HTTP: "[ID]"
          + panels.Requêtes en échec: "[ID]"
          + panels.Requêtes et échecs par seconde: "[ID]"
          + panels.Réponses par code HTTP: "[ID]"
          + panels.Taux de réussite des checks: "[ID]"
          + panels.URLs et latences: "[ID]"
          + panels.Utilisateurs virtuels: "[ID]"
          + panels.Vue d'ensemble: "[ID]"
          + settings: "[ID]"
          + title: "Résultats k6 – vue technique"
          + uid: "shop-tech"

    Plan: 9 to add, 0 to change, 0 to destroy.

    ----- stderr -----
    "#
    );
    for f in ["datasources", "alerting"] {
        assert!(
            p.path()
                .join(format!(
                    "generated/shop/native/grafana/provisioning-without-slack/{f}/promo-infra.yaml"
                ))
                .is_file(),
            "{f}"
        );
    }
    let slackless = p
        .read("generated/shop/native/grafana/provisioning-without-slack/alerting/promo-infra.yaml");
    // Negative checks of a generated FILE: no Slack in the slackless provisioning.
    assert!(!slackless.contains("SLACK_WEBHOOK_URL"), "{slackless}");
    assert!(!slackless.contains("type: slack"), "{slackless}");

    let grafana_of = |values: &promo_infra::secrets::SecretValues| {
        let project = Project::new(p.path());
        let (templates, loaded) = ops::load_one(&project, &Selection::AllStacks).expect("load");
        let desired =
            compile::compile_for(&loaded, &templates, values, TargetKind::Native).expect("compile");
        desired
            .resources
            .values()
            .find_map(|r| match &r.spec {
                ResourceSpec::Process(p) if p.name == "grafana" => Some((**p).clone()),
                _ => None,
            })
            .expect("grafana process")
    };
    let project = Project::new(p.path());
    let (_, loaded) = ops::load_one(&project, &Selection::AllStacks).expect("load");
    let values = ops::secret_values(&project, &loaded.manifest).expect("secrets");
    let without = grafana_of(&values);
    assert!(!without.env.contains_key("SLACK_WEBHOOK_URL"));
    assert_eq!(
        without.args.last().map(String::as_str),
        Some(
            "cfg:paths.provisioning=$__env{PROMO_INFRA_PROJECT_DIR}/generated/shop/native/grafana/provisioning-without-slack"
        )
    );
    // With the webhook set, Grafana runs on the provisioning tree with the Slack contact point.
    crate::standin::add_env(&p, "shop", "SLACK_WEBHOOK_URL=http://127.0.0.1:9/hook");
    let values = ops::secret_values(&project, &loaded.manifest).expect("secrets");
    let with = grafana_of(&values);
    assert!(with.env.contains_key("SLACK_WEBHOOK_URL"));
    assert!(
        !with.args.iter().any(|a| a.starts_with("cfg:")),
        "{:?}",
        with.args
    );
}
