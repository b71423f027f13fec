//! `generate`: snapshots of every generated file, determinism, the hand-edit ledger, `--check`.

use promo_infra::compile;
use promo_infra::ops::{self, Selection};
use promo_infra::project::Project;
use promo_infra::secrets::SecretValues;

use crate::common::{BASE, Runs, TestContext, repo};

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
            text.push_str(&String::from_utf8_lossy(file.bytes()));
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
            String::from_utf8(desired.files["docker-compose.yml"].bytes().to_vec()).expect("utf8");
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
    let p = TestContext::with_repo_stacks();
    assert_eq!(p.run(&["generate"]).code, 0);
    let first = p.snapshot_tree();
    promo_snapshot!(p.cmd(&["generate"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    warning: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards). To send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/promo-v1/.env or export SLACK_WEBHOOK_URL, then apply
    ✓ generated/promo-v1: 0 created, 0 updated, 19 unchanged, 0 removed
    warning: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards). To send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/promo/.env or export SLACK_WEBHOOK_URL, then apply
    ✓ generated/promo: 0 created, 0 updated, 17 unchanged, 0 removed

    ----- stderr -----
    ");
    assert_eq!(p.snapshot_tree(), first);
    // The same manifests compiled in another directory give the same bytes (no paths, no time).
    let q = TestContext::with_repo_stacks();
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
    let p = TestContext::with_repo_stacks();
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
    let p = TestContext::new();
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
    promo_snapshot!(p.cmd(&["generate"]), @"
    success: false
    exit_code: 1
    ----- stdout -----
      ~ generated/shop/native/grafana.ini
      ~ generated/shop/systemd/promo-infra-shop-control-api.service
    warning: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards). To send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/shop/.env or export SLACK_WEBHOOK_URL, then apply
    ✓ generated/shop: 0 created, 2 updated, 14 unchanged, 0 removed

    ----- stderr -----
      x hand-edited generated file(s) kept: generated/shop/docker-compose.yml
      help: move the change into the manifest or a template in dashboards-src/, then run `promo-infra generate --force` to overwrite
    ");
    assert_eq!(p.read(compose), edited, "the hand edit must survive");
    assert!(
        p.read("generated/shop/grafana/provisioning/datasources/promo-infra.yaml")
            .contains("apiVersion")
    );

    // Still reported on the next run, and --check shows the diff.
    promo_snapshot!(p.cmd(&["generate"]), @"
    success: false
    exit_code: 1
    ----- stdout -----
    warning: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards). To send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/shop/.env or export SLACK_WEBHOOK_URL, then apply
    ✓ generated/shop: 0 created, 0 updated, 16 unchanged, 0 removed

    ----- stderr -----
      x hand-edited generated file(s) kept: generated/shop/docker-compose.yml
      help: move the change into the manifest or a template in dashboards-src/, then run `promo-infra generate --force` to overwrite
    ");
    promo_snapshot!(p.cmd(&["generate", "--check"]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----
    --- a/generated/shop/.promo-infra-ledger.json
    +++ b/generated/shop/.promo-infra-ledger.json
    @@ -2,7 +2,7 @@
       "//": "sha256 of each file promo-infra generated here; a file whose hash differs was edited by hand",
       "files": {
         "cron/promo-infra-shop-backup": "[HASH]",
    -    "docker-compose.yml": "[HASH]",
    +    "docker-compose.yml": "[HASH]",
         "grafana/alerting-without-slack/promo-infra.yaml": "[HASH]",
         "grafana/dashboards/shop-marketing.json": "[HASH]",
         "grafana/dashboards/shop-tech.json": "[HASH]",
    --- a/generated/shop/docker-compose.yml
    +++ b/generated/shop/docker-compose.yml
    @@ -13,7 +13,7 @@
           CONTROL_API_STOP_PASSWORD: "${CONTROL_API_STOP_PASSWORD:?is not set in .env: see promo-infra secrets list}"
           CONTROL_API_TOKEN: "${CONTROL_API_TOKEN:?is not set in .env: see promo-infra secrets list}"
           GRAFANA_ADMIN_PASSWORD: "${GRAFANA_ADMIN_PASSWORD:?is not set in .env: see promo-infra secrets list}"
    -      PROMO_INFRA_CORS_ORIGIN: http://127.0.0.1:3000
    +      PROMO_INFRA_CORS_ORIGIN: http://127.0.0.1:3300
           PROMO_INFRA_GRAFANA_URL: http://grafana:3000
           PROMO_INFRA_GRAFANA_USER: admin
           PROMO_INFRA_LOCALE: fr
    @@ -43,12 +43,12 @@
           GF_SECURITY_ADMIN_PASSWORD: "${GRAFANA_ADMIN_PASSWORD:?is not set in .env: see promo-infra secrets list}"
           GF_SECURITY_ADMIN_USER: admin
           GF_SECURITY_SECRET_KEY: "${GRAFANA_SECRET_KEY:?is not set in .env: see promo-infra secrets list}"
    -      GF_SERVER_ROOT_URL: http://127.0.0.1:3000
    +      GF_SERVER_ROOT_URL: http://127.0.0.1:3300
           GF_USERS_ALLOW_SIGN_UP: "false"
           INFLUXDB_GRAFANA_TOKEN: ${INFLUXDB_GRAFANA_TOKEN:?is minted by promo-infra apply (not by generate)}
           SLACK_WEBHOOK_URL: "${SLACK_WEBHOOK_URL:?is not set in .env: see promo-infra secrets list}"
         ports:
    -    - 127.0.0.1:3000:3000
    +    - 127.0.0.1:3300:3000
         volumes:
         - grafana-data:/var/lib/grafana
         - ./grafana/provisioning:/etc/grafana/provisioning:ro
    @@ -97,4 +97,3 @@
     volumes:
       grafana-data: {}
       influxdb-data: {}
    -# my local tweak

    ----- stderr -----
      x 2 generated file(s) are out of date
      help: edited by hand: generated/shop/docker-compose.yml. `promo-infra generate` keeps such files; move the edit into the manifest or a template in dashboards-src/, then run `promo-infra generate --force` (it overwrites them) and commit the result
    "#);

    // --force overwrites; then everything is current.
    promo_snapshot!(p.cmd(&["generate", "--force"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
      ~ generated/shop/docker-compose.yml
    warning: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards). To send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/shop/.env or export SLACK_WEBHOOK_URL, then apply
    ✓ generated/shop: 0 created, 1 updated, 16 unchanged, 0 removed

    ----- stderr -----
    ");
    assert!(!p.read(compose).contains("my local tweak"));
    assert_eq!(p.run(&["generate", "--check"]).code, 0);
}

/// Fails on the old code, which told a preprod stack that the webhook is "required by
/// `environment: prod`": preprod gets the note `apply` gives (its alerts go nowhere), prod is
/// told that `plan` and `apply` refuse without it.
#[test]
fn a_missing_webhook_is_explained_for_the_stacks_environment() {
    let p = TestContext::new();
    p.write("stacks/shop.yaml", BASE);
    assert_eq!(p.run(&["generate"]).code, 0);
    let mut runs = Runs::default();
    runs.push("generate (preprod)", p.run(&["generate"]));
    let prod = BASE
        .replacen("environment: preprod", "environment: prod", 1)
        .replacen("admin_user: admin", "admin_user: shop-admin", 1);
    p.write("stacks/shop.yaml", &prod);
    assert_eq!(p.run(&["generate"]).code, 0);
    runs.push("generate (prod)", p.run(&["generate"]));
    promo_snapshot!(runs, @"
    === generate (preprod) ===
    success: true
    exit_code: 0
    ----- stdout -----
    warning: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards). To send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/shop/.env or export SLACK_WEBHOOK_URL, then apply
    ✓ generated/shop: 0 created, 0 updated, 17 unchanged, 0 removed

    ----- stderr -----

    === generate (prod) ===
    success: true
    exit_code: 0
    ----- stdout -----
    warning: SLACK_WEBHOOK_URL is not set: it is required by `environment: prod`, and `promo-infra plan` and `promo-infra apply` refuse to run without it. Add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/shop/.env or export SLACK_WEBHOOK_URL
    ✓ generated/shop: 0 created, 0 updated, 17 unchanged, 0 removed

    ----- stderr -----
    ");
}

#[test]
fn check_writes_nothing_and_exits_1_with_a_diff() {
    let p = TestContext::new();
    p.write("stacks/shop.yaml", BASE);
    // Every file is new: the whole diff, in a file snapshot.
    let before = p.snapshot_tree();
    promo_snapshot!(p.cmd(&["generate", "--check"]));
    assert!(
        !p.path().join("generated").exists(),
        "--check must not write"
    );
    // Nor anything else: not even the render cache (`.promo-infra/`); neither does `validate`.
    assert_eq!(p.run(&["validate"]).code, 0);
    assert_eq!(
        p.snapshot_tree(),
        before,
        "--check or validate wrote a file"
    );
    assert!(!p.path().join(".promo-infra").exists());

    assert_eq!(p.run(&["generate"]).code, 0);
    assert_eq!(p.run(&["generate", "--check"]).code, 0);
    // A manifest change makes it stale again.
    p.write(
        "stacks/shop.yaml",
        &BASE.replacen("retention: 30d", "retention: 12h", 1),
    );
    promo_snapshot!(p.cmd(&["generate", "--check"]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----
    --- a/generated/shop/.promo-infra-ledger.json
    +++ b/generated/shop/.promo-infra-ledger.json
    @@ -2,7 +2,7 @@
       "//": "sha256 of each file promo-infra generated here; a file whose hash differs was edited by hand",
       "files": {
         "cron/promo-infra-shop-backup": "[HASH]",
    -    "docker-compose.yml": "[HASH]",
    +    "docker-compose.yml": "[HASH]",
         "grafana/alerting-without-slack/promo-infra.yaml": "[HASH]",
         "grafana/dashboards/shop-marketing.json": "[HASH]",
         "grafana/dashboards/shop-tech.json": "[HASH]",
    --- a/generated/shop/docker-compose.yml
    +++ b/generated/shop/docker-compose.yml
    @@ -74,7 +74,7 @@
           DOCKER_INFLUXDB_INIT_MODE: setup
           DOCKER_INFLUXDB_INIT_ORG: shop-org
           DOCKER_INFLUXDB_INIT_PASSWORD: "${INFLUXDB_ADMIN_PASSWORD:?is not set in .env: see promo-infra secrets list}"
    -      DOCKER_INFLUXDB_INIT_RETENTION: 720h
    +      DOCKER_INFLUXDB_INIT_RETENTION: 12h
           DOCKER_INFLUXDB_INIT_USERNAME: promo-admin
           INFLUXD_REPORTING_DISABLED: "true"
         ports:

    ----- stderr -----
      x 2 generated file(s) are out of date
      help: run `promo-infra generate` and commit the result
    "#);
}

#[test]
fn removed_outputs_are_deleted_unless_edited() {
    let p = TestContext::new();
    p.write("stacks/shop.yaml", BASE);
    assert_eq!(p.run(&["generate"]).code, 0);
    assert!(
        p.path()
            .join("generated/shop/grafana/dashboards/shop-tech.json")
            .exists()
    );
    let without_tech = BASE.replacen("  - uid: shop-tech\n    template: k6-technical\n", "", 1);
    p.write("stacks/shop.yaml", &without_tech);
    promo_snapshot!(p.cmd(&["generate"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
      - generated/shop/grafana/dashboards/shop-tech.json
    warning: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards). To send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/shop/.env or export SLACK_WEBHOOK_URL, then apply
    ✓ generated/shop: 0 created, 0 updated, 16 unchanged, 1 removed

    ----- stderr -----
    ");
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
    promo_snapshot!(p.cmd(&["generate"]), @"
    success: false
    exit_code: 1
    ----- stdout -----
      - generated/shop/systemd/promo-infra-shop-backup.service
      - generated/shop/systemd/promo-infra-shop-backup.timer
    warning: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards). To send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/shop/.env or export SLACK_WEBHOOK_URL, then apply
    ✓ generated/shop: 0 created, 0 updated, 13 unchanged, 2 removed

    ----- stderr -----
      x hand-edited generated file(s) kept: generated/shop/cron/promo-infra-shop-backup
      help: move the change into the manifest or a template in dashboards-src/, then run `promo-infra generate --force` to overwrite
    ");
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

/// A project whose stack `shop` was generated, then its compose file edited by hand.
fn hand_edited_project() -> TestContext {
    let p = TestContext::new();
    p.write("stacks/shop.yaml", BASE);
    assert_eq!(p.run(&["generate"]).code, 0);
    let compose = "generated/shop/docker-compose.yml";
    p.write(compose, &format!("{}# edited by hand\n", p.read(compose)));
    p
}

/// `generate --check` on a hand-edited file advises the command that fixes it — plain
/// `generate` keeps hand edits, so the advice names `generate --force` — and running the advice
/// makes the check pass. A file that is only stale (the manifest changed) keeps the plain advice.
#[test]
fn check_advice_for_a_hand_edited_file_is_a_command_that_fixes_it() {
    let p = hand_edited_project();
    let check = p.run(&["generate", "--check"]);
    assert_eq!(check.code, 1, "{}", check.all());
    promo_snapshot!(crate::common::Run::new(1, String::new(), check.stderr.clone(), p.path()), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x 1 generated file(s) are out of date
      help: edited by hand: generated/shop/docker-compose.yml. `promo-infra generate` keeps such files; move the edit into the manifest or a template in dashboards-src/, then run `promo-infra generate --force` (it overwrites them) and commit the result
    ");
    let plain = p.run(&["generate"]);
    assert_eq!(
        plain.code,
        1,
        "plain generate keeps the edit: {}",
        plain.all()
    );
    assert_eq!(p.run(&["generate", "--force"]).code, 0);
    let again = p.run(&["generate", "--check"]);
    assert_eq!(again.code, 0, "the advice did not fix it: {}", again.all());

    p.write(
        "stacks/shop.yaml",
        &BASE.replace("retention: 30d", "retention: 12h"),
    );
    let stale = p.run(&["generate", "--check"]);
    assert_eq!(stale.code, 1);
    promo_snapshot!(crate::common::Run::new(1, String::new(), stale.stderr.clone(), p.path()), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x 2 generated file(s) are out of date
      help: run `promo-infra generate` and commit the result
    ");
}

/// A manifest outside the project (`-f /abs/path.yaml`) is named by its absolute path and
/// generates into the project like any other (it used to be refused as `//abs/...`).
#[test]
fn a_manifest_outside_the_project_is_named_by_its_absolute_path() {
    let p = TestContext::new();
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let manifest = elsewhere.path().join("shop.yaml");
    std::fs::write(&manifest, BASE).expect("manifest");
    let abs = manifest.display().to_string();
    let v = p.run(&["-f", &abs, "validate"]);
    assert_eq!(v.code, 0, "{}", v.all());
    assert_eq!(v.stdout, format!("✓ {abs} is valid (stack `shop`)\n"));
    let g = p.run(&["-f", &abs, "generate"]);
    assert_eq!(g.code, 0, "{}", g.all());
    assert!(
        p.read("generated/shop/cron/promo-infra-shop-backup")
            .contains(&abs),
        "the cron line runs the manifest where it is"
    );
}

/// `plan` fails (exit 1, after showing the plan) when apply would refuse it for a generated
/// file edited by hand, so a `plan --detailed-exitcode` gate never passes what apply then
/// refuses; its help names `generate --force` for the project and stack the user named, from
/// wherever they run it; `plan --out` saves nothing. Fails without the fix: `plan` printed a
/// warning and exited 0 ("No changes" on a deployed stack) and `--out` saved a plan that
/// `apply FILE` refused.
#[test]
fn plan_fails_when_apply_would_refuse_a_hand_edited_file() {
    let p = hand_edited_project();
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let root = p.path().to_str().expect("utf-8 temp path");
    let plan = |extra: &[&str]| {
        let args = [&["-C", root, "-f", "stacks/shop.yaml", "plan"][..], extra].concat();
        let mut plan = p.cmd(&args);
        plan.command.current_dir(elsewhere.path());
        plan.run()
    };
    let shown = plan(&["--target", "native", "--detailed-exitcode"]);
    assert_eq!(shown.code, 1, "{}", shown.all());
    assert!(
        shown
            .stdout
            .contains("promo-infra will perform the following actions"),
        "the plan is still shown: {}",
        shown.all()
    );
    assert_eq!(
        shown.stderr.replace(root, "[ROOT]"),
        "  x apply refuses this plan: hand-edited generated file(s) kept: generated/shop/docker-compose.yml\n  help: move the change into the manifest or a template in dashboards-src/, then run `promo-infra -C [ROOT] -f stacks/shop.yaml generate --force` (it overwrites them) and plan again\n"
    );
    let before = p.snapshot_tree();
    let saved = plan(&["--target", "native", "--out", "p.plan"]);
    assert_eq!(saved.code, 1, "{}", saved.all());
    assert!(p.snapshot_tree() == before, "plan --out wrote a file");
    assert!(
        !elsewhere.path().join("p.plan").exists(),
        "plan --out saved it"
    );
}
