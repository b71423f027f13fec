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
