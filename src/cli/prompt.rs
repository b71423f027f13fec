//! terraform's confirmation question on the terminal, before a command changes anything.
//!
//! Owns: reading the answer from stdin and refusing to guess when stdin is not a terminal.
//! May not: print to stdout (the question goes to stderr), change anything.

use std::io::{BufRead, IsTerminal, Write};

use crate::error::{Error, Result};

/// Approve a change: yes at once with `auto` (`--auto-approve`, or nothing to change), else
/// ask `question` on the terminal; `what` names the command in the error when there is none.
pub fn approve(auto: bool, question: &str, what: &str) -> Result<bool> {
    if auto {
        return Ok(true);
    }
    confirm(question, what, std::io::stdin().is_terminal())
}

/// Ask; not a terminal: an error, never a silent yes.
fn confirm(question: &str, what: &str, terminal: bool) -> Result<bool> {
    if !terminal {
        return Err(refused(what));
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

fn refused(what: &str) -> Error {
    Error::usage(
        format!("{what} needs confirmation, but stdin is not a terminal"),
        "review `promo-infra plan`, then re-run with --auto-approve; nothing was changed",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_approves_without_asking() {
        assert!(approve(true, "?", "apply").expect("approved"));
    }

    #[test]
    fn no_terminal_is_an_error_that_names_the_command_and_the_flag() {
        let e = confirm("?", "destroy", false).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "destroy needs confirmation, but stdin is not a terminal"
        );
        let help = miette::Diagnostic::help(&e).map(|h| h.to_string());
        assert_eq!(
            help.as_deref(),
            Some("review `promo-infra plan`, then re-run with --auto-approve; nothing was changed")
        );
    }
}
