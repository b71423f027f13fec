//! `status`: per service, what runs now.

use super::engine::read_error;
use super::observe::{containers, summary_name};
use super::{DockerTarget, labels};
use crate::desired::{Desired, ResourceSpec, ServiceSpec};
use crate::error::Result;
use crate::targets::ServiceStatus;

/// The tag of an image reference (`influxdb:1.8` → `1.8`; no tag → `latest`).
pub fn image_tag(image: &str) -> String {
    if let Some((_, digest)) = image.split_once('@') {
        return digest.chars().take(19).collect();
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':')
        .map_or_else(|| "latest".to_string(), |(_, t)| t.to_string())
}

/// Where a service is reached from the host.
pub fn url(s: &ServiceSpec) -> String {
    s.ports.first().map_or_else(
        || "-".to_string(),
        |p| {
            let host = if p.host_ip == "0.0.0.0" || p.host_ip.is_empty() {
                "localhost"
            } else {
                p.host_ip.as_str()
            };
            format!("http://{host}:{}", p.host_port)
        },
    )
}

/// `3h12m`, `4m05s`, `12s`.
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
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
            let name = summary_name(first);
            let inspect = t
                .docker
                .inspect_container(&name, None)
                .await
                .map_err(|e| read_error(&format!("inspecting container {name}"), e))?;
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
                    |t| human_duration(now.duration_since(t).as_secs()),
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
            Ok(ServiceStatus {
                service: s.name.clone(),
                state: state_word,
                health: state
                    .health
                    .and_then(|h| h.status)
                    .map_or_else(|| "-".to_string(), |h| h.to_string()),
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
    fn tags_and_durations() {
        assert_eq!(image_tag("influxdb:1.8"), "1.8");
        assert_eq!(image_tag("localhost:5000/grafana"), "latest");
        assert_eq!(image_tag("localhost:5000/grafana:10.2.3"), "10.2.3");
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(125), "2m05s");
        assert_eq!(human_duration(3 * 3600 + 60), "3h01m");
        assert_eq!(human_duration(2 * 86_400 + 3600), "2d1h");
    }
}
