//! `grafana-double`: the Grafana API double as a process, accepting Grafana's command line.
//!
//! ```text
//! grafana-double server --config /etc/grafana/grafana.ini --homepath /usr/share/grafana [cfg:...]
//! grafana server ...            (when invoked through a symlink named `grafana`)
//! grafana-server --config ...   (when invoked through a symlink named `grafana-server`)
//! ```
#![allow(clippy::disallowed_methods)] // tests read their environment (CI)

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use promo_doubles::common::{now_ms, process_env, rfc3339};
use promo_doubles::grafana::{self, SpawnOptions, config};

/// Grafana's `server` flags (only these are understood; `cfg:` arguments follow them).
#[derive(Parser, Debug)]
#[command(
    name = "grafana-double",
    version,
    about = "A test double of the Grafana HTTP API (not Grafana). Accepts `server --config FILE --homepath DIR [cfg:section.key=value...]`.\nDouble-only variables: GF_DOUBLE_SERVICE_ACCOUNT_TOKENS (comma-separated bearer tokens), GF_DOUBLE_VERSION, GF_DOUBLE_LATENCY_MS (delay before every API request)."
)]
struct ServerArgs {
    /// Path to the config file (grafana.ini).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Path to Grafana's install directory (conf/defaults.ini, conf/provisioning are looked up there).
    #[arg(long)]
    homepath: Option<PathBuf>,
    /// Write the process id to this file.
    #[arg(long)]
    pidfile: Option<PathBuf>,
    /// Accepted and ignored (the docker image passes it).
    #[arg(long)]
    packaging: Option<String>,
    /// `cfg:default.section.key=value` (defaults) and `cfg:section.key=value` (overrides).
    #[arg(value_name = "CFG")]
    cfg: Vec<String>,
}

fn log(level: &str, logger: &str, msg: &str, extra: &str) {
    eprintln!(
        "logger={logger} t={} level={level} msg=\"{msg}\"{}{extra}",
        rfc3339(now_ms()),
        if extra.is_empty() { "" } else { " " }
    );
}

async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "terminated",
                _ = tokio::signal::ctrl_c() => "interrupt",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "interrupt"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupt"
    }
}

/// `GF_DOUBLE_LATENCY_MS`: a delay before every API request (benchmarks; see `/__double/stats`).
fn pace_from_env(state: &grafana::GrafanaState) -> Result<(), String> {
    let Some(raw) = process_env("GF_DOUBLE_LATENCY_MS").filter(|v| !v.trim().is_empty()) else {
        return Ok(());
    };
    let ms: u64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("GF_DOUBLE_LATENCY_MS={raw}: expected milliseconds (e.g. 20)"))?;
    state
        .pace()
        .set_latency(std::time::Duration::from_millis(ms));
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = ServerArgs::parse_from(config::normalize_args(std::env::args().collect()));
    let settings = match config::load(
        args.config.as_deref(),
        args.homepath.as_deref(),
        &args.cfg,
        &process_env,
    ) {
        Ok(s) => s,
        Err(e) => {
            log(
                "error",
                "settings",
                "Failed to load configuration",
                &format!("error=\"{e}\""),
            );
            eprintln!("Error: ✗ {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(p) = &args.pidfile
        && let Err(e) = std::fs::write(p, std::process::id().to_string())
    {
        eprintln!("Error: ✗ failed to write pidfile {}: {e}", p.display());
        return ExitCode::FAILURE;
    }
    log(
        "info",
        "settings",
        "Starting Grafana (double)",
        &format!("version={} commit=double", settings.version),
    );
    if let Some(p) = &settings.provisioning {
        log(
            "info",
            "settings",
            "Path Provisioning",
            &format!("path={}", p.display()),
        );
    }
    let opts = SpawnOptions {
        addr: settings.listen,
        ..SpawnOptions::default()
    };
    let mut handle = match grafana::spawn_with(settings.grafana_config(), opts).await {
        Ok(h) => h,
        Err(e) => {
            log(
                "error",
                "provisioning",
                "Failed to provision",
                &format!("error=\"{e}\""),
            );
            eprintln!("Error: ✗ {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = pace_from_env(&handle.state()) {
        eprintln!("Error: ✗ {e}");
        return ExitCode::FAILURE;
    }
    for w in handle.state().provisioning_warnings() {
        log(
            "warn",
            "provisioning.dashboard",
            "Provisioning problem",
            &format!("error=\"{w}\""),
        );
    }
    log(
        "info",
        "http.server",
        "HTTP Server Listen",
        &format!("address={} protocol=http subUrl= socket=", handle.addr()),
    );
    let reason = shutdown_signal().await;
    log(
        "info",
        "server",
        "Shutdown started",
        &format!("reason=\"System signal: {reason}\""),
    );
    handle.trigger_shutdown();
    let result = handle.wait().await;
    if let Some(p) = &args.pidfile {
        let _ = std::fs::remove_file(p);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: ✗ {e}");
            ExitCode::FAILURE
        }
    }
}
