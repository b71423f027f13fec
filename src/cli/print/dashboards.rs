//! Printers of `dashboards diff`, `pull`, `push`, `rollback` and `history`.
//!
//! Owns: its human output. May not: decide exit codes, talk to Grafana.

use std::io::Write;

use super::super::output::Out;
use crate::grafana::diff::Change;
use crate::ops::dashboards::{DiffReport, DiffState, History, Pulled, Pushed, RollbackPreview};

/// One block per dashboard: the change count, then each change by panel and field.
pub fn diff(out: &mut Out<impl Write>, report: &DiffReport) {
    out.line(&format!(
        "Dashboards of stack `{}` in Grafana {} (changes from generated to Grafana):\n",
        report.stack, report.grafana
    ));
    for d in &report.dashboards {
        match d.state {
            DiffState::Same => out.line(&format!("  {} ({:?}): same", d.uid, d.title)),
            DiffState::Missing => out.line(&format!(
                "  {} ({:?}): not in Grafana (apply creates it)",
                d.uid, d.title
            )),
            DiffState::Changed => {
                let n = d.changes.len();
                out.line(&format!(
                    "  {} ({:?}): {n} change{} in Grafana",
                    d.uid,
                    d.title,
                    if n == 1 { "" } else { "s" }
                ));
                changes(out, &d.changes);
            }
        }
    }
    let changed = report
        .dashboards
        .iter()
        .filter(|d| d.state != DiffState::Same)
        .count();
    out.line(&format!(
        "\n{changed} of {} dashboard(s) differ.",
        report.dashboards.len()
    ));
}

/// A line per dashboard, then what to run next when an overlay changed.
pub fn pulled(out: &mut Out<impl Write>, pulled: &[Pulled]) {
    let mut changed = false;
    for p in pulled {
        match p {
            Pulled::Written { uid, path, changes } => {
                changed = true;
                out.line(&format!(
                    "  {uid}: {changes} edit{} kept in {path}",
                    if *changes == 1 { "" } else { "s" }
                ));
            }
            Pulled::Removed { uid, path } => {
                changed = true;
                out.line(&format!(
                    "  {uid}: same as its template in Grafana; {path} removed"
                ));
            }
            Pulled::Unchanged { uid } => out.line(&format!("  {uid}: nothing new")),
            Pulled::Missing { uid } => {
                out.line(&format!("  {uid}: not in Grafana, nothing to pull"))
            }
        }
    }
    if changed {
        out.line("\nRun `promo-infra generate` to bring the edits into generated/, then commit dashboards-src/overrides/.");
    }
}

/// The versions as a table, newest first.
pub fn history(out: &mut Out<impl Write>, h: &History) {
    out.table(
        &["VERSION", "CREATED", "BY", "MESSAGE"],
        h.versions
            .iter()
            .map(|v| {
                vec![
                    v.version.to_string(),
                    v.created.clone(),
                    v.created_by.clone(),
                    v.message.clone(),
                ]
            })
            .collect(),
    );
}

/// A line per dashboard.
pub fn pushed(out: &mut Out<impl Write>, pushed: &[Pushed]) {
    for p in pushed {
        match p {
            Pushed::Uploaded { uid, version } => {
                out.line(&format!("  {uid}: uploaded (version {version})"));
            }
            Pushed::Unchanged { uid } => out.line(&format!("  {uid}: unchanged")),
            Pushed::Pruned { uid } => out.line(&format!("  {uid}: deleted (no longer declared)")),
        }
    }
}

/// What a rollback changes, before the question.
pub fn rollback_preview(out: &mut Out<impl Write>, p: &RollbackPreview) {
    out.line(&format!(
        "Rolling back {} to {} changes, from Grafana's dashboard now:\n",
        p.uid, p.to
    ));
    changes(out, &p.changes);
}

/// A dashboard's changes, one line each under its heading, coloured like a plan.
fn changes(out: &mut Out<impl Write>, changes: &[Change]) {
    let lines: Vec<String> = changes
        .iter()
        .map(|c| format!("      {}", c.line()))
        .collect();
    out.plan(&format!("{}\n", lines.join("\n")));
}

/// After a rollback.
pub fn rolled_back(out: &mut Out<impl Write>, uid: &str, version: Option<u64>) {
    match version {
        Some(v) => out.line(&format!("{uid}: rolled back (now version {v}).")),
        None => out.line(&format!(
            "{uid}: Grafana already has that dashboard; nothing changed."
        )),
    }
}
