//! A stack whose `.env` was lost (`git clean -fdx`: it is git-ignored) while its data was kept.
//! Apply would generate a new InfluxDB admin password and Grafana admin password and secret key,
//! which do not open the data made with the old ones; and every hint said to run `generate`
//! or `apply`, which do exactly that (found by exploratory QA). Now `plan` and `apply` refuse
//! before anything is generated, naming what holds the data and how to get back; restoring
//! `.env` gets back; and on a running stack, the read that needs the lost secret says to
//! restore it, not to generate it.

use crate::native::{Ports, Stack, cli, destroyed_with_volumes, manifest};

/// `args` on `stack`, which must succeed.
fn ok(stack: &Stack, args: &[&str]) {
    let r = cli(stack, args);
    assert_eq!(r.code, 0, "{}", r.all());
}

/// The native stack of `make(ports)` on free ports, applied. Returns it and its manifest.
fn applied(make: impl FnOnce(Ports) -> String) -> (Stack, String) {
    let (ports, held) = Ports::free();
    let text = make(ports);
    let stack = Stack::new(&text);
    held.release();
    ok(&stack, &["apply", "--target", "native", "--auto-approve"]);
    (stack, text)
}

/// The stack's `.env`, lost, with a copy kept aside (mode 0600 with it), as a user would keep
/// one.
struct EnvAside {
    _dir: tempfile::TempDir,
    kept: std::path::PathBuf,
    env: std::path::PathBuf,
}

impl EnvAside {
    fn take(stack: &Stack) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let kept = dir.path().join(".env");
        let env = stack.project.path().join("generated/native-it/.env");
        std::fs::copy(&env, &kept).expect("copy .env");
        let aside = Self {
            _dir: dir,
            kept,
            env,
        };
        aside.remove();
        aside
    }

    fn remove(&self) {
        std::fs::remove_file(&self.env).expect("remove .env");
    }

    fn restore(&self) {
        std::fs::copy(&self.kept, &self.env).expect("restore .env");
    }
}

#[test]
fn a_lost_env_with_the_data_kept_is_refused_not_regenerated() {
    let (stack, _) = applied(|ports| manifest(ports, "m"));
    let run = |args: &[&str]| cli(&stack, args);
    // apply fails as `plan` did, with nothing on stdout (no plan shown, no question).
    let apply_refuses_as = |plan: &crate::common::Run| {
        let apply = run(&["apply", "--target", "native", "--auto-approve"]);
        assert_eq!(
            (apply.code, apply.stdout.as_str()),
            (1, ""),
            "{}",
            apply.all()
        );
        assert_eq!(apply.stderr, plan.stderr);
    };
    ok(&stack, &["destroy", "--target", "native", "--auto-approve"]);

    // The `.env` is lost; the data directories are kept.
    let env = EnvAside::take(&stack);
    let before = stack.project.snapshot_tree();
    let refused = promo_snapshot!(run(&["plan", "--target", "native"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x secrets file `[TEMP]/generated/native-it/.env`: INFLUXDB_ADMIN_PASSWORD, GRAFANA_ADMIN_PASSWORD, GRAFANA_SECRET_KEY are missing, but stack `native-it` on target native still has the data made with them (service.grafana's data directory data/native-it/grafana, service.influxdb's data directory data/native-it/influxdb): a new value would not open it, so none is generated
      help: restore generated/native-it/.env as it was when the stack was applied (a copy, another checkout or machine, a password manager), then run the command again; if that data belongs to another checkout of stack `native-it` on this machine, give this one another `stack:` name instead; to start over without that data, `promo-infra -f stacks/native-it.yaml destroy --volumes --target native` deletes it, then `promo-infra -f stacks/native-it.yaml apply --target native` makes a new stack; nothing was changed
    ");
    // apply refuses the same way, before its question and before `.env` is completed.
    apply_refuses_as(&refused);
    assert!(
        stack.project.snapshot_tree() == before,
        "a refused plan or apply writes nothing (no new .env)"
    );

    // The advice works: with `.env` restored, apply finds the data as it was.
    env.restore();
    let again = run(&["apply", "--target", "native", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.all());
    assert!(
        again
            .stdout
            .contains("✓ database.k6: unchanged (checked once its service ran)"),
        "{}",
        again.all()
    );

    // Lost while the stack runs: the read that needs it says to restore it, for apply as for
    // plan (before the fix, apply read with the values it was about to generate, and Grafana's
    // and InfluxDB's refusal of them was all it said), and nothing is written.
    env.remove();
    let before = stack.project.snapshot_tree();
    let running = promo_snapshot!(run(&["plan", "--target", "native"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x secret INFLUXDB_ADMIN_PASSWORD is not set
      help: InfluxDB keeps the admin password (and InfluxDB 2 the operator token) it was set up with: restore the line in .env as it was (a copy, another checkout, a password manager); only an InfluxDB without data yet takes a new one (`promo-infra -f stacks/native-it.yaml generate` creates it)
    ");
    apply_refuses_as(&running);
    assert!(stack.project.snapshot_tree() == before, "no new .env");
    env.restore();
    destroyed_with_volumes(&stack);
}

/// Grafana's data directory is looked at itself: a stack whose Grafana holds nothing a plan
/// checks (no dashboard, so no folder) still has the admin password and secret key in its
/// database. Before, only a service holding a checked resource counted, and apply generated
/// new Grafana secrets over it.
#[test]
fn a_grafana_holding_no_dashboard_still_counts() {
    let (stack, text) = applied(|ports| {
        manifest(ports, "m").replace("  home_dashboard: m\n", "").replace(
            "dashboards:\n  - uid: m\n    template: marketing\n  - uid: t\n    template: k6-technical\n",
            "dashboards: []\n",
        )
    });
    assert!(text.contains("dashboards: []"), "{text}");
    let run = |args: &[&str]| cli(&stack, args);
    ok(&stack, &["destroy", "--target", "native", "--auto-approve"]);
    let env = EnvAside::take(&stack);
    let before = stack.project.snapshot_tree();
    promo_snapshot!(run(&["plan", "--target", "native"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x secrets file `[TEMP]/generated/native-it/.env`: INFLUXDB_ADMIN_PASSWORD, GRAFANA_ADMIN_PASSWORD, GRAFANA_SECRET_KEY are missing, but stack `native-it` on target native still has the data made with them (service.grafana's data directory data/native-it/grafana, service.influxdb's data directory data/native-it/influxdb): a new value would not open it, so none is generated
      help: restore generated/native-it/.env as it was when the stack was applied (a copy, another checkout or machine, a password manager), then run the command again; if that data belongs to another checkout of stack `native-it` on this machine, give this one another `stack:` name instead; to start over without that data, `promo-infra -f stacks/native-it.yaml destroy --volumes --target native` deletes it, then `promo-infra -f stacks/native-it.yaml apply --target native` makes a new stack; nothing was changed
    ");
    assert!(stack.project.snapshot_tree() == before, "nothing written");
    env.restore();
    destroyed_with_volumes(&stack);
}

/// `influxdb.version` switched from 1 to 2 on kept data: `.env` never had an operator token,
/// so "restore .env" (what the refusal said while the stack was stopped) cannot help, nor
/// "check INFLUXDB_ADMIN_TOKEN" (what the 1.x server's 404 gave while it ran). Both now say
/// what it is.
#[test]
fn a_switch_to_influxdb_2_on_1x_data_is_named_as_such() {
    let (stack, text) = applied(|ports| manifest(ports, "m"));
    let run = |args: &[&str]| cli(&stack, args);
    let v2 = text.replace(
        "  version: 1\n  image: influxdb:1.8\n",
        "  version: 2\n  image: influxdb:2.7\n",
    );
    assert_ne!(v2, text);
    // Running: InfluxDB 1.x answers the 2.x read.
    stack.project.write("stacks/native-it.yaml", &v2);
    let before = stack.project.project_files();
    promo_snapshot!(run(&["plan", "--target", "native"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x InfluxDB at http://127.0.0.1:[PORT]/api/v2/setup answered HTTP 404: it is not InfluxDB 2, which `influxdb.version: 2` says (an InfluxDB 1.x answers so)
      help: if the stack's InfluxDB data was made by InfluxDB 1.x, keep `influxdb.version: 1` (promo-infra does not migrate 1.x data to 2); else check what listens on that port (`promo-infra -f stacks/native-it.yaml status --target native`)
    ");
    assert!(stack.project.project_files() == before, "nothing written");
    // Stopped, its data kept.
    stack.project.write("stacks/native-it.yaml", &text);
    ok(&stack, &["destroy", "--target", "native", "--auto-approve"]);
    stack.project.write("stacks/native-it.yaml", &v2);
    let before = stack.project.project_files();
    promo_snapshot!(run(&["plan", "--target", "native"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x secrets file `[TEMP]/generated/native-it/.env`: stack `native-it` on target native says `influxdb.version: 2`, but its InfluxDB data (service.influxdb's data directory data/native-it/influxdb) was made by InfluxDB 1.x (.env has the 1.x users' passwords and no operator token): InfluxDB 2 does not open 1.x data, and promo-infra does not migrate it
      help: keep `influxdb.version: 1` for this data; or, to start InfluxDB 2 empty: with `influxdb.version: 1` still in the manifest, `promo-infra -f stacks/native-it.yaml backup run --target native` if you need the 1.x data (it restores into InfluxDB 1.x only) and `promo-infra -f stacks/native-it.yaml destroy --volumes --target native`; then set `influxdb.version: 2` and `promo-infra -f stacks/native-it.yaml apply --target native`; nothing was changed
    ");
    assert!(stack.project.project_files() == before, "nothing written");
    stack.project.write("stacks/native-it.yaml", &text);
    destroyed_with_volumes(&stack);
}

/// `generate` alone, the command a re-cloned project (or README's table) starts with, made new
/// InfluxDB and Grafana admin secrets over the kept data; `plan` then saw a complete `.env` and
/// planned as usual, and `apply` started the services and failed on their refusal (found in
/// review). Now `generate` refuses as `plan` does, writing nothing, and the restored `.env`
/// gets back.
#[test]
fn generate_alone_makes_no_new_secret_over_kept_data() {
    let (stack, _) = applied(|ports| manifest(ports, "m"));
    ok(&stack, &["destroy", "--target", "native", "--auto-approve"]);
    let env = EnvAside::take(&stack);
    let before = stack.project.snapshot_tree();
    promo_snapshot!(cli(&stack, &["generate"]), @"
    success: false
    exit_code: 1
    ----- stdout -----

    ----- stderr -----
      x secrets file `[TEMP]/generated/native-it/.env`: INFLUXDB_ADMIN_PASSWORD, GRAFANA_ADMIN_PASSWORD, GRAFANA_SECRET_KEY are missing, but stack `native-it` on target native still has the data made with them (service.grafana's data directory data/native-it/grafana, service.influxdb's data directory data/native-it/influxdb): a new value would not open it, so none is generated
      help: restore generated/native-it/.env as it was when the stack was applied (a copy, another checkout or machine, a password manager), then run the command again; if that data belongs to another checkout of stack `native-it` on this machine, give this one another `stack:` name instead; to start over without that data, `promo-infra -f stacks/native-it.yaml destroy --volumes --target native` deletes it, then `promo-infra -f stacks/native-it.yaml apply --target native` makes a new stack; nothing was changed
    ");
    assert!(
        stack.project.snapshot_tree() == before,
        "a refused generate writes nothing (no new .env)"
    );
    env.restore();
    ok(&stack, &["generate"]);
    let again = cli(&stack, &["apply", "--target", "native", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.all());
    destroyed_with_volumes(&stack);
}

/// `.env` no longer holds the password InfluxDB accepts (edited by hand, restored from an
/// older copy): a plan needs InfluxDB's answer and fails, `destroy` must still stop the stack
/// and remove its data. It read the databases (as a plan does) and failed on the 401.
#[test]
fn a_stack_whose_env_influxdb_refuses_can_still_be_destroyed() {
    let (stack, _) = applied(|ports| manifest(ports, "m"));
    let env = stack.project.path().join("generated/native-it/.env");
    let text = std::fs::read_to_string(&env).expect(".env");
    let wrong: String = text
        .lines()
        .map(|l| match l.split_once('=') {
            Some(("INFLUXDB_ADMIN_PASSWORD", _)) => {
                "INFLUXDB_ADMIN_PASSWORD=0000000000000000ffffffffffffffff\n".to_string()
            }
            _ => format!("{l}\n"),
        })
        .collect();
    assert_ne!(wrong, text, "the password line was replaced");
    std::fs::write(&env, wrong).expect("write .env");
    let plan = cli(&stack, &["plan", "--target", "native"]);
    assert_eq!(
        plan.code,
        1,
        "a plan needs InfluxDB's answer: {}",
        plan.all()
    );
    destroyed_with_volumes(&stack);
    assert!(
        !stack
            .project
            .path()
            .join("data/native-it/influxdb")
            .exists(),
        "its data removed"
    );
}
