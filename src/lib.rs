//! promo-infra: infrastructure-as-code for the monitoring stack around k6 load tests.
//!
//! One declarative manifest (`stacks/*.yaml`) goes through one pipeline:
//!
//! ```text
//! load ─▶ validate ─▶ compile (pure) ─▶ Desired ─┐
//!                                                ├─▶ plan (pure) ─▶ Plan ─▶ apply (IO, per target)
//!                        observe (IO, per target) ┘
//! ```
//!
//! | module | step |
//! |---|---|
//! | [`manifest`] | load (typed, with line:col), recover past bad keys, validate, the JSON Schema |
//! | [`compile`] | pure `Manifest × TargetKind → Desired`: generated files + runtime resources |
//! | [`desired`] | the `Desired` model everything downstream consumes |
//! | [`plan`] | pure diff `Desired × Observed → Plan`, and its rendering |
//! | [`targets`] | the `Target` contract, [`targets::for_kind`], the executor; docker, native, cloud, fake |
//! | [`writer`] | the one writer: atomic, write-if-changed, hand-edit ledger, `--check` diffs |
//! | [`secrets`] | the secrets catalog and `.env` (0600, created once, never printed) |
//! | [`influx`] | the one InfluxDB client (1.x and 2.x) and the database resource |
//! | [`grafana`] | the one Grafana API client, dashboard normalisation and the panel-by-panel diff |
//! | [`backup`] | backups of InfluxDB: run, list, rotate (restic semantics), restore |
//! | [`k6`] | `k6 build/env/exec/run`: the custom binary, run variables, tracked and graded runs |
//! | [`control`] | the emergency-stop control API (`control-api`) |
//! | [`runs`] | after the test: run records, `runs list/show/compare/export` from InfluxDB |
//! | [`ops`] | one function per command over the pipeline; the CLI is a thin layer over these |
//! | [`cli`] | clap, one file per command, printers: the only code that prints |
//! | [`settings`], [`net`], [`error`], [`lock`], [`project`] | the environment (read only there), bind → URL, domain errors, one apply per stack, project paths |
//!
//! `ARCHITECTURE.md` has the module map, the target contract and how to add a target.
#![deny(missing_docs)]

pub mod backup;
pub mod cli;
pub mod compile;
pub mod control;
pub mod desired;
pub mod error;
pub mod grafana;
pub mod influx;
pub mod k6;
pub mod lock;
pub mod manifest;
pub mod net;
pub mod ops;
pub mod plan;
pub mod project;
pub mod runs;
pub mod secrets;
pub mod settings;
pub mod targets;
pub mod writer;

pub use error::{Error, Result};
