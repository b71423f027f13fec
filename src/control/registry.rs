//! The control API's state: the runs `k6 run` registered, their leases, and their stop
//! requests. The API is the coordinator of stops: it never signals a process itself. A stop
//! request is recorded once per run (idempotent: a second request joins the first, so however
//! many people press STOP, the wrapper is told once and sends k6 exactly one SIGINT); the
//! wrapper learns of it by polling, signals its own child and acknowledges.
//!
//! Every change bumps a [`tokio::sync::watch`] counter so long polls and waiting stop requests
//! wake up at once, without a busy loop.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// What `k6 run` registers (`POST /api/runs`). Re-registering the same testid updates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    /// Test id.
    pub testid: String,
    /// Promotion name.
    pub promo: String,
    /// Promotion type.
    pub promo_type: String,
    /// Start of the test, RFC 3339 UTC.
    pub started_at: String,
    /// Stack the wrapper runs for.
    pub stack: String,
    /// Host name where `k6 run` runs (information only).
    #[serde(default)]
    pub host: String,
    /// pid of k6 on that host, once started (information only: never signalled by the API).
    #[serde(default)]
    pub pid: Option<i32>,
}

/// A stop request as the wrapper sees it (`POST /api/runs/{testid}/poll`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopOrder {
    /// Who asked first (`API`, `STOP page, <user>`).
    pub by: String,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// Escalate (SIGTERM, then SIGKILL) if k6 is still running `grace_s` after the SIGINT.
    pub force: bool,
    /// Grace period in seconds.
    pub grace_s: u64,
}

/// How a run ended, as the wrapper reports it (`POST /api/runs/{testid}/end`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    /// k6's exit code.
    pub exit_code: i32,
    /// `completed`, `stopped`, `aborted_by_thresholds`, `failed`.
    pub ending: String,
}

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
    annotation: Option<String>,
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
    pub annotation: Option<String>,
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
    pub fn set_annotation(&self, testid: &str, result: String) {
        if let Some(e) = self.lock().get_mut(testid) {
            e.annotation = Some(result);
        }
        self.bump();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(t: &str) -> RunInfo {
        RunInfo {
            testid: t.into(),
            promo: "p".into(),
            promo_type: "standard".into(),
            started_at: "2026-11-27T09:30:00Z".into(),
            stack: "s".into(),
            host: "h".into(),
            pid: None,
        }
    }

    #[tokio::test]
    async fn many_stop_requests_make_one_order_and_force_escalates_it_once() {
        let r = Registry::new(Duration::from_secs(30));
        r.register(info("t1"));
        let first = r
            .request_stop(None, "API", "now", false, Duration::from_secs(5))
            .unwrap();
        assert!(first.created);
        for _ in 0..10 {
            let again = r
                .request_stop(
                    Some("t1"),
                    "STOP page, bob",
                    "later",
                    false,
                    Duration::from_secs(5),
                )
                .unwrap();
            assert!(!again.created);
            assert_eq!(again.order.by, "API", "the first requester is kept");
        }
        let (v, order) = r.poll("t1", 0, Duration::from_millis(10)).await.unwrap();
        assert_eq!((v, order.unwrap().force), (1, false));
        // Nothing new: the poll waits and returns the same version.
        let (v2, _) = r.poll("t1", v, Duration::from_millis(20)).await.unwrap();
        assert_eq!(v2, 1);
        let forced = r
            .request_stop(Some("t1"), "API", "later", true, Duration::from_secs(1))
            .unwrap();
        assert!(!forced.created && forced.order.force);
        let (v3, order) = r.poll("t1", v2, Duration::from_millis(10)).await.unwrap();
        assert_eq!((v3, order.unwrap().force), (2, true));
        r.request_stop(Some("t1"), "API", "later", true, Duration::from_secs(1))
            .unwrap();
        let (v4, _) = r.poll("t1", v3, Duration::from_millis(10)).await.unwrap();
        assert_eq!(v4, 2, "a second force changes nothing");
    }

    #[tokio::test]
    async fn an_expired_lease_is_no_running_test_and_says_why() {
        let r = Registry::new(Duration::from_millis(50));
        r.register(info("t1"));
        assert!(r.current().is_ok());
        tokio::time::sleep(Duration::from_millis(80)).await;
        match r.current() {
            Err(Missing::None { detail: Some(d) }) => {
                assert!(d.contains("stopped reporting"), "{d}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            r.request_stop(Some("t1"), "API", "now", false, Duration::from_secs(1))
                .is_err()
        );
    }

    #[tokio::test]
    async fn several_runs_need_a_testid_and_a_wrong_one_is_named() {
        let r = Registry::new(Duration::from_secs(30));
        r.register(info("a"));
        r.register(info("b"));
        assert_eq!(
            r.find(None).unwrap_err(),
            Missing::Several(vec!["b".into(), "a".into()])
        );
        assert!(matches!(r.find(Some("c")), Err(Missing::Other { .. })));
        assert_eq!(r.current().unwrap().info.testid, "b");
        r.end(
            "b",
            Ended {
                exit_code: 0,
                ending: "completed".into(),
            },
        );
        assert_eq!(r.find(None).unwrap().info.testid, "a");
        assert!(r.poll("b", 0, Duration::from_millis(1)).await.is_none());
    }
}
