//! promo-infra's integration tests: one binary, one module per area.

mod backup;
mod bad_input;
mod common;
mod generate;
mod influx;
mod influxd;
mod secrets;
