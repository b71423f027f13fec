//! Reads of the services' own APIs made while the engine lists the stack (InfluxDB's databases,
//! Grafana's dashboards), so a plan waits for the slower of the two instead of their sum.
//!
//! Owns: running the reads beside the engine's listing, keeping a read only where its service
//! turned out to run, and reading again where a read made on speculation failed.
//! May not: know what a read reads (that is [`super::observe`]'s), print, or read the environment.

use std::future::Future;
use std::pin::Pin;

use futures_util::FutureExt;
use futures_util::future::{LocalBoxFuture, maybe_done};

use crate::desired::{ResourceId, ResourceKind};
use crate::error::{Error, Result};
use crate::plan::{Observed, ObservedResource};

/// A read of one service's own API that [`super::observe::observe`] starts together with the engine's listings:
/// it counts only when that service's container runs and is healthy (otherwise it is dropped,
/// unfinished, with whatever it found or failed with).
pub(super) struct ServiceRead<'a> {
    service: ResourceId,
    read: LocalBoxFuture<'a, Result<Vec<ObservedResource>>>,
    /// Where the read failed although the service turned out to run: read again this way
    /// (started only then), instead of failing with the read's error.
    again: Option<LocalBoxFuture<'a, Result<Vec<ObservedResource>>>>,
}

impl<'a> ServiceRead<'a> {
    pub(super) fn new(
        service: &str,
        read: impl Future<Output = Result<Vec<ObservedResource>>> + 'a,
    ) -> Self {
        Self {
            service: ResourceId::new(ResourceKind::Service, service),
            read: read.boxed_local(),
            again: None,
        }
    }

    pub(super) fn or_again(
        mut self,
        again: impl Future<Output = Result<Vec<ObservedResource>>> + 'a,
    ) -> Self {
        self.again = Some(again.boxed_local());
        self
    }
}

/// Run `engine` and every read at the same time; once `engine` is done, add what each read
/// found (or fail with its error, once its `again` failed too) where its service, as observed,
/// is `usable` (it runs, healthy, where the reads looked), and drop the others unfinished.
pub(super) async fn with_service_reads(
    engine: impl Future<Output = Result<Observed>>,
    reads: Vec<ServiceRead<'_>>,
    usable: impl Fn(&ObservedResource) -> bool,
) -> Result<Observed> {
    let (ids, mut reads): (Vec<_>, Vec<_>) = reads
        .into_iter()
        .map(|r| ((r.service, r.again), maybe_done(r.read)))
        .unzip();
    let mut engine = std::pin::pin!(engine);
    let mut observed = std::future::poll_fn(|cx| {
        for read in &mut reads {
            let _ = Pin::new(read).poll(cx);
        }
        engine.as_mut().poll(cx)
    })
    .await?;
    for ((id, again), mut read) in ids.into_iter().zip(reads) {
        if observed.resources.get(&id).is_some_and(&usable) {
            (&mut read).await;
            let found = Pin::new(&mut read)
                .take_output()
                .ok_or_else(|| Error::internal("an observe read was awaited but has no output"))?;
            let found = match (found, again) {
                (Err(_), Some(again)) => again.await,
                (found, _) => found,
            };
            observed.extend(found?);
        }
    }
    Ok(observed)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn resource(kind: ResourceKind, name: &str, converged: bool) -> ObservedResource {
        ObservedResource {
            id: ResourceId::new(kind, name),
            hash: None,
            canonical: Value::Null,
            converged,
        }
    }

    /// The engine's listing with one `influxdb` container, converged or not.
    fn engine(converged: bool) -> Observed {
        let mut o = Observed::default();
        let influx = resource(ResourceKind::Service, "influxdb", converged);
        o.resources.insert(influx.id.clone(), influx);
        o
    }

    fn converged(o: &ObservedResource) -> bool {
        o.converged
    }

    fn influx_read<'a>(
        read: impl Future<Output = Result<Vec<ObservedResource>>> + 'a,
    ) -> Vec<ServiceRead<'a>> {
        vec![ServiceRead::new("influxdb", read)]
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(5), f)
                    .await
                    .expect("the reads ran one after another (deadlock)")
            })
    }

    #[test]
    fn service_reads_run_while_the_engine_is_listed() {
        // The engine finishes only after the read has started: one after the other never ends.
        let (started, wait) = tokio::sync::oneshot::channel::<()>();
        let engine = async move {
            wait.await.expect("the read started");
            Ok(engine(true))
        };
        let read = async move {
            let _ = started.send(());
            Ok(vec![resource(ResourceKind::Database, "k6", true)])
        };
        let observed =
            run(with_service_reads(engine, influx_read(read), converged)).expect("observed");
        let ids: Vec<String> = observed.resources.keys().map(|id| id.to_string()).collect();
        assert_eq!(ids, ["service.influxdb", "database.k6"]);
    }

    #[test]
    fn a_read_counts_only_where_its_service_converged() {
        let failing = || async { Err(Error::internal("influx refused")) };
        // InfluxDB not healthy: its read is dropped, error included (as if never made).
        let observed = run(with_service_reads(
            async { Ok(engine(false)) },
            influx_read(failing()),
            converged,
        ))
        .expect("a dropped read cannot fail observe");
        assert_eq!(observed, engine(false));
        // Healthy: its error is observe's error.
        let err = run(with_service_reads(
            async { Ok(engine(true)) },
            influx_read(failing()),
            converged,
        ))
        .expect_err("the read's error");
        assert!(
            matches!(&err, Error::Internal { message } if message == "influx refused"),
            "{err:?}"
        );
    }

    #[test]
    fn a_failed_read_is_made_again_only_where_its_service_converged() {
        let again_started = std::rc::Rc::new(std::cell::Cell::new(false));
        let reads = || {
            let flag = again_started.clone();
            vec![
                ServiceRead::new("influxdb", async { Err(Error::internal("not yet")) }).or_again(
                    async move {
                        flag.set(true);
                        Ok(vec![resource(ResourceKind::Database, "k6", true)])
                    },
                ),
            ]
        };
        // Not converged: the failed read is dropped and its `again` never starts.
        let observed = run(with_service_reads(
            async { Ok(engine(false)) },
            reads(),
            converged,
        ))
        .expect("a dropped read cannot fail observe");
        assert_eq!(observed, engine(false));
        assert!(
            !again_started.get(),
            "`again` started for a service that is down"
        );
        // Converged: `again` replaces the failed read.
        let observed = run(with_service_reads(
            async { Ok(engine(true)) },
            reads(),
            converged,
        ))
        .expect("`again` succeeded");
        assert!(again_started.get());
        let ids: Vec<String> = observed.resources.keys().map(|id| id.to_string()).collect();
        assert_eq!(ids, ["service.influxdb", "database.k6"]);
    }
}
