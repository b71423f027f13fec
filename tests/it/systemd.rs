//! Every generated systemd unit (services of the native target, backup service and timer) passes
//! `systemd-analyze verify`. Binaries that production hosts have but this machine does not
//! (Grafana) are pointed at stand-ins that exist here; nothing else is changed.

use std::path::PathBuf;
use std::process::Command;

use crate::common::repo;

#[test]
fn generated_units_pass_systemd_analyze_verify() {
    let grafana_standin = crate::native::grafana_double();
    let promo_infra = PathBuf::from(env!("CARGO_BIN_EXE_promo-infra"));
    let mut checked = 0;
    for stack in ["promo", "promo-v1"] {
        let dir = repo().join("generated").join(stack).join("systemd");
        let work = tempfile::tempdir().expect("dir");
        let mut units = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("systemd dir") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path)
                .expect("unit")
                .replace(
                    "/usr/local/bin/promo-infra",
                    &promo_infra.display().to_string(),
                )
                .replace(
                    "/usr/share/grafana/bin/grafana",
                    &grafana_standin.display().to_string(),
                );
            let out = work.path().join(path.file_name().expect("name"));
            std::fs::write(&out, text).expect("write");
            units.push(out);
        }
        units.sort();
        assert!(
            units.len() >= 5,
            "{stack}: services + backup service + timer"
        );
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .args(&units)
            .current_dir(work.path())
            .output()
            .expect("systemd-analyze must be installed (apt-get install systemd; scripts/setup.sh does it)");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stack}: {stderr}");
        assert!(
            stderr.trim().is_empty(),
            "{stack}: systemd-analyze verify complained:\n{stderr}"
        );
        for unit in &units {
            let text = std::fs::read_to_string(unit).expect("unit");
            if unit.extension().is_some_and(|e| e == "timer") {
                assert!(text.contains("Persistent=true"), "{}", unit.display());
            }
            assert!(
                !text.contains("PASSWORD="),
                "no secret value in {}",
                unit.display()
            );
        }
        checked += units.len();
    }
    assert!(checked >= 10);
}

/// systemd's unescaping of one command line, for our output: `%%` → `%`, `$$` → `$`, then
/// words with double quotes and C escapes (as POSIX shell double quotes for what we emit).
fn systemd_argv(line: &str) -> Vec<String> {
    shlex::split(&line.replace("%%", "%").replace("$$", "$")).expect("one command line")
}

/// Awkward but valid paths (a space, a `%`) in every path field that reaches a unit or the
/// cron line: `systemd-analyze verify` accepts the units (it resolves specifiers and checks the
/// executables exist, so a split or mangled path fails it), and the command lines parse back to
/// exactly the intended argv. The old code refused these paths or wrote them unquoted.
#[test]
fn awkward_but_valid_paths_give_exactly_the_intended_exec_start() {
    let root = tempfile::tempdir().expect("dir");
    let odd = root.path().join("promo infra 100%");
    let home = odd.join("grafana home");
    std::fs::create_dir_all(odd.join("bin")).expect("mkdir");
    std::fs::create_dir_all(home.join("bin")).expect("mkdir");
    let bin = odd.join("bin/promo-infra");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_promo-infra"), &bin).expect("link");
    std::os::unix::fs::symlink(crate::native::grafana_double(), home.join("bin/grafana"))
        .expect("link");
    let (odd_s, home_s, bin_s) = (
        odd.display().to_string(),
        home.display().to_string(),
        bin.display().to_string(),
    );
    let text = crate::common::BASE.replacen(
        "  keep: { last: 3, daily: 7 }\n",
        &format!(
            "  keep: {{ last: 3, daily: 7 }}\n  binary: \"{bin_s}\"\n  project_dir: \"{odd_s}\"\n"
        ),
        1,
    ) + &format!(
        "targets:\n  native:\n    project_dir: \"{odd_s}\"\n    grafana_homepath: \"{home_s}\"\n"
    );
    let p = crate::common::TestContext::new();
    p.write("stacks/shop.yaml", &text);
    let run = p.run(&["generate"]);
    assert_eq!(run.code, 0, "{}", run.all());

    let dir = p.path().join("generated/shop/systemd");
    let mut units: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("systemd dir")
        .map(|e| e.expect("entry").path())
        .collect();
    units.sort();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .current_dir(&dir)
        .output()
        .expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");

    let exec_start = |unit: &str| {
        let text = p.read(&format!("generated/shop/systemd/{unit}"));
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .expect("ExecStart")
            .to_string();
        let wd = text
            .lines()
            .find_map(|l| l.strip_prefix("WorkingDirectory="))
            .expect("WorkingDirectory")
            .replace("%%", "%");
        (systemd_argv(&line), wd)
    };
    let script = format!(
        "'{bin_s}' backup run --target native -f stacks/shop.yaml && '{bin_s}' backup rotate --target native -f stacks/shop.yaml"
    );
    let (argv, wd) = exec_start("promo-infra-shop-backup.service");
    assert_eq!(wd, odd_s);
    assert_eq!(
        argv,
        [
            "/usr/bin/flock",
            "-n",
            "-E",
            "75",
            "/run/lock/promo-infra-shop-backup.lock",
            "/bin/sh",
            "-c",
            &script,
        ]
    );
    let inner = shlex::split(&script).expect("script");
    assert_eq!(
        inner,
        [
            bin_s.as_str(),
            "backup",
            "run",
            "--target",
            "native",
            "-f",
            "stacks/shop.yaml",
            "&&",
            &bin_s,
            "backup",
            "rotate",
            "--target",
            "native",
            "-f",
            "stacks/shop.yaml"
        ]
    );
    let (argv, wd) = exec_start("promo-infra-shop-grafana.service");
    assert_eq!(wd, odd_s);
    assert_eq!(
        argv,
        [
            format!("{home_s}/bin/grafana").as_str(),
            "server",
            "--config",
            "generated/shop/native/grafana.ini",
            "--homepath",
            &home_s,
        ]
    );
    let (argv, _) = exec_start("promo-infra-shop-control-api.service");
    assert_eq!(argv[0], bin_s);

    // The cron line: `\%` is cron's escape, the rest is one /bin/sh command line.
    let cron = p.read("generated/shop/cron/promo-infra-shop-backup");
    let job = cron.lines().last().expect("job line");
    let command = job
        .strip_prefix("0 3 * * * root ")
        .expect("schedule and user");
    assert!(!command.replace("\\%", "").contains('%'), "{command}");
    let words = shlex::split(&command.replace("\\%", "%")).expect("sh words");
    assert_eq!(words[..3], ["cd", odd_s.as_str(), "&&"]);
    assert_eq!(words[3..10], argv_prefix());
    // The cron file backs up the docker target, the systemd unit the native one.
    assert_eq!(
        words[10],
        script.replace("--target native", "--target docker")
    );
    assert_eq!(words.len(), 11);
}

fn argv_prefix() -> [&'static str; 7] {
    [
        "/usr/bin/flock",
        "-n",
        "-E",
        "75",
        "/run/lock/promo-infra-shop-backup.lock",
        "/bin/sh",
        "-c",
    ]
}

/// The `UnsetEnvironment=` names of a unit.
fn unset_in(unit: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix("UnsetEnvironment="))
        .flat_map(|l| l.split(' ').map(str::to_string))
        .collect()
}

/// Every unit loads the stack's whole `.env` (`EnvironmentFile=`), then unsets the secrets its
/// service does not read, so each gets only its own (before: influxd and Grafana received
/// `CONTROL_API_TOKEN`, the control API `GRAFANA_SECRET_KEY`, and so on): the same secrets as
/// the native target gives the process it starts (its declared environment).
#[test]
fn each_unit_gets_only_the_secrets_its_service_reads() {
    let text = crate::common::BASE.to_string();
    let p = crate::common::TestContext::new();
    p.write("stacks/shop.yaml", &text);
    let run = p.run(&["generate"]);
    assert_eq!(run.code, 0, "{}", run.all());
    let env = std::fs::read_to_string(p.path().join("generated/shop/.env")).expect(".env");
    // What `.env` holds once apply has minted InfluxDB's tokens, and the Slack webhook set.
    let mut in_env: Vec<&str> = env
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split('=').next())
        .collect();
    assert!(in_env.len() >= 5, "{env}");
    in_env.extend([
        "INFLUXDB_GRAFANA_TOKEN",
        "INFLUXDB_K6_TOKEN",
        "SLACK_WEBHOOK_URL",
    ]);
    let unit = |service: &str| {
        std::fs::read_to_string(p.path().join(format!(
            "generated/shop/systemd/promo-infra-shop-{service}.service"
        )))
        .expect("unit")
    };
    let reads = |service: &str| -> Vec<&str> {
        let unset = unset_in(&unit(service));
        in_env
            .iter()
            .copied()
            .filter(|k| !unset.iter().any(|u| u == k))
            .collect()
    };
    assert_eq!(
        reads("influxdb"),
        Vec::<&str>::new(),
        "{}",
        unit("influxdb")
    );
    let mut grafana = reads("grafana");
    grafana.sort_unstable();
    assert_eq!(
        grafana,
        [
            "GRAFANA_ADMIN_PASSWORD",
            "GRAFANA_SECRET_KEY",
            "INFLUXDB_GRAFANA_TOKEN",
            "SLACK_WEBHOOK_URL"
        ],
        "{}",
        unit("grafana")
    );
    let mut api = reads("control-api");
    api.sort_unstable();
    assert_eq!(
        api,
        [
            "CONTROL_API_STOP_PASSWORD",
            "CONTROL_API_TOKEN",
            "GRAFANA_ADMIN_PASSWORD"
        ],
        "{}",
        unit("control-api")
    );
    // A rotation's pending value reaches no unit.
    for service in ["influxdb", "grafana"] {
        assert!(
            unset_in(&unit(service))
                .iter()
                .any(|u| u == "PROMO_INFRA_ROTATING_GRAFANA_ADMIN_PASSWORD"),
            "{}",
            unit(service)
        );
    }
}

/// No line of a generated unit ends in whitespace (before: `Wants=network-online.target ` and
/// `After=network-online.target ` in every unit without a dependency).
#[test]
fn unit_lines_have_no_trailing_whitespace() {
    for stack in ["promo", "promo-v1"] {
        let dir = repo().join("generated").join(stack).join("systemd");
        for entry in std::fs::read_dir(&dir).expect("systemd dir") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("unit");
            for (n, line) in text.lines().enumerate() {
                assert_eq!(
                    line,
                    line.trim_end(),
                    "{}:{}: trailing whitespace",
                    path.display(),
                    n + 1
                );
            }
        }
    }
}
