//! The stop protocol between `k6 run` (the wrapper) and the control API: what is registered,
//! polled, acknowledged and reported, as JSON on the wire. Shared by the server
//! ([`super::routes`]) and the client ([`crate::k6::coordinator`]).
//!
//! Owns: the wire types and their serde shape.
//! May not: do IO, hold state, know HTTP status codes.

use serde::{Deserialize, Serialize};

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
    /// Who asked first (`API`, `STOP page, <user>`): printed by `k6 run` and sent to Slack, so
    /// read as one line of visible text whoever answers the poll (another control API than
    /// ours may hold the URL).
    #[serde(deserialize_with = "visible")]
    pub by: String,
    /// When, RFC 3339 UTC.
    pub at: String,
    /// Escalate (SIGTERM, then SIGKILL) if k6 is still running `grace_s` after the SIGINT.
    pub force: bool,
    /// Grace period in seconds.
    pub grace_s: u64,
}

fn visible<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    String::deserialize(d).map(|by| super::auth::visible(&by, 128))
}

/// How a run ended, as the wrapper reports it (`POST /api/runs/{testid}/end`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    /// k6's exit code.
    pub exit_code: i32,
    /// `completed`, `stopped`, `aborted_by_thresholds`, `failed`.
    pub ending: String,
}

/// Answer to a registration.
#[derive(Debug, Serialize, Deserialize)]
pub struct Registered {
    /// The run expires this long after its last poll.
    pub lease_s: u64,
    /// Longest long poll the API holds.
    pub max_poll_s: u64,
}

/// Answer to a poll.
#[derive(Debug, Serialize, Deserialize)]
pub struct PollAnswer {
    /// Version of the stop order (pass it back as `seen`).
    pub version: u64,
    /// The stop order, if one was requested.
    pub stop: Option<StopOrder>,
}

/// Body of an acknowledgement.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ack {
    /// Every signal sent to k6 so far, in order.
    pub signals: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_order_s_requester_is_read_as_one_line_of_visible_text() {
        let wire = serde_json::json!({
            "by": "STOP page, \u{1b}]0;owned\u{7}\u{1b}[2Jeve\nLD_PRELOAD=x \u{202e}gnp\u{200b}",
            "at": "2026-11-27T09:30:00Z",
            "force": false,
            "grace_s": 30,
        });
        let order: StopOrder = serde_json::from_value(wire).expect("a stop order");
        assert_eq!(order.by, "STOP page, ]0;owned[2Jeve LD_PRELOAD=x gnp");
        let long =
            serde_json::json!({ "by": "x".repeat(500), "at": "", "force": true, "grace_s": 1 });
        let order: StopOrder = serde_json::from_value(long).expect("a stop order");
        assert_eq!(order.by.chars().count(), 128);
    }
}
