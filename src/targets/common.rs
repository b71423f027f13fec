//! What every target shares: secret lookup, the stack's service URLs, the InfluxDB database
//! (observe and apply over its HTTP API), which services' contents observe could not read and
//! why, health polling and friendly uptimes.
//!
//! Owns: the one implementation of each of those for docker and native (and the next target).
//! May not: print, read the environment except through [`crate::settings`], or know a target's
//! engine (no bollard, no processes).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use super::Context;
use super::grafana_api::Attempts;
use crate::desired::{DatabaseSpec, Desired, ResourceId, ResourceSpec};
use crate::error::{Error, Result};
use crate::influx;
use crate::net;
use crate::plan::{ObservedResource, Unread};

/// A secret's value: `.env` first, then the environment (for the ones the user provides). An
/// empty value counts as not set. A token apply mints is read from `.env` as it is on disk now
/// (minted earlier in this apply, it is not among the values the command started with).
pub fn secret(ctx: &Context, name: &str) -> Option<String> {
    crate::secrets::is_minted(name)
        .then(|| on_disk(ctx, name))
        .flatten()
        .or_else(|| ctx.secrets.get(name).map(str::to_string))
        .or_else(|| crate::settings::non_empty(name))
}

/// `name`'s value in the stack's `.env` as it is on disk now (`None` when unreadable).
fn on_disk(ctx: &Context, name: &str) -> Option<String> {
    env_on_disk(ctx).and_then(|v| v.get(name).map(str::to_string))
}

/// The stack's `.env` as it is on disk now (`None` when unreadable).
fn env_on_disk(ctx: &Context) -> Option<crate::secrets::SecretValues> {
    crate::secrets::read_env(&ctx.generated_dir.join(".env"))
        .ok()
        .flatten()
}

/// `r` as it is created now: the tokens minted earlier in this apply marked by their values'
/// fingerprints (the plan knew them only as "known after apply"), so what is recorded with it
/// is what the next plan computes.
pub fn as_created(ctx: &Context, r: &crate::desired::Resource) -> crate::desired::Resource {
    let env = env_on_disk(ctx).unwrap_or_default();
    let minted: std::collections::BTreeMap<String, String> = crate::secrets::MINTED_LOCAL
        .iter()
        .chain(&crate::secrets::MINTED_CLOUD)
        .filter_map(|n| {
            env.get(n)
                .map(|v| (n.to_string(), crate::secrets::fingerprint(v)))
        })
        .collect();
    r.with_fingerprints(&minted)
}

/// The URL this tool (and other programs on the host) use to reach the service `name` of the
/// stack: a container's first published port, or a process's own address (the origin of its
/// health URL: its `url` is where people reach it, maybe a proxy's public name, like
/// `grafana.url`). No trailing slash.
pub fn service_url(desired: &Desired, name: &str) -> Option<String> {
    desired.resources.values().find_map(|r| match &r.spec {
        ResourceSpec::Service(s) if s.name == name => {
            let p = s.ports.first()?;
            Some(net::reachable_url(&p.host_ip, p.host_port))
        }
        ResourceSpec::Process(p) if p.name == name => reqwest::Url::parse(&p.health_url)
            .ok()
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o != "null"),
        _ => None,
    })
}

/// The stack's InfluxDB as this tool reaches it, when the stack declares one.
pub fn influx_endpoint(desired: &Desired) -> Option<influx::Endpoint> {
    service_url(desired, "influxdb").map(|url| influx::Endpoint { url })
}

/// The stack's databases (and their tokens) as InfluxDB reports them; one that does not exist
/// is left out. A read InfluxDB cannot answer (unreachable, 429, 5xx) is an error, never an
/// absence: taken for absent, it planned an existing database "to create" and, on InfluxDB 2,
/// new tokens and a replaced Grafana, whenever InfluxDB was busy (say under a load test's
/// writes). [`Attempts::Once`]: one silent attempt, for a read started before the target knows
/// whether InfluxDB runs (done again with [`Attempts::Retried`] if it does); `Retried`: with
/// backoff, each retry a warning.
pub async fn read_databases(
    ctx: &Context,
    desired: &Desired,
    target: &str,
    attempts: Attempts,
) -> Result<Vec<ObservedResource>> {
    let Some(ep) = influx_endpoint(desired) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for r in desired.resources.values() {
        if let ResourceSpec::Database(spec) = &r.spec {
            let read = || async {
                let Some(db) = influx::observe(&ep, spec, &ctx.secrets).await? else {
                    return Ok(Vec::new());
                };
                let mut found = vec![influx::observed_resource(&r.id, db)];
                found.extend(read_tokens(ctx, desired, target, &ep, spec).await?);
                Ok(found)
            };
            found.extend(match attempts {
                Attempts::Once => read().await?,
                Attempts::Retried => {
                    let what = format!("reading {} from InfluxDB", r.id);
                    super::apply::retry(&what, READ_ATTEMPTS, read).await?
                }
            });
        }
    }
    Ok(found)
}

/// Attempts of a read of what a running InfluxDB holds before it is an error.
const READ_ATTEMPTS: u32 = 4;

/// The operator's view of an InfluxDB 2 bucket: a client with the admin token, the org's id and
/// the bucket's id (`None` when the bucket does not exist).
async fn operator(
    ctx: &Context,
    ep: &influx::Endpoint,
    spec: &DatabaseSpec,
) -> Result<(influx::Client, String, Option<String>)> {
    let token = secret(ctx, crate::secrets::INFLUX_ADMIN_TOKEN).ok_or_else(|| {
        Error::influx(format!("{} is not set", crate::secrets::INFLUX_ADMIN_TOKEN))
            .with_help(influx::LOST_SECRET_HELP)
    })?;
    let c = influx::Client::new(ep, influx::Auth::Token(token))?;
    let org = influx::cloud::org(&c, spec.org.as_deref().unwrap_or_default()).await?;
    let bucket = influx::cloud::observe_bucket(&c, &org, spec)
        .await?
        .map(|b| b.id);
    Ok((c, org, bucket))
}

/// The stack's scoped tokens in its InfluxDB 2 (none for 1.x or when none is declared).
async fn read_tokens(
    ctx: &Context,
    desired: &Desired,
    target: &str,
    ep: &influx::Endpoint,
    spec: &DatabaseSpec,
) -> Result<Vec<ObservedResource>> {
    let declared = desired
        .resources
        .keys()
        .any(|id| id.kind == crate::desired::ResourceKind::Token);
    if spec.version != 2 || !declared {
        return Ok(Vec::new());
    }
    let (c, org, bucket) = operator(ctx, ep, spec).await?;
    let bucket = bucket.as_deref().map(|id| (id, spec.name.as_str()));
    super::tokens::observe(
        &c,
        ctx,
        &super::record::local(target),
        &org,
        desired,
        bucket,
    )
    .await
}

/// Mint the token `t` of resource `r` in the stack's InfluxDB 2 (after its bucket).
pub async fn mint_token(
    ctx: &Context,
    desired: &Desired,
    target: &str,
    r: &crate::desired::Resource,
    t: &crate::desired::TokenSpec,
) -> Result<()> {
    let (ep, spec) = influx_endpoint(desired)
        .zip(desired.resources.values().find_map(|r| match &r.spec {
            ResourceSpec::Database(d) => Some(d),
            _ => None,
        }))
        .ok_or_else(|| Error::internal(format!("{}: the stack has no InfluxDB bucket", r.id)))?;
    let (c, org, bucket) = operator(ctx, &ep, spec).await?;
    let bucket = bucket.ok_or_else(|| {
        Error::transient(format!(
            "{}: bucket `{}` does not exist yet",
            r.id, spec.name
        ))
    })?;
    super::tokens::mint(
        &c,
        ctx,
        &super::record::local(target),
        &org,
        (&bucket, &spec.name),
        r,
        t,
    )
    .await
}

/// Create or converge the database `spec` through the stack's InfluxDB.
pub async fn apply_database(ctx: &Context, desired: &Desired, spec: &DatabaseSpec) -> Result<()> {
    let ep = influx_endpoint(desired).ok_or_else(|| {
        Error::internal(format!(
            "database `{}`: the stack declares no InfluxDB service to create it in",
            spec.name
        ))
    })?;
    influx::apply(&ep, spec, &ctx.secrets).await
}

/// How a target found a service that holds what a plan compares ([`crate::plan::hosts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// It runs and answers as healthy: what it holds was read.
    Answers,
    /// It runs (a container, a live process) but does not answer as healthy.
    Runs,
    /// It does not run. `stopped`: it is still there, stopped (an exited container, a process
    /// whose pidfile is left); `kept`: what it held is (its container, a volume, a data
    /// directory).
    Down {
        /// Still there, stopped.
        stopped: bool,
        /// Its data is kept.
        kept: bool,
    },
}

/// The services whose contents observe could not read, and why, from how the target `found`
/// each of them: one that runs but does not answer, one that is stopped, one that does not run
/// while its data is kept. One that answers was read; one whose data is gone holds nothing.
pub fn unread(
    desired: &Desired,
    found: impl Fn(&ResourceId) -> Found,
) -> BTreeMap<ResourceId, Unread> {
    crate::plan::hosts(desired)
        .into_iter()
        .filter_map(|host| {
            let why = match found(&host) {
                Found::Answers | Found::Down { kept: false, .. } => return None,
                Found::Runs => Unread::NotAnswering,
                Found::Down { stopped: true, .. } => Unread::Stopped,
                Found::Down { stopped: false, .. } => Unread::NotRunning,
            };
            Some((host, why))
        })
        .collect()
}

/// The longest pause between two looks at a starting service.
pub const MAX_POLL: Duration = Duration::from_millis(250);

/// One look at a starting service.
#[derive(Debug)]
pub enum Probe {
    /// Healthy: stop waiting.
    Ready,
    /// It will not become healthy (exited, unhealthy): stop waiting with this error.
    Failed(Error),
    /// Not yet; the text says why (shown on the progress line, kept for the timeout error).
    Waiting(String),
}

/// Poll `probe` until it is ready or fails, at most `timeout`: first after `every`, then
/// doubling up to [`MAX_POLL`]. On timeout the error is `timed_out(last waiting text)`. The
/// progress `line` shows the waiting text.
pub async fn wait_healthy<P, Fut>(
    line: &indicatif::ProgressBar,
    timeout: Duration,
    every: Duration,
    mut probe: P,
    timed_out: impl FnOnce(&str) -> Error,
) -> Result<()>
where
    P: FnMut() -> Fut,
    Fut: Future<Output = Result<Probe>>,
{
    let start = Instant::now();
    let mut pause = every;
    loop {
        let last = match probe().await? {
            Probe::Ready => return Ok(()),
            Probe::Failed(e) => return Err(e),
            Probe::Waiting(why) => why,
        };
        line.set_message(last.clone());
        if start.elapsed() >= timeout {
            return Err(timed_out(&last));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_POLL.max(every));
    }
}

/// How long something has been up, in its two largest units: `2d 1h`, `3h 1m`, `4m 5s`, `12s`.
pub fn uptime(secs: i64) -> String {
    use jiff::{RoundMode, SpanRound, Unit};
    let secs = secs.max(0);
    let smallest = match secs {
        86_400.. => Unit::Hour,
        3_600.. => Unit::Minute,
        _ => Unit::Second,
    };
    jiff::Span::new()
        .try_seconds(secs)
        .and_then(|s| {
            s.round(
                SpanRound::new()
                    .largest(Unit::Day)
                    .smallest(smallest)
                    .mode(RoundMode::Trunc)
                    .days_are_24_hours(),
            )
        })
        .map_or_else(|_| "-".to_string(), |s| format!("{s:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{PortSpec, ProcessSpec, Resource, ResourceId, ResourceKind};

    /// The one rule docker, native and the fake report unread services by.
    #[test]
    fn a_service_that_runs_without_answering_is_unread_as_not_answering() {
        let influx = ResourceId::new(ResourceKind::Service, "influxdb");
        let db = Resource::new(
            ResourceId::new(ResourceKind::Database, "k6"),
            vec![influx.clone()],
            ResourceSpec::Network { name: "x".into() },
            &Default::default(),
        );
        let d = Desired::of([db]);
        let down = |stopped, kept| Found::Down { stopped, kept };
        for (found, want) in [
            (Found::Answers, None),
            (Found::Runs, Some(Unread::NotAnswering)),
            (down(true, true), Some(Unread::Stopped)),
            (down(false, true), Some(Unread::NotRunning)),
            (down(true, false), None),
            (down(false, false), None),
        ] {
            let got = unread(&d, |_| found);
            assert_eq!(got.get(&influx).copied(), want, "{found:?}");
        }
    }

    #[test]
    fn uptimes_read_like_a_person_wrote_them() {
        assert_eq!(uptime(0), "0s");
        assert_eq!(uptime(5), "5s");
        assert_eq!(uptime(125), "2m 5s");
        assert_eq!(uptime(3 * 3600 + 60 + 59), "3h 1m");
        assert_eq!(uptime(2 * 86_400 + 3600 + 61), "2d 1h");
        assert_eq!(uptime(-3), "0s");
    }

    fn with(spec: ResourceSpec) -> Desired {
        let mut d = Desired::default();
        d.add(Resource::new(
            ResourceId::new(ResourceKind::Service, "influxdb"),
            Vec::new(),
            spec,
            &Default::default(),
        ));
        d
    }

    fn container(host_ip: &str) -> Desired {
        let services = crate::compile::services::services(
            &crate::manifest::parse("promo.yaml", include_str!("../../stacks/promo.yaml"))
                .expect("the default stack parses"),
        );
        let mut s = services
            .into_iter()
            .find(|s| s.name == "influxdb")
            .expect("influxdb service");
        s.ports = vec![PortSpec {
            host_ip: host_ip.into(),
            host_port: 8087,
            container_port: 8086,
        }];
        with(ResourceSpec::Service(Box::new(s)))
    }

    #[test]
    fn service_urls_connect_to_loopback_for_wildcards_and_bracket_ipv6() {
        for (bind, want) in [
            ("0.0.0.0", "http://127.0.0.1:8087"),
            ("", "http://127.0.0.1:8087"),
            ("127.0.0.1", "http://127.0.0.1:8087"),
            ("::", "http://[::1]:8087"),
            ("::1", "http://[::1]:8087"),
        ] {
            let d = container(bind);
            assert_eq!(service_url(&d, "influxdb").as_deref(), Some(want), "{bind}");
            assert_eq!(influx_endpoint(&d).expect("endpoint").url, want);
        }
        let process = with(ResourceSpec::Process(Box::new(ProcessSpec {
            program: "influxd".into(),
            health_url: "http://[::1]:8086/ping".into(),
            url: "https://influx.shop.example/".into(),
            ..ProcessSpec::named("influxdb")
        })));
        assert_eq!(
            service_url(&process, "influxdb").as_deref(),
            Some("http://[::1]:8086")
        );
        assert_eq!(service_url(&process, "grafana"), None);
    }
}
