//! `status`: per service: state, health, image and version, URL, uptime.
//!
//! Owns: the command's flags.
//! May not: render output itself, change anything, read the environment.

use std::process::ExitCode;

use super::super::globals::Globals;
use super::super::output::Out;
use super::super::print;
use super::super::term::code;
use super::args;
use crate::error::Result;
use crate::ops;
use crate::targets::ServiceStatus;

/// Shown by `status --help`.
pub const EXAMPLES: &str = "Examples:\n  promo-infra status\n  promo-infra status --json\n  promo-infra status --exit-code   # scripts: 0 all running and healthy, 3 not, 1 error";

/// `status` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Target and output.
    #[command(flatten)]
    pub common: args::TargetJson,
    /// Exit 3 unless every declared service is running and healthy (1 stays "error").
    #[arg(long)]
    pub exit_code: bool,
}

/// Run `status`.
pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let report = ops::status_and_alerts(
        &globals.project(),
        &globals.selection(false),
        args.common.target.target,
    )?;
    // `status --json` (README "JSON output"): the report as it is.
    Out::stdout().json_or(args.common.json, &report, |out, r| {
        print::deploy::status_of(out, r);
    })?;
    Ok(exit_code(args.exit_code, &report.services))
}

/// With `--exit-code`: 3 unless every service is running and healthy (a service without a
/// health check counts as healthy when running); without it, always 0.
fn exit_code(asked: bool, rows: &[ServiceStatus]) -> ExitCode {
    let healthy =
        |r: &ServiceStatus| r.state == "running" && matches!(r.health.as_str(), "healthy" | "-");
    if asked && (rows.is_empty() || !rows.iter().all(healthy)) {
        ExitCode::from(code::NOT_HEALTHY)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: &str, health: &str) -> ServiceStatus {
        ServiceStatus::row("grafana", state, health)
    }

    #[test]
    fn exit_code_is_3_unless_every_service_runs_healthy() {
        let ok = [row("running", "healthy"), row("running", "-")];
        assert_eq!(exit_code(true, &ok), ExitCode::SUCCESS);
        for bad in [
            ("running", "unhealthy"),
            ("running", "starting"),
            ("missing", "-"),
            ("exited", "-"),
        ] {
            let rows = [row("running", "healthy"), row(bad.0, bad.1)];
            assert_eq!(exit_code(true, &rows), ExitCode::from(3), "{bad:?}");
            assert_eq!(exit_code(false, &rows), ExitCode::SUCCESS, "{bad:?}");
        }
        assert_eq!(
            exit_code(true, &[]),
            ExitCode::from(3),
            "no service at all is not healthy"
        );
    }
}
