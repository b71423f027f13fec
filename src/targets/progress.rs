//! Progress lines on stderr: one per service while it starts and becomes healthy, one per image
//! being pulled. Hidden when stderr is not a terminal (CI logs get the final result lines only).
//!
//! Owns: the progress display every target draws its waits on.
//! May not: print result lines (the CLI does), or read the environment.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where progress goes.
#[derive(Debug, Clone)]
pub struct Progress {
    multi: MultiProgress,
}

impl Progress {
    /// No progress display.
    pub fn hidden() -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
        }
    }

    /// On stderr when it is a terminal; hidden otherwise.
    pub fn stderr() -> Self {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            Self {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            }
        } else {
            Self::hidden()
        }
    }

    /// A new line for `what` (a service or an image).
    pub fn line(&self, what: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:<14} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(what.to_string());
        if !self.multi.is_hidden() {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
        bar
    }
}
