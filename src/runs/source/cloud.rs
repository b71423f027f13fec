//! `runs` on the cloud target: InfluxDB Cloud read with InfluxQL over the v1 `/query` endpoint
//! (Cloud Serverless has no Flux), `db=<bucket>` through the DBRP mapping apply creates, as
//! Grafana reads it: with the read-only token apply minted for Grafana's datasource
//! ([`crate::compile::cloud::GRAFANA_TOKEN`]), never k6's write-only token.
//!
//! Owns: that reader, and what to do when InfluxDB Cloud refuses it, fails or does not answer
//! (there is no stack to start and no logs to read there). May not: print, read the
//! environment, show the token.

use super::Source;
use crate::compile::cloud::{GRAFANA_TOKEN, endpoints};
use crate::error::{Error, Outcome, Result};
use crate::influx::{Auth, Client, Endpoint};
use crate::manifest::Manifest;
use crate::secrets::SecretValues;

/// The stack's bucket in InfluxDB Cloud, read with Grafana's read-only token from `.env`.
pub(super) fn source(m: &Manifest, values: &SecretValues) -> Result<Source> {
    let stack = m.stack.as_str();
    let cloud = endpoints(m).ok_or_else(|| {
        Error::usage(
            format!("stack `{stack}` has no `targets.cloud` section: there is no InfluxDB Cloud to read"),
            "add it to the manifest (see README, \"The cloud target\"), or give the target the stack runs on: --target docker or --target native",
        )
    })?;
    let env = format!("generated/{stack}/.env");
    let token = values.get(GRAFANA_TOKEN).ok_or_else(|| Error::Secrets {
        path: env.clone().into(),
        message: format!(
            "{GRAFANA_TOKEN} is missing: it is the read-only token runs reads InfluxDB Cloud at {} with",
            cloud.influx_url
        ),
        help: Some(
            "run `promo-infra apply --target cloud`: it mints the token into .env (and puts it into Grafana's datasource)"
                .into(),
        ),
    })?;
    let bucket = m.influxdb.bucket.to_string();
    let client = Client::new(
        &Endpoint {
            url: cloud.influx_url,
        },
        Auth::Token(token.to_string()),
    )?
    .with_token_var(GRAFANA_TOKEN)
    .with_refused_help(format!(
        "check {GRAFANA_TOKEN} in {env}: InfluxDB Cloud refused it, or it may not read bucket `{bucket}`; it must be the read-only token `promo-infra apply --target cloud` minted for this stack (delete its line from .env and apply again to mint a new one)"
    ));
    Ok(Source::V1 {
        client,
        db: bucket,
        cloud: true,
    })
}

/// What to do about a statement InfluxDB Cloud refused (`database not found`: no DBRP
/// mapping of that name).
pub(super) fn statement_help(db: &str) -> String {
    format!(
        "check that bucket `{db}` and its DBRP mapping `{db}/autogen` exist (`promo-infra status --target cloud`); `promo-infra apply --target cloud` creates them"
    )
}

/// A failure of a one-shot read of InfluxDB Cloud, with what to do: there is no stack to
/// start (`apply` cannot start InfluxDB Cloud) and no logs of it to read.
pub(super) fn settle(e: Error) -> Error {
    match e {
        Error::Transient { message, outcome } => {
            Error::influx(message).with_help(help_for(outcome))
        }
        other => other,
    }
}

fn help_for(outcome: Option<Outcome>) -> &'static str {
    match outcome {
        Some(Outcome::Status(429)) => {
            "InfluxDB Cloud limits this organisation's requests (HTTP 429): run the command again in a few minutes"
        }
        Some(o) if o.is_failing() => {
            "InfluxDB Cloud answered with a server error: run the command again later (InfluxData's status page: https://status.influxdata.com)"
        }
        _ => {
            "check targets.cloud.influx_url in the manifest and this machine's network; `promo-infra status --target cloud` says whether InfluxDB Cloud answers"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On the cloud target nothing suggests starting a stack or reading its logs: `apply`
    /// cannot start InfluxDB Cloud.
    #[test]
    fn a_failed_read_of_influxdb_cloud_says_what_fits_the_cloud() {
        for outcome in [
            None,
            Some(Outcome::NoAnswer),
            Some(Outcome::Status(429)),
            Some(Outcome::Status(503)),
        ] {
            let e = settle(
                Error::transient("InfluxDB is not reachable at u")
                    .with_outcome(outcome.unwrap_or(Outcome::NoAnswer)),
            );
            let help = miette::Diagnostic::help(&e)
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(!help.contains("apply") && !help.contains("logs"), "{help}");
            assert!(!help.is_empty());
        }
    }
}
