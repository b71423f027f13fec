//! Who may call the control API: the bearer token on `/api/`, HTTP Basic on the STOP page,
//! CORS for the Grafana origin only, and the same-origin check of the STOP form.
//!
//! Owns: credential parsing (`headers`), constant-time comparison (`subtle`), the CORS policy
//! (`tower-http`) and the 401/403 answers with their wording.
//! May not: look at runs or stops, read the environment, print.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use headers::authorization::{Basic, Bearer};
use headers::{Authorization, HeaderMapExt};
use subtle::ConstantTimeEq;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::page;
use super::routes::{Shared, json_error};

/// Whether a secret given by a client equals the expected one, in time independent of where
/// they differ.
fn same_secret(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

/// Extractor: the request carries `Authorization: Bearer <CONTROL_API_TOKEN>`; otherwise the
/// handler is not called and the client gets 401 with what to send.
pub(super) struct ApiCaller;

impl FromRequestParts<Shared> for ApiCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &Shared) -> Result<Self, Response> {
        let given = parts.headers.typed_get::<Authorization<Bearer>>();
        if given.is_some_and(|a| same_secret(a.token().trim(), st.cfg.token.expose())) {
            return Ok(Self);
        }
        let mut resp = json_error(
            StatusCode::UNAUTHORIZED,
            "missing or invalid bearer token",
            &format!(
                "send `Authorization: Bearer <CONTROL_API_TOKEN>` (from generated/{}/.env)",
                st.cfg.stack
            ),
        );
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"promo-infra control API\""),
        );
        Err(resp)
    }
}

/// Extractor: HTTP Basic with the STOP password; the user name ([`who`]) is who pressed STOP.
/// Otherwise 401 with the browser's password prompt.
pub(super) struct StopUser(pub String);

impl FromRequestParts<Shared> for StopUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &Shared) -> Result<Self, Response> {
        let given = parts.headers.typed_get::<Authorization<Basic>>();
        if let Some(a) = given.filter(|a| same_secret(a.password(), st.cfg.stop_password.expose()))
        {
            return Ok(Self(who(a.username())));
        }
        let s = page::strings(&st.cfg.locale);
        let mut resp = page::message(StatusCode::UNAUTHORIZED, s, s.title, s.auth);
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"promo-infra STOP\", charset=\"UTF-8\""),
        );
        Err(resp)
    }
}

/// The STOP page's user name as it is recorded and shown: anybody who knows the STOP password
/// types it, and it reaches a terminal (`k6 run`'s lines), Grafana annotations, Slack and the
/// run's record. White space (line breaks too) folds to one space, control and invisible
/// formatting characters (escape sequences, bidi overrides, zero-width characters) are dropped,
/// and at most 64 characters are kept. Slack's own syntax (`<`, `>`, `&`) is escaped where the message is made.
pub(super) fn who(username: &str) -> String {
    visible(username, 64)
}

/// `text` as one line of visible characters: control and invisible formatting characters
/// dropped, white space folded to single spaces, at most `max` characters.
pub(super) fn visible(text: &str, max: usize) -> String {
    let visible = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !c.is_control() && !crate::compile::escape::is_invisible_format(*c))
        .collect::<String>();
    visible
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max)
        .collect()
}

/// CORS of the `/api/` routes: the Grafana origin (when configured) may call them from a
/// browser with the token; preflights are answered here.
pub(super) fn cors_layer(cors_origin: Option<&str>) -> CorsLayer {
    let allowed = cors_origin.and_then(|o| HeaderValue::from_str(o).ok());
    CorsLayer::new()
        .allow_origin(match allowed {
            Some(origin) => AllowOrigin::exact(origin),
            None => AllowOrigin::list([]),
        })
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(600))
}

/// Refuse what CORS alone only leaves unreadable: a cross-origin call of `/api/` from any
/// origin but Grafana's (403, preflight included, so the browser never sends the call), and a
/// STOP form posted from another origin (403). Preflights of allowed origins answer 204.
pub(super) async fn guard(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    if path.starts_with("/api/") {
        let allowed = st.cfg.cors_origin.as_deref();
        if allowed != Some(origin.as_str()) {
            return json_error(
                StatusCode::FORBIDDEN,
                &format!("origin {origin} is not allowed to call this API"),
                &format!(
                    "only the Grafana origin ({}) may call it from a browser",
                    allowed.unwrap_or("none configured")
                ),
            );
        }
        let preflight = req.method() == Method::OPTIONS;
        let mut resp = next.run(req).await;
        if preflight && resp.status() == StatusCode::OK {
            // tower-http answers a preflight 200; it has no body: 204 says so.
            *resp.status_mut() = StatusCode::NO_CONTENT;
        }
        return resp;
    }
    if path == "/stop" && req.method() == Method::POST {
        // The form must come from the STOP page itself.
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let same = [format!("http://{host}"), format!("https://{host}")];
        if !same.contains(&origin) {
            let s = page::strings(&st.cfg.locale);
            return page::message(StatusCode::FORBIDDEN, s, s.error_title, s.expired);
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::{same_secret, who};

    #[test]
    fn the_stop_user_cannot_smuggle_escapes_or_invisible_text() {
        assert_eq!(who("marketing"), "marketing");
        assert_eq!(who("Marie  Dupont\t"), "Marie Dupont");
        // A terminal escape (clear screen, fake line), a bidi override, zero-width characters.
        assert_eq!(who("\u{1b}[2J\u{1b}[1;1Hok\r\nfake"), "[2J[1;1Hok fake");
        assert_eq!(who("ali\u{202E}moc.evil"), "alimoc.evil");
        assert_eq!(who("b\u{200B}o\u{FEFF}b\u{2066}"), "bob");
        assert_eq!(who("\u{0}\u{7f}"), "");
        assert_eq!(who(&"é".repeat(100)).chars().count(), 64);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("0123456789abcdef", "0123456789abcdef"));
        assert!(!same_secret("0123456789abcdee", "0123456789abcdef"));
        assert!(!same_secret("0123456789abcdef0", "0123456789abcdef"));
        assert!(!same_secret("", "0123456789abcdef"));
    }
}
