//! One module per command, in cargo's shape: the clap arguments, and `run(globals, args)`, which
//! turns the arguments into settings, calls one library function (`ops::`, `deploy::`) and hands
//! the result to a printer (`cli::print`).
//!
//! Owns: what each command's flags mean and its exit code.
//! May not: render output itself (that is `cli::print`), hold logic a library function could,
//! read the environment other than through clap or [`crate::settings`].

pub mod apply;
mod args;
pub mod backup;
pub mod completions;
pub mod control_api;
pub mod dashboards;
pub mod destroy;
pub mod doctor;
pub mod generate;
pub mod k6;
pub mod logs;
pub mod output;
pub mod plan;
pub mod restart;
pub mod runs;
pub mod schema;
pub mod secrets;
pub mod status;
pub mod validate;
