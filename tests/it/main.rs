//! promo-infra's integration tests: one binary, one module per area.
// Benchmarks and tests report on stdout/stderr and read their environment (CI, DOCKER_HOST).
#![allow(clippy::print_stdout, clippy::print_stderr, clippy::disallowed_methods)]

#[macro_use]
mod common;

mod apply_approval;
mod backup;
mod bad_input;
mod cloud;
mod control;
mod crash;
mod dashboards;
mod dashboards_live;
mod dashboards_scale;
mod dashboards_vc;
mod docker;
mod docker_attached;
mod docker_lost_env;
mod docker_reload;
mod docker_v2;
mod doctor;
mod doctor_live;
mod engine;
mod exit_codes;
mod fuzz;
mod generate;
mod grafana_api;
mod influx;
mod influxd;
mod injection;
mod interrupt;
mod journey;
mod k6;
mod k6_fixture;
mod lock;
pub mod native;
mod native_hints;
mod native_lost_env;
mod native_unanswered;
mod plan_cases;
mod runs;
mod runs_capacity;
mod runs_report;
mod saved_plan;
mod schema_agreement;
mod secrets;
mod secrets_live;
mod stack_choice;
mod standin;
mod stop_docker;
mod stop_rotate;
mod stop_session;
mod systemd;
mod tamper;
mod verbs;
