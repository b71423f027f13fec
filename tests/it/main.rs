//! promo-infra's integration tests: one binary, one module per area.

mod bad_input;
mod common;
mod control;
mod generate;
mod influx;
mod influxd;
mod k6;
mod native;
mod secrets;
mod standin;
mod systemd;
