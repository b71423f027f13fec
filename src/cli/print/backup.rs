//! Printers of `backup run`, `backup list`, `backup rotate` and `backup restore`.
//!
//! Owns: their human output (sizes in IEC units, UTC times as the backup module gives them).
//! May not: decide exit codes or errors, read the environment, touch a backup.

use std::io::Write;

use super::super::output::{self, Out};
use crate::backup::{Entry, RestoreReport, RotateReport, RunReport};

/// `backup run`: the command that ran, the new backup, its id.
pub fn ran(out: &mut Out<impl Write>, r: &RunReport) {
    out.line(&format!("$ {}", r.command));
    out.change(
        '+',
        &format!(
            "{} ({} files, {}, database {}, InfluxDB {})",
            r.path,
            r.files,
            output::size(r.size),
            r.database,
            r.server_version
        ),
    );
    out.ok(&format!("backup {} complete", r.id));
}

/// `backup list`: one row per backup, or how to make the first.
pub fn list(out: &mut Out<impl Write>, entries: &[Entry]) {
    if entries.is_empty() {
        out.line("no backups yet (run `promo-infra backup run`)");
        return;
    }
    out.table(
        &["ID", "TIME (UTC)", "SIZE", "STATUS", "DETAIL"],
        entries
            .iter()
            .map(|e| {
                vec![
                    e.id.clone(),
                    e.time.clone().unwrap_or_else(|| "-".into()),
                    output::size(e.size),
                    e.status.as_str().to_string(),
                    e.detail.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    );
}

/// `backup rotate [--dry-run]`: the policy, then what is kept, removed and left alone, and why.
pub fn rotated(out: &mut Out<impl Write>, r: &RotateReport) {
    let p = &r.policy;
    out.line(&format!(
        "policy: keep last {}, daily {}, weekly {}, monthly {} (UTC days, ISO weeks, months)",
        p.last, p.daily, p.weekly, p.monthly
    ));
    let verb = if r.dry_run { "would remove" } else { "removed" };
    let kept = r.with_action("keep").count();
    let removed = r.with_action("remove").count();
    let left = r.with_action("leave").count();
    out.line(&format!("keep {kept} backup(s):"));
    decisions(out, r, "keep", '=');
    out.line(&format!("{verb} {removed} backup(s):"));
    decisions(out, r, "remove", '-');
    if left > 0 {
        out.line(&format!("left alone {left} entr(y/ies):"));
        decisions(out, r, "leave", '!');
    }
    if r.dry_run {
        out.ok("dry run: nothing was removed");
    } else {
        out.ok(&format!("{kept} kept, {removed} removed"));
    }
}

fn decisions(out: &mut Out<impl Write>, r: &RotateReport, action: &str, symbol: char) {
    for d in r.with_action(action) {
        out.change(symbol, &format!("{}  {}", d.id, d.reasons.join(", ")));
    }
}

/// `backup restore`: the checksums verified, the command, what was restored.
pub fn restored(out: &mut Out<impl Write>, r: &RestoreReport) {
    out.ok(&format!(
        "backup {}: {} files verified (sha256)",
        r.id, r.files
    ));
    out.line(&format!("$ {}", r.command));
    match &r.measurements {
        Some(m) => out.ok(&format!(
            "restored into `{}` ({} measurement(s): {})",
            r.database,
            m.len(),
            m.join(", ")
        )),
        None => out.ok(&format!("restored into `{}`", r.database)),
    }
    if !r.privileges.is_empty() {
        out.ok(&format!(
            "privileges restored on `{}`: {}",
            r.database,
            r.privileges.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::tests::{plain, text};

    #[test]
    fn no_backups_says_how_to_make_one() {
        let mut out = plain();
        list(&mut out, &[]);
        assert_eq!(text(out), "no backups yet (run `promo-infra backup run`)\n");
    }
}
