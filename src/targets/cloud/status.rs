//! `status --target cloud`: per service, whether its API answers and how many of the stack's
//! objects it has.
//!
//! Each service is counted on its own: one that does not answer is `unreachable`, one that
//! answers a request (its health, or any read of the count) with an error status is `failing`,
//! and either leaves the other's count as it is (the error on stderr). One that answers but
//! refuses the reads (a wrong token: 401, a missing permission: 403) is an error, as `plan`
//! reports it, not a row of zeros. Which it is comes from the error's
//! [`Outcome`](crate::error::Outcome), never from its message.
//!
//! May not: print, read the environment, decide.

use reqwest::Method;

use super::{CloudTarget, grafana, influx};
use crate::desired::{Desired, ResourceId, ResourceKind, ResourceSpec};
use crate::error::{Error, Outcome, Result};
use crate::plan::Observed;
use crate::targets::{ServiceStatus, grafana_api, record};

const GRAFANA_KINDS: [ResourceKind; 4] = [
    ResourceKind::Datasource,
    ResourceKind::Folder,
    ResourceKind::Dashboard,
    ResourceKind::Alerting,
];
const INFLUX_KINDS: [ResourceKind; 2] = [ResourceKind::Database, ResourceKind::Token];

impl CloudTarget {
    /// Which of the stack's Grafana objects exist, with a few requests (dashboards from one
    /// search of the marker tag, not read one by one).
    async fn grafana_present(&self, desired: &Desired) -> Result<Vec<ResourceId>> {
        let g = self.grafana(desired)?;
        let rec = record::read(&self.ctx, record::CLOUD);
        // Only the stack's own folder: another stack's dashboards carry the same tag.
        let folder = desired.folder().map(|(_, f)| f.uid.clone());
        let tagged = match &folder {
            Some(folder) => {
                g.dashboards_tagged_in(grafana_api::MARKER_TAG, folder)
                    .await?
            }
            None => Vec::new(),
        };
        let here = desired.resources.values().map(|r| async {
            Ok::<_, Error>(match &r.spec {
                ResourceSpec::Datasource(d) => {
                    grafana::observe_datasource(&g, r, d, &rec).await?.is_some()
                }
                ResourceSpec::Alerting(a) => {
                    grafana::observe_alerting(&g, r, a, &rec).await?.is_some()
                }
                ResourceSpec::Folder(f) => g.folder(&f.uid).await?.is_some(),
                ResourceSpec::Dashboard(d) => tagged.contains(&d.uid),
                _ => false,
            })
        });
        let here = futures_util::future::try_join_all(here).await?;
        Ok(desired
            .resources
            .values()
            .zip(here)
            .filter(|(_, here)| *here)
            .map(|(r, _)| r.id.clone())
            .collect())
    }

    /// Which of the stack's InfluxDB objects exist (the tokens with the values `.env` holds now).
    async fn influx_present(&self, desired: &Desired) -> Result<Vec<ResourceId>> {
        let mut observed = Observed::default();
        let i = self.influx(desired)?;
        influx::observe(i, &self.ctx, desired, super::Purpose::Plan, &mut observed).await?;
        Ok(observed.resources.into_keys().collect())
    }

    /// The `status` rows: Grafana, then InfluxDB.
    pub(super) async fn status_rows(&self, desired: &Desired) -> Result<Vec<ServiceStatus>> {
        let cloud = self.endpoints(desired)?;
        let g = self.grafana(desired)?;
        // `/api/health` answers without credentials: whether Grafana answers, and its version.
        let health = g.request(Method::GET, "/api/health", None).await;
        let version = match &health {
            Ok((s, v)) if s.is_success() => v["version"].as_str().unwrap_or("-").to_string(),
            _ => "-".to_string(),
        };
        let grafana_have = match health {
            // Something answers there, but not Grafana's health: as if nothing did.
            Ok((s, _)) if !s.is_success() => Reach::Unreachable,
            health => counted(health.map(drop), self.grafana_present(desired)).await?,
        };
        let influx = self.influx(desired)?;
        let influx_have =
            counted(influx.org().await.map(drop), self.influx_present(desired)).await?;
        Ok(vec![
            status_row(
                "grafana",
                &cloud.grafana_url,
                version,
                count(desired, &GRAFANA_KINDS, grafana_have),
            ),
            status_row(
                "influxdb",
                &cloud.influx_url,
                "cloud".into(),
                count(desired, &INFLUX_KINDS, influx_have),
            ),
        ])
    }
}

/// What one service holds, or why it could not be counted: `answers` is its first request
/// (whether it answers), `reads` reads what it holds. A failure of either is this row's state
/// and leaves the other service's count shown; a refusal is the command's error ([`reach_of`]).
async fn counted<T>(
    answers: Result<()>,
    reads: impl std::future::Future<Output = Result<T>>,
) -> Result<Reach<T>> {
    if let Err(e) = answers {
        return reach_of(e, false);
    }
    match reads.await {
        Ok(found) => Ok(Reach::Counted(found)),
        Err(e) => reach_of(e, true),
    }
}

/// The state a failed request gives its service's row (the error on stderr: the row has room
/// for the state only): `failing` when the server answered it with an error status (429, 5xx,
/// past the client's retries if it makes any), or did not answer although it `answered` the
/// service's first request; `unreachable` when it answers nothing. A refusal (a wrong token:
/// 401, a missing permission: 403) or any error that is not a server's answer is `plan`'s
/// error, not a row.
fn reach_of<T>(e: Error, answered: bool) -> Result<Reach<T>> {
    let reach = match e.outcome() {
        Some(Outcome::NoAnswer) if !answered => Reach::Unreachable,
        Some(Outcome::NoAnswer) => Reach::Failing,
        Some(o) if o.is_failing() => Reach::Failing,
        _ => return Err(e),
    };
    tracing::warn!("{e}");
    Ok(reach)
}

/// What `status` could learn of one cloud service.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reach<T> {
    /// It does not answer.
    Unreachable,
    /// It answers, but with an error status (5xx, 429, after the client's retries), or a read
    /// gets no answer after its first request got one.
    Failing,
    /// It answers: what it holds.
    Counted(T),
}

/// `(have, want)` of the stack's objects of `kinds`: how many of them `present` holds, of
/// how many the stack declares.
fn count(
    desired: &Desired,
    kinds: &[ResourceKind],
    present: Reach<Vec<ResourceId>>,
) -> (Reach<usize>, usize) {
    let of_kinds = |id: &&ResourceId| kinds.contains(&id.kind);
    let want = desired.resources.keys().filter(of_kinds).count();
    let have = match present {
        Reach::Unreachable => Reach::Unreachable,
        Reach::Failing => Reach::Failing,
        Reach::Counted(p) => Reach::Counted(
            p.iter()
                .filter(of_kinds)
                .filter(|id| desired.resources.contains_key(id))
                .count(),
        ),
    };
    (have, want)
}

/// A `status` row of one cloud service: `have` of the stack's `want` objects (`?` when it
/// could not be counted).
fn status_row(
    service: &str,
    url: &str,
    version: String,
    (have, want): (Reach<usize>, usize),
) -> ServiceStatus {
    let (state, health, n) = match have {
        Reach::Unreachable => ("unreachable", "unhealthy", "?".to_string()),
        Reach::Failing => ("failing", "unhealthy", "?".to_string()),
        Reach::Counted(n) => (
            if n == 0 { "missing" } else { "running" },
            if n == want { "healthy" } else { "unhealthy" },
            n.to_string(),
        ),
    };
    ServiceStatus {
        service: service.to_string(),
        state: state.into(),
        health: health.into(),
        image: format!("{n}/{want} objects"),
        version,
        url: url.to_string(),
        uptime: "-".into(),
        // Presence only: `plan --target cloud` compares the contents.
        up_to_date: have == Reach::Counted(want),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_read_is_a_state_by_its_outcome_and_a_refusal_is_an_error() {
        let no_answer = || Error::transient("x").with_outcome(Outcome::NoAnswer);
        let status = |s| Error::grafana("x").with_outcome(Outcome::Status(s));
        let state = |e, answered| reach_of::<()>(e, answered).map_err(|e| e.to_string());
        assert_eq!(state(no_answer(), false), Ok(Reach::Unreachable));
        assert_eq!(state(no_answer(), true), Ok(Reach::Failing));
        assert_eq!(state(status(503), false), Ok(Reach::Failing));
        assert_eq!(state(status(429), true), Ok(Reach::Failing));
        assert!(state(status(401), true).is_err());
        assert!(state(status(403), false).is_err());
        // An error that is not a server's answer (no outcome) is not a row either.
        assert!(state(Error::transient("x"), false).is_err());
    }

    #[test]
    fn an_unreachable_service_is_unreachable_and_unhealthy_with_nothing_counted() {
        let row = status_row("grafana", "u", "-".into(), (Reach::Unreachable, 8));
        assert_eq!(
            (row.state.as_str(), row.health.as_str(), row.image.as_str()),
            ("unreachable", "unhealthy", "?/8 objects")
        );
        let row = status_row("grafana", "u", "-".into(), (Reach::Failing, 8));
        assert_eq!(
            (row.state.as_str(), row.health.as_str(), row.up_to_date),
            ("failing", "unhealthy", false)
        );
        let row = status_row("influxdb", "u", "cloud".into(), (Reach::Counted(0), 3));
        assert_eq!(
            (row.state.as_str(), row.health.as_str()),
            ("missing", "unhealthy")
        );
        let row = status_row("influxdb", "u", "cloud".into(), (Reach::Counted(3), 3));
        assert_eq!(
            (row.state.as_str(), row.health.as_str(), row.up_to_date),
            ("running", "healthy", true)
        );
    }
}
