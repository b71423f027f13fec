//! Progress on stderr. On a terminal: a spinner line per service while it starts and becomes
//! healthy, one per image being pulled. Otherwise (CI logs): a plain line per event
//! (`service.grafana: creating`, `service.grafana: created and healthy (2.1s)`), written by the
//! sink the caller gives ([`Progress::events`]) through [`Announced`](super::Announced).
//!
//! Owns: the progress display every target draws its waits on, and the event sink.
//! May not: print result lines (the CLI does), or read the environment.

use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where event lines go.
type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Where progress goes.
#[derive(Clone)]
pub struct Progress {
    multi: MultiProgress,
    events: Option<Sink>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("bars", &!self.multi.is_hidden())
            .field("events", &self.events.is_some())
            .finish()
    }
}

impl Progress {
    /// No progress display.
    pub fn hidden() -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
            events: None,
        }
    }

    /// Spinners on stderr when it is a terminal; otherwise a line per event to `sink` (the
    /// CLI's stderr).
    pub fn stderr_or(sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            Self {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                events: None,
            }
        } else {
            Self::events(sink)
        }
    }

    /// No spinners; a line per event (a step starting, a step done) to `sink`.
    pub fn events(sink: impl Fn(&str) + Send + Sync + 'static) -> Self {
        Self {
            events: Some(Arc::new(sink)),
            ..Self::hidden()
        }
    }

    /// Whether event lines are wanted.
    pub fn announces(&self) -> bool {
        self.events.is_some()
    }

    /// Report one event (nothing when no sink was given).
    pub fn event(&self, line: &str) {
        if let Some(sink) = &self.events {
            sink(line);
        }
    }

    /// Run `f` (the CLI writing a line on stderr) with the spinners cleared, then draw them
    /// again below what it wrote.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.multi.suspend(f)
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
