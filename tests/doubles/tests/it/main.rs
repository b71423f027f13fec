//! The doubles' integration tests, one binary (one link, one copy of `support`): each module
//! exercises a double over 127.0.0.1 or as a process.

mod binaries;
mod grafana_10_2;
mod grafana_api;
mod grafana_cloud;
mod grafana_persist;
mod grafana_provisioning;
mod influx2;
mod influx2_cloud;
mod support;
