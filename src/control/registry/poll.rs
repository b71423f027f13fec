//! The waiting side of the registry: the wrapper's long poll, a stop request waiting for the
//! wrapper's acknowledgement and k6's exit, and the reports that wake them.
//!
//! May not: do network or file IO, signal a process, know HTTP.

use std::time::{Duration, Instant};

use super::{Annotated, Ended, Progress, Registry, StopOrder};

impl Registry {
    /// What the wrapper has done about `testid`'s stop.
    pub fn progress(&self, testid: &str) -> Progress {
        self.lock()
            .get(testid)
            .map(|e| Progress {
                signals: e.signals.clone(),
                ended: e.ended.as_ref().map(|(end, _)| end.clone()),
                annotation: e.annotation.clone(),
            })
            .unwrap_or_default()
    }

    /// Wait until `done(progress)` or `limit`; returns the last progress and whether it was done.
    pub async fn wait(
        &self,
        testid: &str,
        limit: Duration,
        done: impl Fn(&Progress) -> bool,
    ) -> (Progress, bool) {
        let deadline = tokio::time::Instant::now() + limit;
        let mut rx = self.changes.subscribe();
        loop {
            rx.borrow_and_update();
            let p = self.progress(testid);
            if done(&p) {
                return (p, true);
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                let p = self.progress(testid);
                let ok = done(&p);
                return (p, ok);
            }
        }
    }

    /// The wrapper's long poll: renews the lease and returns the stop order as soon as its
    /// version is above `seen`, or `(version, None)` after `wait`. `None` when the run is
    /// unknown (the API restarted, or the run ended): the wrapper registers again.
    pub async fn poll(
        &self,
        testid: &str,
        seen: u64,
        wait: Duration,
    ) -> Option<(u64, Option<StopOrder>)> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut rx = self.changes.subscribe();
        loop {
            rx.borrow_and_update();
            {
                let now = Instant::now();
                let mut map = self.lock();
                let e = map.get_mut(testid).filter(|e| e.ended.is_none())?;
                e.last_seen = now;
                // Alive while the poll is open, and a lease after it returns.
                e.lease_until = now + wait + self.lease;
                if e.stop_version > seen || self.closing.load(std::sync::atomic::Ordering::SeqCst) {
                    e.lease_until = now + self.lease;
                    return Some((e.stop_version, e.stop.clone()));
                }
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                let now = Instant::now();
                let mut map = self.lock();
                let e = map.get_mut(testid).filter(|e| e.ended.is_none())?;
                e.last_seen = now;
                e.lease_until = now + self.lease;
                return Some((e.stop_version, e.stop.clone()));
            }
        }
    }

    /// The wrapper acknowledges: it has sent these signals (cumulative list).
    pub fn ack(&self, testid: &str, signals: Vec<String>) -> bool {
        let mut map = self.lock();
        let Some(e) = map.get_mut(testid) else {
            return false;
        };
        e.signals = signals;
        e.last_seen = Instant::now();
        drop(map);
        self.bump();
        true
    }

    /// The wrapper reports the end of the run.
    pub fn end(&self, testid: &str, ended: Ended) -> bool {
        let mut map = self.lock();
        let Some(e) = map.get_mut(testid) else {
            return false;
        };
        e.ended = Some((ended, Instant::now()));
        drop(map);
        self.bump();
        true
    }

    /// Record the result of the "stopped by hand" annotation.
    pub fn set_annotation(&self, testid: &str, result: Annotated) {
        if let Some(e) = self.lock().get_mut(testid) {
            e.annotation = Some(result);
        }
        self.bump();
    }
}
