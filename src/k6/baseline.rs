//! `k6 run --baseline ID`: the baseline must be a run that exists — recorded in the run
//! directory, or with points in the stack's InfluxDB (run from elsewhere) — checked before k6
//! starts. A mistyped id would otherwise be recorded with the run and put into the dashboard
//! links, and be found out only at `runs compare`, after the test.
//!
//! Owns: that check. May not: print (a warning goes to the caller's [`Note`] callback), read
//! the environment.

use std::path::Path;

use super::run::Note;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::runs::record;
use crate::secrets::SecretValues;
use crate::targets::TargetKind;

/// Refuse `baseline` when the run directory has no record of it and the stack's InfluxDB
/// (InfluxDB Cloud on the cloud target, with Grafana's read-only token), asked, has no point of
/// it. When InfluxDB cannot be asked (it did not answer `influx_answers`'s ping, the read token
/// is missing, or the read fails), a warning says the baseline was not checked and the run goes
/// on.
pub(super) async fn check(
    m: &Manifest,
    values: &SecretValues,
    run_dir: &Path,
    baseline: &str,
    asked: Option<TargetKind>,
    note: &(dyn Fn(Note) + Sync),
) -> Result<()> {
    if record::find(run_dir, baseline).ok().flatten().is_some() {
        return Ok(());
    }
    let dir = run_dir.display();
    let unchecked = |why: String| {
        note(Note::Warn(format!(
            "baseline {baseline}: no record of it in {dir}, and {why}; the dashboard compares \
             with it if InfluxDB has its data"
        )));
    };
    let Some(target) = asked else {
        unchecked("InfluxDB does not answer to say whether it has its data".into());
        return Ok(());
    };
    let found = async {
        let source = crate::runs::source::Source::of(m, values, target)?;
        let found = source.range_if_any(baseline).await?;
        Ok::<_, Error>((found, source.url().to_string()))
    }
    .await;
    match found {
        Ok((Some(_), _)) => Ok(()),
        Ok((None, url)) => Err(Error::usage(
            format!(
                "--baseline {baseline}: no such run: no record of it in {dir} and no point of it \
                 in InfluxDB at {url}; k6 was not started"
            ),
            recorded(run_dir),
        )),
        Err(e) => {
            unchecked(format!(
                "InfluxDB could not be asked whether it has its data ({e})"
            ));
            Ok(())
        }
    }
}

/// What to give instead: the newest recorded runs, and where to see them all.
fn recorded(run_dir: &Path) -> String {
    let runs = record::list(run_dir).map(|(r, _)| r).unwrap_or_default();
    if runs.is_empty() {
        return format!(
            "no run is recorded in {} yet: run the baseline first (the same script and \
             intensity, without --baseline), then give its test id",
            run_dir.display()
        );
    }
    let newest: Vec<&str> = runs
        .iter()
        .rev()
        .take(3)
        .map(|r| r.testid.as_str())
        .collect();
    format!(
        "give the test id of a run of this stack: the newest are {} (`promo-infra runs list` \
         shows them all)",
        newest.join(", ")
    )
}
