//! HTTPS and authentication when the manifest's environment is `prod`: the public Grafana URL
//! is HTTPS, Grafana refuses anonymous visitors, and the control API refuses a request without
//! its token. Outside prod, one ok line says these are not checked.
//!
//! Owns: this check's wording. May not: change anything (GET only, never the stop endpoint),
//! print, read the environment.

use super::live::{block_on, control_url, http};
use super::{Ctx, Finding, Level};
use crate::manifest::Environment;

/// Name of the lines (`prod …`).
pub(super) const CHECK: &str = "prod";

/// The prod lines.
pub(super) fn prod(ctx: &Ctx) -> Vec<Finding> {
    let m = &ctx.loaded.manifest;
    if *m.environment != Environment::Prod {
        return vec![Finding::ok(
            CHECK,
            format!(
                "environment {}: HTTPS and auth are checked in prod only",
                m.environment.as_str()
            ),
        )];
    }
    let mut out = vec![public_url(ctx)];
    out.push(refuses(
        ctx,
        ["prod grafana auth", "grafana"],
        &format!(
            "{}/api/search?limit=1",
            crate::compile::native::grafana_url(m)
        ),
        "Grafana",
        "anonymous access is on: set GF_AUTH_ANONYMOUS_ENABLED=false (the stack's default; `promo-infra apply` restores it)",
    ));
    if *m.control_api.enabled {
        out.push(refuses(
            ctx,
            ["prod control API auth", "control-api"],
            &format!("{}/api/tests/current", control_url(m)),
            "the control API",
            "the control API answers without CONTROL_API_TOKEN: `promo-infra apply` restores its configuration",
        ));
    }
    out
}

/// Grafana's public URL (`grafana.url`, else `http://bind:port`) is HTTPS.
fn public_url(ctx: &Ctx) -> Finding {
    const LINE: &str = "prod grafana URL";
    let m = &ctx.loaded.manifest;
    let url = crate::compile::services::grafana_url(m);
    if url.starts_with("https://") {
        return Finding::ok(LINE, format!("{url} is HTTPS"));
    }
    let at = m.grafana.url.as_ref().and_then(|u| u.pos()).map_or_else(
        || format!("{} (the default)", ctx.loaded.rel_path),
        |p| format!("{}:{}:{}", ctx.loaded.rel_path, p.line, p.column),
    );
    Finding::new(
        LINE,
        Level::Fail,
        format!(
            "people reach Grafana over plain HTTP at {url}: passwords and the STOP page travel in clear"
        ),
        format!(
            "put an HTTPS reverse proxy in front of Grafana and set `grafana.url: https://…` ({at})"
        ),
    )
}

/// The line of `service`'s refusal: skipped while `service` is down (its own line says so;
/// whatever else answers on its port is not it).
fn refuses(ctx: &Ctx, [line, service]: [&str; 2], url: &str, what: &str, fix: &str) -> Finding {
    ctx.needs(line, &[service])
        .unwrap_or_else(|| refused(line, url, what, fix))
}

/// A GET without credentials must be refused (401/403).
fn refused(line: &str, url: &str, what: &str, fix: &str) -> Finding {
    let answer =
        http(url).and_then(|c| block_on(async { c.get(url).send().await.map(|r| r.status()) }));
    match answer {
        Ok(Ok(s)) if s.as_u16() == 401 || s.as_u16() == 403 => Finding::ok(
            line,
            format!(
                "{what} refuses a request without credentials (HTTP {})",
                s.as_u16()
            ),
        ),
        Ok(Ok(s)) => Finding::new(
            line,
            Level::Fail,
            format!(
                "{what} answered HTTP {} without credentials at {url}",
                s.as_u16()
            ),
            fix,
        ),
        Ok(Err(e)) => Finding::new(
            line,
            Level::Warn,
            format!(
                "{what} does not answer at {url}: {}",
                crate::net::describe_request_error(e)
            ),
            // Its service line did not say it is down (it is skipped then): whether it runs
            // is for `status` to say, not "start the stack".
            "`promo-infra status` shows whether it runs and answers; then run doctor again",
        ),
        Err(e) => Finding::from_error(line, &e),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    /// A server answering its first request with `status`; its URL.
    fn answering(status: &str) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/api", listener.local_addr().expect("addr"));
        let reply = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf);
                let _ = s.write_all(reply.as_bytes());
            }
        });
        url
    }

    #[test]
    fn an_answer_without_credentials_fails_a_refusal_is_ok() {
        let line = |status: &str| {
            let url = answering(status);
            let f = refused("prod grafana auth", &url, "Grafana", "turn it off");
            (f.level, f.finding.replace(&url, "URL"), f.fix)
        };
        assert_eq!(
            [line("200 OK"), line("401 Unauthorized")],
            [
                (
                    Level::Fail,
                    "Grafana answered HTTP 200 without credentials at URL".to_string(),
                    "turn it off".to_string()
                ),
                (
                    Level::Ok,
                    "Grafana refuses a request without credentials (HTTP 401)".to_string(),
                    String::new()
                ),
            ]
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port(); // let go: nothing listens there
        let silent = refused(
            "prod grafana auth",
            &format!("http://127.0.0.1:{port}/api"),
            "Grafana",
            "turn it off",
        );
        assert_eq!(
            (silent.level, silent.fix.as_str()),
            (
                Level::Warn,
                "`promo-infra status` shows whether it runs and answers; then run doctor again"
            )
        );
    }
}
