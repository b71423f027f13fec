//! One file per command: parse (clap) → settings → one library call → print.
//!
//! May not: hold logic a test of the library could not reach.

pub mod control_api;
pub mod k6;
