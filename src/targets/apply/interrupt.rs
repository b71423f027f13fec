//! A request to stop an apply between steps (the CLI makes one on Ctrl-C), as terraform stops
//! on an interrupt: the steps in flight finish — a step is never dropped half-way (a container
//! created but not started, a token minted but not saved) —, no new step starts, and the apply
//! ends with [`crate::error::Error::Interrupted`], naming what was done and what was not.
//!
//! Owns: the request and the count of steps in flight, changed together under one lock (a
//! `tokio::sync::watch`), so the count the request returns is exact: every step it counts
//! finishes, and none starts after it. May not: handle signals or print (the CLI does both).

use std::sync::Arc;

use tokio::sync::watch;

/// Whether a stop was asked for, and how many steps run now.
#[derive(Debug, Clone, Copy, Default)]
struct State {
    requested: bool,
    in_flight: usize,
}

/// A stop request shared by whoever asks (the CLI's signal handler) and the executor that
/// honours it ([`super::apply_until`]). Clones share the request.
#[derive(Debug, Clone)]
pub struct Interrupt(Arc<watch::Sender<State>>);

impl Default for Interrupt {
    fn default() -> Self {
        Self::new()
    }
}

impl Interrupt {
    /// Not requested; nothing in flight.
    pub fn new() -> Self {
        Self(Arc::new(watch::Sender::new(State::default())))
    }

    /// Ask the executor to start no new step. Returns how many steps are in flight now: they
    /// finish.
    pub fn request(&self) -> usize {
        let mut in_flight = 0;
        self.0.send_modify(|s| {
            s.requested = true;
            in_flight = s.in_flight;
        });
        in_flight
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.0.borrow().requested
    }

    /// Resolves once a stop is asked for (at once if it was).
    pub async fn wait(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives as long as `self`: `wait_for` cannot fail while we wait.
        let _ = rx.wait_for(|s| s.requested).await;
    }

    /// A step may start: counted in flight until the returned guard is dropped. `None` once a
    /// stop was asked for.
    pub(super) fn start(&self) -> Option<InFlight> {
        self.0
            .send_if_modified(|s| {
                if s.requested {
                    return false;
                }
                s.in_flight += 1;
                true
            })
            .then(|| InFlight(self.clone()))
    }
}

/// One step in flight ([`Interrupt::start`]); it has ended when this is dropped.
#[derive(Debug)]
pub(super) struct InFlight(Interrupt);

impl Drop for InFlight {
    fn drop(&mut self) {
        (self.0)
            .0
            .send_modify(|s| s.in_flight = s.in_flight.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_counts_the_steps_in_flight_and_lets_none_start_after_it() {
        let interrupt = Interrupt::new();
        let a = interrupt.start().expect("not requested yet");
        let b = interrupt.start().expect("not requested yet");
        drop(b);
        assert!(!interrupt.requested());
        assert_eq!(interrupt.request(), 1, "a is still in flight");
        assert!(interrupt.requested());
        assert!(interrupt.start().is_none(), "nothing starts once requested");
        drop(a);
        assert_eq!(interrupt.request(), 0);
    }
}
