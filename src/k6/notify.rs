//! Slack incoming-webhook messages (Grafana annotations go through [`crate::grafana::Client`]).
//! Every request has a timeout and at most 3 attempts; errors never carry the webhook URL
//! (which is a secret).
//!
//! Owns: the HTTP requests to Slack, their retries.
//! May not: print, read the environment, put a credential or a webhook URL in an error.

use std::time::Duration;

use serde_json::json;

use crate::error::{Error, Result};

const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(5);

fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .build()
        .map_err(|e| {
            format!(
                "cannot build an HTTP client: {}",
                crate::net::describe_request_error(e)
            )
        })
}

/// POST with a timeout and at most [`ATTEMPTS`] attempts (retrying network errors, 429 and
/// 5xx, backing off 300 ms, 600 ms); the error is the last failure, without the URL.
async fn post_with_retries(
    build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, String> {
    use backon::{ExponentialBuilder, Retryable};
    /// A failed attempt: what it says, and whether another may succeed.
    struct Failed(String, bool);
    let http = client()?;
    let once = || async {
        match build(&http).send().await {
            Ok(resp) if resp.status().is_success() => Ok(resp),
            Ok(resp) => {
                let status = resp.status();
                let body: String = resp
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect();
                let retry = status.is_server_error() || status.as_u16() == 429;
                Err(Failed(format!("HTTP {status}: {}", body.trim()), retry))
            }
            Err(e) => Err(Failed(crate::net::describe_request_error(e), true)),
        }
    };
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(300))
        .with_factor(2.0)
        .with_max_times(ATTEMPTS as usize - 1);
    once.retry(backoff)
        .when(|f: &Failed| f.1)
        .await
        .map_err(|Failed(last, _)| last)
}

/// Post a message to a Slack incoming webhook. `env_name` is the variable that holds the
/// webhook: errors name it, never the URL (a secret).
pub async fn slack(webhook_url: &str, env_name: &str, text: &str) -> Result<()> {
    let fix = format!(
        "set {env_name} (environment or .env) to the incoming-webhook URL Slack gave, https://hooks.slack.com/services/..."
    );
    let usable = reqwest::Url::parse(webhook_url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if !usable {
        return Err(Error::k6(format!(
            "Slack message not sent: {env_name} does not hold an http(s) URL"
        ))
        .with_help(fix));
    }
    post_with_retries(|http| http.post(webhook_url).json(&json!({ "text": text })))
        .await
        .map(|_| ())
        .map_err(|last| {
            Error::k6(format!(
                "Slack message failed (webhook from {env_name}): {last}"
            ))
            .with_help(format!("check that Slack accepts the webhook: {fix}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_URL: &str = "hooks.slack.example/services/T000/B000/secretpart";

    #[tokio::test]
    async fn a_slack_webhook_that_is_no_url_names_its_variable_never_the_value() {
        let err = slack(SECRET_URL, "SLACK_WEBHOOK_URL", "hi")
            .await
            .unwrap_err();
        let text = format!(
            "{err} {:?}",
            miette::Diagnostic::help(&err).map(|h| h.to_string())
        );
        assert!(
            text.contains("SLACK_WEBHOOK_URL does not hold an http(s) URL"),
            "{text}"
        );
        assert!(!text.contains("builder error"), "{text}");
        assert!(!text.contains("secretpart"), "{text}");
    }

    #[tokio::test]
    async fn an_unreachable_slack_webhook_says_why_without_the_url() {
        // Port 1 (tcpmux): nothing listens there on a test machine.
        let url = "http://127.0.0.1:1/services/secretpart";
        let err = slack(url, "SLACK_WEBHOOK_URL", "hi").await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "Slack message failed (webhook from SLACK_WEBHOOK_URL): error sending request"
            ),
            "{text}"
        );
        assert!(!text.contains("secretpart"), "{text}");
    }
}
