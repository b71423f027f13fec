//! The control API's state: the runs `k6 run` registered, their leases, and their stop
//! requests. The API is the coordinator of stops: it never signals a process itself. A stop
//! request is recorded once per run (idempotent: a second request joins the first, so however
//! many people press STOP, the wrapper is told once and sends k6 exactly one SIGINT); the
//! wrapper learns of it by polling, signals its own child and acknowledges.
//!
//! Every change bumps a [`tokio::sync::watch`] counter so long polls and waiting stop requests
//! wake up at once, without a busy loop ([`poll`]: the waiting side).
//!
//! Owns: the runs in memory, leases, stop orders and their versions.
//! May not: do network or file IO, signal a process, know HTTP.

mod poll;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::protocol::{Ended, RunInfo, StopOrder};

struct Entry {
    info: RunInfo,
    registered: u64,
    lease_until: Instant,
    last_seen: Instant,
    stop: Option<StopOrder>,
    /// Bumped when the stop order is created or escalated (what a poll waits for).
    stop_version: u64,
    /// Signals the wrapper says it sent, in order.
    signals: Vec<String>,
    ended: Option<(Ended, Instant)>,
    /// Result of the "stopped by hand" annotation, once posted.
    annotation: Option<Annotated>,
}

/// What became of a stop's "stopped by hand" annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Annotated {
    /// Grafana stored it, with this id.
    Posted(u64),
    /// Posting it failed (why, without a secret).
    Failed(String),
    /// The API has no Grafana credentials.
    NotConfigured,
}

/// A run found for a stop or the STOP page.
#[derive(Debug, Clone)]
pub struct Found {
    /// What was registered.
    pub info: RunInfo,
}

/// Why no run could be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// Nothing registered and alive.
    None {
        /// Why the last known run is not running any more.
        detail: Option<String>,
    },
    /// The named test is not the running one.
    Other {
        /// The test asked for.
        wanted: String,
        /// The tests running, newest first.
        running: Vec<String>,
    },
    /// Several runs are alive and none was named.
    Several(Vec<String>),
}

/// Outcome of a stop request.
#[derive(Debug, Clone)]
pub struct Requested {
    /// Test id.
    pub testid: String,
    /// `false` when it joined an earlier request (nothing new was sent to the wrapper, unless
    /// it escalated to `force`).
    pub created: bool,
    /// The order as the wrapper sees it.
    pub order: StopOrder,
    /// The run.
    pub info: RunInfo,
}

/// What the wrapper has done about a stop, seen by the API.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Signals sent so far.
    pub signals: Vec<String>,
    /// The run ended.
    pub ended: Option<Ended>,
    /// The annotation result, if posted.
    pub annotation: Option<Annotated>,
}

/// The registry of runs.
pub struct Registry {
    runs: Mutex<HashMap<String, Entry>>,
    changes: watch::Sender<u64>,
    lease: Duration,
    counter: Mutex<u64>,
    closing: std::sync::atomic::AtomicBool,
}

/// At most this many runs are remembered (running, recently ended or expired).
pub const MAX_RUNS: usize = 256;

/// How long an ended run is remembered (so a stop waiting on it can report the exit).
const KEEP_ENDED: Duration = Duration::from_secs(120);

impl Registry {
    /// A registry whose runs expire `lease` after the wrapper last polled.
    pub fn new(lease: Duration) -> Self {
        Self {
            runs: Mutex::new(HashMap::new()),
            changes: watch::Sender::new(0),
            lease,
            counter: Mutex::new(0),
            closing: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The server is shutting down: open and new polls answer at once.
    pub fn close(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.bump();
    }

    /// The lease of a run.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn alive(e: &Entry, now: Instant) -> bool {
        e.ended.is_none() && e.lease_until > now
    }

    fn prune(map: &mut HashMap<String, Entry>, now: Instant) {
        map.retain(|_, e| match &e.ended {
            Some((_, at)) => now.duration_since(*at) < KEEP_ENDED,
            // An expired lease is kept a while so `current` can say why there is no test.
            None => e.lease_until + KEEP_ENDED > now,
        });
    }

    /// Register (or re-register, idempotently) a run; renews its lease. `false` when
    /// [`MAX_RUNS`] runs are already known (nothing registered).
    pub fn register(&self, info: RunInfo) -> bool {
        let now = Instant::now();
        let registered = {
            let mut c = self.counter.lock().unwrap_or_else(|p| p.into_inner());
            *c += 1;
            *c
        };
        let mut map = self.lock();
        Self::prune(&mut map, now);
        if map.len() >= MAX_RUNS && !map.contains_key(&info.testid) {
            return false;
        }
        match map.get_mut(&info.testid) {
            Some(e) if e.ended.is_none() => {
                e.info = info;
                e.lease_until = now + self.lease;
                e.last_seen = now;
            }
            _ => {
                map.insert(
                    info.testid.clone(),
                    Entry {
                        info,
                        registered,
                        lease_until: now + self.lease,
                        last_seen: now,
                        stop: None,
                        stop_version: 0,
                        signals: Vec::new(),
                        ended: None,
                        annotation: None,
                    },
                );
            }
        }
        drop(map);
        self.bump();
        true
    }

    /// The alive run named `testid`, or the only alive run when `testid` is `None`; with no
    /// name and several runs, [`Missing::Several`]; the newest first in `running` lists.
    pub fn find(&self, testid: Option<&str>) -> Result<Found, Missing> {
        let now = Instant::now();
        let map = self.lock();
        let mut alive: Vec<&Entry> = map.values().filter(|e| Self::alive(e, now)).collect();
        alive.sort_by_key(|e| std::cmp::Reverse(e.registered));
        let names = || alive.iter().map(|e| e.info.testid.clone()).collect();
        match testid {
            Some(t) => match map.get(t) {
                Some(e) if Self::alive(e, now) => Ok(Found {
                    info: e.info.clone(),
                }),
                Some(e) if alive.is_empty() => Err(Missing::None {
                    detail: Some(Self::why_gone(e, now)),
                }),
                _ if alive.is_empty() => Err(Missing::None { detail: None }),
                _ => Err(Missing::Other {
                    wanted: t.to_string(),
                    running: names(),
                }),
            },
            None => match alive.as_slice() {
                [] => {
                    let last = map.values().max_by_key(|e| e.registered);
                    Err(Missing::None {
                        detail: last.map(|e| Self::why_gone(e, now)),
                    })
                }
                [one] => Ok(Found {
                    info: one.info.clone(),
                }),
                _ => Err(Missing::Several(names())),
            },
        }
    }

    /// The newest alive run (`GET /api/tests/current`).
    pub fn current(&self) -> Result<Found, Missing> {
        let now = Instant::now();
        let map = self.lock();
        let newest = map
            .values()
            .filter(|e| Self::alive(e, now))
            .max_by_key(|e| e.registered);
        match newest {
            Some(e) => Ok(Found {
                info: e.info.clone(),
            }),
            None => Err(Missing::None {
                detail: map
                    .values()
                    .max_by_key(|e| e.registered)
                    .map(|e| Self::why_gone(e, now)),
            }),
        }
    }

    fn why_gone(e: &Entry, now: Instant) -> String {
        match &e.ended {
            Some((end, _)) => format!(
                "test {} ended ({}, k6 exit {})",
                e.info.testid, end.ending, end.exit_code
            ),
            None => format!(
                "test {} stopped reporting: its `k6 run` on {} last polled {} s ago (killed, or cut off from this API)",
                e.info.testid,
                if e.info.host.is_empty() {
                    "its host"
                } else {
                    &e.info.host
                },
                now.duration_since(e.last_seen).as_secs()
            ),
        }
    }

    /// Record a stop request for the run `testid` (or the only alive run). Idempotent: a
    /// request for a run already being stopped joins it (the first requester is the one
    /// reported); `force` escalates an earlier graceful request.
    pub fn request_stop(
        &self,
        testid: Option<&str>,
        by: &str,
        at: &str,
        force: bool,
        grace: Duration,
    ) -> Result<Requested, Missing> {
        let found = self.find(testid)?;
        let mut map = self.lock();
        let Some(e) = map.get_mut(&found.info.testid) else {
            return Err(Missing::None { detail: None });
        };
        let (created, changed) = match &mut e.stop {
            None => {
                e.stop = Some(StopOrder {
                    by: by.to_string(),
                    at: at.to_string(),
                    force,
                    grace_s: grace.as_secs(),
                });
                (true, true)
            }
            Some(order) if force && !order.force => {
                order.force = true;
                order.grace_s = grace.as_secs();
                (false, true)
            }
            Some(_) => (false, false),
        };
        if changed {
            e.stop_version += 1;
        }
        let out = Requested {
            testid: e.info.testid.clone(),
            created,
            order: e.stop.clone().unwrap_or_else(|| StopOrder {
                by: by.into(),
                at: at.into(),
                force,
                grace_s: grace.as_secs(),
            }),
            info: e.info.clone(),
        };
        drop(map);
        if changed {
            self.bump();
        }
        Ok(out)
    }
}
