//! Addresses: the one place that turns a bind address and a port into a URL someone can reach.
//!
//! Owns: wildcard binds (`0.0.0.0`, `::`, empty) → loopback of the same family; IPv6 literals in
//! brackets. Every target, backup, k6 and the secrets rotation ask here.
//! May not: do IO (no DNS, no connecting).

use crate::compile::escape;

/// Who follows the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// This tool, k6, curl on this host: wildcard binds become `127.0.0.1` / `::1`.
    Machine,
    /// A person's browser on this host (dashboard links, `status`): wildcard binds become
    /// `localhost`.
    Browser,
}

/// The host part to connect to for a service bound to `bind`.
pub fn reachable_host(bind: &str, audience: Audience) -> &str {
    match (bind, audience) {
        ("0.0.0.0" | "::" | "", Audience::Browser) => "localhost",
        ("0.0.0.0" | "", Audience::Machine) => "127.0.0.1",
        ("::", Audience::Machine) => "::1",
        (other, _) => other,
    }
}

/// `http://host:port` for a service bound to `bind` (IPv6 bracketed), no trailing slash.
pub fn url(bind: &str, port: u16, audience: Audience) -> String {
    format!(
        "http://{}",
        escape::host_port(reachable_host(bind, audience), port)
    )
}

/// [`url`] for this tool and other programs on the host.
pub fn reachable_url(bind: &str, port: u16) -> String {
    url(bind, port, Audience::Machine)
}

/// An HTTP client builder for requests to `base` (a URL): [`plain_client`] for a plain
/// `http://` one, otherwise one that loads the platform's certificate roots.
pub fn client_for(base: &str) -> reqwest::ClientBuilder {
    if is_plain_http(base) {
        plain_client()
    } else {
        reqwest::Client::builder()
    }
}

/// Whether `base` is a plain `http://` URL (what [`client_for`] builds a [`plain_client`] for).
pub fn is_plain_http(base: &str) -> bool {
    base.starts_with("http://")
}

/// An HTTP client builder for plain `http://` URLs (this host's services): no certificate roots,
/// since loading the platform's is most of what building a client costs, and such a client never
/// makes a TLS connection (one to `https://` would fail to verify).
pub fn plain_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().tls_certs_only(Vec::new())
}

/// What an HTTP request error says, without its URL (it may hold a secret, such as a Slack
/// webhook), with its causes (`error sending request: … Connection refused`).
pub fn describe_request_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bind_gives_a_url_that_parses_and_connects_to_loopback_for_wildcards() {
        let cases = [
            ("0.0.0.0", Audience::Machine, "http://127.0.0.1:8086"),
            ("", Audience::Machine, "http://127.0.0.1:8086"),
            ("::", Audience::Machine, "http://[::1]:8086"),
            ("::1", Audience::Machine, "http://[::1]:8086"),
            ("127.0.0.1", Audience::Machine, "http://127.0.0.1:8086"),
            ("10.0.0.5", Audience::Machine, "http://10.0.0.5:8086"),
            ("0.0.0.0", Audience::Browser, "http://localhost:8086"),
            ("::", Audience::Browser, "http://localhost:8086"),
            ("127.0.0.1", Audience::Browser, "http://127.0.0.1:8086"),
            ("::1", Audience::Browser, "http://[::1]:8086"),
        ];
        for (bind, who, want) in cases {
            let got = url(bind, 8086, who);
            assert_eq!(got, want, "{bind} for {who:?}");
            url::Url::parse(&got).expect("a valid URL");
        }
    }
}
