//! Test doubles for promo-infra: an in-memory double of the Grafana HTTP API ([`grafana`]) and
//! of the InfluxDB 2 HTTP API ([`influx2`]).
//!
//! They follow the published API descriptions closely enough for promo-infra's tests, and are
//! **not** Grafana or InfluxDB. Each double runs in-process (`spawn`) or as a binary
//! (`grafana-double`, `influxdb2-double`), binds 127.0.0.1 by default, records requests, and
//! can inject faults (429 with `Retry-After`, 5xx) for retry tests.
// The doubles are configured through their environment, like the servers they stand in for.
#![allow(clippy::disallowed_methods)]

pub mod common;
pub mod grafana;
pub mod influx2;
pub mod pace;

pub use common::{FaultSpec, RequestRecord};
