//! Checks that ask the running services: each service running and healthy (from the target's
//! status), the datasource reachable from Grafana (Grafana's datasource health API), data
//! arriving for the last test id, and the clock skew between this host and the services.
//!
//! Owns: those checks' wording and the small HTTP helpers they share. May not: change anything
//! (GET only), print, read the environment but through `crate::settings`.

use std::future::Future;

use reqwest::header::DATE;

use super::{CHECK_TIMEOUT, Ctx, Finding, Level};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::secrets;
use crate::targets::{ServiceStatus, TargetKind};

/// Name of the datasource line.
pub(super) const DATASOURCE: &str = "datasource";
/// Name of the data line.
pub(super) const DATA: &str = "data";
/// Name of the clock line.
pub(super) const CLOCK: &str = "clock";

/// Skew above which the clock line warns (seconds).
const SKEW_WARN_S: i64 = 2;
/// Skew above which it fails (seconds).
const SKEW_FAIL_S: i64 = 30;

/// Whether `row`'s service runs and answers its health check: its line is ok.
fn healthy(row: &ServiceStatus) -> bool {
    row.state == "running" && matches!(row.health.as_str(), "healthy" | "-")
}

/// Whether the checks may ask `row`'s service: its line fails, and it does not answer (here:
/// not running and healthy; in the cloud: unreachable, or answering with errors — a cloud
/// service that answers but misses objects is still asked).
pub(super) fn down(row: &ServiceStatus, target: TargetKind) -> bool {
    match target {
        TargetKind::Cloud => matches!(row.state.as_str(), "unreachable" | "failing"),
        _ => !healthy(row),
    }
}

/// One service's line: running and healthy, with its version.
pub(super) fn service(row: &ServiceStatus, target: TargetKind) -> Finding {
    let check = format!("service {}", row.service);
    if healthy(row) {
        Finding::ok(check, format!("running, {} ({})", row.health, row.version))
    } else if row.state == "missing" {
        // Nothing to read logs of: never applied on this target, or destroyed.
        Finding::new(
            check,
            Level::Fail,
            "missing: not deployed on this target (never applied, or destroyed)",
            "`promo-infra apply` to create it",
        )
    } else if target == TargetKind::Cloud {
        // Nothing runs here: no logs to read, nothing to start.
        let fix = match row.state.as_str() {
            "unreachable" | "failing" => format!(
                "check that {} answers (the URL in targets.cloud, the provider's status page), then `promo-infra status`",
                row.url
            ),
            _ => "`promo-infra plan` shows what is missing; `promo-infra apply` creates it".into(),
        };
        Finding::new(
            check,
            Level::Fail,
            format!("{}, health {} ({})", row.state, row.health, row.image),
            fix,
        )
    } else {
        // A service that does not run has no health (`-`): its state says it all.
        let finding = if row.health == "-" {
            row.state.clone()
        } else {
            format!("{}, health {}", row.state, row.health)
        };
        Finding::new(
            check,
            Level::Fail,
            finding,
            format!(
                "`promo-infra logs {}` to see why, then `promo-infra apply` to start it",
                row.service
            ),
        )
    }
}

/// The control API's URL for this host.
pub(super) fn control_url(m: &Manifest) -> String {
    crate::net::reachable_url(
        &m.control_api.bind,
        crate::compile::valid_port(*m.control_api.port),
    )
}

/// An HTTP client for requests to `base`, bounded by the check timeout.
pub(super) fn http(base: &str) -> Result<reqwest::Client> {
    bounded(crate::net::client_for(base))
}

/// `builder`'s client, bounded by the check timeout.
fn bounded(builder: reqwest::ClientBuilder) -> Result<reqwest::Client> {
    builder
        .timeout(CHECK_TIMEOUT)
        .build()
        .map_err(|e| Error::internal(format!("cannot build an HTTP client: {e}")))
}

/// Run `f` on a runtime of its own (each check runs on a thread of its own).
pub(super) fn block_on<T>(f: impl Future<Output = T>) -> Result<T> {
    Ok(crate::ops::deploy::runtime()?.block_on(f))
}

/// Grafana checks its datasource: `GET /api/datasources/uid/<uid>/health` as the admin. Grafana
/// itself connects to the datasource's URL, so this is what its dashboards see.
pub(super) fn datasource(ctx: &Ctx) -> Finding {
    let Some(values) = &ctx.values else {
        return Finding::skipped(DATASOURCE, ".env");
    };
    if let Some(skip) = ctx.needs(DATASOURCE, &["grafana", "influxdb"]) {
        return skip;
    }
    let m = &ctx.loaded.manifest;
    let Some(password) = values.get(secrets::GRAFANA_ADMIN_PASSWORD) else {
        return Finding::skipped(DATASOURCE, "GRAFANA_ADMIN_PASSWORD");
    };
    let uid = crate::compile::grafana::datasource_uid(m);
    let base = crate::compile::native::grafana_url(m);
    let user = m.grafana.admin_user.as_str();
    let answer = http(&base).and_then(|c| {
        block_on(async {
            let get = |path: String| {
                let c = c.clone();
                async move {
                    let r = c.get(path).basic_auth(user, Some(password)).send().await?;
                    let status = r.status().as_u16();
                    let body: serde_json::Value = r.json().await.unwrap_or_default();
                    Ok::<_, reqwest::Error>((status, body))
                }
            };
            // Grafana 10.2 answers an unknown uid's health with HTTP 500: ask for the
            // datasource first, whose 404 says it is missing.
            let (status, body) = get(format!("{base}/api/datasources/uid/{uid}")).await?;
            if status != 200 {
                return Ok((status, body, true));
            }
            let (status, body) = get(format!("{base}/api/datasources/uid/{uid}/health")).await?;
            Ok((status, body, false))
        })
    });
    let (status, body, lookup) = match answer {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            return Finding::new(
                DATASOURCE,
                Level::Fail,
                format!(
                    "Grafana at {base} does not answer: {}",
                    crate::net::describe_request_error(e)
                ),
                "`promo-infra status` shows whether grafana runs; `promo-infra apply` starts it",
            );
        }
        Err(e) => return Finding::from_error(DATASOURCE, &e),
    };
    let message = body["message"].as_str().unwrap_or("").to_string();
    match (status, lookup) {
        (200, false) if body["status"] == "OK" => Finding::ok(
            DATASOURCE,
            format!("Grafana reaches InfluxDB through `{uid}`: {message}"),
        ),
        (404, true) => Finding::new(
            DATASOURCE,
            Level::Fail,
            format!("Grafana has no datasource `{uid}`"),
            "`promo-infra apply` provisions it (Grafana reads its provisioning files when it starts)",
        ),
        (401 | 403, _) => Finding::new(
            DATASOURCE,
            Level::Fail,
            format!("Grafana refused the admin login (HTTP {status})"),
            "the admin password in .env differs from Grafana's: `promo-infra apply` (or `promo-infra secrets rotate GRAFANA_ADMIN_PASSWORD`)",
        ),
        (code, _) => Finding::new(
            DATASOURCE,
            Level::Fail,
            format!("Grafana cannot reach InfluxDB through `{uid}` (HTTP {code}): {message}"),
            "check that influxdb runs (`promo-infra status`) and answers at the datasource's URL from where Grafana runs, with the grafana user's password; `promo-infra apply` restores both",
        ),
    }
}

/// Points of the newest run (by start) under the run directory, through the one InfluxDB
/// reader of `runs`; a run without any point is a warning with the usual causes.
pub(super) fn data(ctx: &Ctx) -> Finding {
    let Some(values) = &ctx.values else {
        return Finding::skipped(DATA, ".env");
    };
    let m = &ctx.loaded.manifest;
    let run_dir = ctx
        .project
        .root
        .join(crate::k6::default_run_dir(&ctx.project, m));
    let runs = match crate::runs::record::list(&run_dir) {
        Ok((runs, _)) => runs,
        Err(e) => return Finding::from_error(DATA, &e),
    };
    let Some(last) = runs.last() else {
        return Finding::ok(DATA, "no run yet (`promo-infra k6 run` records one)");
    };
    if let Some(skip) = ctx.needs(DATA, &["influxdb"]) {
        return skip;
    }
    let testid = last.testid.as_str();
    let range = crate::runs::source::Source::of(m, values, ctx.target)
        .and_then(|s| block_on(async { s.range_if_any(testid).await }).and_then(|r| r));
    match range {
        Ok(Some(r)) => Finding::ok(
            DATA,
            format!(
                "last test {testid} has points from {} to {}",
                r.start(),
                r.end()
            ),
        ),
        Ok(None) => Finding::new(
            DATA,
            Level::Warn,
            format!("no point in InfluxDB for the last test {testid}"),
            "k6 did not write into this stack: run it with the stack's output (`promo-infra k6 env` prints K6_OUT and its settings; `promo-infra k6 run` sets them)",
        ),
        Err(e) => Finding::from_influx_error(DATA, &e),
    }
}

/// The `Date` of each service's answer against this host's clock (`PROMO_INFRA_NOW` fixes it).
pub(super) fn clock(ctx: &Ctx) -> Finding {
    let m = &ctx.loaded.manifest;
    let now = match crate::k6::testid::now() {
        Ok(n) => n,
        Err(e) => return Finding::from_error(CLOCK, &e),
    };
    let asked: &[&str] = if *m.control_api.enabled {
        &["influxdb", "grafana", "control-api"]
    } else {
        &["influxdb", "grafana"]
    };
    if let Some(skip) = ctx.needs_one_of(CLOCK, asked) {
        return skip;
    }
    let mut urls = vec![
        (
            "influxdb",
            format!("{}/ping", crate::compile::native::influx_url(m)),
        ),
        (
            "grafana",
            format!("{}/api/health", crate::compile::native::grafana_url(m)),
        ),
    ];
    if *m.control_api.enabled {
        urls.push(("control-api", format!("{}/health", control_url(m))));
    }
    // Every URL is this host's, plain HTTP.
    let dates = bounded(crate::net::plain_client()).and_then(|c| {
        block_on(async {
            let mut out = Vec::new();
            for (service, url) in &urls {
                let date = match c.get(url).send().await {
                    Ok(r) => r
                        .headers()
                        .get(DATE)
                        .and_then(|d| d.to_str().ok())
                        .and_then(|d| jiff::fmt::rfc2822::parse(d).ok())
                        .map(|d| d.timestamp()),
                    Err(_) => None,
                };
                out.push((*service, date));
            }
            out
        })
    });
    let dates = match dates {
        Ok(d) => d,
        Err(e) => return Finding::from_error(CLOCK, &e),
    };
    let skews: Vec<(&str, i64)> = dates
        .iter()
        .filter_map(|(s, d)| Some((*s, d.as_ref()?.as_second() - now.as_second())))
        .collect();
    skew_finding(&skews)
}

/// The clock line from each service's skew (service time minus host time, seconds).
fn skew_finding(skews: &[(&str, i64)]) -> Finding {
    let Some((service, worst)) = skews.iter().max_by_key(|(_, s)| s.abs()).copied() else {
        return Finding::new(
            CLOCK,
            Level::Warn,
            "no service answered with a Date header: skew unknown",
            "`promo-infra status` shows which services run and answer at their URLs; then run doctor again",
        );
    };
    let level = match worst.abs() {
        s if s > SKEW_FAIL_S => Level::Fail,
        s if s > SKEW_WARN_S => Level::Warn,
        _ => Level::Ok,
    };
    let finding = format!("{service} is {worst:+} s from this host's clock");
    if level == Level::Ok {
        let services: Vec<&str> = skews.iter().map(|(s, _)| *s).collect();
        return Finding::ok(
            CLOCK,
            format!(
                "within {SKEW_WARN_S} s of this host's clock ({})",
                services.join(", ")
            ),
        );
    }
    Finding::new(
        CLOCK,
        level,
        finding,
        "synchronise the clocks (`timedatectl set-ntp true` on the host; containers share its clock): points and dashboards' time ranges shift by the skew",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: &str, health: &str) -> ServiceStatus {
        ServiceStatus {
            url: "https://promo.grafana.net".into(),
            ..ServiceStatus::row("grafana", state, health)
        }
    }

    #[test]
    fn a_service_line_suggests_what_its_target_can_do() {
        let fixes = |target| {
            [("missing", "-"), ("failing", "unhealthy"), ("stopped", "-")]
                .map(|(state, health)| service(&row(state, health), target).fix)
        };
        assert_eq!(
            fixes(TargetKind::Cloud),
            [
                "`promo-infra apply` to create it",
                "check that https://promo.grafana.net answers (the URL in targets.cloud, the provider's status page), then `promo-infra status`",
                "`promo-infra plan` shows what is missing; `promo-infra apply` creates it",
            ]
        );
        // Where it runs on this host, its log says why it stopped.
        assert_eq!(
            fixes(TargetKind::Native)[2],
            "`promo-infra logs grafana` to see why, then `promo-infra apply` to start it"
        );
    }

    /// A service that does not run has no health to tell (before: "stopped, health -", and a
    /// stopped container "exited, health unhealthy").
    #[test]
    fn a_service_that_does_not_run_is_named_by_its_state_alone() {
        let finding = |state, health| service(&row(state, health), TargetKind::Docker).finding;
        assert_eq!(finding("exited", "-"), "exited");
        assert_eq!(finding("stopped", "-"), "stopped");
        assert_eq!(finding("running", "unhealthy"), "running, health unhealthy");
    }

    #[test]
    fn skew_warns_above_2_s_and_fails_above_30_s_by_its_worst_service() {
        assert_eq!(skew_finding(&[("a", 2), ("b", -1)]).level, Level::Ok);
        let warn = skew_finding(&[("a", 1), ("b", -3)]);
        assert_eq!(
            (warn.level, warn.finding.as_str()),
            (Level::Warn, "b is -3 s from this host's clock")
        );
        assert_eq!(skew_finding(&[("a", 31)]).level, Level::Fail);
        assert_eq!(skew_finding(&[("a", 30)]).level, Level::Warn);
        // Reached while a service may run (every one down: skipped): not "start the stack".
        let unknown = skew_finding(&[]);
        assert_eq!(
            (unknown.level, unknown.fix.as_str()),
            (
                Level::Warn,
                "`promo-infra status` shows which services run and answer at their URLs; then run doctor again"
            )
        );
    }
}
