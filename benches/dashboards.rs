//! `just bench` (dashboards part, issue 14): `dashboards diff` and `dashboards push` of a stack
//! with 100 dashboards against the Grafana API double, whose every request waits a fixed latency
//! (a network round trip), concurrently (`--concurrency 8`, the default) and one at a time
//! (`--concurrency 1`). Scenarios, on a fresh double each run: diff before anything is pushed,
//! cold push, re-push (nothing changed), diff after the push (must be empty).
//!
//! "Rounds" are the sequential latency rounds a command costs: the growth of the double's busy
//! span (first request in to last answer out) when every request waits the latency, over the
//! same command with no latency (what promo-infra and the double compute in between is not a
//! round trip), divided by the latency; "requests" the double's request count.
//! The bound of issue 14 is 3 × ⌈100 / concurrency⌉ rounds for a push. Written into
//! BENCHMARKS.md (`bench:dashboards`). Runs the promo-infra binary of the bench's own profile
//! (`cargo bench`: release; `cargo test --bench dashboards`: debug).
// Benchmarks and tests report on stdout/stderr and read their environment (CI, DOCKER_HOST).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use promo_doubles::grafana::{GrafanaConfig, GrafanaHandle, SpawnOptions, spawn_with};
use support::{Cost, median, update_benchmarks, with_dashboards};

/// Dashboards in the stack.
const N: usize = 100;
/// The double's latency per request.
const LATENCY: Duration = Duration::from_millis(50);
/// Runs per concurrency (each on a fresh double); medians are reported.
const RUNS: usize = 3;
/// Concurrent (the default of `--concurrency`), then one at a time.
const CONCURRENCY: [usize; 2] = [8, 1];
const SCENARIOS: [&str; 4] = [
    "diff, nothing pushed",
    "push, cold",
    "push again, unchanged",
    "diff after push (empty)",
];

/// A command's cost with the latency and without.
#[derive(Clone, Copy)]
struct Pair {
    slow: Cost,
    fast: Cost,
}

impl Pair {
    fn rounds(&self) -> f64 {
        (self.slow.busy.as_secs_f64() - self.fast.busy.as_secs_f64()).max(0.0)
            / LATENCY.as_secs_f64()
    }
}

fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_promo-infra"));
    let work = tempfile::tempdir().expect("temp dir");
    let dir = work.path();
    std::fs::create_dir_all(dir.join("stacks")).expect("mkdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let base = std::fs::read_to_string(repo.join("stacks/promo.yaml")).expect("promo.yaml");
    std::fs::write(dir.join("stacks/bench.yaml"), manifest(&base, port, N)).expect("write");
    run(&bin, dir, &["generate"], 0);
    let password = std::fs::read_to_string(dir.join("generated/promo/.env"))
        .expect(".env")
        .lines()
        .find_map(|l| l.strip_prefix("GRAFANA_ADMIN_PASSWORD=").map(String::from))
        .expect("password");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // costs[latency index][concurrency index][scenario] = samples
    let mut costs = vec![vec![vec![Vec::new(); SCENARIOS.len()]; CONCURRENCY.len()]; 2];
    for (li, latency) in [(0, LATENCY), (1, Duration::ZERO)]
        .into_iter()
        .cycle()
        .take(2 * RUNS)
    {
        for (ci, c) in CONCURRENCY.iter().enumerate() {
            let double = rt
                .block_on(spawn_with(
                    GrafanaConfig {
                        admin_password: password.clone(),
                        ..GrafanaConfig::default()
                    },
                    SpawnOptions {
                        addr: format!("127.0.0.1:{port}").parse().expect("addr"),
                        ..SpawnOptions::default()
                    },
                ))
                .expect("grafana double");
            double.state().pace().set_latency(latency);
            let _ = std::fs::remove_file(dir.join("generated/promo/.pushed-dashboards.json"));
            let c = c.to_string();
            let steps: [(&[&str], i32); 4] = [
                (&["dashboards", "diff", "--detailed-exitcode"], 2),
                (&["dashboards", "push"], 0),
                (&["dashboards", "push"], 0),
                (&["dashboards", "diff", "--detailed-exitcode"], 0),
            ];
            for (si, (args, code)) in steps.iter().enumerate() {
                let mut args = args.to_vec();
                args.extend(["--concurrency", c.as_str()]);
                costs[li][ci][si].push(measure(&bin, dir, &double, &args, *code));
            }
            rt.block_on(double.shutdown());
        }
    }

    let mut medians = costs.into_iter().map(|per_c| {
        per_c
            .into_iter()
            .map(|per_s| per_s.into_iter().map(median).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    });
    let (slow, fast) = (medians.next().expect("slow"), medians.next().expect("fast"));
    let medians: Vec<Vec<Pair>> = slow
        .into_iter()
        .zip(fast)
        .map(|(s, f)| {
            s.into_iter()
                .zip(f)
                .map(|(slow, fast)| Pair { slow, fast })
                .collect()
        })
        .collect();
    let report = report(&medians);
    println!("{report}");
    update_benchmarks(&repo.join("BENCHMARKS.md"), "dashboards", &report);
}

/// Run `promo-infra -f stacks/bench.yaml ARGS` in `dir`, expecting exit `code`.
fn run(bin: &Path, dir: &Path, args: &[&str], code: i32) -> Duration {
    let start = Instant::now();
    let out = Command::new(bin)
        .current_dir(dir)
        .args(["-f", "stacks/bench.yaml"])
        .args(args)
        .output()
        .expect("run promo-infra");
    let wall = start.elapsed();
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    wall
}

fn measure(bin: &Path, dir: &Path, double: &GrafanaHandle, args: &[&str], code: i32) -> Cost {
    double.state().pace().reset();
    let wall = run(bin, dir, args, code);
    let stats = double.state().pace().stats();
    Cost {
        wall,
        busy: Duration::from_millis(stats.busy_ms),
        requests: stats.requests,
        max_in_flight: stats.max_in_flight,
    }
}

fn report(m: &[Vec<Pair>]) -> String {
    let profile = if cfg!(debug_assertions) {
        "debug build (`cargo test --bench dashboards`; a release build computes far less between requests)"
    } else {
        "release build (`cargo bench --bench dashboards`)"
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut s = format!(
        "Stack of {N} dashboards (built-in templates, alternating `marketing` / `k6-technical`) against the Grafana API double (in process, on 127.0.0.1) with {} ms latency per request; promo-infra's {profile}, a fresh process per command, median of {RUNS} runs, each on a fresh double. \
         *Busy* = the double's span from the first request in to the last answer out; *rounds* = (busy with the latency − busy of the same command without it) / latency: the sequential round trips a command costs, without the time promo-infra and the double compute. \
         *Wall* = the whole command with the latency: process start, compiling the stack, requests and diffs.\n\n\
         | scenario | concurrency | wall | requests | max in flight | busy (no latency) | rounds | bound 3 × ⌈{N}/c⌉ | one-at-a-time / concurrent: rounds, wall |\n|---|---|---|---|---|---|---|---|---|\n",
        LATENCY.as_millis()
    );
    for (si, scenario) in SCENARIOS.iter().enumerate() {
        for (ci, c) in CONCURRENCY.iter().enumerate() {
            let p = m[ci][si];
            let bound = 3 * N.div_ceil(*c);
            let met = if p.rounds() <= bound as f64 {
                "met"
            } else {
                "NOT met"
            };
            let ratio = if ci == 0 {
                let one = m[1][si];
                format!(
                    "{:.1}×, {:.1}×",
                    one.rounds() / p.rounds().max(f64::EPSILON),
                    one.slow.wall.as_secs_f64() / p.slow.wall.as_secs_f64()
                )
            } else {
                "—".to_string()
            };
            s.push_str(&format!(
                "| {scenario} | {c} | {:.0} ms | {} | {} | {:.0} ms ({:.0} ms) | {:.1} | {bound} ({met}) | {ratio} |\n",
                ms(p.slow.wall),
                p.slow.requests,
                p.slow.max_in_flight,
                ms(p.slow.busy),
                ms(p.fast.busy),
                p.rounds(),
            ));
        }
    }
    let push = m[0][1];
    let bound = 3 * N.div_ceil(CONCURRENCY[0]);
    s.push_str(&format!(
        "\nIssue 14's target, push cost ≤ 3 × ⌈{N} / {}⌉ = {bound} rounds: {} ({:.1} rounds; {} requests: the folder's GET and POST, then one GET and one POST per dashboard, at most {} in flight). \
         One at a time, the same push takes {:.1} rounds. With c requests in flight, N requests that do not wait for each other need ⌈N/c⌉ rounds; \
         fewer rounds than that mean promo-infra's or the double's computing overlapped the waits (it is counted in neither column).\n",
        CONCURRENCY[0],
        if push.rounds() <= bound as f64 {
            "met"
        } else {
            "NOT met"
        },
        push.rounds(),
        push.slow.requests,
        CONCURRENCY[0],
        m[1][1].rounds(),
    ));
    s
}

/// `stacks/promo.yaml` with Grafana on `port` and `n` dashboards, each with its own title
/// (Grafana refuses two of one title in a folder).
fn manifest(base: &str, port: u16, n: usize) -> String {
    with_dashboards(base, n).replacen("  port: 3000", &format!("  port: {port}"), 1)
}
