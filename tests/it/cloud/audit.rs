//! The cloud target's audit findings: `status` with a refused token or a service down, a second
//! `destroy`, the variable a refused InfluxDB Cloud token is named by, the full command of the
//! UI-edit refusal, two stacks on one Grafana declaring the same dashboard uid, and the role an
//! Editor service account is told it needs.

use super::{Cloud, start};

impl Cloud {
    pub(super) fn applied(&self) {
        let run = self.run(&["apply", "--target", "cloud", "--auto-approve"]);
        assert_eq!(run.code, 0, "{}", run.all());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_grafana_token_fails_status_and_a_service_down_leaves_the_others_count() {
    let c = start().await;
    c.applied();
    // Grafana answers, but not to that token: the error `plan` gives, exit 1 — not `missing`.
    let run = c
        .cmd(&["status", "--target", "cloud"])
        .env("GRAFANA_CLOUD_TOKEN", "glsa_wrong_0123456789abcdef")
        .run();
    promo_snapshot!(run, @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x GET http://127.0.0.1:[PORT]/api/search?type=dash-db&limit=5000&tag=promo-infra: 401 Unauthorized: Invalid API key
      help: Grafana refused the token: the variable targets.cloud.grafana_token_env names must hold a service-account token (glsa_…)
    "#);
    // The same for InfluxDB Cloud's token (it was `unreachable`).
    let run = c
        .cmd(&["status", "--target", "cloud"])
        .env("INFLUX_CLOUD_TOKEN", "not-the-operator-token")
        .run();
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("401"), "{}", run.all());
    // Grafana down: its row is unreachable, InfluxDB's count is still its own.
    let Cloud { grafana, influx, p } = c;
    grafana.shutdown().await;
    let c = Cloud {
        grafana: promo_doubles::grafana::spawn(Default::default())
            .await
            .expect("another Grafana, unused: the manifest names the one shut down"),
        influx,
        p,
    };
    promo_snapshot!(c.run(&["status", "--target", "cloud"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    Stack `promo-v1` (stacks/promo-v1.yaml) on target cloud:

    SERVICE   STATE        HEALTH     IMAGE        VERSION  URL                     UPTIME  CONFIG
    grafana   unreachable  unhealthy  ?/8 objects  -        http://127.0.0.1:[PORT]  -       -
    influxdb  running      healthy    3/3 objects  cloud    http://127.0.0.1:[PORT]  -       current

    Alerts: Slack #load-testing-alerts (webhook from SLACK_WEBHOOK_URL)

    ----- stderr -----
    warning: GET http://127.0.0.1:[PORT]/api/health: Grafana does not answer: error sending request: client error (Connect): tcp connect error: Connection refused (os error 111); retrying in 200 ms
    warning: GET http://127.0.0.1:[PORT]/api/health: Grafana does not answer: error sending request: client error (Connect): tcp connect error: Connection refused (os error 111); retrying in 400 ms
    warning: GET http://127.0.0.1:[PORT]/api/health: Grafana does not answer: error sending request: client error (Connect): tcp connect error: Connection refused (os error 111); retrying in 800 ms
    warning: GET http://127.0.0.1:[PORT]/api/health: Grafana does not answer: error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)
    ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_destroy_removes_and_counts_nothing_and_the_next_apply_mints_new_tokens() {
    let c = start().await;
    c.applied();
    let old_k6 = c.env_value("INFLUXDB_CLOUD_K6_TOKEN");
    let first = c.run(&["destroy", "--target", "cloud", "--auto-approve"]);
    assert_eq!(first.code, 0, "{}", first.all());
    // The revoked tokens leave `.env` with their authorizations.
    let env = c.p.read("generated/promo-v1/.env");
    assert!(
        !env.contains("INFLUXDB_CLOUD_K6_TOKEN=") && !env.contains("INFLUXDB_CLOUD_GRAFANA_TOKEN="),
        "{env}"
    );
    // Grafana answers a delete of an unknown template, contact point or rule with 202/204:
    // none of those is counted.
    promo_snapshot!(c.run(&["destroy", "--target", "cloud", "--auto-approve"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    Stack `promo-v1` has nothing to destroy on target cloud.
    ✓ Destroy complete: 0 object(s) removed; bucket kept.

    ----- stderr -----
    ");
    let deletes = c
        .grafana
        .state()
        .requests()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .count();
    // The next apply mints new tokens, puts them where they are used, and converges.
    c.applied();
    assert_eq!(
        c.grafana
            .state()
            .requests()
            .into_iter()
            .filter(|r| r.method == "DELETE")
            .count(),
        deletes,
        "an apply deletes nothing"
    );
    let plan = c.run(&["plan", "--target", "cloud", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    let (url, k6) = (c.influx.url(), c.env_value("INFLUXDB_CLOUD_K6_TOKEN"));
    assert_ne!(k6, old_k6);
    assert_eq!(
        super::influx_status(&url, &k6, true).await,
        204,
        "k6 writes"
    );
    assert_eq!(
        super::influx_status(&url, &old_k6, true).await,
        401,
        "revoked"
    );
    let read = c.env_value("INFLUXDB_CLOUD_GRAFANA_TOKEN");
    assert_eq!(
        super::influx_status(&url, &read, false).await,
        200,
        "Grafana reads"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_influxdb_cloud_token_is_named_by_its_variable() {
    let c = start().await;
    let run = c
        .cmd(&["plan", "--target", "cloud"])
        .env("INFLUX_CLOUD_TOKEN", "not-the-operator-token")
        .run();
    promo_snapshot!(run, @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x InfluxDB at http://127.0.0.1:[PORT]/api/v2/orgs?org=promo-analyzer: HTTP 401 Unauthorized: {"code":"unauthorized","message":"unauthorized access"}
      help: check INFLUX_CLOUD_TOKEN (the environment or the stack's .env) and the org/bucket in the manifest
    "#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_edit_refusal_suggests_commands_that_reach_the_same_stack_on_the_cloud() {
    let c = start().await;
    c.applied();
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/__double/ui-edit/promo-marketing",
            c.grafana.url()
        ))
        .json(&serde_json::json!({ "title": "Edited in the UI" }))
        .send()
        .await
        .expect("Grafana double answers");
    assert!(resp.status().is_success(), "{}", resp.status());
    let run = c.run(&["apply", "--target", "cloud", "--auto-approve"]);
    assert_eq!(run.code, 1, "{}", run.all());
    // Every suggestion a full command: `-f` (the CLI adds the user's), `--target cloud`.
    let f = "promo-infra -f stacks/promo-v1.yaml";
    let help = format!(
        "help: see the change with `{f} dashboards diff promo-marketing --target cloud`, keep it with `{f} dashboards pull promo-marketing --target cloud` then `{f} generate`, or overwrite it with `{f} dashboards push promo-marketing --force --target cloud`"
    );
    assert!(
        run.stderr
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .contains(&help),
        "{}",
        run.all()
    );
    // The suggested push is a command that works as written.
    let push = c.run(&[
        "dashboards",
        "push",
        "promo-marketing",
        "--force",
        "--target",
        "cloud",
    ]);
    assert_eq!(push.code, 0, "{}", push.all());
    let plan = c.run(&["plan", "--target", "cloud", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
}

/// `stacks/<stack>.yaml`: the cloud stack of `c` as another stack `stack` on the same Grafana
/// and InfluxDB, with its own bucket and marketing dashboard (not the home one) but the same
/// `k6-technical`.
fn second_stack(c: &Cloud, stack: &str) -> String {
    let path = format!("stacks/{stack}.yaml");
    let manifest =
        c.p.read("stacks/promo-v1.yaml")
            .replace("stack: promo-v1", &format!("stack: {stack}"))
            .replace("bucket: k6 ", "bucket: k6b ")
            // The home dashboard is the organisation's: one stack sets it.
            .replace("  home_dashboard: promo-marketing\n", "")
            .replace("promo-marketing", &format!("{stack}-marketing"));
    c.p.write(&path, &manifest);
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_uid_of_another_stack_on_the_same_grafana_is_refused_naming_that_stack() {
    let c = start().await;
    c.applied();
    let other = second_stack(&c, "promo-v2");
    let run2 = |args: &[&str]| {
        let mut all = vec!["-f", other.as_str()];
        all.extend_from_slice(args);
        c.p.run_env(
            &all,
            &[
                ("GRAFANA_CLOUD_TOKEN", super::SA_TOKEN),
                ("INFLUX_CLOUD_TOKEN", super::OPERATOR),
                ("SLACK_WEBHOOK_URL", super::WEBHOOK),
            ],
        )
    };
    // The plan refuses (it would move `k6-technical` into promo-v2's folder), and apply too.
    promo_snapshot!(run2(&["plan", "--target", "cloud"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x dashboard `k6-technical` belongs to stack `promo-v1` (it is in that stack's folder on Grafana http://127.0.0.1:[PORT], tagged `promo-infra`); stack `promo-v2` does not take it
      help: two stacks on one Grafana cannot share a dashboard uid: give it another uid in one of the two manifests (its `dashboards:` entry, and `grafana.home_dashboard` if that names it), then plan again. `dashboards push --force` does not take it either; if stack `promo-v1` is gone for good, run `promo-infra -f <its manifest> destroy --target cloud` or delete the dashboard in Grafana
    ");
    let apply = run2(&["apply", "--target", "cloud", "--auto-approve"]);
    assert_eq!(apply.code, 1, "{}", apply.all());
    assert!(
        apply.stderr.contains("belongs to stack `promo-v1`"),
        "{}",
        apply.all()
    );
    // `dashboards push --force` overrides a UI edit, never another stack's ownership.
    let push = run2(&["dashboards", "push", "--force", "--target", "cloud"]);
    assert_eq!(push.code, 1, "{}", push.all());
    assert!(
        push.stderr.contains("belongs to stack `promo-v1`"),
        "{}",
        push.all()
    );
    // Its status does not count promo-v1's dashboard as its own (both carry the marker tag).
    promo_snapshot!(run2(&["status", "--target", "cloud"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    Stack `promo-v2` (stacks/promo-v2.yaml) on target cloud:

    SERVICE   STATE    HEALTH     IMAGE        VERSION  URL                     UPTIME  CONFIG
    grafana   running  unhealthy  2/8 objects  10.2.3   http://127.0.0.1:[PORT]  -       outdated
    influxdb  missing  unhealthy  0/3 objects  cloud    http://127.0.0.1:[PORT]  -       -

    Alerts: Slack #load-testing-alerts (webhook from SLACK_WEBHOOK_URL)

    ----- stderr -----
    ");
    // promo-v1's dashboard is where promo-v1 put it.
    let still_promo_v1s = || {
        let technical = c.grafana.state().dashboard("k6-technical");
        assert_eq!(technical.expect("still there").folder_uid, "promo-v1");
    };
    still_promo_v1s();
    let plan = c.run(&["plan", "--target", "cloud", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "promo-v1 still owns it: {}", plan.all());
    // The way out the help names: another uid in one of the two stacks.
    let shared = c.p.read(&other);
    c.p.write(
        &other,
        &shared.replace("uid: k6-technical", "uid: k6-technical-v2"),
    );
    let apply = run2(&["apply", "--target", "cloud", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.all());
    let plan = c.run(&["plan", "--target", "cloud", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.all());
    // Back to the shared uid, as a manifest edited after an apply: refused again. Its destroy
    // is no refusal (promo-v2 must be able to go): it removes what promo-v2 made, its
    // `k6-technical-v2` among it (tagged, in its folder), leaves promo-v1's `k6-technical` out
    // of its preview and where it is, and says so.
    c.p.write(&other, &shared);
    let plan = run2(&["plan", "--target", "cloud"]);
    assert_eq!(plan.code, 1, "{}", plan.all());
    promo_snapshot!(run2(&["destroy", "--target", "cloud", "--auto-approve"]).sorted_stderr(), @"
    success: true
    exit_code: 0
    ----- stdout -----
    promo-infra will destroy on stack `promo-v2` (target cloud):

      - token.grafana-read
      - token.k6-write
      - datasource.promo-v2-influxdb
      - folder.promo-v2
      - dashboard.k6-technical-v2
      - dashboard.promo-v2-marketing
      - alerting.contact_point.promo-v2-slack
      - alerting.policy.promo-v2
      - alerting.rule_group.promo-v2-k6
      - alerting.template.promo-v2-messages

    The InfluxDB Cloud bucket is kept (use --volumes to remove it too).
      - alerting.rule_group.promo-v2-k6
      - alerting.policy.promo-v2
      - alerting.contact_point.promo-v2-slack
      - alerting.template.promo-v2-messages
      - dashboard.k6-technical-v2
      - dashboard.promo-v2-marketing
      - datasource.promo-v2-influxdb
      - folder.promo-v2
      - token.grafana-read
      - token.k6-write
    ✓ Destroy complete: 10 object(s) removed; bucket kept.

    ----- stderr -----
    warning: dashboard.k6-technical: not deleted: it is in folder promo-v1 now, not this stack's
    ");
    assert!(c.grafana.state().dashboard("k6-technical-v2").is_none());
    still_promo_v1s();
    let plan = c.run(&["plan", "--target", "cloud", "--detailed-exitcode"]);
    assert_eq!(
        plan.code,
        0,
        "promo-v2 gone, promo-v1 intact: {}",
        plan.all()
    );
}

/// A service account with the Editor role: Grafana reserves datasource writes and the alerting
/// provisioning API to Admin, so the cloud target needs Admin. The 403's help said "give it the
/// Editor or Admin role" to an Editor (found by QA); it now says Admin, and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_service_account_is_told_the_cloud_target_needs_admin() {
    let c = start().await;
    let admin = reqwest::Client::new();
    let account: serde_json::Value = admin
        .post(format!("{}/api/serviceaccounts", c.grafana.url()))
        .basic_auth("admin", Some("admin"))
        .json(&serde_json::json!({ "name": "promo-editor", "role": "Editor" }))
        .send()
        .await
        .expect("Grafana double answers")
        .json()
        .await
        .expect("JSON");
    let id = account["id"].as_i64().expect("account id");
    let token: serde_json::Value = admin
        .post(format!(
            "{}/api/serviceaccounts/{id}/tokens",
            c.grafana.url()
        ))
        .basic_auth("admin", Some("admin"))
        .json(&serde_json::json!({ "name": "promo" }))
        .send()
        .await
        .expect("Grafana double answers")
        .json()
        .await
        .expect("JSON");
    let key = token["key"].as_str().expect("token key");
    // Plan reads the alerting objects concurrently: whichever is refused first is named.
    let run = c
        .cmd(&["plan", "--target", "cloud"])
        .env("GRAFANA_CLOUD_TOKEN", key)
        .run()
        .filter_regex(
            r"/api/v1/provisioning/[^ ]*:",
            "/api/v1/provisioning/[OBJECT]:",
        );
    promo_snapshot!(run, @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x GET http://127.0.0.1:[PORT]/api/v1/provisioning/[OBJECT]: 403 Forbidden: You'll need additional permissions to perform this action. Permissions needed: role Admin
      help: the service account lacks the permission: give it the Admin role (the cloud target writes the datasource and the alerting provisioning, which Grafana reserves to Admin)
    ");
}

/// A dashboard someone else put into the stack's folder: `destroy` keeps the folder (it would
/// delete that dashboard with it) and now says why, naming what is in it. Before, the folder
/// was listed, kept, and nothing said so (found by QA).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_says_why_it_keeps_the_stacks_folder() {
    let c = start().await;
    c.applied();
    c.foreign(
        reqwest::Method::POST,
        "/api/dashboards/db",
        serde_json::json!({ "dashboard": { "uid": "mine", "title": "Mine", "panels": [] }, "folderUid": "promo-v1" }),
    )
    .await;
    let run = c.run(&["destroy", "--target", "cloud", "--auto-approve"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert_eq!(
        run.stderr,
        "warning: folder.promo-v1: kept: it holds what this stack did not make (`Mine` (mine)); move or delete it in Grafana, and the next destroy removes the folder\n"
    );
    let folders: Vec<String> = c
        .grafana
        .state()
        .folders()
        .into_iter()
        .map(|f| f.uid)
        .collect();
    assert_eq!(folders, vec!["promo-v1".to_string()]);
}

/// `doctor --target cloud` on a healthy cloud stack (found by QA: it failed on a `grafana`
/// binary missing from PATH, asked the docker/native ports' URLs for the datasource and grants,
/// and warned that no backup ran): the checks of this machine are skipped, the services lines
/// are the cloud's. And `backup run --target cloud`, which backed up the
/// InfluxDB on this machine (or said to start the stack), is refused, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_and_backup_on_the_cloud_target_do_not_check_this_machine() {
    let c = start().await;
    c.applied();
    let run = c.run(&["doctor", "--target", "cloud", "--json"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("doctor --json");
    let levels: Vec<String> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["check"].as_str().unwrap_or("?"),
                c["level"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(
        levels,
        [
            ".env ok",
            "secrets ok",
            "binaries skipped",
            "service grafana ok",
            "service influxdb ok",
            "ports skipped",
            "datasource skipped",
            "grants skipped",
            "data skipped",
            "clock skipped",
            "backups skipped",
            "disk skipped",
            "prod skipped",
        ],
        "{}",
        run.all()
    );
    promo_snapshot!(c.run(&["backup", "run", "--target", "cloud"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x stack `promo-v1` has no backups on the cloud target: InfluxDB Cloud has no API for `influxd backup` / `influx restore`, and promo-infra would back up the InfluxDB on this machine instead
      help: InfluxDB Cloud keeps the bucket's data for its retention (`influxdb.retention`); backups are for the docker and native targets (`--target docker` or `--target native`); nothing was changed
    ");
}
