//! `just bench` (docker part): promo-infra's docker target side by side with Debian's
//! `docker-compose up -d` (1.29), in one run, on the same stack (tests/fixtures/stacks/local.yaml,
//! project `bench`), the same local images (scripts/images.sh) and the same generated compose
//! file: cold start to all-healthy, a no-op re-run, and a one-service change (Grafana's
//! plugins). Results go into BENCHMARKS.md. Needs a running Docker engine and docker-compose.
// Benchmarks and tests report on stdout/stderr and read their environment (CI, DOCKER_HOST).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod support;

const STACK: &str = "bench";
const COLD_RUNS: usize = 3;
const NOOP_RUNS: usize = 15;

fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = support::release_binary(&repo);
    let images = Command::new("bash")
        .arg(repo.join("scripts/images.sh"))
        .status()
        .expect("scripts/images.sh");
    assert!(images.success(), "building the local images failed");
    let control = Command::new(&bin)
        .args(["control-api", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());

    let work = tempfile::tempdir().expect("temp dir");
    let project = work.path();
    let manifest = std::fs::read_to_string(repo.join("tests/fixtures/stacks/local.yaml"))
        .expect("local.yaml")
        .replace("stack: local", &format!("stack: {STACK}"));
    let manifest = if control {
        manifest
    } else {
        manifest.replace("  enabled: true", "  enabled: false")
    };
    std::fs::create_dir_all(project.join("stacks")).expect("mkdir");
    std::fs::write(project.join("stacks/promo.yaml"), &manifest).expect("write");
    let services = if control { 3 } else { 2 };
    let pi = |args: &[&str]| run(&bin, project, args);
    let dir = project.join("generated").join(STACK);
    let compose = |args: &[&str]| {
        let mut all = vec!["-p", STACK];
        all.extend_from_slice(args);
        run(Path::new("docker-compose"), &dir, &all)
    };
    // One-service change: Grafana's plugins (only Grafana's environment has them).
    let (without, with) = (
        "  admin_user: promo-admin\n",
        "  admin_user: promo-admin\n  plugins: [grafana-clock-panel]\n",
    );
    let set_grafana = |from: &str, to: &str| {
        let path = project.join("stacks/promo.yaml");
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, text.replace(from, to)).expect("write");
    };

    // Start clean.
    pi(&["destroy", "--volumes", "--auto-approve"]);
    pi(&["generate"]);
    compose(&["down", "-v"]);

    // promo-infra.
    let mut pi_cold = Vec::new();
    let mut pi_change = Vec::new();
    for _ in 0..COLD_RUNS {
        let t = Instant::now();
        pi(&["apply", "--auto-approve"]);
        wait_healthy(services);
        pi_cold.push(t.elapsed());
        set_grafana(without, with);
        let t = Instant::now();
        pi(&["apply", "--auto-approve"]);
        wait_healthy(services);
        pi_change.push(t.elapsed());
        set_grafana(with, without);
        pi(&["apply", "--auto-approve"]);
        pi(&["destroy", "--volumes", "--auto-approve"]);
    }
    pi(&["apply", "--auto-approve"]);
    let pi_noop_plan = repeat(NOOP_RUNS, || {
        pi(&["plan", "--detailed-exitcode"]);
    });
    let pi_noop_apply = repeat(NOOP_RUNS, || {
        pi(&["apply", "--auto-approve"]);
    });
    pi(&["destroy", "--volumes", "--auto-approve"]);

    // docker-compose on the compose file promo-infra generated for the same stack.
    pi(&["generate"]);
    let mut dc_cold = Vec::new();
    let mut dc_change = Vec::new();
    for _ in 0..COLD_RUNS {
        let t = Instant::now();
        compose(&["up", "-d"]);
        wait_healthy(services);
        dc_cold.push(t.elapsed());
        set_grafana(without, with);
        pi(&["generate"]);
        let t = Instant::now();
        compose(&["up", "-d"]);
        wait_healthy(services);
        dc_change.push(t.elapsed());
        set_grafana(with, without);
        pi(&["generate"]);
        compose(&["down", "-v"]);
    }
    compose(&["up", "-d"]);
    wait_healthy(services);
    let dc_noop = repeat(NOOP_RUNS, || {
        compose(&["up", "-d"]);
    });
    compose(&["down", "-v"]);

    let med = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        v[v.len() / 2]
    };
    let min = |v: &[Duration]| v.iter().min().copied().unwrap_or_default();
    let row = |what: &str, a: &[Duration], b: &[Duration]| {
        format!(
            "| {what} | {} (min {}) | {} (min {}) | {:.1}× |\n",
            fmt(med(a)),
            fmt(min(a)),
            fmt(med(b)),
            fmt(min(b)),
            med(b).as_secs_f64() / med(a).as_secs_f64()
        )
    };
    let mut table = format!(
        "Stack `tests/fixtures/stacks/local.yaml` ({services} services{}), same images, same host, one run; \
         medians over {COLD_RUNS} cold starts / changes and {NOOP_RUNS} no-op re-runs. \
         docker-compose is Debian's {}; promo-infra is the release binary. \
         \"All healthy\" = every container's health check passes (the health checks run every 5 s, which bounds both tools).\n\n\
         | scenario | promo-infra | docker-compose up -d | compose / promo-infra |\n|---|---|---|---|\n",
        if control {
            ""
        } else {
            ": control API disabled, its subcommand is not in this build"
        },
        compose_version(),
    );
    table.push_str(&row("cold start to all healthy", &pi_cold, &dc_cold));
    table.push_str(&row(
        "no-op re-run (`apply --auto-approve` / `up -d`)",
        &pi_noop_apply,
        &dc_noop,
    ));
    table.push_str(&row(
        "no-op `plan` (promo-infra) vs no-op `up -d`",
        &pi_noop_plan,
        &dc_noop,
    ));
    table.push_str(&row(
        "one-service change (Grafana plugins) to healthy",
        &pi_change,
        &dc_change,
    ));
    table.push_str(&format!(
        "\nTargets: no-op plan under 100 ms ({}), at least 10× faster than a no-op `docker-compose up -d` ({}); \
         cold start no slower than docker-compose ({}).\n",
        verdict(med(&pi_noop_plan) < Duration::from_millis(100)),
        verdict(med(&dc_noop).as_secs_f64() / med(&pi_noop_plan).as_secs_f64() >= 10.0),
        verdict(med(&pi_cold) <= med(&dc_cold)),
    ));
    println!("{table}");
    support::update_benchmarks(&repo.join("BENCHMARKS.md"), "docker", &table);
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn fmt(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.0} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

fn repeat(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

fn run(program: &Path, dir: &Path, args: &[&str]) {
    let out = Command::new(program)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{} {args:?}: {e}", program.display()));
    // `plan --detailed-exitcode` exits 0 here (nothing to do); anything else is a failure.
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Wait (at most 3 minutes) until `n` containers of the stack run and report healthy.
fn wait_healthy(n: usize) {
    let start = Instant::now();
    loop {
        let out = Command::new("docker")
            .args([
                "ps",
                "--filter",
                &format!("label=com.docker.compose.project={STACK}"),
                "--format",
                "{{.Status}}",
            ])
            .output()
            .expect("docker ps");
        let text = String::from_utf8_lossy(&out.stdout);
        let healthy = text.lines().filter(|l| l.contains("(healthy)")).count();
        if healthy == n && text.lines().count() == n {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "stack not healthy after 3 minutes:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn compose_version() -> String {
    Command::new("docker-compose")
        .arg("version")
        .arg("--short")
        .output()
        .map(|o| {
            format!(
                "docker-compose {}",
                String::from_utf8_lossy(&o.stdout).trim()
            )
        })
        .unwrap_or_else(|_| "docker-compose".into())
}
