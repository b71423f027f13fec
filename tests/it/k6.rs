//! `k6 build` (stand-in xk6 / go on PATH), `k6 env` / `k6 exec` (no secret printed, exit code
//! passed through), `k6 run` to completion (stand-in k6, Grafana **double**, Slack receiver),
//! and the control API process started with only the compose service's environment.

use std::time::Duration;

use serde_json::Value;

use crate::common::free_port;
use crate::common::{Run, TestContext};
use crate::control::Rig;
use crate::standin::{assert_no_secret, make_executable, secret, spawn_promo};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_to_completion_thresholds_failed_grade_and_fixed_clock() {
    let rig = Rig::start("fr", false).await;
    let records = rig.standins.records.path().display().to_string();
    let path = rig.standins.path_env();
    // p95 2500 ms against ok 1000 / warn 2000 → b = 2.25 → score 55 → D; k6 exits 99.
    let run = spawn_promo(
        &rig.p,
        &[
            "-f",
            "stacks/shop.yaml",
            "k6",
            "run",
            "tests/checkout.js",
            "--promo",
            "black-friday",
            "--",
            "--vus",
            "5",
        ],
        &[
            ("PATH", &path),
            ("STANDIN_DIR", &records),
            ("STANDIN_MODE", "finish"),
            ("STANDIN_EXIT", "99"),
            ("STANDIN_P95", "2500"),
            ("STANDIN_ERR_RATE", "0.0005"),
            ("PROMO_INFRA_NOW", "2026-11-27T09:30:00Z"),
        ],
        "promo-infra k6 run",
    );
    let (code, out, err) = run.wait_output(Duration::from_secs(60));
    assert_eq!(code, 99, "k6's exit code is passed through\n{out}\n{err}");
    let call = rig.standins.call();
    let argv: Vec<String> = serde_json::from_value(call["argv"].clone()).unwrap();
    let tag = argv
        .iter()
        .find(|a| a.starts_with("testid="))
        .expect("testid tag");
    let testid = tag.trim_start_matches("testid=").to_string();
    // <promo>_<yyyymmdd_hhmmss>_<8 hex>, from the injected clock, UTC.
    let (prefix, hex) = testid.split_at("black-friday_20261127_093000_".len());
    assert_eq!(prefix, "black-friday_20261127_093000_");
    assert!(
        hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{testid}"
    );
    assert_eq!(
        &argv[argv.len() - 3..],
        ["--vus", "5", "tests/checkout.js"],
        "extra k6 flags pass through"
    );
    assert!(
        argv.contains(&"promo_type=standard".to_string())
            && argv.contains(&"promo_name=black-friday".to_string())
    );
    // The outcome with its grade; the live dashboard URL (from the fixed clock).
    promo_snapshot!(
        Run::new(code, out.clone(), err.clone(), rig.p.path()).filter(&testid, "[TESTID]"),
        @"
    success: false
    exit_code: 99
    ----- stdout -----
    stand-in k6 done
    test [TESTID]: aborted by thresholds (k6 exit 99); grade D (55/100): p95 2500 ms, errors 0.05 %
    summary: generated/shop/run/[TESTID]/summary.json
    dashboard: http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=1795771800000&to=1795771801000

    ----- stderr -----
    promo-infra: warning: InfluxDB does not answer at http://127.0.0.1:[PORT] (error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)): k6 will run but its points will be lost and the dashboard will stay empty; start the stack first (`promo-infra -f stacks/shop.yaml apply`)
    promo-infra: warning: no STOP button for this test: the control API at http://127.0.0.1:[PORT] is not reachable (error sending request for url (http://127.0.0.1:[PORT]/api/runs): client error (Connect): tcp connect error: Connection refused (os error 111)). To fix: start it: `promo-infra -f stacks/shop.yaml apply` (docker target: the control-api container), or `promo-infra -f stacks/shop.yaml control-api` on this host; or give its URL with --control-api URL. The test runs anyway; Ctrl+C here still stops it (--require-stop refuses to start without a STOP button)
    promo-infra: test [TESTID]: [TEMP_OTHER]/k6
    promo-infra: dashboard: http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=1795771800000&to=now&refresh=5s
    "
    );
    // Slack, in the manifest's language, with the grade.
    let msgs = rig.webhook.messages();
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let m = &msgs[0];
    let text = m.replace(&testid, "[TESTID]");
    rig.text_settings()
        .bind(|| insta::assert_snapshot!(text, @"
        :red_circle: Test de charge interrompu par les seuils (k6 code 99) : *black-friday* (standard) — `[TESTID]`
        Note *D* (55/100) · p95 : 2500 ms · erreurs : 0.05 % · requêtes : 100
        Tableau de bord : http://127.0.0.1:[PORT]/d/shop-marketing?orgId=1&var-testid=[TESTID]&from=[EPOCH_MS]&to=[EPOCH_MS]
        "));
    // Annotations: start, then the run as a region tagged `aborted` (the dashboard's "stopped tests").
    let ann: Vec<_> = rig
        .grafana
        .state()
        .annotations()
        .into_iter()
        .filter(|a| a.tags.contains(&testid))
        .collect();
    assert_eq!(ann.len(), 2, "{ann:?}");
    // Each as `start..end` in ms from the fixed clock (2026-11-27T09:30:00Z: the run's start
    // and also its end, as the clock does not move), its tags and its text.
    let fixed = 1_795_771_800_000;
    let text = ann
        .iter()
        .map(|a| {
            let span = format!("{}..{}", a.time - fixed, a.time_end - fixed);
            format!("{span} [{}] {}", a.tags.join(","), a.text).replace(&testid, "[TESTID]")
        })
        .collect::<Vec<_>>()
        .join("\n");
    rig.text_settings()
        .bind(|| insta::assert_snapshot!(text, @"
        0..0 [k6,promo-infra,[TESTID],black-friday,start] Début du test de charge [TESTID] (black-friday, standard)
        0..0 [k6,promo-infra,[TESTID],black-friday,aborted,thresholds] Test de charge interrompu par les seuils (k6 code 99) [TESTID] — note D (55/100)
        "));
    assert_no_secret(&rig.p, "shop", &format!("{out}{err}{m}"), "k6 run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_is_refused_while_one_is_tracked() {
    let rig = Rig::start("en", false).await;
    let first = rig.start_run(&[]);
    let testid = rig.current_testid();
    promo_snapshot!(
        rig.p
            .cmd(&["-f", "stacks/shop.yaml", "k6", "run", "tests/checkout.js"])
            .run()
            .filter(&testid, "[TESTID]"),
        @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x test [TESTID] is already running (k6 pid [PID], recorded in generated/shop/run/k6-run.json)
      help: wait for it, stop it (`curl -X POST .../api/tests/stop` or the STOP page), or use another --run-dir
    "
    );
    drop(first);
}

/// `k6 run` of the rig's stack with `variable`'s line removed from its `.env`: the warning
/// line that starts with `warning`.
fn warning_without(rig: &Rig, variable: &str, warning: &str) -> String {
    let env_file = rig.p.path().join("generated/shop/.env");
    let env: String = std::fs::read_to_string(&env_file)
        .expect(".env")
        .lines()
        .filter(|l| !l.starts_with(&format!("{variable}=")))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&env_file, env).expect("write .env");
    let records = rig.standins.records.path().display().to_string();
    let run = rig
        .p
        .cmd(&["-f", "stacks/shop.yaml", "k6", "run", "tests/checkout.js"])
        .env("PATH", rig.standins.path_env())
        .env("STANDIN_DIR", &records)
        .env("STANDIN_MODE", "finish")
        .run();
    run.stderr
        .lines()
        .find(|l| l.contains(warning))
        .unwrap_or_else(|| panic!("{}", run.all()))
        .to_string()
}

/// Fails on the old code, which said "the webhook variable is set neither in the environment
/// nor in .env": the warning names the variable the manifest configures and the `.env` file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_without_its_webhook_names_the_variable_and_the_env_file() {
    let rig = Rig::start("en", false).await;
    assert_eq!(
        warning_without(&rig, "SLACK_WEBHOOK_URL", "no Slack message"),
        "promo-infra: warning: no Slack message: SLACK_WEBHOOK_URL is set neither in the environment nor in ./generated/shop/.env; add `SLACK_WEBHOOK_URL=https://hooks.slack.com/...` to it or export SLACK_WEBHOOK_URL"
    );
    assert!(rig.webhook.messages().is_empty());
}

/// Fails on the old code, which said "GRAFANA_ADMIN_PASSWORD is not in .env": like the Slack
/// warning, the annotations' names the variable, the `.env` file and what to do (put the line
/// back: Grafana's data keeps the password a new `generate` would not match).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_without_grafanas_password_names_the_variable_and_the_env_file() {
    let rig = Rig::start("en", false).await;
    assert_eq!(
        warning_without(&rig, "GRAFANA_ADMIN_PASSWORD", "no Grafana annotations"),
        "promo-infra: warning: no Grafana annotations: GRAFANA_ADMIN_PASSWORD is not in ./generated/shop/.env; put back the line the stack was applied with (Grafana's data keeps its admin password), or, on a stack never applied, run `promo-infra -f stacks/shop.yaml generate`"
    );
    assert!(rig.grafana.state().annotations().is_empty());
}

const XK6: &str = r#"#!/bin/sh
# Stand-in for xk6 (NOT xk6): records its arguments, writes a k6 whose `version` lists the
# extensions given with --with.
echo "$*" >> "$STANDIN_DIR/xk6-calls.txt"
out=""; exts=""
while [ $# -gt 0 ]; do
  case "$1" in
    --output) out="$2"; shift 2 ;;
    --with) exts="$exts ${2%@*}"; shift 2 ;;
    *) shift ;;
  esac
done
mkdir -p "$(dirname "$out")"
{ echo '#!/bin/sh'; echo 'echo "k6 v0.47.0 (go1.21, linux/amd64)"'; echo 'echo "Extensions:"';
  for e in $exts; do echo "echo \"  $e v0.4.1, xk6-influxdb [output]\""; done; } > "$out"
[ -n "$STANDIN_FORGET_EXTENSIONS" ] && { echo '#!/bin/sh'; echo 'echo "k6 v0.47.0"'; } > "$out"
chmod +x "$out"
"#;

fn build_project() -> (TestContext, tempfile::TempDir, tempfile::TempDir) {
    let p = TestContext::with_repo_stacks();
    assert_eq!(p.run(&["generate"]).code, 0);
    let bin = tempfile::tempdir().unwrap();
    let rec = tempfile::tempdir().unwrap();
    (p, bin, rec)
}

fn run_with_path(
    p: &TestContext,
    path: &str,
    rec: &str,
    extra: &[(&str, &str)],
    args: &[&str],
) -> crate::common::Run {
    p.cmd(args)
        .env("PATH", path)
        .env("STANDIN_DIR", rec)
        .envs(extra)
        .run()
}

#[test]
fn build_runs_the_documented_xk6_command_verifies_and_skips_when_unchanged() {
    let (p, bin, rec) = build_project();
    std::fs::write(bin.path().join("xk6"), XK6).unwrap();
    make_executable(&bin.path().join("xk6"));
    std::fs::write(
        bin.path().join("go"),
        "#!/bin/sh\necho go version go1.21.0 linux/amd64\n",
    )
    .unwrap();
    make_executable(&bin.path().join("go"));
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let recs = rec.path().display().to_string();
    let calls = || std::fs::read_to_string(rec.path().join("xk6-calls.txt")).unwrap_or_default();

    promo_snapshot!(run_with_path(&p, &path, &recs, &[], &["k6", "build"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
      + bin/k6-influxdb built: xk6 build v0.47.0 --with github.com/grafana/xk6-output-influxdb@v0.4.1 --output bin/k6-influxdb
    ✓ bin/k6-influxdb version: k6 v0.47.0 (go1.21, linux/amd64)

    ----- stderr -----
    ");
    // The documented command line, exactly.
    assert_eq!(
        calls(),
        "build v0.47.0 --with github.com/grafana/xk6-output-influxdb@v0.4.1 --output bin/k6-influxdb\n"
    );
    let state: Value = serde_json::from_str(&p.read("bin/k6-influxdb.build.json")).unwrap();
    assert_eq!(state["version"], "v0.47.0");

    // Unchanged inputs: nothing run.
    promo_snapshot!(run_with_path(&p, &path, &recs, &[], &["k6", "build"]), @"
    success: true
    exit_code: 0
    ----- stdout -----
    ✓ bin/k6-influxdb is up to date (k6 v0.47.0 (go1.21, linux/amd64)); inputs unchanged since the last build (recorded in ./bin/k6-influxdb.build.json), nothing run

    ----- stderr -----
    ");
    assert_eq!(calls().lines().count(), 1, "xk6 was not run again");
    // --force, or a changed input, rebuilds.
    let r = run_with_path(&p, &path, &recs, &[], &["k6", "build", "--force"]);
    assert_eq!(r.code, 0);
    assert_eq!(calls().lines().count(), 2);
    let manifest = p
        .read("stacks/promo.yaml")
        .replace("version: v0.47.0", "version: v0.48.0");
    p.write("stacks/promo.yaml", &manifest);
    let r = run_with_path(&p, &path, &recs, &[], &["k6", "build"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        calls().lines().last().unwrap(),
        "build v0.48.0 --with github.com/grafana/xk6-output-influxdb@v0.4.1 --output bin/k6-influxdb"
    );

    // A binary that does not list the extension is refused.
    promo_snapshot!(
        run_with_path(
            &p,
            &path,
            &recs,
            &[("STANDIN_FORGET_EXTENSIONS", "1")],
            &["k6", "build", "--force"],
        ),
        @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x `bin/k6-influxdb version` does not list the extension github.com/grafana/xk6-output-influxdb; it printed:
      | k6 v0.47.0
      help: check the extension's module path and version in the manifest, then `promo-infra k6 build --force`
    "
    );
}

#[test]
fn build_without_xk6_or_go_gives_the_install_hint() {
    let (p, bin, rec) = build_project();
    let recs = rec.path().display().to_string();
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    promo_snapshot!(run_with_path(&p, &path, &recs, &[], &["k6", "build"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x cannot build k6: `xk6` is not in PATH (and Go is not installed either)
      help: install Go 1.21 or later (https://go.dev/dl; Debian 12's golang-go is too old), then `go install go.k6.io/xk6/cmd/xk6@latest` and put $(go env GOPATH)/bin in PATH
    ");
    assert!(!p.path().join("bin").exists(), "nothing written");
    std::fs::write(bin.path().join("xk6"), XK6).unwrap();
    make_executable(&bin.path().join("xk6"));
    promo_snapshot!(run_with_path(&p, &path, &recs, &[], &["k6", "build"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x cannot build k6: xk6 needs Go to compile it, and `go` is not in PATH
      help: install Go 1.21 or later (https://go.dev/dl; Debian 12's golang-go is too old) and put it in PATH
    ");
}

/// What `apply` leaves in `.env` on an InfluxDB 2 stack besides the generated secrets: k6's
/// write-only token, minted by InfluxDB (a made-up value: no InfluxDB runs here).
fn with_minted_k6_token(p: &TestContext) -> String {
    let token = "k6-write-only-token-minted-by-influxdb-0123456789".to_string();
    let env = p.path().join("generated/promo/.env");
    let text = std::fs::read_to_string(&env).expect(".env");
    std::fs::write(&env, format!("{text}INFLUXDB_K6_TOKEN={token}\n")).expect("write .env");
    token
}

#[test]
fn k6_on_influxdb_2_needs_its_own_token_from_apply() {
    let p = TestContext::with_repo_stacks();
    assert_eq!(p.run(&["generate"]).code, 0);
    promo_snapshot!(p.cmd(&["k6", "env", "--testid", "t1"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x secrets file `generated/promo/.env`: INFLUXDB_K6_TOKEN is missing (k6's write-only InfluxDB token)
      help: run `promo-infra apply`: it creates the token in InfluxDB and keeps it in .env
    ");
}

#[test]
fn env_prints_variables_and_flags_but_never_a_secret() {
    let p = TestContext::with_repo_stacks();
    assert_eq!(p.run(&["generate"]).code, 0);
    with_minted_k6_token(&p);
    let r = promo_snapshot!(
        p.cmd(&[
            "k6",
            "env",
            "--testid",
            "bf_20261127_093000_0a1b2c3d",
            "--promo",
            "bf",
        ]),
        @"
    success: true
    exit_code: 0
    ----- stdout -----
    # k6 settings for test bf_20261127_093000_0a1b2c3d (stack promo, InfluxDB 2)
    ENVIRONMENT=preprod
    K6_INFLUXDB_ADDR=http://127.0.0.1:8086
    K6_INFLUXDB_BUCKET=k6-metrics
    K6_INFLUXDB_ORGANIZATION=promo-analyzer
    K6_INFLUXDB_TOKEN=(sensitive)
    PROMO_NAME=bf
    PROMO_TYPE=standard
    TESTID=bf_20261127_093000_0a1b2c3d
    # flags:
    --out xk6-influxdb --tag testid=bf_20261127_093000_0a1b2c3d --tag environment=preprod --tag promo_type=standard --tag promo_name=bf
    # run with the secrets injected (nothing typed, nothing in shell history):
    promo-infra k6 exec --testid bf_20261127_093000_0a1b2c3d -- bin/k6-influxdb run --out xk6-influxdb --tag testid=bf_20261127_093000_0a1b2c3d --tag environment=preprod --tag promo_type=standard --tag promo_name=bf SCRIPT

    ----- stderr -----
    "
    );
    assert_no_secret(&p, "promo", &r.all(), "k6 env");
    let r = p.run(&[
        "-f",
        "stacks/promo-v1.yaml",
        "k6",
        "env",
        "--testid",
        "t1",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.all());
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["format_version"], "1.0", "{v}");
    assert_eq!(v["flags"][1], "influxdb=http://127.0.0.1:8087/k6");
    let pw = v["vars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "K6_INFLUXDB_PASSWORD")
        .unwrap();
    assert_eq!(pw["sensitive"], true);
    assert!(pw.get("value").is_none());
    assert_no_secret(&p, "promo-v1", &r.all(), "k6 env --json");
    // Every other command a user runs on this stack prints no secret either.
    for args in [
        &["secrets", "list"][..],
        &["validate"],
        &["generate"],
        &["k6", "build"],
        &["control-api", "--listen", "not-an-address"],
    ] {
        let r = p.run(args);
        assert_no_secret(&p, "promo", &r.all(), &args.join(" "));
        assert_no_secret(&p, "promo-v1", &r.all(), &args.join(" "));
    }
}

#[test]
fn a_testid_grafana_would_mangle_in_flux_is_refused_on_influxdb_2_only() {
    let p = TestContext::with_repo_stacks();
    assert_eq!(p.run(&["generate"]).code, 0);
    with_minted_k6_token(&p);
    let dotted = "sale.bucket_20261127_093000_0a1b2c3d";
    promo_snapshot!(p.cmd(&["k6", "env", "--testid", dotted]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x --testid: test id `sale.bucket_20261127_093000_0a1b2c3d` contains `.bucket`, which Grafana 10.2 replaces inside every Flux query: the dashboards of this InfluxDB 2 stack could not show the run
      help: write `_bucket` or `-bucket` instead of `.bucket`
    ");
    let v1 = ["-f", "stacks/promo-v1.yaml"];
    let r = p.run(&[&v1[..], &["k6", "env", "--testid", dotted]].concat());
    assert_eq!(r.code, 0, "InfluxQL has no such macros: {}", r.all());
}

/// A test id names the run's directories (`generated/<stack>/runs/<testid>/`, the report's):
/// `..` would write the run's summary and record into the stack's generated directory, and a
/// promo name `..` would start an id with it. Refused before anything runs or is written.
#[test]
fn a_testid_or_promo_that_starts_with_a_dot_is_refused_and_nothing_is_written() {
    let p = TestContext::with_repo_stacks();
    assert_eq!(p.run(&["generate"]).code, 0);
    p.write("tests/checkout.js", "export default function () {}\n");
    let before = p.snapshot_tree();
    promo_snapshot!(p.cmd(&["k6", "run", "--promo", "..", "tests/checkout.js"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x --promo `..` is not usable as a k6 tag
      help: use 1-64 characters among letters, digits, `_`, `-` and `.`, not starting with `.`
    ");
    promo_snapshot!(p.cmd(&["k6", "env", "--testid", ".."]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x --testid `..` is not a usable test id
      help: use letters, digits, `_`, `-` and `.`, not starting with `.` (at most 120)
    ");
    promo_snapshot!(p.cmd(&["runs", "report", ".."]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x TESTID `..` is not a test id
      help: test ids are letters, digits, `_`, `-` and `.`, not starting with `.`; `promo-infra runs list` shows them
    ");
    assert!(p.snapshot_tree() == before, "nothing written");
}

#[test]
fn exec_injects_the_variables_and_passes_the_exit_code_through() {
    let p = TestContext::with_repo_stacks();
    assert_eq!(p.run(&["generate"]).code, 0);
    let k6_token = with_minted_k6_token(&p);
    let r = promo_snapshot!(p.cmd(&[
        "k6", "exec", "--testid", "t1", "--",
        "sh", "-c", "printf '%s' \"$K6_INFLUXDB_TOKEN\" > token.txt; echo \"org=$K6_INFLUXDB_ORGANIZATION id=$TESTID\"; exit 7",
    ]), @"
    success: false
    exit_code: 7
    ----- stdout -----
    org=promo-analyzer id=t1

    ----- stderr -----
    ");
    // k6's own write-only token, never the admin token.
    assert_eq!(p.read("token.txt"), k6_token);
    assert_ne!(k6_token, secret(&p, "promo", "INFLUXDB_ADMIN_TOKEN"));
    assert_no_secret(&p, "promo", &r.all(), "k6 exec");
    promo_snapshot!(p.cmd(&["k6", "exec", "--", "no-such-command-xyz"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x cannot run `no-such-command-xyz`: No such file or directory (os error 2)
      help: check the command after `--` (is it in PATH?)
    ");
}

/// The docker target runs `promo-infra control-api --listen 0.0.0.0:5000` with only the compose
/// service's environment: that is enough to be healthy (and to answer the API).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_api_with_only_the_compose_environment_is_healthy() {
    use promo_infra::desired::EnvValue;
    let p = TestContext::with_repo_stacks();
    assert_eq!(p.run(&["generate"]).code, 0);
    let text = p.read("stacks/promo.yaml");
    let m = promo_infra::manifest::parse("promo.yaml", &text).unwrap();
    let spec = promo_infra::compile::services::services(&m)
        .into_iter()
        .find(|s| s.name == "control-api")
        .expect("control-api service");
    let guard = free_port();
    let port = guard.port();
    let args: Vec<String> = spec
        .command
        .iter()
        .map(|a| a.replace(":5000", &format!(":{port}")))
        .collect();
    assert_eq!(
        args,
        ["control-api", "--listen", &format!("0.0.0.0:{port}")]
    );
    let empty = tempfile::tempdir().unwrap();
    let mut cmd = crate::common::promo();
    cmd.env_clear().current_dir(empty.path()).args(&args);
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in &spec.env {
        let value = match v {
            EnvValue::Plain(v) => v.clone(),
            EnvValue::Secret(name) => secret(&p, "promo", name),
        };
        cmd.env(k, value);
    }
    drop(guard);
    let proc = crate::standin::Proc {
        child: cmd.spawn().unwrap(),
        name: "control-api (compose env)",
    };
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let health: Value = loop {
        if let Ok(r) = http.get(format!("{url}/health")).send().await
            && r.status() == 200
        {
            break r.json().await.unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "not healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(health["status"], "ok");
    assert_eq!(health["stack"], "promo");
    let r = http
        .get(format!("{url}/api/tests/current"))
        .bearer_auth(secret(&p, "promo", "CONTROL_API_TOKEN"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "no test recorded in this container");
    let pre = http
        .request(reqwest::Method::OPTIONS, format!("{url}/api/tests/stop"))
        .header("Origin", "http://127.0.0.1:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(
        pre.status(),
        204,
        "the compose env's Grafana origin is allowed"
    );
    drop(proc);
}

/// The `k6 env` copy-paste hint carries the `-C`/`-f` the user gave: pasted from another
/// directory, it targets the same stack (the old hint dropped `-f`, so it used the default
/// stack's token and k6 got 401).
#[test]
fn env_hint_carries_the_same_f_and_c_and_pasting_it_targets_that_stack() {
    let p = TestContext::with_repo_stacks();
    assert_eq!(p.run(&["generate"]).code, 0);
    let root = p.path().display().to_string();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = crate::common::promo()
        .current_dir(elsewhere.path())
        .args([
            "-C",
            &root,
            "-f",
            "stacks/promo-v1.yaml",
            "k6",
            "env",
            "--testid",
            "t1",
        ])
        .output()
        .unwrap();
    let r = Run::new(
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        p.path(),
    );
    // The hint names the project as given with -C (`[TEMP]`) and the same -f.
    let r = promo_snapshot!(r, @"
    success: true
    exit_code: 0
    ----- stdout -----
    # k6 settings for test t1 (stack promo-v1, InfluxDB 1)
    ENVIRONMENT=preprod
    K6_INFLUXDB_PASSWORD=(sensitive)
    K6_INFLUXDB_USERNAME=k6
    PROMO_NAME=promo-v1
    PROMO_TYPE=standard
    TESTID=t1
    # flags:
    --out influxdb=http://127.0.0.1:8087/k6 --tag testid=t1 --tag environment=preprod --tag promo_type=standard --tag promo_name=promo-v1
    # run with the secrets injected (nothing typed, nothing in shell history):
    promo-infra -C [TEMP] -f stacks/promo-v1.yaml k6 exec --testid t1 -- bin/k6 run --out influxdb=http://127.0.0.1:8087/k6 --tag testid=t1 --tag environment=preprod --tag promo_type=standard --tag promo_name=promo-v1 SCRIPT

    ----- stderr -----
    ");
    let hint = r
        .stdout
        .lines()
        .find(|l| l.starts_with("promo-infra "))
        .expect("hint line");
    // Paste it, with a command that shows what k6 would get instead of k6 itself.
    let words = shlex::split(hint).expect("the hint is valid shell");
    let dashdash = words.iter().position(|w| w == "--").unwrap();
    let mut cmd = crate::common::promo();
    cmd.current_dir(elsewhere.path())
        .args(&words[1..=dashdash])
        .args([
            "sh",
            "-c",
            "echo \"$K6_INFLUXDB_USERNAME $K6_INFLUXDB_PASSWORD\"",
        ]);
    let r = crate::common::Run::from(cmd.output().unwrap());
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.stdout.trim(),
        format!("k6 {}", secret(&p, "promo-v1", "INFLUXDB_K6_PASSWORD")),
        "the pasted hint injects the credentials of the stack given with -f"
    );
}

/// Every `promo-infra k6 run SCRIPT` in the README names a script that exists in the
/// repository (the README used to name tests/checkout.js, which did not), and the shipped
/// example is valid JavaScript with checks and thresholds, parameterised by `BASE_URL`.
#[test]
fn readme_k6_run_examples_name_the_shipped_example_script() {
    let readme = std::fs::read_to_string(crate::common::repo().join("README.md")).unwrap();
    let scripts: Vec<&str> = readme
        .split("promo-infra k6 run ")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|w| w.ends_with(".js"))
        .collect();
    assert!(
        scripts.contains(&"examples/checkout.js"),
        "the README's k6 run example uses examples/checkout.js: {scripts:?}"
    );
    for s in &scripts {
        assert!(
            crate::common::repo().join(s).is_file(),
            "the README runs `{s}`, which is not in the repository"
        );
    }
    let js = std::fs::read_to_string(crate::common::repo().join("examples/checkout.js")).unwrap();
    for needle in [
        "__ENV.BASE_URL",
        "thresholds:",
        "http_req_failed",
        "check(",
        "/product/",
        "/cart",
    ] {
        // The example script FILE (not output): it uses what the README says.
        assert!(js.contains(needle), "examples/checkout.js lacks `{needle}`");
    }
    // Syntax check with Node.js (k6 scripts are ES modules; the k6 imports are not resolved).
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("checkout.mjs");
    std::fs::write(&copy, &js).unwrap();
    let out = std::process::Command::new("node")
        .arg("--check")
        .arg(&copy)
        .output()
        .expect("node (Node.js) must be installed to check the example script");
    assert!(
        out.status.success(),
        "examples/checkout.js is not valid JavaScript: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
