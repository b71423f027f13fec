//! The capacity lines of `runs show`, the table of `runs capacity`, and what `runs report`
//! wrote.
//!
//! Owns: their wording. May not: decide anything, read the environment, talk to InfluxDB.

use std::io::Write;

use serde::Serialize;

use crate::cli::output::Out;
use crate::error::Result;
use crate::runs::capacity::{Capacity, Estimate, clock, method, vus, why};

/// The `capacity` cell of `runs show`.
pub fn cell(e: &Estimate) -> String {
    crate::runs::capacity::describe(e)
}

/// `runs capacity`: one row per run, then the method.
pub fn table(out: &mut Out<impl Write>, estimates: &[Estimate]) {
    let rows = estimates
        .iter()
        .map(|e| match e.capacity {
            Capacity::Reached { vus: n, at, cause } => {
                vec![e.testid.clone(), vus(n), clock(at), why(e, cause)]
            }
            Capacity::NotReached { max_vus } => vec![
                e.testid.clone(),
                "not reached".into(),
                "-".into(),
                format!("held {}", max_vus.map_or_else(|| "- VUs".into(), vus)),
            ],
        })
        .collect();
    out.table(&["TESTID", "BREAKS AT", "FROM (UTC)", "WHY"], rows);
    if let Some(e) = estimates.first() {
        out.line(&method(e));
    }
}

/// `runs capacity --json`.
pub fn json(out: &mut Out<impl Write>, estimates: &[Estimate]) -> Result<()> {
    #[derive(Serialize)]
    struct Body<'a> {
        runs: &'a [Estimate],
    }
    out.versioned_json(&Body { runs: estimates })
}

/// What `runs capacity --apply` changed, and what to run next.
pub fn applied(out: &mut Out<impl Write>, a: &crate::runs::apply::Applied) {
    out.line(&format!(
        "{}: dashboard {} capacity_vus: {} -> {}",
        a.file,
        a.uid,
        a.before
            .map_or_else(|| "(not set)".into(), |v| v.to_string()),
        a.after
    ));
    out.line("next: `promo-infra plan` to review, then `promo-infra apply` (the users panel draws it as a dashed orange line)");
}

/// What `runs report` wrote (paths relative to the project when under it).
pub fn report(out: &mut Out<impl Write>, root: &std::path::Path, r: &crate::runs::Report) {
    let shown = |p: &std::path::Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    out.line(&format!(
        "report of test {}{}: {}",
        r.testid,
        r.baseline
            .as_ref()
            .map_or_else(String::new, |b| format!(" against {b}")),
        shown(&r.html)
    ));
    match &r.png {
        Ok(crate::runs::report::Png::Written(p)) => out.line(&format!("screenshot: {}", shown(p))),
        Ok(crate::runs::report::Png::NoChromium) => out.line(
            "screenshot: skipped, no Chromium on PATH (apt-get install chromium, then run this again)",
        ),
        Err(e) => out.line(&format!("screenshot: not taken: {e}")),
    }
}
