//! Dashboard version control through the CLI (issue 14 items 2–3), against the Grafana API
//! double listening where the stack's manifest puts Grafana: an edit saved in Grafana (as the
//! UI saves) is shown by `dashboards diff` as exactly that field of that panel; `dashboards pull`
//! keeps it as an overlay; `generate` applies it (and `generate --check` passes); the diff is
//! then empty; a template change of the same field is a conflict naming panel and field.
//! `dashboards push` uploads through the API, refuses to overwrite an edit made in Grafana
//! since, and `--prune` deletes only dashboards carrying the `promo-infra` tag. (The docker and
//! native targets provision dashboards from files, read-only in Grafana; this test's Grafana has
//! them only through the API.)

use promo_doubles::grafana::{GrafanaConfig, SpawnOptions, spawn_with};
use promo_infra::control::Secret;
use promo_infra::grafana::{Auth, Client};
use serde_json::{Value, json};

use crate::common::{Run, TestContext, free_port};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

fn env_value(p: &TestContext, key: &str) -> String {
    p.read("generated/promo/.env")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(String::from))
        .unwrap_or_else(|| panic!("{key} not in .env"))
}

fn generated(p: &TestContext) -> Value {
    serde_json::from_str(&p.read("generated/promo/grafana/dashboards/promo-marketing.json"))
        .expect("dashboard json")
}

fn run(p: &TestContext, args: &[&str]) -> Run {
    p.run(args)
        .filter_regex(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:[PORT]")
}

/// Someone edits the dashboard in Grafana and saves it, as the UI's save button does (the
/// double's `POST /__double/ui-edit/{uid}` with a JSON merge patch).
fn ui_edit(rt: &tokio::runtime::Runtime, grafana: &Client, patch: Value) {
    let (status, body) = rt
        .block_on(grafana.request(
            reqwest::Method::POST,
            "/__double/ui-edit/promo-marketing",
            Some(&patch),
        ))
        .expect("ui edit");
    assert!(status.is_success(), "{status} {body}");
}

#[test]
fn a_grafana_edit_is_diffed_pulled_kept_by_generate_and_a_template_change_conflicts() {
    let p = TestContext::with_repo_stacks();
    let guard = free_port();
    let port = guard.port();
    let manifest =
        p.read("stacks/promo.yaml")
            .replacen("  port: 3000", &format!("  port: {port}"), 1);
    p.write("stacks/promo.yaml", &manifest);
    let g = p.run(&["-f", "stacks/promo.yaml", "generate"]);
    assert_eq!(g.code, 0, "{}", g.all());
    // The project is a git repository with generated/ committed, as the README asks.
    for args in [
        &["init", "-q"][..],
        &["add", "-A"][..],
        &[
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "commit",
            "-qm",
            "stack",
        ][..],
    ] {
        let st = std::process::Command::new("git")
            .args(args)
            .current_dir(p.path())
            .status()
            .expect("git");
        assert!(st.success(), "git {args:?}");
    }
    let password = env_value(&p, "GRAFANA_ADMIN_PASSWORD");
    drop(guard);
    let rt = rt();
    let double = rt
        .block_on(spawn_with(
            GrafanaConfig {
                admin_user: "admin".into(),
                admin_password: password.clone(),
                ..GrafanaConfig::default()
            },
            SpawnOptions {
                addr: format!("127.0.0.1:{port}").parse().expect("addr"),
                ..SpawnOptions::default()
            },
        ))
        .expect("grafana double");
    let grafana = Client::new(
        &double.url(),
        Auth::Basic {
            user: "admin".into(),
            password: Secret::new(password),
        },
        4,
    )
    .expect("client");

    // While another command holds the stack (an apply), a push is refused and writes nothing.
    {
        let _apply = promo_infra::lock::StackLock::acquire(
            &p.path().join("generated/promo"),
            "promo",
            "apply",
        )
        .expect("lock");
        let refused = run(&p, &["-f", "stacks/promo.yaml", "dashboards", "push"]);
        promo_snapshot!(refused, @"
        success: false
        exit_code: 1
        ----- stdout -----

        ----- stderr -----
          x stack `promo` is locked by `apply` (pid [PID] on [HOST], since [TIMESTAMP])
          help: wait for it to finish; the lock is released automatically when that process exits, even if killed
        ");
        assert!(
            double.state().requests().iter().all(|r| r.method == "GET"),
            "nothing was written to Grafana"
        );
    }
    // Push (folder created with its stable uid), then again: nothing to write.
    promo_snapshot!(run(&p, &["-f", "stacks/promo.yaml", "dashboards", "push"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
      promo-marketing: uploaded (version 1)
      k6-technical: uploaded (version 1)

    ----- stderr -----
    ");
    promo_snapshot!(run(&p, &["-f", "stacks/promo.yaml", "dashboards", "push"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
      promo-marketing: unchanged
      k6-technical: unchanged

    ----- stderr -----
    ");
    promo_snapshot!(run(&p, &["-f", "stacks/promo.yaml", "dashboards", "diff", "promo-marketing", "--detailed-exitcode"]), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    Dashboards of stack `promo` in Grafana http://127.0.0.1:[PORT] (changes from generated to Grafana):

      promo-marketing ("Promo Load Analyzer - Marketing View"): same

    0 of 1 dashboard(s) differ.

    ----- stderr -----
    "#);
    let (mut live, _) = rt
        .block_on(grafana.dashboard("promo-marketing"))
        .expect("get")
        .expect("there");
    let panel = live["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .position(|p| p["fieldConfig"]["defaults"]["unit"] == json!("ms"))
        .expect("a panel in ms");
    live["panels"][panel]["fieldConfig"]["defaults"]["unit"] = json!("s");
    live["panels"][panel]["pluginVersion"] = json!("10.2.3");
    ui_edit(&rt, &grafana, json!({"panels": live["panels"]}));
    // That edit is not overwritten by a push.
    promo_snapshot!(run(&p, &["-f", "stacks/promo.yaml", "dashboards", "push", "promo-marketing"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x dashboard `promo-marketing` was changed in Grafana http://127.0.0.1:[PORT] (version 2) since promo-infra last pushed it; not overwritten
      help: see the change with `promo-infra -f stacks/promo.yaml dashboards diff promo-marketing`, keep it with `promo-infra -f stacks/promo.yaml dashboards pull promo-marketing` then `promo-infra -f stacks/promo.yaml generate`, or overwrite it with `promo-infra -f stacks/promo.yaml dashboards push promo-marketing --force`
    ");

    promo_snapshot!(run(&p, &["-f", "stacks/promo.yaml", "dashboards", "diff", "promo-marketing", "--detailed-exitcode"]), @r#"
    success: false
    exit_code: 2
    ----- stdout -----
    Dashboards of stack `promo` in Grafana http://127.0.0.1:[PORT] (changes from generated to Grafana):

      promo-marketing ("Promo Load Analyzer - Marketing View"): 1 change in Grafana
          ~ panel "Temps de réponse" › fieldConfig.defaults.unit: "ms" → "s"

    1 of 1 dashboard(s) differ.

    ----- stderr -----
    "#);
    let render_v1 = || {
        let r = p.run(&[
            "-f",
            "stacks/promo-v1.yaml",
            "dashboards",
            "render",
            "promo-marketing",
        ]);
        assert_eq!(r.code, 0, "{}", r.all());
        r.stdout
    };
    let v1_before = render_v1();
    promo_snapshot!(run(&p, &["-f", "stacks/promo.yaml", "dashboards", "pull", "promo-marketing"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
      promo-marketing: 1 edit kept in dashboards-src/overrides/promo/promo-marketing.json

    Run `promo-infra generate` to bring the edits into generated/, then commit dashboards-src/overrides/.

    ----- stderr -----
    ");
    insta::assert_snapshot!(p.read("dashboards-src/overrides/promo/promo-marketing.json"), @r#"
    [
      {
        "op": "test",
        "path": "/panels/4/id",
        "value": 5
      },
      {
        "op": "test",
        "path": "/panels/4/fieldConfig/defaults/unit",
        "value": "ms"
      },
      {
        "op": "replace",
        "path": "/panels/4/fieldConfig/defaults/unit",
        "value": "s"
      }
    ]
    "#);
    // Both saves are in Grafana's history, newest first.
    promo_snapshot!(
        run(&p, &["-f", "stacks/promo.yaml", "dashboards", "history", "promo-marketing"])
            .filter_regex(r"\d{4}-\d\d-\d\dT[0-9:.]+Z", "[TIME]"),
        @"
    success: true
    exit_code: 0
    ----- stdout -----
    VERSION  CREATED               BY     MESSAGE
    2        [TIME]  admin
    1        [TIME]  admin  promo-infra dashboards push

    ----- stderr -----
    "
    );
    let g = p.run(&["-f", "stacks/promo.yaml", "generate"]);
    assert_eq!(g.code, 0, "{}", g.all());
    assert_eq!(
        generated(&p)["panels"][panel]["fieldConfig"]["defaults"]["unit"],
        "s"
    );
    let check = p.run(&["-f", "stacks/promo.yaml", "generate", "--check"]);
    assert_eq!(check.code, 0, "{}", check.all());
    // The edit is the `promo` stack's only: promo-v1 declares the same uid and its dashboard
    // neither gets the edit nor fails on it.
    assert_eq!(render_v1(), v1_before);
    let again = run(
        &p,
        &[
            "-f",
            "stacks/promo.yaml",
            "dashboards",
            "diff",
            "promo-marketing",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(
        again.code,
        0,
        "after pull + generate, Grafana and the sources agree:\n{}",
        again.all()
    );
    let pulled_again = run(
        &p,
        &[
            "-f",
            "stacks/promo.yaml",
            "dashboards",
            "pull",
            "promo-marketing",
        ],
    );
    assert_eq!(pulled_again.stdout, "  promo-marketing: nothing new\n");
    let pushed = run(
        &p,
        &[
            "-f",
            "stacks/promo.yaml",
            "dashboards",
            "push",
            "promo-marketing",
        ],
    );
    assert_eq!(
        pushed.stdout,
        "  promo-marketing: unchanged\n",
        "{}",
        pushed.all()
    );

    // --prune deletes a promo-infra-tagged dashboard of the stack's folder that the stack no
    // longer declares, never an untagged one (someone's own dashboard in the same folder).
    for (uid, tags) in [
        ("old-promo", json!(["promo-infra"])),
        ("marketing-own", json!(["mine"])),
    ] {
        let d = json!({"uid": uid, "title": uid, "tags": tags, "panels": []});
        rt.block_on(grafana.save_dashboard(&d, Some("promo"), true, ""))
            .expect("save");
    }
    promo_snapshot!(run(&p, &["-f", "stacks/promo.yaml", "dashboards", "push", "--prune"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
      promo-marketing: unchanged
      k6-technical: unchanged
      old-promo: deleted (no longer declared)

    ----- stderr -----
    ");
    assert!(
        rt.block_on(grafana.dashboard("old-promo"))
            .expect("get")
            .is_none()
    );
    assert!(
        rt.block_on(grafana.dashboard("marketing-own"))
            .expect("get")
            .is_some()
    );

    // Rollback: to Grafana's version 1 (the first push, unit "ms"), then to the dashboard as
    // generated at the git commit; each shows the diff first.
    promo_snapshot!(run(&p, &["-f", "stacks/promo.yaml", "dashboards", "rollback", "promo-marketing", "--to", "1", "--auto-approve"]), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    Rolling back promo-marketing to version 1 changes, from Grafana's dashboard now:

          ~ panel "Temps de réponse" › fieldConfig.defaults.unit: "s" → "ms"
    promo-marketing: rolled back (now version 3).

    ----- stderr -----
    "#);
    let unit = |rt: &tokio::runtime::Runtime| {
        let (d, _) = rt
            .block_on(grafana.dashboard("promo-marketing"))
            .expect("get")
            .expect("there");
        d["panels"][panel]["fieldConfig"]["defaults"]["unit"].clone()
    };
    assert_eq!(unit(&rt), json!("ms"));
    let again = run(
        &p,
        &[
            "-f",
            "stacks/promo.yaml",
            "dashboards",
            "rollback",
            "promo-marketing",
            "--to",
            "1",
            "--auto-approve",
        ],
    );
    assert_eq!(
        again.stdout,
        "promo-marketing: Grafana already has that dashboard; nothing changed.\n",
        "{}",
        again.all()
    );
    ui_edit(&rt, &grafana, json!({"title": "Edited in the UI"}));
    promo_snapshot!(run(&p, &["-f", "stacks/promo.yaml", "dashboards", "rollback", "promo-marketing", "--to", "git:HEAD", "--auto-approve"]), @r#"
    success: true
    exit_code: 0
    ----- stdout -----
    Rolling back promo-marketing to git revision HEAD changes, from Grafana's dashboard now:

          ~ title: "Edited in the UI" → "Promo Load Analyzer - Marketing View"
    promo-marketing: rolled back (now version 5).

    ----- stderr -----
    "#);
    promo_snapshot!(run(&p, &["-f", "stacks/promo.yaml", "dashboards", "rollback", "promo-marketing", "--to", "git:no-such-rev", "--auto-approve"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x git has no no-such-rev:generated/promo/grafana/dashboards/promo-marketing.json: fatal: invalid object name 'no-such-rev'.
      help: name a revision where the stack's generated/ was committed (`git log -- generated/`)
    ");
    // A rollback is promo-infra's own write: the next push is not refused because of it.
    let pushed = run(
        &p,
        &[
            "-f",
            "stacks/promo.yaml",
            "dashboards",
            "push",
            "promo-marketing",
        ],
    );
    assert_eq!(
        pushed.stdout,
        "  promo-marketing: uploaded (version 6)\n",
        "{}",
        pushed.all()
    );

    // The template of that panel now says another unit: the overlay no longer applies, and
    // generate says which panel and field, changing nothing.
    let partial = "dashboards-src/partials/marketing/05-response.hbs";
    let original = std::fs::read_to_string(crate::common::repo().join(partial)).expect("partial");
    assert!(original.contains("\"unit\": \"ms\""));
    p.write(
        partial,
        &original.replace("\"unit\": \"ms\"", "\"unit\": \"ns\""),
    );
    let before = p.project_files();
    promo_snapshot!(p.run(&["-f", "stacks/promo.yaml", "generate"]), @r#"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x dashboards-src/overrides/promo/promo-marketing.json: the UI edit no longer applies to the template: panel "Temps de réponse" › fieldConfig.defaults.unit: the template has "ns", the edit was made against "ms" (value did not match)
      help: the template changed where the edit was made; keep one side, then run `promo-infra -f stacks/promo.yaml generate`. To keep the UI edit on top of the new template, run `promo-infra -f stacks/promo.yaml dashboards pull promo-marketing` (it makes the overlay again from what Grafana has). To keep the template's value, delete dashboards-src/overrides/promo/promo-marketing.json (the next apply or `promo-infra -f stacks/promo.yaml dashboards push promo-marketing` puts it into Grafana)
    "#);
    assert!(p.project_files() == before, "a conflict writes nothing");

    // The ways out, followed as the help words them (its commands run as printed, its file
    // deleted as named): apply, push and pull used to fail on the same conflict, and the help
    // named a literal `UID`.
    let help = |refused: &Run| {
        refused
            .stderr
            .split_once("help: ")
            .map(|(_, h)| h.trim().to_string())
            .unwrap_or_else(|| panic!("no help: {}", refused.all()))
    };
    let suggested = |help: &str, starting: &str| -> Vec<String> {
        let at = help
            .find(&format!("`promo-infra -f stacks/promo.yaml {starting}"))
            .unwrap_or_else(|| panic!("no `{starting}` in: {help}"));
        let command = &help[at + 1..];
        let command = &command[..command.find('`').expect("closing backquote")];
        command.split(' ').skip(1).map(String::from).collect()
    };
    let run_suggested = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&p, &args)
    };
    let unit_generated =
        || generated(&p)["panels"][panel]["fieldConfig"]["defaults"]["unit"].clone();
    // Keep the UI edit: Grafana still has "s" (pushed above as version 6); pulling makes the
    // overlay again against the template's "ns".
    let refused = p.run(&["-f", "stacks/promo.yaml", "generate"]);
    promo_snapshot!(run_suggested(suggested(&help(&refused), "dashboards pull")), @"
    success: true
    exit_code: 0
    ----- stdout -----
      promo-marketing: 1 edit kept in dashboards-src/overrides/promo/promo-marketing.json

    Run `promo-infra generate` to bring the edits into generated/, then commit dashboards-src/overrides/.

    ----- stderr -----
    ");
    insta::assert_snapshot!(p.read("dashboards-src/overrides/promo/promo-marketing.json"), @r#"
    [
      {
        "op": "test",
        "path": "/panels/4/id",
        "value": 5
      },
      {
        "op": "test",
        "path": "/panels/4/fieldConfig/defaults/unit",
        "value": "ns"
      },
      {
        "op": "replace",
        "path": "/panels/4/fieldConfig/defaults/unit",
        "value": "s"
      }
    ]
    "#);
    promo_snapshot!(run_suggested(suggested(&help(&refused), "generate")), @"
    success: true
    exit_code: 0
    ----- stdout -----
    warning: alerts have nowhere to go: SLACK_WEBHOOK_URL is not set, so Grafana gets no Slack contact point (the alert rules still run and show on the dashboards). To send them to Slack, add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to generated/promo/.env or export SLACK_WEBHOOK_URL, then apply
    ✓ generated/promo: 0 created, 0 updated, 17 unchanged, 0 removed

    ----- stderr -----
    ");
    assert_eq!(unit_generated(), json!("s"));
    let diff = run(
        &p,
        &[
            "-f",
            "stacks/promo.yaml",
            "dashboards",
            "diff",
            "--detailed-exitcode",
        ],
    );
    assert_eq!(
        diff.code,
        0,
        "Grafana and the sources agree again:\n{}",
        diff.all()
    );
    // Keep the template: a later template change conflicts again; deleting the file the help
    // names drops the edit, and a push puts the template's unit into Grafana.
    p.write(
        partial,
        &original.replace("\"unit\": \"ms\"", "\"unit\": \"µs\""),
    );
    let refused = p.run(&["-f", "stacks/promo.yaml", "generate"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    let help = help(&refused);
    let file = help
        .split_once("To keep the template's value, delete ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no file to delete in: {help}"));
    assert_eq!(file, "dashboards-src/overrides/promo/promo-marketing.json");
    std::fs::remove_file(p.path().join(file)).expect("the file the help names");
    let g = run_suggested(suggested(&help, "generate"));
    assert_eq!(g.code, 0, "{}", g.all());
    assert_eq!(unit_generated(), json!("µs"));
    promo_snapshot!(run_suggested(suggested(&help, "dashboards push")), @"
    success: true
    exit_code: 0
    ----- stdout -----
      promo-marketing: uploaded (version 7)

    ----- stderr -----
    ");
    assert_eq!(unit(&rt), json!("µs"));
    let pulled = run(
        &p,
        &[
            "-f",
            "stacks/promo.yaml",
            "dashboards",
            "pull",
            "promo-marketing",
        ],
    );
    assert_eq!(
        pulled.stdout,
        "  promo-marketing: nothing new\n",
        "{}",
        pulled.all()
    );
    rt.block_on(double.shutdown());
}
