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
        "prod grafana auth",
        &format!(
            "{}/api/search?limit=1",
            crate::compile::native::grafana_url(m)
        ),
        "Grafana",
        "anonymous access is on: set GF_AUTH_ANONYMOUS_ENABLED=false (the stack's default; `promo-infra apply` restores it)",
    ));
    if *m.control_api.enabled {
        out.push(refuses(
            "prod control API auth",
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

/// A GET without credentials must be refused (401/403).
fn refuses(line: &str, url: &str, what: &str, fix: &str) -> Finding {
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
            "start the stack (`promo-infra apply`), then run doctor again",
        ),
        Err(e) => Finding::from_error(line, &e),
    }
}
