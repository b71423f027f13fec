//! After the test: the runs of a stack — their records ([`record`]), their numbers from
//! InfluxDB ([`source`], with the dashboards' formulas), a promo compared with its baseline
//! ([`verdict`]) — behind `runs list`, `runs show`, `runs compare` and `runs export`.
//!
//! Owns: opening a stack for these commands, and what each returns.
//! May not: print (the CLI renders the results), read the environment, write anything (but
//! [`apply`], the one edit of the manifest `runs capacity --apply` makes, and [`Runs::report`],
//! the report's files).

pub mod apply;
pub mod capacity;
pub mod record;
pub mod report;
pub mod source;
pub mod verdict;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::influx::formulas::Stat;
use crate::k6::grade::{self, Bands, Grade, Measured};
use crate::k6::report::marketing_dashboard;
use crate::manifest::{Manifest, Thresholds};
use crate::ops::{self, Selection};
use crate::project::Project;
use crate::targets::TargetKind;
use record::RunFile;
use source::{Range, Source, Values};

/// A stack opened for `runs`: its manifest and run directory.
#[derive(Debug)]
pub struct Runs {
    /// The manifest.
    pub manifest: Manifest,
    /// Where `k6 run` keeps the records (`generated/<stack>/run`, or `--run-dir`).
    pub run_dir: PathBuf,
    /// Where the stack runs, so where its numbers are read: the stack's InfluxDB (docker,
    /// native) or InfluxDB Cloud (cloud).
    pub target: TargetKind,
    project: Project,
}

/// `runs list`: the records, and the ones that could not be read.
#[derive(Debug)]
pub struct Listing {
    /// Records, sorted by start.
    pub runs: Vec<RunFile>,
    /// Unreadable records (each error names its file).
    pub problems: Vec<Error>,
    /// The test id of the run in progress in the run directory (its k6 lives), if any: a
    /// record without an outcome is that run's, or one whose `k6 run` died before the end.
    pub running: Option<String>,
}

/// `runs export --csv`: every readable record with its numbers (`None`: InfluxDB has no data
/// for it), and the records that could not be read (left out, as `runs list` does).
#[derive(Debug)]
pub struct Export {
    /// Records, sorted by start, with their numbers.
    pub rows: Vec<(RunFile, Option<RunStats>)>,
    /// Unreadable records (each error names its file).
    pub problems: Vec<Error>,
    /// As [`Listing::running`].
    pub running: Option<String>,
}

/// The numbers of one run (`runs show`).
#[derive(Debug, Clone)]
pub struct RunStats {
    /// Test id.
    pub testid: String,
    /// Its points' time range.
    pub range: Range,
    /// Every statistic InfluxDB has data for.
    pub values: Values,
    /// The grade these numbers give against the marketing dashboard's thresholds.
    pub grade: Option<Grade>,
    /// Its local record, when it has one.
    pub record: Option<RunFile>,
    /// Its breaking point (`runs show`; not computed for `compare` and `export`).
    pub capacity: Option<capacity::Estimate>,
    /// Whether it is the run in progress in the run directory (its k6 lives).
    pub running: bool,
}

impl RunStats {
    /// One statistic.
    pub fn get(&self, stat: Stat) -> Option<f64> {
        self.values.get(&stat).copied()
    }
}

/// What `runs report` wrote.
#[derive(Debug)]
pub struct Report {
    /// Test id.
    pub testid: String,
    /// The baseline it was compared with.
    pub baseline: Option<String>,
    /// The page.
    pub html: PathBuf,
    /// Its screenshot, or why there is none.
    pub png: Result<report::Png>,
}

/// Check a test id given on the command line.
pub fn check_testid(flag: &str, id: &str) -> Result<()> {
    if crate::k6::testid::is_testid(id) {
        Ok(())
    } else {
        Err(Error::usage(
            format!("{flag} {} is not a test id", crate::error::quoted(id)),
            "test ids are letters, digits, `_`, `-` and `.`, not starting with `.`; `promo-infra runs list` shows them",
        ))
    }
}

/// A run is not its own baseline: the comparison would show no extra cost whatever the run did.
fn not_itself(testid: &str, baseline: &str) -> Result<()> {
    if testid == baseline {
        return Err(Error::usage(
            format!(
                "--baseline {testid} is the run itself: a run compared with itself shows no difference"
            ),
            "give the test id of the baseline run (the one without the promotion), as `promo-infra runs list` shows it",
        ));
    }
    Ok(())
}

/// Bucket width in seconds from `10s`, `1m`, `1h`.
pub fn parse_bucket(text: &str) -> Result<u32> {
    let bad = || {
        Error::usage(
            format!("--bucket `{text}` is not a duration"),
            "give whole seconds, minutes or hours: 10s, 1m, 1h",
        )
    };
    let unit = match text.chars().last() {
        Some('s') => 1,
        Some('m') => 60,
        Some('h') => 3600,
        _ => return Err(bad()),
    };
    let n: u32 = text[..text.len() - 1].parse().map_err(|_| bad())?;
    n.checked_mul(unit).filter(|s| *s > 0).ok_or_else(bad)
}

impl Runs {
    /// Open the selected stack; `run_dir` overrides `generated/<stack>/run`. `target` (the
    /// `--target` given) defaults to the one target the stack was applied to
    /// ([`ops::applied_target`]), else docker (the stack's own InfluxDB, as on native).
    pub fn open(
        project: &Project,
        selection: &Selection,
        run_dir: Option<PathBuf>,
        target: Option<TargetKind>,
    ) -> Result<Self> {
        let (_, loaded) = ops::load_one(project, selection)?;
        let manifest = loaded.manifest;
        let run_dir = run_dir.unwrap_or_else(|| crate::k6::default_run_dir(project, &manifest));
        let target = target
            .or_else(|| ops::applied_target(project, selection))
            .unwrap_or(TargetKind::Docker);
        Ok(Self {
            manifest,
            run_dir: project.root.join(run_dir),
            target,
            project: project.clone(),
        })
    }

    /// The runs of `manifest` (already loaded) in `run_dir`, of the stack on `target`.
    pub fn of(project: &Project, manifest: Manifest, run_dir: PathBuf, target: TargetKind) -> Self {
        Self {
            manifest,
            run_dir: project.root.join(run_dir),
            target,
            project: project.clone(),
        }
    }

    /// The marketing dashboard's thresholds (the grade's).
    pub fn bands(&self) -> Bands {
        marketing_dashboard(&self.manifest).map_or_else(
            || Bands::from(&Thresholds::default()),
            |d| Bands::from(&d.thresholds),
        )
    }

    /// The language of the marketing dashboard (the verdict's).
    pub fn locale(&self) -> String {
        marketing_dashboard(&self.manifest)
            .and_then(|d| d.locale.as_ref())
            .map_or_else(|| self.manifest.locale.to_string(), |l| l.to_string())
    }

    /// `runs list`.
    pub fn list(&self) -> Result<Listing> {
        let (runs, problems) = record::list(&self.run_dir)?;
        Ok(Listing {
            runs,
            problems,
            running: record::running(&self.run_dir),
        })
    }

    /// The stack's InfluxDB (InfluxDB Cloud on the cloud target), as `runs` reads it.
    pub fn source(&self) -> Result<Source> {
        let values = ops::secret_values(&self.project, &self.manifest)?;
        Source::of(&self.manifest, &values, self.target)
    }

    /// Run `f` with the stack's InfluxDB on a runtime of its own.
    fn with_source<T>(&self, f: impl AsyncFnOnce(&Source) -> Result<T>) -> Result<T> {
        let source = self.source()?;
        let rt = crate::ops::deploy::runtime()?;
        // A one-shot command does not retry: a transient failure is reported with what to do.
        rt.block_on(f(&source)).map_err(|e| source.settle(e))
    }

    /// `runs show TESTID`: its numbers, and its breaking point per bucket of `bucket_s`.
    pub fn show(&self, testid: &str, bucket_s: u32) -> Result<RunStats> {
        check_testid("TESTID", testid)?;
        self.with_source(async |s| {
            let mut stats = self.stats(s, testid).await?;
            let per = s.per(testid, stats.range, bucket_s).await?;
            stats.capacity = Some(capacity::of_run(testid, &per, bucket_s, self.limits()));
            Ok(stats)
        })
    }

    /// The limits of the capacity estimate: the marketing dashboard's warn thresholds.
    pub fn limits(&self) -> capacity::Limits {
        let b = self.bands();
        capacity::Limits {
            p95_warn_ms: b.p95_warn_ms,
            error_warn_pct: b.error_warn_pct,
        }
    }

    /// `runs capacity TESTID…`: the breaking point of each run, per bucket of `bucket_s`.
    pub fn capacity(&self, testids: &[String], bucket_s: u32) -> Result<Vec<capacity::Estimate>> {
        for id in testids {
            check_testid("TESTID", id)?;
        }
        self.with_source(async |s| {
            let mut out = Vec::new();
            for id in testids {
                let range = s.range(id).await?;
                let per = s.per(id, range, bucket_s).await?;
                out.push(capacity::of_run(id, &per, bucket_s, self.limits()));
            }
            Ok(out)
        })
    }

    async fn stats(&self, s: &Source, testid: &str) -> Result<RunStats> {
        let range = s.range(testid).await?;
        let values = s.whole(testid, range).await?;
        let grade = values.get(&Stat::P95).map(|p95| {
            let m = Measured {
                p95_ms: *p95,
                error_pct: values.get(&Stat::Errors).copied().unwrap_or(0.0),
                requests: values.get(&Stat::Requests).map(|n| *n as u64),
            };
            grade::grade(m, &self.bands())
        });
        Ok(RunStats {
            testid: testid.to_string(),
            range,
            values,
            grade,
            record: record::find(&self.run_dir, testid)?,
            capacity: None,
            running: record::running(&self.run_dir).as_deref() == Some(testid),
        })
    }

    /// `runs compare TESTID [--baseline ID]`: the baseline is the flag, else the run's record.
    pub fn compare(&self, testid: &str, baseline: Option<&str>) -> Result<verdict::Comparison> {
        check_testid("TESTID", testid)?;
        let baseline = match baseline {
            Some(b) => b.to_string(),
            None => record::find(&self.run_dir, testid)?
                .and_then(|r| r.baseline)
                .ok_or_else(|| {
                    Error::usage(
                        format!("test {testid} has no baseline in its record"),
                        "give one: --baseline TESTID (`promo-infra runs list` shows the runs)",
                    )
                })?,
        };
        check_testid("--baseline", &baseline)?;
        not_itself(testid, &baseline)?;
        let (run, base) = self.with_source(async |s| {
            Ok((
                self.stats(s, testid).await?,
                self.stats(s, &baseline).await?,
            ))
        })?;
        Ok(verdict::compare(run, base, &self.locale()))
    }

    /// `runs report TESTID [--baseline ID]`: the report page of a run (against its baseline:
    /// the flag, else the one its record names, else none), written with its PNG into `out`
    /// (default: the run's record directory).
    pub fn report(
        &self,
        testid: &str,
        baseline: Option<&str>,
        bucket_s: u32,
        out: Option<PathBuf>,
    ) -> Result<Report> {
        check_testid("TESTID", testid)?;
        let baseline = match baseline {
            Some(b) => Some(b.to_string()),
            None => record::find(&self.run_dir, testid)?.and_then(|r| r.baseline),
        };
        if let Some(b) = &baseline {
            check_testid("--baseline", b)?;
            not_itself(testid, b)?;
        }
        let dir = out.unwrap_or_else(|| self.run_dir.join(testid));
        self.with_source(async |s| {
            self.write_report(s, testid, baseline.clone(), bucket_s, &dir)
                .await
        })
    }

    /// [`Runs::report`] with the stack's InfluxDB already open (`k6 run` at the end of a run,
    /// on its own runtime): the page and its PNG into `dir`.
    pub async fn write_report(
        &self,
        s: &Source,
        testid: &str,
        baseline: Option<String>,
        bucket_s: u32,
        dir: &std::path::Path,
    ) -> Result<Report> {
        let locale = self.locale();
        let mut run = self.stats(s, testid).await?;
        let per = s.per(testid, run.range, bucket_s).await?;
        run.capacity = Some(capacity::of_run(testid, &per, bucket_s, self.limits()));
        let compared = match &baseline {
            Some(b) => Some(verdict::compare(
                run.clone(),
                self.stats(s, b).await?,
                &locale,
            )),
            None => None,
        };
        let capacity = run.capacity.as_ref().map(capacity::describe);
        let page = report::html(
            &run,
            &per,
            bucket_s,
            compared.as_ref(),
            capacity.as_deref(),
            &locale,
        );
        let html = dir.join("report.html");
        crate::writer::write_atomic(&html, page.as_bytes(), Some(0o644))?;
        let png = report::screenshot(&html, &dir.join("report.png"));
        Ok(Report {
            testid: testid.to_string(),
            baseline,
            html,
            png,
        })
    }

    /// `runs export --csv`: every readable record with its numbers; an unreadable record is
    /// left out and reported, as `runs list` does (one hand-edited file does not cost the
    /// export of every other run).
    pub fn export_runs(&self) -> Result<Export> {
        let Listing {
            runs,
            problems,
            running,
        } = self.list()?;
        let rows = if runs.is_empty() {
            Vec::new()
        } else {
            self.with_source(async |s| {
                let mut out = Vec::new();
                for r in runs {
                    let stats = match s.range_if_any(&r.testid).await? {
                        Some(_) => Some(self.stats(s, &r.testid).await?),
                        None => None,
                    };
                    out.push((r, stats));
                }
                Ok(out)
            })?
        };
        Ok(Export {
            rows,
            problems,
            running,
        })
    }

    /// `runs export TESTID --csv --bucket 10s`: the numbers per bucket, by bucket start (ns).
    pub fn export_buckets(&self, testid: &str, every_s: u32) -> Result<BTreeMap<i64, Values>> {
        check_testid("TESTID", testid)?;
        self.with_source(async |s| {
            let range = s.range(testid).await?;
            s.per(testid, range, every_s).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_whole_seconds_minutes_or_hours() {
        assert_eq!(parse_bucket("10s").unwrap(), 10);
        assert_eq!(parse_bucket("2m").unwrap(), 120);
        assert_eq!(parse_bucket("1h").unwrap(), 3600);
        for bad in ["", "s", "0s", "10", "1.5s", "-1s", "10ms", "99999999h"] {
            assert_eq!(
                parse_bucket(bad).unwrap_err().to_string(),
                format!("--bucket `{bad}` is not a duration"),
                "{bad}"
            );
        }
    }
}
