//! Printer of `dashboards diff`.
//!
//! Owns: its human output. May not: decide exit codes, talk to Grafana.

use std::io::Write;

use super::super::output::Out;
use crate::ops::dashboards::{DiffReport, DiffState};

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
                let lines: Vec<String> = d
                    .changes
                    .iter()
                    .map(|c| format!("      {}", c.line()))
                    .collect();
                out.plan(&format!("{}\n", lines.join("\n")));
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
