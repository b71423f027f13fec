//! promo-infra's integration tests: one binary, one module per area.

mod backup;
mod bad_input;
mod common;
mod control;
mod dashboards;
mod docker;
mod generate;
mod influx;
mod influxd;
mod k6;
mod k6_fixture;
mod native;
mod secrets;
mod standin;
mod stop_docker;
mod systemd;
