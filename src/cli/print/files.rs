//! Printers of the commands that read manifests and write files: `validate`, `generate`,
//! `generate --check`, `schema -o`, `secrets list`, `dashboards render`.
//!
//! Owns: their human output.
//! May not: decide exit codes or errors, read the environment, write files.

use std::io::Write;

use super::super::output::Out;
use crate::manifest::Loaded;
use crate::ops::{Generated, SecretRow};
use crate::writer::Stale;

/// `validate`: one line per valid manifest.
pub fn valid(out: &mut Out<impl Write>, loaded: &[Loaded]) {
    for l in loaded {
        out.ok(&format!("{} is valid (stack `{}`)", l.rel_path, l.stack()));
    }
}

/// `generate --check`: up to date, or the diff of every stale file.
pub fn check(out: &mut Out<impl Write>, results: &[(String, Vec<Stale>)]) {
    for (dir, stale) in results {
        if stale.is_empty() {
            out.ok(&format!("{dir} is up to date"));
        }
        for s in stale {
            out.diff(&s.diff);
        }
    }
}

/// `generate`: every file created, updated or removed, `.env`, missing external secrets, and a
/// count per stack.
pub fn generated(out: &mut Out<impl Write>, results: &[Generated]) {
    for g in results {
        for (symbol, files) in [
            ('+', &g.report.created),
            ('~', &g.report.written),
            ('-', &g.report.removed),
        ] {
            for f in files {
                out.change(symbol, &format!("{}/{f}", g.dir));
            }
        }
        if g.env.created {
            out.change(
                '+',
                &format!(
                    "{}/.env (0600, {} secrets generated)",
                    g.dir,
                    g.env.added.len()
                ),
            );
        } else if !g.env.added.is_empty() {
            out.change(
                '~',
                &format!("{}/.env (added {})", g.dir, g.env.added.join(", ")),
            );
        }
        for w in &g.warnings {
            out.warn(w);
        }
        out.ok(&format!(
            "{}: {} created, {} updated, {} unchanged, {} removed",
            g.dir,
            g.report.created.len(),
            g.report.written.len(),
            g.report.unchanged,
            g.report.removed.len()
        ));
    }
}

/// `schema -o FILE`: up to date, or written.
pub fn schema_file(out: &mut Out<impl Write>, path: &std::path::Path, fresh: bool) {
    if fresh {
        out.ok(&format!("{} is up to date", path.display()));
    } else {
        out.change('~', &path.display().to_string());
    }
}

/// `secrets list`: names, kinds, users, status; never a value.
pub fn secrets(out: &mut Out<impl Write>, rows: &[SecretRow]) {
    out.table(
        &["NAME", "KIND", "USED BY", "STATUS"],
        rows.iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.kind.to_string(),
                    r.used_by.join(", "),
                    r.status.to_string(),
                ]
            })
            .collect(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::tests::{plain, text};

    #[test]
    fn secrets_table_has_one_row_per_secret_in_the_documented_columns() {
        let mut out = plain();
        secrets(
            &mut out,
            &[SecretRow {
                name: "CONTROL_API_TOKEN".into(),
                kind: "generated",
                used_by: vec!["control-api", "k6"],
                status: "set in .env",
            }],
        );
        assert_eq!(
            text(out),
            "NAME               KIND       USED BY          STATUS\n\
             CONTROL_API_TOKEN  generated  control-api, k6  set in .env\n"
        );
    }
}
