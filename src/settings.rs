//! The process environment: the one module that reads environment variables.
//!
//! Owns: every `std::env` read of the library (`PATH`, `DOCKER_HOST`, secrets provided through
//! the environment, the test clocks). Everything else asks here, so what the tool reads from its
//! environment is listed in one place and a test can see it all.
//! May not: write the environment, or know what any variable means beyond its name.
#![allow(clippy::disallowed_methods)]

use std::ffi::OsString;
use std::path::PathBuf;

/// `DOCKER_HOST`: where the Docker engine listens (unset: the local socket).
pub const DOCKER_HOST: &str = "DOCKER_HOST";

/// A variable's value; `None` when unset or not UTF-8.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A variable's value; `None` when unset, empty or not UTF-8 (an empty value means "not set"
/// for secrets and URLs).
pub fn non_empty(name: &str) -> Option<String> {
    var(name).filter(|v| !v.is_empty())
}

/// A variable's raw value (paths may not be UTF-8).
pub fn var_os(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// `PATH`, split into directories.
pub fn path_dirs() -> Vec<PathBuf> {
    var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default()
}

/// `DOCKER_HOST`, when set and not empty.
pub fn docker_host() -> Option<String> {
    non_empty(DOCKER_HOST)
}

/// The running promo-infra binary (for units and supervised children that call back into it).
pub fn current_exe() -> std::io::Result<PathBuf> {
    std::env::current_exe()
}
