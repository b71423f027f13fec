//! Secrets: `.env` is 0600, created once, completed, never printed, never in another file.

use std::os::unix::fs::PermissionsExt;

use crate::common::{BASE, TestContext};

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
    let run = p.run(&["generate"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("added CONTROL_API_TOKEN"),
        "{}",
        run.stdout
    );
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
    let list = p.run(&["secrets", "list"]);
    assert!(
        list.stdout.contains("GRAFANA_ADMIN_PASSWORD"),
        "{}",
        list.stdout
    );
    assert!(list.stdout.contains("set in .env"), "{}", list.stdout);
    assert!(list.stdout.contains("SLACK_WEBHOOK_URL"), "{}", list.stdout);
    assert!(list.stdout.contains("missing"), "{}", list.stdout);
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
    let run = p.run(&["generate"]);
    assert_eq!(p.snapshot_tree(), before, "nothing written");
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("GRAFANA_ADMIN_PASSWORD is a well-known default password"),
        "{}",
        run.stderr
    );
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
    let rows: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    let row = rows
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["name"] == "GRAFANA_ADMIN_PASSWORD")
        .expect("row");
    assert_eq!(row["status"], "missing", "{row}");

    let run = p.run(&["generate"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("added GRAFANA_ADMIN_PASSWORD"),
        "{}",
        run.stdout
    );
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
    for args in [
        &["plan"][..],
        &["plan", "--json"],
        &["apply", "--auto-approve"],
        &["plan", "--target", "native"],
    ] {
        let before = p.snapshot_tree();
        // DOCKER_HOST points nowhere: the refusal comes before any engine call.
        let run = p.run_env(args, &[("DOCKER_HOST", "tcp://127.0.0.1:9")]);
        assert_eq!(run.code, 1, "{args:?}: {}", run.all());
        assert!(
            run.stderr
                .contains("No value for required secret SLACK_WEBHOOK_URL"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("stacks/promo.yaml:") && run.stderr.contains("environment: prod"),
            "{args:?}: where and why: {}",
            run.stderr
        );
        assert!(
            !run.stdout.contains("Plan:"),
            "no plan shown: {}",
            run.stdout
        );
        assert!(
            !run.all().contains("127.0.0.1:9"),
            "no engine call: {}",
            run.all()
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
    let cases: Vec<(&str, Setup<'_>, &str)> = vec![
        (
            "dangling link",
            Box::new(|| symlink(p.path().join("store/unmounted.env"), &env).expect("link")),
            "which does not exist",
        ),
        (
            "link to the real file",
            Box::new(|| symlink(&real, &env).expect("link")),
            "is a symbolic link to",
        ),
        (
            "directory",
            Box::new(|| std::fs::create_dir(&env).expect("dir")),
            "is a directory",
        ),
        (
            "group/world-readable file",
            Box::new(|| {
                std::fs::copy(&real, &env).expect("copy");
                std::fs::set_permissions(&env, std::fs::Permissions::from_mode(0o644))
                    .expect("chmod");
            }),
            "chmod 600",
        ),
    ];
    for (what, setup, expect) in cases {
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
            assert_eq!(run.code, 1, "{what} {args:?}: {}", run.all());
            assert!(
                run.stderr.contains("generated/shop/.env") && run.stderr.contains(expect),
                "{what} {args:?}: {}",
                run.stderr
            );
            assert!(
                run.stderr.contains("nothing was changed"),
                "{what}: {}",
                run.stderr
            );
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
    for (name, expect) in [
        (
            "NOT_A_SECRET",
            "`NOT_A_SECRET` is not a secret of stack `shop`",
        ),
        (
            "GRAFANA_ADMIN",
            "`GRAFANA_ADMIN` is not a secret of stack `shop`",
        ),
        ("SLACK_WEBHOOK_URL", "is provided by you"),
        ("GRAFANA_SECRET_KEY", "GRAFANA_SECRET_KEY cannot be rotated"),
    ] {
        let run = p.run_env(
            &["secrets", "rotate", name, "--auto-approve"],
            &[("DOCKER_HOST", "tcp://127.0.0.1:9")],
        );
        assert_eq!(run.code, 1, "{name}: {}", run.all());
        assert!(run.stderr.contains(expect), "{name}: {}", run.stderr);
        assert!(
            run.stderr.contains("nothing was changed"),
            "{name}: {}",
            run.stderr
        );
    }
    let unknown = p.run(&["secrets", "rotate", "NOT_A_SECRET"]);
    assert!(
        unknown.stderr.contains("GRAFANA_ADMIN_PASSWORD")
            && unknown.stderr.contains("CONTROL_API_TOKEN"),
        "the stack's names are listed: {}",
        unknown.stderr
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
    let plan = p.run_env(
        &["plan", "--target", "native"],
        &[("SLACK_WEBHOOK_URL", "")],
    );
    assert_eq!(plan.code, 0, "{}", plan.all());
    assert!(
        plan.all().contains("alerts have nowhere to go"),
        "{}",
        plan.all()
    );
    assert!(
        !plan.all().contains("No value for required secret"),
        "{}",
        plan.all()
    );
    for f in ["datasources", "dashboards", "alerting"] {
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
