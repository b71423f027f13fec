//! `apply`: bring the stack to the manifest on the target: plan, confirm, execute.
//!
//! Owns: the command's flags, and how `apply` and `secrets rotate` turn theirs into
//! [`ApplyOptions`].
//! May not: render output itself, read the environment.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::super::globals::Globals;
use super::super::output::Out;
use super::super::{interrupt, print, prompt};
use super::args;
use crate::error::{Error, Result};
use crate::ops::{self, ApplyOptions, Selection};
use crate::plan::Plan;
use crate::targets::TargetKind;
use crate::targets::docker::Progress;

/// Shown by `apply --help`.
pub const EXAMPLES: &str = "Examples:\n  promo-infra apply\n  promo-infra -f tests/fixtures/stacks/local.yaml apply --auto-approve\n  promo-infra plan --out promo.plan && promo-infra apply promo.plan";

const QUESTION: &str = "Do you want to perform these actions?\n  promo-infra will perform the actions described above.";

/// `apply` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A plan saved by `plan --out FILE`: apply exactly it, without asking (its stack, target
    /// and --prune come from the file, so neither flag may be given with it; refused if the
    /// configuration or the stack changed since).
    #[arg(value_name = "PLANFILE", conflicts_with_all = ["target", "prune"])]
    pub plan_file: Option<PathBuf>,
    /// Where the stack runs.
    #[command(flatten)]
    pub target: args::Target,
    /// Confirmation.
    #[command(flatten)]
    pub approve: args::Approve,
    /// Also delete resources the stack no longer declares.
    #[arg(long)]
    pub prune: bool,
    /// Seconds to wait for each service to become healthy.
    #[arg(long, value_name = "SECS", default_value_t = ops::DEFAULT_HEALTH_TIMEOUT.as_secs())]
    pub health_timeout: u64,
}

/// What `apply` and `secrets rotate` pass to [`deploy`]: progress bars on stderr, and at least
/// one second of health wait.
pub fn options(target: TargetKind, prune: bool, health_timeout_secs: u64) -> ApplyOptions {
    ApplyOptions {
        target,
        prune,
        health_timeout: Duration::from_secs(health_timeout_secs.max(1)),
        progress: progress(),
        saved: None,
        interrupt: crate::targets::Interrupt::new(),
    }
}

/// Spinners on a terminal; a line per event on stderr otherwise (CI logs).
pub fn progress() -> Progress {
    Progress::stderr_or(|line| eprintln!("{line}"))
}

/// Run `apply`.
pub fn run(globals: &Globals, args: Args) -> Result<ExitCode> {
    let mut opts = options(args.target.target, args.prune, args.health_timeout);
    let mut selection = globals.selection(false);
    if let Some(file) = args.plan_file {
        let saved = ops::SavedPlan::read(&file)?;
        let root = globals.project().root;
        let given = |f: &PathBuf| crate::manifest::relative_to(&root, &root.join(f));
        if let Selection::Files(files) = &selection
            && files
                .iter()
                .map(given)
                .ne([saved.manifest.to_string_lossy().into_owned()])
        {
            return Err(Error::usage(
                format!(
                    "the saved plan `{}` is of {}, not of the stack file given with -f / PROMO_INFRA_FILE",
                    file.display(),
                    saved.manifest.display()
                ),
                "apply a saved plan without -f (the file names its stack), or make a plan of that stack",
            ));
        }
        selection = Selection::Files(vec![saved.manifest.clone()]);
        opts.target = saved.target()?;
        opts.prune = saved.prune;
        opts.saved = Some((file, saved));
    }
    let auto = args.approve.auto_approve;
    let from_file = opts.saved.is_some();
    let (interrupt, progress) = (opts.interrupt.clone(), opts.progress.clone());
    let report = ops::apply(
        &globals.project(),
        &selection,
        &opts,
        &mut |p: &Plan, notes: &[String]| {
            // A saved plan was reviewed when it was made: terraform applies it without asking.
            let go = from_file || {
                print::deploy::plan(&mut Out::stdout(), notes, p);
                prompt::approve(auto || p.is_empty(), QUESTION, "apply", prompt::REVIEW_PLAN)?
            };
            if go && !p.is_empty() {
                // From the answer on, Ctrl-C stops between steps (at the question, it quits).
                interrupt::arm(
                    &interrupt,
                    &progress,
                    interrupt::apply_line,
                    interrupt::APPLY_AGAIN,
                )?;
            }
            Ok(go)
        },
    )?;
    print::deploy::applied(&mut Out::stdout(), &report);
    if interrupt.requested() {
        // Every step had started when Ctrl-C came: all of them finished (listed above).
        return Err(Error::interrupted(
            "apply interrupted after its last step had started: every step was done",
            "nothing is left to apply; `promo-infra plan` confirms it",
        ));
    }
    Ok(ExitCode::SUCCESS)
}
