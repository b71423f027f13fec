//! terraform's confirmation question on the terminal, before a command changes anything.
//!
//! Owns: reading the answer from stdin and refusing to guess when stdin is not a terminal.
//! May not: print to stdout (the question goes to stderr), change anything.

use std::io::{BufRead, IsTerminal, Write};

use crate::error::{Error, Result};

/// How `apply` tells where to review the change before approving it with `--auto-approve`
/// (the commands that show their own preview — destroy, secrets rotate, dashboards rollback —
/// point at it instead: `plan` shows none of what they do).
pub const REVIEW_PLAN: &str = "review `promo-infra plan`";

/// Approve a change: yes at once with `auto` (`--auto-approve`, or nothing to change), else
/// ask `question` on the terminal; `what` names the command and `review` where to see what it
/// would do, in the error when there is no terminal.
pub fn approve(auto: bool, question: &str, what: &str, review: &str) -> Result<bool> {
    if auto {
        return Ok(true);
    }
    confirm(question, what, review, std::io::stdin().is_terminal())
}

/// Ask; not a terminal: an error, never a silent yes.
fn confirm(question: &str, what: &str, review: &str, terminal: bool) -> Result<bool> {
    if !terminal {
        return Err(refused(what, review));
    }
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "\n{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
    );
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::io("cannot read the answer from", "stdin", e))?;
    let _ = writeln!(err);
    Ok(answer.trim() == "yes")
}

fn refused(what: &str, review: &str) -> Error {
    Error::usage(
        format!("{what} needs confirmation, but stdin is not a terminal"),
        format!("{review}, then re-run with --auto-approve; nothing was changed"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_approves_without_asking() {
        assert!(approve(true, "?", "apply", REVIEW_PLAN).expect("approved"));
    }

    #[test]
    fn no_terminal_is_an_error_that_names_the_command_and_the_flag() {
        let e = confirm("?", "apply", REVIEW_PLAN, false).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "apply needs confirmation, but stdin is not a terminal"
        );
        let help = miette::Diagnostic::help(&e).map(|h| h.to_string());
        assert_eq!(
            help.as_deref(),
            Some("review `promo-infra plan`, then re-run with --auto-approve; nothing was changed")
        );
    }
}
