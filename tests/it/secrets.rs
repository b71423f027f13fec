//! Secrets: `.env` is 0600, created once, completed, never printed, never in another file.

use std::os::unix::fs::PermissionsExt;

use crate::common::{BASE, TempProject};

fn env_values(p: &TempProject, stack: &str) -> Vec<(String, String)> {
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
    let p = TempProject::new();
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
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let run = p.run(&["generate"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("added CONTROL_API_TOKEN"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("mode is now 0600"), "{}", run.stdout);
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
    let p = TempProject::with_repo_stacks();
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
    let p = TempProject::new();
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
