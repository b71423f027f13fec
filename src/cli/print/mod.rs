//! Printers: each turns one command's result into the lines a person reads on stdout.
//!
//! Owns: the wording and order of every line a command prints (tables, plans, summaries).
//! May not: decide anything (exit codes and errors are the commands'), read the environment,
//! talk to a target, write files.

pub mod backup;
pub mod capacity;
pub mod dashboards;
pub mod deploy;
pub mod files;
pub mod runs;
pub mod verbs;
