//! Printers of the commands that act on a target: `plan`, `apply`, `status`, `destroy`,
//! `secrets rotate`.
//!
//! Owns: their human output (terraform's shape: plan, question, what was done, summary).
//! May not: decide exit codes or errors, ask the question (`cli::prompt`), read the
//! environment, talk to a target.

use std::io::Write;

use super::super::output::Out;
use crate::desired::ResourceId;
use crate::ops::{ApplyReport, DestroyReport, RotatePreview, RotateReport, StatusReport};
use crate::plan::{self, Plan};
use crate::targets::{self, Did, Done, ServiceStatus, TargetKind};

/// The notes (warnings), then the rendered plan.
pub fn plan(out: &mut Out<impl Write>, notes: &[String], p: &Plan) {
    for note in notes {
        out.warn(note);
    }
    out.plan(&plan::render(p));
}

/// After a plan: the generated files apply writes before executing it (none: nothing said).
pub fn files_to_write(out: &mut Out<impl Write>, files: &[String]) {
    if files.is_empty() {
        return;
    }
    out.line(&format!(
        "\napply also writes {} generated file(s) first (`promo-infra generate` writes them alone):",
        files.len()
    ));
    for f in files {
        out.line(&format!("  {f}"));
    }
}

/// After `plan --out FILE`: where the plan is and how to apply it (terraform's words).
pub fn saved(out: &mut Out<impl Write>, file: &std::path::Path) {
    out.line(&format!(
        "\nSaved the plan to: {}\n\nTo perform exactly these actions, run:\n  promo-infra apply {}",
        file.display(),
        file.display()
    ));
}

/// `status`: which stack (its file and target), then its table and where alerts go.
pub fn status_of(out: &mut Out<impl Write>, r: &StatusReport) {
    out.line(&format!(
        "Stack `{}` ({}) on target {}:\n",
        r.stack,
        r.manifest,
        r.target.as_str()
    ));
    status(out, &r.services, r.alerts.as_deref());
}

/// The status table, then where alerts go (when the stack has a route).
pub fn status(out: &mut Out<impl Write>, rows: &[ServiceStatus], alerts: Option<&str>) {
    out.table(
        &[
            "SERVICE", "STATE", "HEALTH", "IMAGE", "VERSION", "URL", "UPTIME", "CONFIG",
        ],
        rows.iter()
            .map(|r| {
                vec![
                    r.service.clone(),
                    r.state.clone(),
                    r.health.clone(),
                    r.image.clone(),
                    r.version.clone(),
                    r.url.clone(),
                    r.uptime.clone(),
                    config(r).to_string(),
                ]
            })
            .collect(),
    );
    if let Some(alerts) = alerts {
        out.line(&format!("\nAlerts: {alerts}"));
    }
}

/// The CONFIG column: whether what runs (or ran) was made from the manifest as it is now; `-`
/// when nothing of the service exists to compare.
fn config(r: &ServiceStatus) -> &'static str {
    match (r.state.as_str(), r.up_to_date) {
        ("missing" | "unreachable" | "failing", _) => "-",
        (_, true) => "current",
        (_, false) => "outdated",
    }
}

/// `apply`, after the question: a lock left by a crash, files written, each step done, the
/// summary and the status. Nothing after the files when there was nothing to do.
pub fn applied(out: &mut Out<impl Write>, report: &ApplyReport) {
    if let Some(h) = &report.stale_lock {
        out.warn(&format!(
            "a previous `{}` (pid {} on {}, started {}) ended without releasing the lock; its work was observed and converged",
            h.command, h.pid, h.host, h.started
        ));
    }
    if !report.files_written.is_empty() {
        out.change(
            '~',
            &format!(
                "generated/{}: {} file(s) written",
                report.plan.stack,
                report.files_written.len()
            ),
        );
    }
    if report.plan.is_empty() {
        return;
    }
    for d in &report.done {
        out.ok(&format!("{}: {}", d.id, done_verb(d)));
    }
    // What was done, not what was planned: a check adds, changes or leaves as it found.
    let s = targets::done_summary(&report.done);
    out.line(&format!(
        "\nApply complete! Resources: {} added, {} changed, {} destroyed.\n",
        s.add, s.change, s.destroy
    ));
    status(out, &report.status, report.alerts.as_deref());
}

/// What was done, as `apply` says it; a check says it was read first, a step planned in case
/// its tokens were minted again says whether they were.
fn done_verb(d: &Done) -> String {
    let verb = match d.did {
        Did::Created => "created",
        Did::Replaced => "replaced",
        Did::Started => "started",
        Did::Updated => "updated in place",
        Did::Destroyed => "destroyed",
        Did::Unchanged => "unchanged",
    };
    match (d.checked, d.tokens_minted) {
        (true, _) => format!("{verb} (checked once its service ran)"),
        (false, Some(true)) => format!("{verb} (a token it holds was minted again)"),
        (false, Some(false)) => format!("{verb} (the tokens it holds were found as they were)"),
        (false, None) => verb.to_string(),
    }
}

/// `secrets rotate`, before the question: the three steps, then the restarts' plan.
pub fn rotate_preview(out: &mut Out<impl Write>, p: &RotatePreview) {
    for w in &p.warnings {
        out.warn(w);
    }
    out.line(&format!(
        "promo-infra will rotate {} (the value is never shown){}:\n",
        p.name,
        if p.resumed {
            ", resuming an interrupted rotation with the value kept in .env"
        } else {
            ""
        }
    ));
    out.line(&format!("  1. live change: {}", p.live_change));
    out.line("  2. .env: the new value replaces the old one (atomic write)");
    let restarts: Vec<String> = p.plan.steps.iter().map(|s| s.id.to_string()).collect();
    out.line(&format!(
        "  3. restart: {}\n",
        if restarts.is_empty() {
            "nothing".to_string()
        } else {
            restarts.join(", ")
        }
    ));
    plan(out, &[], &p.plan);
}

/// `secrets rotate`, after the question: each restart, where the value went, the status.
pub fn rotated(out: &mut Out<impl Write>, report: &RotateReport) {
    for id in &report.done {
        out.ok(&format!("{id}: restarted with the new value"));
    }
    out.ok(&format!(
        "{} rotated: changed live, saved in generated/{}/.env",
        report.preview.name, report.preview.plan.stack
    ));
    for w in &report.warnings {
        out.warn(w);
    }
    status(out, &report.status, None);
}

/// `destroy`, before the question: what exists and would go.
pub fn destroy_preview(
    out: &mut Out<impl Write>,
    stack: &str,
    target: TargetKind,
    existing: &[ResourceId],
    in_use: &[plan::InUse],
    volumes: bool,
    data_dir: &str,
) {
    let kept = kept_data(target, data_dir).0;
    let target = target.as_str();
    if existing.is_empty() {
        out.line(&format!(
            "Stack `{stack}` has nothing to destroy on target {target}."
        ));
        return;
    }
    out.line(&format!(
        "promo-infra will destroy on stack `{stack}` (target {target}):\n"
    ));
    // A network in use is listed once, as kept (below), not also as destroyed.
    for id in existing
        .iter()
        .filter(|id| !in_use.iter().any(|u| u.id == **id))
    {
        out.change('-', &id.to_string());
    }
    if !in_use.is_empty() {
        out.line("");
    }
    for used in in_use {
        out.warn(&format!(
            "{} will be kept: {} attached to it and not the stack's (promo-infra never stops nor detaches it)",
            used.id,
            used.are()
        ));
    }
    if !volumes {
        out.line(&format!("\n{kept}"));
    }
}

/// What holds a stack's data on `target`, which `destroy` keeps without `--volumes`: the
/// sentence of the preview and the words of the report.
fn kept_data(target: TargetKind, data_dir: &str) -> (String, String) {
    match target {
        TargetKind::Docker => (
            "Data volumes are kept (use --volumes to remove them too).".into(),
            "volumes kept".into(),
        ),
        TargetKind::Native => (
            format!("Data directories are kept ({data_dir}/…; use --volumes to remove them too)."),
            format!("data directories kept ({data_dir}/…)"),
        ),
        TargetKind::Cloud => (
            "The InfluxDB Cloud bucket is kept (use --volumes to remove it too).".into(),
            "bucket kept".into(),
        ),
    }
}

/// `destroy`, after the question: what was removed; complete when nothing was kept (the
/// command's error says what was, and why).
pub fn destroyed(out: &mut Out<impl Write>, report: &DestroyReport) {
    for r in &report.removed {
        out.change('-', r);
    }
    if !report.kept.is_empty() {
        return;
    }
    out.ok(&format!(
        "Destroy complete: {} object(s) removed{}.",
        report.removed.len(),
        if report.volumes_kept {
            format!("; {}", kept_data(report.target, &report.data_dir).1)
        } else {
            String::new()
        }
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::tests::{plain, text};

    /// Fails on the old code, which said "Data volumes are kept" and "volumes kept" on every
    /// target: native keeps data directories, cloud its bucket.
    #[test]
    fn destroy_names_what_holds_the_data_on_each_target() {
        use crate::desired::{ResourceId, ResourceKind};
        let existing = [ResourceId::new(ResourceKind::Service, "influxdb")];
        let said = |target| {
            let mut out = plain();
            destroy_preview(&mut out, "shop", target, &existing, &[], false, "data/shop");
            let report = DestroyReport {
                kept: Vec::new(),
                stack: "shop".into(),
                removed: vec!["process influxdb".into()],
                volumes_kept: true,
                target,
                data_dir: "data/shop".into(),
            };
            destroyed(&mut out, &report);
            text(out)
        };
        assert_eq!(
            said(TargetKind::Native),
            "promo-infra will destroy on stack `shop` (target native):\n\n  - service.influxdb\n\n\
             Data directories are kept (data/shop/…; use --volumes to remove them too).\n\
             \x20 - process influxdb\n\
             ✓ Destroy complete: 1 object(s) removed; data directories kept (data/shop/…).\n"
        );
        assert!(said(TargetKind::Docker).ends_with(
            "Data volumes are kept (use --volumes to remove them too).\n\
                 \x20 - process influxdb\n\
                 ✓ Destroy complete: 1 object(s) removed; volumes kept.\n"
        ));
    }

    #[test]
    fn destroy_preview_names_the_target_it_acts_on() {
        for target in [TargetKind::Native, TargetKind::Docker] {
            let mut out = plain();
            destroy_preview(&mut out, "shop", target, &[], &[], false, "data/shop");
            assert_eq!(
                text(out),
                format!(
                    "Stack `shop` has nothing to destroy on target {}.\n",
                    target.as_str()
                )
            );
        }
    }

    #[test]
    fn status_names_the_stack_then_table_then_alerts() {
        let mut out = plain();
        let row = ServiceStatus {
            service: "influxdb".into(),
            state: "running".into(),
            health: "healthy".into(),
            image: "influxdb:1.8".into(),
            version: "1.8.10".into(),
            url: "http://127.0.0.1:8086".into(),
            uptime: "5m".into(),
            up_to_date: false,
        };
        let missing = ServiceStatus {
            service: "grafana".into(),
            state: "missing".into(),
            health: "-".into(),
            image: "grafana".into(),
            version: "-".into(),
            url: "http://127.0.0.1:3000".into(),
            uptime: "-".into(),
            up_to_date: false,
        };
        let report = StatusReport {
            stack: "shop".into(),
            manifest: "stacks/shop.yaml".into(),
            target: TargetKind::Native,
            services: vec![row, missing],
            alerts: Some("slack #alerts".into()),
        };
        status_of(&mut out, &report);
        assert_eq!(
            text(out),
            "Stack `shop` (stacks/shop.yaml) on target native:\n\n\
             SERVICE   STATE    HEALTH   IMAGE         VERSION  URL                    UPTIME  CONFIG\n\
             influxdb  running  healthy  influxdb:1.8  1.8.10   http://127.0.0.1:8086  5m      outdated\n\
             grafana   missing  -        grafana       -        http://127.0.0.1:3000  -       -\n\
             \n\
             Alerts: slack #alerts\n"
        );
    }
}
