//! `just bench` (docker part): promo-infra's docker target side by side with Debian's
//! `docker-compose up -d` (1.29), in one run, on the same stack (tests/fixtures/stacks/local.yaml,
//! project `bench`), the same local images (scripts/images.sh) and the same generated compose
//! file: cold start to all-healthy, a no-op re-run, a no-op `plan`, `generate`, and a
//! one-service change (Grafana's plugins), each with its target and whether it is met. "All
//! healthy" is measured the same way for both tools: every service answers its health URL on its
//! published port. Results go into BENCHMARKS.md. Needs a running Docker engine and
//! docker-compose.
// Benchmarks and tests report on stdout/stderr and read their environment (CI, DOCKER_HOST).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod support;

const STACK: &str = "bench";
const COLD_RUNS: usize = 3;
const NOOP_RUNS: usize = 15;
/// The health URLs of tests/fixtures/stacks/local.yaml's services on their published ports:
/// InfluxDB, Grafana, the control API (when enabled).
const HEALTH: [(u16, &str); 3] = [(38086, "/ping"), (33000, "/api/health"), (35000, "/health")];

fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = support::release_binary(&repo);
    let load_before = load_average();
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
        answering(services);
        pi_cold.push(t.elapsed());
        set_grafana(without, with);
        let t = Instant::now();
        pi(&["apply", "--auto-approve"]);
        answering(services);
        pi_change.push(t.elapsed());
        set_grafana(with, without);
        pi(&["apply", "--auto-approve"]);
        pi(&["destroy", "--volumes", "--auto-approve"]);
    }
    pi(&["apply", "--auto-approve"]);
    // A no-op plan also needs Docker's own health to agree (it catches up within 250 ms).
    wait_healthy(services);
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
        answering(services);
        dc_cold.push(t.elapsed());
        set_grafana(without, with);
        pi(&["generate"]);
        let t = Instant::now();
        compose(&["up", "-d"]);
        answering(services);
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

    // `generate` (nothing to rewrite: what a re-run costs) beside compose reading, validating
    // and interpolating the same compose file (`docker-compose config -q`).
    let pi_generate = repeat(NOOP_RUNS, || {
        pi(&["generate"]);
    });
    let dc_config = repeat(NOOP_RUNS, || {
        compose(&["config", "-q"]);
    });

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
         \"All healthy\" = every service answers its health URL on its published port, measured the same way \
         for both tools (promo-infra probes those URLs itself; compose waits for Docker's 5 s health checks \
         before starting a dependent). Load average (1, 5, 15 min) of the machine at the start and \
         the end of the run: {load_before} / {}.\n\n\
         | scenario | promo-infra | docker-compose | compose / promo-infra |\n|---|---|---|---|\n",
        if control {
            ""
        } else {
            ": control API disabled, its subcommand is not in this build"
        },
        compose_version(),
        load_average(),
    );
    table.push_str(&row(
        "cold start to all healthy (`apply --auto-approve` / `up -d`)",
        &pi_cold,
        &dc_cold,
    ));
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
        "`generate` (promo-infra) vs `config -q`",
        &pi_generate,
        &dc_config,
    ));
    table.push_str(&row(
        "one-service change (Grafana plugins) to healthy",
        &pi_change,
        &dc_change,
    ));
    let ratio = |a: &[Duration], b: &[Duration]| med(b).as_secs_f64() / med(a).as_secs_f64();
    table.push_str(&format!(
        "\nTargets (issue 13): cold start to all healthy at most 0.5× docker-compose's ({}: {:.2}×); \
         no-op `plan` at most 15 ms median ({}: {}) and at least 25× faster than a no-op `up -d` ({}: {:.1}×); \
         `generate` of the default stack at most 5 ms median ({}: {}).\n",
        verdict(med(&pi_cold).as_secs_f64() <= 0.5 * med(&dc_cold).as_secs_f64()),
        med(&pi_cold).as_secs_f64() / med(&dc_cold).as_secs_f64(),
        verdict(med(&pi_noop_plan) <= Duration::from_millis(15)),
        fmt(med(&pi_noop_plan)),
        verdict(ratio(&pi_noop_plan, &dc_noop) >= 25.0),
        ratio(&pi_noop_plan, &dc_noop),
        verdict(med(&pi_generate) <= Duration::from_millis(5)),
        fmt(med(&pi_generate)),
    ));
    println!("{table}");
    support::update_benchmarks(&repo.join("BENCHMARKS.md"), "docker", &table);
}

/// The machine's load average (1, 5 and 15 minutes), so a reader can weigh the timings.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_string(),
        |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(", "),
    )
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn fmt(d: Duration) -> String {
    if d < Duration::from_millis(100) {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else if d < Duration::from_secs(1) {
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

/// Wait (at most 3 minutes) until the first `n` services of [`HEALTH`] answer 2xx.
fn answering(n: usize) {
    let start = Instant::now();
    for (port, path) in &HEALTH[..n] {
        while !answers(*port, path) {
            assert!(
                start.elapsed() < Duration::from_secs(180),
                "127.0.0.1:{port}{path} not answering after 3 minutes"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// One HTTP/1.0 GET of `path` on 127.0.0.1:`port`: whether it answered 2xx.
fn answers(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && head[9] == b'2'
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
