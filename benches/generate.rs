//! `just bench` (generate part): validate+generate of stacks/promo.yaml and of synthetic stacks
//! with 50/100/200 dashboards, timed as a user runs them (the release binary, a fresh process
//! each time), reported as min/median over repeated runs into BENCHMARKS.md.
// Benchmarks and tests report on stdout/stderr and read their environment (CI, DOCKER_HOST).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{release_binary, update_benchmarks};

const RUNS: usize = 30;

fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = release_binary(&repo);
    let mut rows = Vec::new();

    let work = tempfile::tempdir().expect("temp dir");
    let stacks = work.path().join("stacks");
    std::fs::create_dir_all(&stacks).expect("mkdir");
    std::fs::copy(repo.join("stacks/promo.yaml"), stacks.join("promo.yaml")).expect("copy");
    rows.push(measure(
        &bin,
        work.path(),
        "stacks/promo.yaml",
        "stacks/promo.yaml (2 dashboards)",
        2,
    ));

    for n in [50, 100, 200] {
        let name = format!("synthetic-{n}.yaml");
        std::fs::write(stacks.join(&name), synthetic(n)).expect("write");
        rows.push(measure(
            &bin,
            work.path(),
            &format!("stacks/{name}"),
            &format!("synthetic stack, {n} dashboards"),
            n,
        ));
    }

    let per_dashboard: Vec<f64> = rows
        .windows(2)
        .skip(1)
        .map(|w| {
            (ms(w[1].generate_median) - ms(w[0].generate_median))
                / (w[1].dashboards - w[0].dashboards) as f64
        })
        .collect();
    let mut table = String::from(
        "| stack | validate min | validate median | validate+generate min | validate+generate median |\n|---|---|---|---|---|\n",
    );
    for r in &rows {
        table.push_str(&format!(
            "| {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |\n",
            r.label,
            ms(r.validate_min),
            ms(r.validate_median),
            ms(r.generate_min),
            ms(r.generate_median)
        ));
    }
    table.push_str(&format!(
        "\nMarginal cost per dashboard between 50→100 and 100→200 dashboards: {} ms (linear growth keeps these equal).\n\
         Each figure is over {RUNS} runs of the release binary in a fresh process (`generate` rewrites nothing after the first run, \
         so the median measures validate + compile + compare, which is what a user's re-run costs; rendered dashboards \
         come from the render cache, `.promo-infra/cache/dashboards/`). Target: at most 5 ms for the default stack ({}: {:.1} ms).\n",
        per_dashboard.iter().map(|v| format!("{v:.3}")).collect::<Vec<_>>().join(" and "),
        if rows[0].generate_median <= Duration::from_millis(5) { "met" } else { "NOT met" },
        ms(rows[0].generate_median),
    ));
    println!("{table}");
    update_benchmarks(&repo.join("BENCHMARKS.md"), "generate", &table);
}

struct Row {
    label: String,
    dashboards: usize,
    validate_min: Duration,
    validate_median: Duration,
    generate_min: Duration,
    generate_median: Duration,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn measure(bin: &Path, dir: &Path, manifest: &str, label: &str, dashboards: usize) -> Row {
    let time = |args: &[&str]| {
        let mut samples = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let start = Instant::now();
            let status = Command::new(bin)
                .current_dir(dir)
                .args(args)
                .output()
                .expect("run");
            samples.push(start.elapsed());
            assert!(
                status.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&status.stderr)
            );
        }
        samples.sort();
        (samples[0], samples[RUNS / 2])
    };
    let (validate_min, validate_median) = time(&["-f", manifest, "validate"]);
    let (generate_min, generate_median) = time(&["-f", manifest, "generate"]);
    Row {
        label: label.to_string(),
        dashboards,
        validate_min,
        validate_median,
        generate_min,
        generate_median,
    }
}

fn synthetic(n: usize) -> String {
    let mut s = format!(
        "stack: synthetic-{n}\nenvironment: preprod\ninfluxdb:\n  version: 1\n  image: influxdb:1.8\n  bucket: k6\n\
         grafana:\n  image: grafana/grafana:10.2.3\ndashboards:\n"
    );
    for i in 0..n {
        let template = if i % 2 == 0 {
            "marketing"
        } else {
            "k6-technical"
        };
        s.push_str(&format!(
            "  - uid: dash-{i}\n    template: {template}\n    locale: {}\n",
            if i % 3 == 0 { "en" } else { "fr" }
        ));
    }
    s
}
