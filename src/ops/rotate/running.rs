//! `secrets rotate` during a load test: the secrets a running test depends on are not rotated
//! under it. The stack's control API is asked which test runs (`GET /api/tests/current`, with
//! the current token) before anything changes.
//!
//! Owns: which secrets a running test depends on, and the words of the refusal.
//! May not: print, change anything, read the environment.

use crate::compile::services::control_api_url;
use crate::error::{Error, Result};
use crate::k6::coordinator;
use crate::manifest::Manifest;
use crate::secrets::{self, SecretValues};

/// What rotating `name` breaks in a running test, for the secrets a running test depends on.
fn what_breaks(name: &str) -> Option<&'static str> {
    Some(match name {
        secrets::CONTROL_API_TOKEN => {
            "the control API restarts with the new token while its `k6 run` keeps the old one: its polls would be refused and the STOP button could not reach the test any more (only Ctrl+C where k6 runs would stop it)"
        }
        secrets::CONTROL_API_STOP_PASSWORD => {
            "the control API restarts with the new password: the STOP pages open for this test stop working, and whoever has to press STOP needs the new password"
        }
        secrets::INFLUX_V1_WRITE_PASSWORD => {
            "InfluxDB takes the new password at once while the running k6 keeps writing with the old one: every point it sends after that is refused, and the rest of the test is missing from the dashboards"
        }
        secrets::GRAFANA_ADMIN_PASSWORD => {
            "Grafana and the control API restart during the test, and its `k6 run` keeps the old password: its end annotation would be refused"
        }
        _ => return None,
    })
}

/// Refuse to rotate `name` while the stack's control API reports a running test, when the
/// rotation would break that test (see [`what_breaks`]); nothing is changed. `Ok(Some(warning))`
/// when the API cannot be asked (not reachable, refuses the token): a `k6 run` using this API
/// has no working STOP button then either, and refusing would leave no way to rotate a leaked
/// token while the API is down; the warning is shown before the confirmation.
pub(super) async fn refuse_during_a_test(
    m: &Manifest,
    name: &str,
    stored: &SecretValues,
) -> Result<Option<String>> {
    let Some(breaks) = what_breaks(name) else {
        return Ok(None);
    };
    if !*m.control_api.enabled {
        return Ok(None);
    }
    let url = control_api_url(m);
    let cannot_tell = |why: &str| {
        format!(
            "cannot tell whether a test is running: {why}. Rotating {name} while one runs breaks it ({breaks}); if a `k6 run` of stack `{}` is running, answer no and rotate after it",
            *m.stack
        )
    };
    let Some(token) = stored.get(secrets::CONTROL_API_TOKEN) else {
        return Ok(Some(cannot_tell(&format!(
            "{} is not in generated/{}/.env",
            secrets::CONTROL_API_TOKEN,
            *m.stack
        ))));
    };
    match coordinator::running_test(&url, token).await {
        Ok(None) => Ok(None),
        Ok(Some(t)) => {
            let on = if t.host.is_empty() {
                String::new()
            } else {
                format!(" (its `k6 run` is on {})", t.host)
            };
            Err(Error::usage(
                format!(
                    "{name} cannot be rotated now: test {} is running{on}, says the control API at {url}: {breaks}",
                    t.testid
                ),
                format!(
                    "wait for the test to end, or stop it first (the STOP page, `POST {url}/api/tests/stop`, or Ctrl+C where `k6 run` runs), then rotate; nothing was changed"
                ),
            ))
        }
        Err(why) => Ok(Some(cannot_tell(&format!(
            "the control API at {url} does not answer ({why})"
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{Timing, config_from_manifest, router};

    /// The default stack with its control API on `port`, and a `.env` with its token.
    fn stack(port: u16) -> (Manifest, SecretValues) {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stacks/promo.yaml"))
                .expect("the default stack")
                .replace("  port: 5000\n", &format!("  port: {port}\n"));
        let m = crate::manifest::parse("promo.yaml", &text).expect("a valid manifest");
        let values = SecretValues::from_pairs([
            (secrets::CONTROL_API_TOKEN.to_string(), "a".repeat(64)),
            (
                secrets::CONTROL_API_STOP_PASSWORD.to_string(),
                "b".repeat(32),
            ),
        ]);
        (m, values)
    }

    #[tokio::test]
    async fn refused_while_the_api_reports_a_test_and_a_warning_when_it_cannot_tell() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (m, values) = stack(port);
        let cfg = config_from_manifest(&m, &values, None, Timing::default()).unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router(cfg)).await;
        });
        let token = "a".repeat(64);
        // No test: nothing to say.
        let r = refuse_during_a_test(&m, secrets::CONTROL_API_TOKEN, &values).await;
        assert!(matches!(r, Ok(None)), "{r:?}");
        // A test registers: every secret it depends on is refused, naming it; others are not
        // even asked about.
        let run = serde_json::json!({
            "testid": "bf_20261127_093000_0a1b2c3d", "promo": "bf", "promo_type": "standard",
            "started_at": "2026-11-27T09:30:00Z", "stack": "promo", "host": "loadgen-7",
        });
        let resp = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/api/runs"))
            .bearer_auth(&token)
            .json(&run)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        for name in [
            secrets::CONTROL_API_TOKEN,
            secrets::CONTROL_API_STOP_PASSWORD,
            secrets::GRAFANA_ADMIN_PASSWORD,
            secrets::INFLUX_V1_WRITE_PASSWORD,
        ] {
            let e = refuse_during_a_test(&m, name, &values).await.unwrap_err();
            assert!(matches!(e, Error::Usage { .. }), "{e:?}");
            assert!(
                e.to_string().starts_with(&format!(
                    "{name} cannot be rotated now: test bf_20261127_093000_0a1b2c3d is running (its `k6 run` is on loadgen-7), says the control API at http://127.0.0.1:{port}: "
                )),
                "{e}"
            );
        }
        let r = refuse_during_a_test(&m, secrets::INFLUX_ADMIN_PASSWORD, &values).await;
        assert!(matches!(r, Ok(None)), "{r:?}");
        // A token the API does not accept: it cannot tell, a warning.
        let mut wrong = values.clone();
        wrong.set(secrets::CONTROL_API_TOKEN, "c".repeat(64));
        let w = refuse_during_a_test(&m, secrets::CONTROL_API_TOKEN, &wrong)
            .await
            .unwrap()
            .expect("a warning");
        assert!(
            w.starts_with(&format!("cannot tell whether a test is running: the control API at http://127.0.0.1:{port} does not answer (HTTP 401 Unauthorized")),
            "{w}"
        );
        // Nothing listening: a warning naming the API, with what rotating would break.
        server.abort();
        let _ = server.await;
        let w = refuse_during_a_test(&m, secrets::CONTROL_API_TOKEN, &values)
            .await
            .unwrap()
            .expect("a warning");
        assert!(
            w.contains(&format!(
                "the control API at http://127.0.0.1:{port} does not answer"
            )) && w.contains("answer no and rotate after it"),
            "{w}"
        );
    }
}
