//! One file per command: parse (clap) → settings → one library call → print.

pub mod control_api;
pub mod k6;
