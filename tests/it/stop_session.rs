//! The STOP session a marketing user goes through, shared by control, journey and stop_docker:
//! the STOP link as the marketing dashboard renders it, the confirmation page opened with
//! Basic auth (its CSRF token), the confirmation POST, and a real headless Chromium for it.
//!
//! May not: assert on what the page says (each test checks what it is about).

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::free_port;
use crate::standin::{Proc, wait_until};

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

/// chromedriver on 127.0.0.1 (killed by PID on drop; the browser session is closed first).
struct Chromedriver {
    _proc: Proc,
    port: u16,
}

impl Chromedriver {
    fn start() -> Self {
        let guard = free_port();
        let port = guard.port();
        drop(guard);
        let child = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver must be installed (apt-get install chromium chromium-driver; scripts/setup.sh does it)");
        let me = Self {
            _proc: Proc {
                child,
                name: "chromedriver",
            },
            port,
        };
        wait_until("chromedriver", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        me
    }
}

/// A real headless Chromium driven through chromedriver (WebDriver), with a fresh profile and
/// the flags this machine's closed network needs. Close it with [`Browser::close`].
pub struct Browser {
    pub client: fantoccini::Client,
    driver: Chromedriver,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Self {
        let driver = Chromedriver::start();
        let profile = tempfile::tempdir().expect("profile");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        // chromedriver answers on 127.0.0.1 over plain HTTP: no TLS connector.
        let http = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = fantoccini::ClientBuilder::new(http)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .expect("WebDriver session");
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    /// End the browser session, then chromedriver.
    pub async fn close(self) {
        let _ = self.client.close().await;
        drop(self.driver);
    }
}
