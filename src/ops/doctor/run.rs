//! Running checks: each on a thread of its own, bounded by a timeout, so a service that never
//! answers gives a fail line ("did not answer within 10 s") instead of a hung `doctor`. Results
//! come back in the order the checks were given, whatever order they finish in.
//!
//! Owns: the threads and the timeout. May not: know what any check does, print.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{Finding, Level};

/// A named check producing its findings.
pub(super) struct Check {
    name: String,
    run: Box<dyn FnOnce() -> Vec<Finding> + Send>,
}

impl Check {
    /// Its name (that of its timeout line).
    pub(super) fn name(&self) -> &str {
        &self.name
    }
}

/// A check named `name` (the name of its timeout line).
pub(super) fn check(
    name: impl Into<String>,
    run: impl FnOnce() -> Vec<Finding> + Send + 'static,
) -> Check {
    Check {
        name: name.into(),
        run: Box::new(run),
    }
}

/// The line of a check that took longer than `timeout`.
fn timed_out(name: &str, timeout: Duration) -> Finding {
    Finding::new(
        name,
        Level::Fail,
        format!("did not answer within {} s", timeout.as_secs_f64()),
        "a service or the engine hangs: `promo-infra status` and `promo-infra logs SERVICE` show which",
    )
}

/// `f` on a thread of its own; its timeout line when it does not finish within `timeout` (the
/// thread is left to end on its own: it only reads).
pub(super) fn bounded<T: Send + 'static>(
    name: &str,
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Finding> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(timeout)
        .map_err(|_| timed_out(name, timeout))
}

/// Every check at once, each bounded by `timeout` from the start; findings in the checks' order.
pub(super) fn concurrently(checks: Vec<Check>, timeout: Duration) -> Vec<Finding> {
    let deadline = Instant::now() + timeout;
    let pending: Vec<(String, mpsc::Receiver<Vec<Finding>>)> = checks
        .into_iter()
        .map(|c| {
            let (tx, rx) = mpsc::channel();
            let run = c.run;
            std::thread::spawn(move || {
                let _ = tx.send(run());
            });
            (c.name, rx)
        })
        .collect();
    pending
        .into_iter()
        .flat_map(|(name, rx)| {
            let left = deadline.saturating_duration_since(Instant::now());
            rx.recv_timeout(left)
                .unwrap_or_else(|_| vec![timed_out(&name, timeout)])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hung_check_is_a_fail_line_and_the_others_keep_their_order() {
        let slow = check("slow", || {
            std::thread::sleep(Duration::from_secs(5));
            vec![]
        });
        let fast = check("fast", || vec![Finding::ok("fast", "fine")]);
        let started = Instant::now();
        let out = concurrently(vec![slow, fast], Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            out,
            vec![
                Finding::new(
                    "slow",
                    Level::Fail,
                    "did not answer within 0.2 s",
                    "a service or the engine hangs: `promo-infra status` and `promo-infra logs SERVICE` show which"
                ),
                Finding::ok("fast", "fine"),
            ]
        );
    }
}
