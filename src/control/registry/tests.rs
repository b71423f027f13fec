//! Registry: idempotent stops, leases, several runs.

use std::time::Duration;

use super::{Missing, Registry};
use crate::control::protocol::{Ended, RunInfo};

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
