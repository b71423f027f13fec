//! Grafana's HTTP API, as dashboard version control and the cloud target use it: one client
//! with Basic or service-account-token auth, timeouts, bounded retries that honour `429` and
//! `Retry-After`, a concurrency limit, and errors that name the method and URL and never a
//! credential.
//!
//! Owns: talking to a Grafana (`client`; `annotations`), normalising dashboards for comparison (`normalize`),
//! the semantic diff of two dashboards (`diff`), the digests plans compare (`digest`) and
//! pushing generated dashboards (`sync`).
//! May not: print, read the environment (credentials are given), write files.

mod annotations;
mod client;
pub mod diff;
pub mod digest;
pub mod normalize;
pub mod sync;

pub use annotations::Annotation;
pub use client::{Auth, Client, DashboardVersion, Saved};
