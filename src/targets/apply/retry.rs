//! Retries of a step (or a read) that failed transiently, with backoff; none once an apply was
//! asked to stop ([`Interrupt`]): the step then fails with the error it got, and is reported
//! with the others that were not done.
//!
//! Owns: [`retry`], what counts as transient ([`is_transient`]), the attempts of a step.
//! May not: print (the warning before a retry goes through `tracing`).

use std::cell::Cell;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use super::Interrupt;
use crate::error::{Error, Result};

/// Attempts per step (the first try and three retries).
pub(super) const ATTEMPTS: u32 = 4;

/// An error a target may see succeed on retry (engine busy, connection reset, 429/5xx).
pub fn is_transient(err: &Error) -> bool {
    matches!(err, Error::Transient { .. })
}

/// Run `f` up to `attempts` times while it fails with a transient error ([`is_transient`]),
/// backing off 0.5 s, 1 s, 2 s... and logging a warning before each retry.
pub async fn retry<T, F, Fut>(what: &str, attempts: u32, f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    retry_from(what, attempts, Duration::from_millis(500), None, f).await
}

/// [`retry`], but not once `interrupt` was requested.
pub(super) async fn retry_until<T, F, Fut>(
    what: &str,
    attempts: u32,
    interrupt: &Interrupt,
    f: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    retry_from(
        what,
        attempts,
        Duration::from_millis(500),
        Some(interrupt),
        f,
    )
    .await
}

/// [`retry`] with the first delay given (each next one doubles), and no retry once `until`
/// was requested.
pub(super) async fn retry_from<T, F, Fut>(
    what: &str,
    attempts: u32,
    first: Duration,
    until: Option<&Interrupt>,
    f: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let attempt = Cell::new(1u32);
    let backoff = ExponentialBuilder::default()
        .with_min_delay(first)
        .with_factor(2.0)
        .with_max_delay(Duration::from_secs(60))
        .with_max_times(attempts.saturating_sub(1) as usize);
    f.retry(backoff)
        .when(|e: &Error| is_transient(e) && !until.is_some_and(Interrupt::requested))
        .notify(|e: &Error, delay: Duration| {
            let n = attempt.get();
            tracing::warn!(
                "{what}: {e}; retrying in {} ms (attempt {n}/{attempts})",
                delay.as_millis()
            );
            attempt.set(n + 1);
        })
        .await
}
