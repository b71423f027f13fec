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
//! | [`manifest`] | load (typed, with line:col) and validate (semantic checks) |
//! | [`compile`] | pure `Manifest → Desired`: generated files + runtime resources with hashes |
//! | [`desired`] | the `Desired` model everything downstream consumes |
//! | [`writer`] | the one writer: atomic, write-if-changed, hand-edit ledger, `--check` diffs |
//! | [`secrets`] | the secrets catalog and `.env` (0600, created once, never printed) |
//! | [`backup`] | backups of InfluxDB: run, list, rotate (restic semantics), restore |
//! | [`ops`] | one function per command; the CLI is a thin layer over these |
//! | [`k6`] | `k6 build/env/exec/run`: the custom binary, run variables, tracked and graded runs |
//! | [`control`] | the emergency-stop control API (`control-api`) |
//! | [`cli`] | clap definitions and output formatting |
#![deny(missing_docs)]

pub mod backup;
pub mod cli;
pub mod compile;
pub mod control;
pub mod desired;
pub mod error;
pub mod influx;
pub mod k6;
pub mod lock;
pub mod manifest;
pub mod net;
pub mod ops;
pub mod plan;
pub mod project;
pub mod secrets;
pub mod settings;
pub mod targets;
pub mod writer;

pub use error::{Error, Result};
