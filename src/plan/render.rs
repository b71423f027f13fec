//! How a plan reads for people: terraform's shape (reason line, symbol, fields, summary).
//!
//! Owns: the text of a rendered plan. May not: do IO, print, decide anything (the plan is made
//! in `plan::plan`).

use std::fmt::Write as _;

use super::{Action, KNOWN_AFTER_APPLY, Plan, SENSITIVE, Step};

/// How deep a generated file's diff is indented under its field (the CLI colours such lines as
/// a diff).
pub const FILE_DIFF_INDENT: &str = "          ";

/// The summary's count of checks (`3 known after apply`).
const KNOWN_AFTER_APPLY_SUMMARY: &str = "known after apply";

/// One step: terraform's reason line, the symbol and the id, then its fields — every attribute
/// of a create; each change of an update or a replace, those that cannot change in place
/// marked `# forces replacement` (in a replace, the reloadable files of a service do not force
/// it; every other field of a container does).
fn render_step(out: &mut String, step: &Step) {
    let (symbol, reason) = match &step.action {
        Action::Create => ("+", "will be created".to_string()),
        Action::Replace { .. } => ("-/+", "must be replaced".to_string()),
        Action::Update { .. } => ("~", "will be updated in place".to_string()),
        Action::Start => ("~", "will be started".to_string()),
        Action::Delete => ("-", "will be destroyed".to_string()),
        Action::Check { service, why } => (
            "~",
            format!(
                "will be checked once {service} runs (it cannot be read {})",
                why.while_(&service.name)
            ),
        ),
    };
    let reason = match &step.if_minted {
        // Replaced only if apply mints one of its tokens again.
        Some(when) => format!(
            "{reason} if {} is minted again when checked; otherwise {}",
            when.tokens
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" or "),
            match when.otherwise {
                Some(Action::Start) => "it is started",
                Some(Action::Update { .. }) => "it is updated in place",
                _ => "it is left as it is",
            }
        ),
        None => reason,
    };
    let _ = writeln!(out, "  # {} {reason}", step.id);
    if matches!(step.action, Action::Check { .. }) {
        // Neither absent nor found: what apply does is decided by what it reads then.
        let _ = writeln!(out, "{symbol:>3} {} {KNOWN_AFTER_APPLY}\n", step.id);
        return;
    }
    let _ = writeln!(out, "{symbol:>3} {}", step.id);
    let fields = match &step.action {
        Action::Create => &step.attributes,
        Action::Replace { changes } | Action::Update { changes } => changes,
        Action::Start | Action::Delete | Action::Check { .. } => {
            out.push('\n');
            return;
        }
    };
    for c in fields {
        let changed_secret = c.sensitive && c.before.is_none() && c.after.is_none();
        let show = |v: &Option<String>| match v {
            Some(v) => v.clone(),
            None if changed_secret => SENSITIVE.to_string(),
            None => "(none)".to_string(),
        };
        let mark = match (&c.before, &c.after) {
            (None, Some(_)) => "+",
            (Some(_), None) => "-",
            _ => "~",
        };
        let forces = if c.forces_replacement {
            " # forces replacement"
        } else {
            ""
        };
        if matches!(step.action, Action::Create) {
            let _ = writeln!(out, "      + {}: {}", c.path, show(&c.after));
        } else {
            let _ = writeln!(
                out,
                "      {mark} {}: {} → {}{forces}",
                c.path,
                show(&c.before),
                show(&c.after)
            );
            render_files(out, step, &c.path);
        }
    }
    out.push('\n');
}

/// The generated files behind a changed digest field, indented under it: each one's unified
/// diff, or why there is none.
fn render_files(out: &mut String, step: &Step, field: &str) {
    for f in step.files.iter().filter(|f| f.field == field) {
        match &f.diff {
            Some(diff) => {
                for line in diff.lines() {
                    let _ = writeln!(out, "{FILE_DIFF_INDENT}{line}");
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "{FILE_DIFF_INDENT}(no diff: what the last apply put in {} is not on record here; \
                     promo-infra records it at each apply)",
                    f.path
                );
            }
        }
    }
}

/// Render a plan the way terraform users read one.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.is_empty() {
        let _ = writeln!(
            out,
            "No changes. Stack `{}` on target {} matches the configuration.",
            plan.stack, plan.target
        );
    } else {
        let _ = writeln!(
            out,
            "promo-infra will perform the following actions on stack `{}` (target {}):\n",
            plan.stack, plan.target
        );
        for step in &plan.steps {
            render_step(&mut out, step);
        }
    }
    for id in &plan.undeclared {
        let _ = writeln!(
            out,
            "Note: {id} exists but the stack no longer declares it; kept (use --prune to destroy it)."
        );
    }
    for used in &plan.in_use {
        let _ = writeln!(
            out,
            "Warning: {} is kept, not destroyed: {} attached to it and not the stack's (promo-infra never stops nor detaches it). {}, then `promo-infra apply --prune` destroys it.",
            used.id,
            used.are(),
            crate::error::capitalized(&used.how_to_free()),
        );
    }
    for w in &plan.warnings {
        let _ = writeln!(out, "Warning: {w}");
    }
    let s = plan.summary();
    if !plan.is_empty() {
        let checks = if s.check > 0 {
            format!(", {} {KNOWN_AFTER_APPLY_SUMMARY}", s.check)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "Plan: {} to add, {} to change, {} to destroy{checks}.",
            s.add, s.change, s.destroy
        );
    }
    out
}
