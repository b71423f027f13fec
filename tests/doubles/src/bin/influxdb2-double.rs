//! `influxdb2-double`: the InfluxDB 2 API double as a process.
//!
//! Onboarding comes from the official image's variables (`DOCKER_INFLUXDB_INIT_MODE=setup`,
//! `DOCKER_INFLUXDB_INIT_USERNAME/PASSWORD/ORG/BUCKET/RETENTION/ADMIN_TOKEN`); the listen
//! address from `--http-bind-address` or `INFLUXD_HTTP_BIND_ADDRESS` (default 127.0.0.1:8086);
//! `--cloud-serverless` switches on the InfluxDB Cloud Serverless differences;
//! `--influxql-backend URL` runs InfluxQL on a real InfluxDB 1.x.
#![allow(clippy::disallowed_methods)] // tests read their environment (CI)

use std::process::ExitCode;

use clap::Parser;
use promo_doubles::common::{now_ms, process_env, rfc3339};
use promo_doubles::influx2::{self, Influx2Config, Product};

#[derive(Parser, Debug)]
#[command(
    name = "influxdb2-double",
    version,
    about = "A test double of the InfluxDB 2 HTTP API (not InfluxDB)."
)]
struct Args {
    /// Accepted for `influxd run` compatibility.
    #[arg(value_parser = ["run"])]
    command: Option<String>,
    /// Address to listen on: `host:port` or `:port` (all interfaces).
    #[arg(
        long,
        env = "INFLUXD_HTTP_BIND_ADDRESS",
        default_value = "127.0.0.1:8086"
    )]
    http_bind_address: String,
    /// Emulate InfluxDB Cloud Serverless: Flux refused (501), bucket PATCH must carry
    /// `retentionRules` (403), tokens shown only when created.
    #[arg(long)]
    cloud_serverless: bool,
    /// A real InfluxDB 1.x (no auth) that runs the InfluxQL the double lets through and stores
    /// the points it accepts (`http://127.0.0.1:8087`).
    #[arg(long, value_name = "URL")]
    influxql_backend: Option<String>,
}

fn log(level: &str, msg: &str, extra: &str) {
    eprintln!(
        "ts={} lvl={level} msg=\"{msg}\" log_id=double{}{extra}",
        rfc3339(now_ms()),
        if extra.is_empty() { "" } else { " " }
    );
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let addr = match influx2::parse_bind(&args.http_bind_address) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut cfg = match Influx2Config::from_env(&process_env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    cfg.influxql_backend = args.influxql_backend.clone();
    let did_setup = cfg.setup.is_some();
    let product = if args.cloud_serverless {
        Product::CloudServerless
    } else {
        Product::Oss
    };
    let mut handle = match influx2::spawn_on_as(cfg, addr, product).await {
        Ok(h) => h,
        Err(e) => {
            log("error", "Failed to start", &format!("error=\"{e}\""));
            return ExitCode::FAILURE;
        }
    };
    if did_setup {
        log("info", "Setup completed", "service=onboarding");
    }
    log(
        "info",
        "Listening",
        &format!(
            "service=tcp-listener transport=http addr={} port={}",
            handle.addr(),
            handle.addr().port()
        ),
    );
    shutdown_signal().await;
    log(
        "info",
        "Terminating precreator service",
        "service=shard-precreation",
    );
    handle.trigger_shutdown();
    match handle.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}
