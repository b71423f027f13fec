//! `status`: per service, what runs now.
//!
//! Owns: the docker rows of `status` (state, health, version, URL, uptime).
//! May not: change anything on the engine, print, or read the environment.

use super::observe::{containers, inspect, summary_name};
use super::{DockerTarget, labels};
use crate::desired::{Desired, ResourceSpec, ServiceSpec};
use crate::error::Result;
use crate::net::{self, Audience};
use crate::targets::{ServiceStatus, common};

/// The tag of an image reference (`influxdb:1.8` → `1.8`; no tag → `latest`).
pub fn image_tag(image: &str) -> String {
    if let Some((_, digest)) = image.split_once('@') {
        return digest.chars().take(19).collect();
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':')
        .map_or_else(|| "latest".to_string(), |(_, t)| t.to_string())
}

/// Where a person's browser on this host reaches a service.
pub fn url(s: &ServiceSpec) -> String {
    s.ports.first().map_or_else(
        || "-".to_string(),
        |p| net::url(&p.host_ip, p.host_port, Audience::Browser),
    )
}

/// Status of every declared service, sorted by name.
pub async fn status(t: &DockerTarget, desired: &Desired) -> Result<Vec<ServiceStatus>> {
    let by_service = containers(t).await?;
    let services: Vec<(&ServiceSpec, &str)> = desired
        .resources
        .values()
        .filter_map(|r| match &r.spec {
            ResourceSpec::Service(s) => Some((s.as_ref(), r.hash.as_str())),
            _ => None,
        })
        .collect();
    let now = jiff::Timestamp::now();
    let rows = services.into_iter().map(|(s, hash)| {
        let list = by_service.get(&s.name);
        async move {
            let Some(first) = list.and_then(|l| l.first()) else {
                return Ok(ServiceStatus {
                    service: s.name.clone(),
                    state: "missing".into(),
                    health: "-".into(),
                    image: s.image.clone(),
                    version: image_tag(&s.image),
                    url: url(s),
                    uptime: "-".into(),
                    up_to_date: false,
                });
            };
            let inspect = inspect(t, &summary_name(first)).await?;
            let state = inspect.state.clone().unwrap_or_default();
            let image = inspect
                .config
                .as_ref()
                .and_then(|c| c.image.clone())
                .unwrap_or_default();
            let image_version = inspect
                .config
                .as_ref()
                .and_then(|c| c.labels.as_ref())
                .and_then(|l| l.get("org.opencontainers.image.version").cloned());
            let running = state.running == Some(true);
            let uptime = state
                .started_at
                .as_deref()
                .filter(|_| running)
                .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                .map_or_else(
                    || "-".to_string(),
                    |t| common::uptime(now.duration_since(t).as_secs()),
                );
            let labels = first.labels.clone().unwrap_or_default();
            let mut state_word = state
                .status
                .map_or_else(|| "unknown".to_string(), |s| s.to_string());
            if list.is_some_and(|l| l.len() > 1) {
                state_word = format!(
                    "{state_word} (+{} duplicate)",
                    list.map_or(0, |l| l.len() - 1)
                );
            }
            // A container that does not run has no health (the engine keeps the last one it
            // saw, `unhealthy` once stopped): `-`, as native's stopped process.
            let mut health = state
                .health
                .filter(|_| running)
                .and_then(|h| h.status)
                .map_or_else(|| "-".to_string(), |h| h.to_string());
            if health == "starting" && running && super::ready::answers_now(s).await {
                health = "healthy".to_string();
            }
            Ok(ServiceStatus {
                service: s.name.clone(),
                state: state_word,
                health,
                version: image_version.unwrap_or_else(|| image_tag(&image)),
                image,
                url: url(s),
                uptime,
                up_to_date: list.is_some_and(|l| l.len() == 1)
                    && labels.get(labels::HASH).map(String::as_str) == Some(hash),
            })
        }
    });
    futures_util::future::try_join_all(rows).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(image_tag("influxdb:1.8"), "1.8");
        assert_eq!(image_tag("localhost:5000/grafana"), "latest");
        assert_eq!(image_tag("localhost:5000/grafana:10.2.3"), "10.2.3");
    }
}
