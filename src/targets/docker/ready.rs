//! Readiness of a starting container: its health URL probed directly on the published port
//! (as soon as the container starts, without waiting for Docker's health interval), Docker's
//! own health status for a service with no published health port, and a crash loop reported
//! at once with the exit code and the container's last log lines.
//!
//! Owns: deciding when a started container is ready, and the errors when it will not be.
//! May not: print (progress lines only), read the environment, create or remove anything.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use bollard::models::{ContainerState, ContainerStateStatusEnum, HealthStatusEnum};
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::TryStreamExt;

use super::DockerTarget;
use super::engine::write_error;
use crate::desired::ServiceSpec;
use crate::error::{Error, Result};
use crate::net;
use crate::targets::common::{self, Probe};

/// The first pause between two looks at a starting container (it grows to 250 ms).
const FIRST_POLL: Duration = Duration::from_millis(50);
/// How many of a crashed container's last log lines the error shows.
const LOG_LINES: usize = 10;

/// The URL that answers 2xx when the service `s` is ready, as reached from this host: the
/// health check's `http://127.0.0.1:<container port><path>` moved to the port it is published
/// on. `None` when the check has no such URL or that port is not published.
pub fn probe_url(s: &ServiceSpec) -> Option<String> {
    let url = s
        .health
        .test
        .iter()
        .flat_map(|part| part.split_whitespace())
        .find_map(|word| url::Url::parse(word.strip_prefix("http://").map(|_| word)?).ok())?;
    let container_port = url.port()?;
    let published = s
        .ports
        .iter()
        .find(|p| p.container_port == container_port)?;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    Some(format!(
        "{}{path}",
        net::reachable_url(&published.host_ip, published.host_port)
    ))
}

/// The client of the probes: 1 s per request, no proxy (the URLs are this host's).
fn client() -> Result<reqwest::Client> {
    net::plain_client()
        .timeout(Duration::from_secs(1))
        .no_proxy()
        .build()
        .map_err(|e| Error::internal(format!("cannot build an HTTP client: {e}")))
}

/// Whether service `s` answers its health URL now (one request): a running container that
/// Docker still calls `starting` is healthy when it does (Docker's first check may be up to one
/// health interval away; `apply` returned as soon as the service answered).
pub async fn answers_now(s: &ServiceSpec) -> bool {
    let (Some(url), Ok(http)) = (probe_url(s), client()) else {
        return false;
    };
    http.get(&url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

/// Wait until the container `name` of service `s` is ready: bounded by the context's health
/// timeout; fails at once when the container exits or restarts, or Docker reports it unhealthy.
pub async fn wait_ready(
    t: &DockerTarget,
    s: &ServiceSpec,
    name: &str,
    line: &indicatif::ProgressBar,
) -> Result<()> {
    let start = Instant::now();
    let url = probe_url(s);
    let http = client()?;
    let cell = RefCell::new(String::new());
    let last_output = &cell;
    let (url, http) = (url.as_deref(), &http);
    let timeout = t.ctx.health_timeout;
    let error = |what: &str| health_error(name, what, &last_output.borrow(), start.elapsed());
    common::wait_healthy(
        line,
        timeout,
        FIRST_POLL,
        || async move {
            let inspect = t
                .docker
                .inspect_container(name, None)
                .await
                .map_err(|e| write_error(&format!("inspecting container {name}"), e, None))?;
            let state = inspect.state.unwrap_or_default();
            if let Some(code) = crashed(&state) {
                let restarts = inspect.restart_count.unwrap_or(0);
                let ended = state.finished_at.as_deref();
                let error = crash_error(t, s, name, (code, restarts), ended).await;
                return Ok(Probe::Failed(error));
            }
            let health = state.health.clone().unwrap_or_default();
            if let Some(last) = health.log.as_ref().and_then(|l| l.last()) {
                *last_output.borrow_mut() = format!(
                    "exit {}: {}",
                    last.exit_code.unwrap_or(-1),
                    last.output.as_deref().unwrap_or("").trim()
                );
            }
            let status = health.status.unwrap_or(HealthStatusEnum::NONE);
            if status == HealthStatusEnum::UNHEALTHY {
                return Ok(Probe::Failed(error("is unhealthy")));
            }
            if let Some(url) = url {
                return Ok(match http.get(url).send().await {
                    Ok(r) if r.status().is_success() => Probe::Ready,
                    Ok(r) => Probe::Waiting(format!("waiting for {url} (HTTP {})", r.status())),
                    Err(_) => Probe::Waiting(format!("waiting for {url} (no answer yet)")),
                });
            }
            Ok(match status {
                HealthStatusEnum::HEALTHY => Probe::Ready,
                // No health check declared: running is all we can know.
                HealthStatusEnum::NONE | HealthStatusEnum::EMPTY => Probe::Ready,
                _ => Probe::Waiting(format!("waiting for health ({})", status_word(status))),
            })
        },
        |_| {
            error(&format!(
                "did not become healthy within {}s",
                timeout.as_secs()
            ))
        },
    )
    .await
}

/// The exit code of a container that stopped or is being restarted after stopping.
fn crashed(state: &ContainerState) -> Option<i64> {
    match state.status {
        Some(
            ContainerStateStatusEnum::EXITED
            | ContainerStateStatusEnum::DEAD
            | ContainerStateStatusEnum::RESTARTING,
        ) => Some(state.exit_code.unwrap_or(-1)),
        _ => None,
    }
}

/// How many of a crashed container's last log lines are read to find the ones of the run that
/// crashed (a restarted run may already be printing).
const LOG_SCAN: usize = 200;

async fn crash_error(
    t: &DockerTarget,
    s: &ServiceSpec,
    name: &str,
    (code, restarts): (i64, i64),
    ended: Option<&str>,
) -> Error {
    let options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .tail(&LOG_SCAN.to_string())
        .build();
    let logs = t
        .docker
        .logs(name, Some(options))
        .map_ok(|out| out.to_string())
        .try_collect::<Vec<_>>()
        .await;
    let logs = match logs {
        Ok(chunks) => last_lines(&until(&chunks.concat(), ended)),
        Err(e) => format!("  (its logs could not be read: {e})"),
    };
    Error::docker(crash_message(&s.name, name, code, restarts, &logs)).with_help(format!(
        "see all of its log with `promo-infra logs {}`; fix the cause, then re-run apply (it converges)",
        s.name
    ))
}

/// The lines of `timestamped` (each `<RFC 3339 time> <text>`, as the engine sends them with
/// `timestamps`) written no later than `ended` (the crashed run's end), without their time: the
/// run that crashed, not the restarted one. Every line when `ended` is not a time (or Docker's
/// zero time, `0001-01-01T00:00:00Z`: never ended).
fn until(timestamped: &str, ended: Option<&str>) -> String {
    let ended = ended
        .and_then(|e| e.parse::<jiff::Timestamp>().ok())
        .filter(|e| *e > jiff::Timestamp::UNIX_EPOCH);
    timestamped
        .lines()
        .filter_map(|line| {
            let (time, text) = line.split_once(' ').unwrap_or((line, ""));
            let time = time.parse::<jiff::Timestamp>().ok();
            match (time, ended) {
                (Some(t), Some(e)) if t > e => None,
                (Some(_), _) => Some(format!("{text}\n")),
                (None, _) => Some(format!("{line}\n")),
            }
        })
        .collect()
}

fn crash_message(service: &str, container: &str, code: i64, restarts: i64, logs: &str) -> String {
    let times = if restarts == 1 { "time" } else { "times" };
    format!(
        "service `{service}`: container {container} exited with code {code} (restarted {restarts} {times}) before becoming healthy; its last log lines:\n{logs}"
    )
}

/// The last [`LOG_LINES`] non-empty lines of `text`, each indented, or a note that there are none.
fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return "  (it printed nothing)".to_string();
    }
    lines[lines.len().saturating_sub(LOG_LINES)..]
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn status_word(s: HealthStatusEnum) -> &'static str {
    match s {
        HealthStatusEnum::STARTING => "starting",
        HealthStatusEnum::HEALTHY => "healthy",
        HealthStatusEnum::UNHEALTHY => "unhealthy",
        _ => "no check yet",
    }
}

fn health_error(name: &str, what: &str, last: &str, elapsed: Duration) -> Error {
    let last = if last.is_empty() {
        "no health check has run yet".to_string()
    } else {
        format!("last health check: {last}")
    };
    Error::docker(format!(
        "container {name} {what} (after {:.0}s); {last}",
        elapsed.as_secs_f64()
    ))
    .with_help(format!(
        "see `docker logs {name}`; raise the wait with --health-timeout; re-run apply once fixed (it converges)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str) -> ServiceSpec {
        let m = crate::manifest::parse("promo.yaml", include_str!("../../../stacks/promo.yaml"))
            .expect("the default stack parses");
        crate::compile::services::services(&m)
            .into_iter()
            .find(|s| s.name == name)
            .expect("service")
    }

    #[test]
    fn the_probe_url_is_the_health_check_moved_to_the_published_port() {
        let mut s = service("grafana");
        s.ports[0].host_ip = "0.0.0.0".into();
        s.ports[0].host_port = 13000;
        assert_eq!(
            probe_url(&s).as_deref(),
            Some("http://127.0.0.1:13000/api/health")
        );
        s.ports.clear();
        assert_eq!(probe_url(&s), None, "no published port: Docker's health");
        s.health.test.clear();
        assert_eq!(probe_url(&s), None);
    }

    #[test]
    fn a_crash_shows_the_last_ten_lines_and_the_restarts() {
        let text: String = (1..=12).map(|i| format!("line {i}\n\n")).collect();
        assert_eq!(
            crash_message("grafana", "s-grafana-1", 3, 1, &last_lines(&text)),
            "service `grafana`: container s-grafana-1 exited with code 3 (restarted 1 time) \
             before becoming healthy; its last log lines:\n  line 3\n  line 4\n  line 5\n  \
             line 6\n  line 7\n  line 8\n  line 9\n  line 10\n  line 11\n  line 12"
        );
        assert_eq!(last_lines(""), "  (it printed nothing)");
    }

    /// Fails on the first version, which showed the restarted run's first lines after the crash.
    #[test]
    fn the_lines_shown_end_where_the_crashed_run_ended() {
        let logs = "2026-11-28T09:58:01.1Z crash line 11\n\
                    2026-11-28T09:58:01.2Z crash line 12\n\
                    2026-11-28T09:58:01.9Z crash line 1\n";
        assert_eq!(
            until(logs, Some("2026-11-28T09:58:01.25Z")),
            "crash line 11\ncrash line 12\n"
        );
        for never in [None, Some("0001-01-01T00:00:00Z"), Some("")] {
            assert_eq!(
                until(logs, never),
                "crash line 11\ncrash line 12\ncrash line 1\n"
            );
        }
    }

    #[test]
    fn only_a_stopped_or_restarting_container_has_crashed() {
        let state = |status, code| ContainerState {
            status: Some(status),
            exit_code: Some(code),
            ..Default::default()
        };
        assert_eq!(crashed(&state(ContainerStateStatusEnum::RUNNING, 0)), None);
        assert_eq!(crashed(&state(ContainerStateStatusEnum::CREATED, 0)), None);
        assert_eq!(
            crashed(&state(ContainerStateStatusEnum::EXITED, 3)),
            Some(3)
        );
        assert_eq!(
            crashed(&state(ContainerStateStatusEnum::RESTARTING, 3)),
            Some(3)
        );
    }
}
