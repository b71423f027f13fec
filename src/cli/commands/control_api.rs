//! `promo-infra control-api`: parse the flags, call [`crate::control::run_api`], print the line
//! that says where it listens.
//!
//! Owns: the `control-api` flags and its one output line.
//! May not: choose the configuration (see [`crate::control::config::resolve`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::cli::output::Out;
use crate::control::{self, ControlConfig};
use crate::error::Result;
use crate::project::Project;

/// `control-api` flags.
#[derive(Debug, Args)]
pub struct ControlApiArgs {
    /// Address to listen on (default: control_api.bind:port from the manifest, or
    /// 127.0.0.1:5000 in the environment mode).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Seconds between SIGINT and an escalation (`{"force": true}`).
    #[arg(long, default_value_t = 15, value_name = "SECONDS")]
    grace_secs: u64,
    /// Seconds a registered run stays alive without a poll from its `k6 run`.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    lease_secs: u64,
    /// Seconds a stop waits for `k6 run` to acknowledge it (then: 504 with what to do).
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    ack_timeout_secs: u64,
}

/// Run the control API until Ctrl+C / SIGTERM.
pub fn run(project: &Project, files: &[PathBuf], args: ControlApiArgs) -> Result<ExitCode> {
    let timing = control::Timing {
        grace: Duration::from_secs(args.grace_secs),
        lease: Duration::from_secs(args.lease_secs.max(1)),
        ack_timeout: Duration::from_secs(args.ack_timeout_secs.max(1)),
    };
    control::run_api(
        project,
        files,
        args.listen.as_deref(),
        timing,
        |cfg: &ControlConfig, addr| {
            Out::stdout().ok(&format!(
                "control API of stack `{}` listening on http://{addr} (runs register with `k6 run`, lease {} s; browser origin allowed: {}; annotations: {})",
                cfg.stack,
                cfg.timing.lease.as_secs(),
                cfg.cors_origin.as_deref().unwrap_or("none"),
                cfg.grafana.as_ref().map_or("off", |g| g.url()),
            ));
        },
    )?;
    Ok(ExitCode::SUCCESS)
}
