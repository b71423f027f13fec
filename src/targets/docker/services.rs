//! The service verbs on Docker: `logs` (the engine's log API, like `docker compose logs`) and
//! `restart` (the engine's restart: same container, then the health wait of a start).
//!
//! Owns: reading containers' logs and restarting them in place.
//! May not: print, read the environment, create or remove containers.

use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt;

use super::DockerTarget;
use super::engine::{is_not_found, read_error, write_error};
use super::labels;
use crate::desired::{Desired, ResourceSpec, ServiceSpec};
use crate::error::{Error, Result};
use crate::targets::{LogLine, LogQuery, split_lines};

fn not_running(t: &DockerTarget, service: &str) -> Error {
    Error::docker(format!(
        "service `{service}` of stack `{}` has no container ({})",
        t.ctx.stack,
        labels::container_name(&t.ctx.stack, service)
    ))
    .with_help("run `promo-infra apply` to create it")
}

/// `logs`: each service's container log (stdout and stderr), service by service; with
/// `follow`, the tails then new lines of every service as they come.
pub async fn logs(t: &DockerTarget, query: &LogQuery, sink: &mut dyn FnMut(LogLine)) -> Result<()> {
    let tail = query
        .tail
        .map_or_else(|| "all".to_string(), |n| n.to_string());
    let open = |service: &str| {
        let name = labels::container_name(&t.ctx.stack, service);
        let opts = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .follow(query.follow)
            .tail(&tail)
            .build();
        let service = service.to_string();
        t.docker
            .logs(&name, Some(opts))
            .map(move |item| (service.clone(), item))
    };
    let streams: Vec<_> = query
        .services
        .iter()
        .map(|s| open(s).boxed_local())
        .collect();
    // Without follow each stream ends: read them one after the other (deterministic order).
    // With follow, merge them and show lines as they come.
    let mut merged = if query.follow {
        vec![futures_util::stream::select_all(streams).boxed_local()]
    } else {
        streams
    };
    let mut pending: std::collections::BTreeMap<String, String> = Default::default();
    for stream in &mut merged {
        while let Some((service, item)) = stream.next().await {
            let out = match item {
                Ok(out) => out,
                Err(e) if is_not_found(&e) => return Err(not_running(t, &service)),
                Err(e) => {
                    let name = labels::container_name(&t.ctx.stack, &service);
                    return Err(read_error(&format!("reading the logs of {name}"), e));
                }
            };
            let buf = pending.entry(service.clone()).or_default();
            for text in split_lines(buf, &out.into_bytes()) {
                sink(LogLine {
                    service: service.clone(),
                    text,
                });
            }
        }
    }
    for (service, rest) in pending {
        if !rest.is_empty() {
            sink(LogLine {
                service,
                text: rest,
            });
        }
    }
    Ok(())
}

fn spec<'a>(desired: &'a Desired, service: &str) -> Result<&'a ServiceSpec> {
    desired
        .resources
        .values()
        .find_map(|r| match &r.spec {
            ResourceSpec::Service(s) if s.name == service => Some(s.as_ref()),
            _ => None,
        })
        .ok_or_else(|| Error::internal(format!("no service `{service}` in the stack")))
}

/// `restart`: the engine restarts the container in place, then wait until it is healthy.
pub async fn restart(t: &DockerTarget, desired: &Desired, service: &str) -> Result<()> {
    let s = spec(desired, service)?;
    let name = labels::container_name(&t.ctx.stack, service);
    match t.docker.restart_container(&name, None).await {
        Ok(()) => {}
        Err(e) if is_not_found(&e) => return Err(not_running(t, service)),
        Err(e) => {
            return Err(write_error(
                &format!("restarting container {name}"),
                e,
                Some(format!("see `docker logs {name}`")),
            ));
        }
    }
    super::execute::start_service(t, s).await
}
