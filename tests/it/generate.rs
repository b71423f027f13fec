//! `generate`: snapshots of every generated file, determinism, the hand-edit ledger, `--check`.

use promo_infra::compile;
use promo_infra::ops::{self, Selection};
use promo_infra::project::Project;
use promo_infra::secrets::SecretValues;

use crate::common::{BASE, TempProject, repo};

/// Every generated file of every stack in stacks/, one snapshot per stack with a header per
/// file (secrets are never in these files, so nothing needs redacting).
#[test]
fn snapshot_every_generated_file_of_every_stack() {
    let project = Project::new(repo());
    let (templates, loaded) = ops::load_all(&project, &Selection::AllStacks).expect("stacks load");
    assert!(
        loaded.len() >= 2,
        "stacks/promo.yaml and stacks/promo-v1.yaml at least"
    );
    for l in &loaded {
        let desired = compile::compile(l, &templates, &SecretValues::default()).expect("compile");
        let mut text = String::new();
        for (path, file) in &desired.files {
            text.push_str(&format!("==== {path} ====\n"));
            text.push_str(&String::from_utf8_lossy(&file.bytes));
        }
        insta::assert_snapshot!(format!("generated_{}", l.stack()), text);
    }
}

#[test]
fn json_schema_is_committed_and_current() {
    let committed = std::fs::read_to_string(repo().join("stacks/stack.schema.json"))
        .expect("stacks/stack.schema.json");
    assert_eq!(
        committed,
        ops::schema(),
        "run `promo-infra schema -o stacks/stack.schema.json`"
    );
    insta::assert_snapshot!("manifest_schema", ops::schema());
}

#[test]
fn compose_files_follow_the_compose_spec() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("tests/fixtures/compose-spec.schema.json"))
            .expect("schema"),
    )
    .expect("schema json");
    let validator = jsonschema::validator_for(&schema).expect("compile schema");
    let project = Project::new(repo());
    let (templates, loaded) = ops::load_all(&project, &Selection::AllStacks).expect("load");
    for l in &loaded {
        let desired = compile::compile(l, &templates, &SecretValues::default()).expect("compile");
        let text =
            String::from_utf8(desired.files["docker-compose.yml"].bytes.clone()).expect("utf8");
        let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("compose is YAML");
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", l.stack());
        // Secrets only as ${VAR} references; host ports on 127.0.0.1 unless asked otherwise.
        for service in doc["services"].as_object().expect("services").values() {
            for port in service["ports"].as_array().expect("ports") {
                assert!(
                    port.as_str().expect("str").starts_with("127.0.0.1:"),
                    "{port}"
                );
            }
            assert!(
                service["image"].as_str().expect("image").contains(':'),
                "pinned image"
            );
            assert!(service["healthcheck"]["test"].is_array(), "health check");
        }
        for secret in ["GF_SECURITY_ADMIN_PASSWORD", "GF_SECURITY_SECRET_KEY"] {
            let v = doc["services"]["grafana"]["environment"][secret]
                .as_str()
                .expect("env");
            assert!(v.starts_with("${") && v.contains(":?"), "{secret} = {v}");
        }
    }
}

#[test]
fn two_generates_are_byte_identical() {
    let p = TempProject::with_repo_stacks();
    assert_eq!(p.run(&["generate"]).code, 0);
    let first = p.snapshot_tree();
    let second_run = p.run(&["generate"]);
    assert_eq!(second_run.code, 0, "{}", second_run.all());
    assert!(
        second_run.stdout.contains("0 created, 0 updated"),
        "{}",
        second_run.stdout
    );
    assert_eq!(p.snapshot_tree(), first);
    // The same manifests compiled in another directory give the same bytes (no paths, no time).
    let q = TempProject::with_repo_stacks();
    assert_eq!(q.run(&["generate"]).code, 0);
    let strip_env = |t: Vec<(String, Vec<u8>)>| {
        t.into_iter()
            .filter(|(p, _)| !p.ends_with(".env"))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip_env(q.snapshot_tree()), strip_env(first));
}

#[test]
fn committed_generated_files_match_a_fresh_generate() {
    let p = TempProject::with_repo_stacks();
    assert_eq!(p.run(&["generate"]).code, 0);
    for (rel, bytes) in p.snapshot_tree() {
        // .env and the lock file (never removed, see src/lock.rs) are git-ignored.
        if rel.starts_with("generated/")
            && !rel.ends_with(".env")
            && !rel.ends_with(".promo-infra.lock")
        {
            let committed = std::fs::read(repo().join(&rel))
                .unwrap_or_else(|_| panic!("{rel} is not committed"));
            assert!(
                committed == bytes,
                "{rel} differs from the committed copy: run `promo-infra generate`"
            );
        }
    }
}

#[test]
fn hand_edits_are_detected_and_kept() {
    let p = TempProject::new();
    p.write("stacks/shop.yaml", BASE);
    assert_eq!(p.run(&["generate"]).code, 0);
    let compose = "generated/shop/docker-compose.yml";
    let edited = format!("{}# my local tweak\n", p.read(compose));
    p.write(compose, &edited);

    // A manifest change that touches the edited file: it is kept, others are written.
    p.write(
        "stacks/shop.yaml",
        &BASE.replacen("  port: 3000", "  port: 3300", 1),
    );
    let run = p.run(&["generate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("hand-edited generated file(s) kept: generated/shop/docker-compose.yml"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(p.read(compose), edited, "the hand edit must survive");
    assert!(
        p.read("generated/shop/grafana/provisioning/datasources/promo-infra.yaml")
            .contains("apiVersion")
    );

    // Still reported on the next run, and --check shows the diff.
    assert_eq!(p.run(&["generate"]).code, 1);
    let check = p.run(&["generate", "--check"]);
    assert_eq!(check.code, 1);
    assert!(
        check
            .stdout
            .contains("--- a/generated/shop/docker-compose.yml"),
        "{}",
        check.stdout
    );
    assert!(
        check.stdout.contains("-# my local tweak"),
        "{}",
        check.stdout
    );
    assert!(
        check.stdout.contains("+    - 127.0.0.1:3300:3000"),
        "{}",
        check.stdout
    );

    // --force overwrites; then everything is current.
    let forced = p.run(&["generate", "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.all());
    assert!(!p.read(compose).contains("my local tweak"));
    assert_eq!(p.run(&["generate", "--check"]).code, 0);
}

#[test]
fn check_writes_nothing_and_exits_1_with_a_diff() {
    let p = TempProject::new();
    p.write("stacks/shop.yaml", BASE);
    let run = p.run(&["generate", "--check"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout
            .contains("+++ b/generated/shop/docker-compose.yml"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("generated file(s) are out of date"),
        "{}",
        run.stderr
    );
    assert!(
        !p.path().join("generated").exists(),
        "--check must not write"
    );

    assert_eq!(p.run(&["generate"]).code, 0);
    assert_eq!(p.run(&["generate", "--check"]).code, 0);
    // A manifest change makes it stale again.
    p.write(
        "stacks/shop.yaml",
        &BASE.replacen("retention: 30d", "retention: 12h", 1),
    );
    let run = p.run(&["generate", "--check"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout
            .contains("-      DOCKER_INFLUXDB_INIT_RETENTION: 720h"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("+      DOCKER_INFLUXDB_INIT_RETENTION: 12h"),
        "{}",
        run.stdout
    );
}

#[test]
fn removed_outputs_are_deleted_unless_edited() {
    let p = TempProject::new();
    p.write("stacks/shop.yaml", BASE);
    assert_eq!(p.run(&["generate"]).code, 0);
    assert!(
        p.path()
            .join("generated/shop/grafana/dashboards/shop-tech.json")
            .exists()
    );
    let without_tech = BASE.replacen("  - uid: shop-tech\n    template: k6-technical\n", "", 1);
    p.write("stacks/shop.yaml", &without_tech);
    let run = p.run(&["generate"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout
            .contains("- generated/shop/grafana/dashboards/shop-tech.json"),
        "{}",
        run.stdout
    );
    assert!(
        !p.path()
            .join("generated/shop/grafana/dashboards/shop-tech.json")
            .exists()
    );

    // Backups removed from the manifest: the cron file goes too, unless someone edited it.
    p.write("generated/shop/cron/promo-infra-shop-backup", "# mine\n");
    let no_backup = without_tech
        .split("backup:\n")
        .next()
        .expect("prefix")
        .to_string()
        + "k6:\n  version: v0.47.0\n";
    p.write("stacks/shop.yaml", &no_backup);
    let run = p.run(&["generate"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr
            .contains("generated/shop/cron/promo-infra-shop-backup"),
        "{}",
        run.stderr
    );
    assert_eq!(
        p.read("generated/shop/cron/promo-infra-shop-backup"),
        "# mine\n"
    );
    assert!(
        !p.path()
            .join("generated/shop/systemd/promo-infra-shop-backup.timer")
            .exists()
    );
}

/// The JSON Schema carries the validation patterns (editors refuse what `validate` refuses):
/// every manifest of the repository passes it, injection payloads do not.
#[test]
fn schema_patterns_accept_the_stacks_and_refuse_injections() {
    let schema: serde_json::Value = serde_json::from_str(&ops::schema()).expect("schema json");
    let validator = jsonschema::validator_for(&schema).expect("compile schema");
    let mut manifests = vec![BASE.to_string()];
    for dir in ["stacks", "tests/fixtures/stacks"] {
        for entry in std::fs::read_dir(repo().join(dir)).expect("dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "yaml") {
                manifests.push(std::fs::read_to_string(&path).expect("read"));
            }
        }
    }
    for text in &manifests {
        let doc: serde_json::Value = serde_saphyr::from_str(text).expect("yaml");
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}\n{text}");
    }
    let keep = "  keep: { last: 3, daily: 7 }\n";
    for (edit_from, edit_to) in [
        (keep, format!("{keep}  binary: \"/usr/bin/x;id\"\n")),
        (
            keep,
            format!("{keep}  project_dir: \"/opt/x\\nExecStartPre=/bin/id\"\n"),
        ),
        ("\"0 3 * * *\"", "\"0 3 * *\\n*\"".to_string()),
        ("\"#alerts\"", "\"#a\\nb\"".to_string()),
        (
            "webhook_url_env: SLACK_WEBHOOK_URL",
            "webhook_url_env: GF_SECURITY_ADMIN_PASSWORD".to_string(),
        ),
        ("image: influxdb:2.7", "image: influxdb:2.7$X".to_string()),
        ("keep: { last: 3", "keep: { last: 4294967295".to_string()),
    ] {
        let text = BASE.replacen(edit_from, &edit_to, 1);
        let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml");
        assert!(!validator.is_valid(&doc), "the schema accepts `{edit_to}`");
    }
}
