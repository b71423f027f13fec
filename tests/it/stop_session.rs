//! The STOP session a marketing user goes through, shared by control, journey and stop_docker:
//! the STOP link as the marketing dashboard renders it, the confirmation page opened with
//! Basic auth (its CSRF token), and the confirmation POST.
//!
//! May not: assert on what the page says (each test checks what it is about).

use serde_json::Value;

/// The STOP link of a marketing dashboard (its JSON model), with Grafana's `${testid}`
/// substituted as the text panel's interpolation does.
pub fn stop_link(dashboard: &Value, testid: &str) -> String {
    let html = dashboard["panels"]
        .as_array()
        .unwrap_or_else(|| panic!("no panels in {dashboard}"))
        .iter()
        .filter_map(|panel| panel["options"]["content"].as_str())
        .find(|c| c.contains("/stop?testid="))
        .expect("a panel with the STOP link");
    let href = html
        .split("href='")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .unwrap_or_else(|| panic!("no href in {html}"));
    assert!(href.contains("${testid}"), "{href}");
    href.replace("${testid}", testid)
}

/// Open the STOP page at `link` as `user` with the STOP password: (status, page, CSRF token;
/// empty when the page has none).
pub async fn open(
    http: &reqwest::Client,
    link: &str,
    user: &str,
    password: &str,
) -> (u16, String, String) {
    let r = http
        .get(link)
        .basic_auth(user, Some(password))
        .send()
        .await
        .expect("GET the STOP page");
    let status = r.status().as_u16();
    let page = r.text().await.expect("STOP page body");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_string();
    (status, page, csrf)
}

/// Press STOP on the page: POST `{api}/stop` with the form (testid, CSRF), from the API's own
/// origin, as `user`: (status, body).
pub async fn confirm(
    http: reqwest::Client,
    api: String,
    user: &str,
    password: String,
    testid: String,
    csrf: String,
) -> (u16, String) {
    let r = http
        .post(format!("{api}/stop"))
        .header("Origin", &api)
        .basic_auth(user, Some(password))
        .form(&[("testid", testid.as_str()), ("csrf", csrf.as_str())])
        .send()
        .await
        .expect("POST the STOP form");
    (r.status().as_u16(), r.text().await.expect("STOP answer"))
}
