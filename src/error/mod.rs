//! Errors: what failed, where, and what to do. Rendered by miette at the edge (the CLI).
//!
//! Owns: the error type and its domains, each with its miette code and advice.
//! May not: print, or decide exit codes (the CLI does).

use std::path::PathBuf;
use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error;

mod manifest;
pub use manifest::{ManifestError, ManifestErrors, Problems, Source};

/// The library's error type.
#[derive(Debug, Error, Diagnostic)]
pub enum Error {
    /// The manifest is malformed or invalid.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Manifest(#[from] ManifestErrors),

    /// A file could not be read or written.
    #[error("{action} `{}`: {source}", path.display())]
    #[diagnostic(code(promo_infra::io))]
    Io {
        /// What was being done ("cannot read", "cannot write").
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A dashboard template failed to render or did not produce valid JSON.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Template(Box<TemplateError>),

    /// Generated files differ from what the manifest compiles to (`generate --check`).
    #[error("{count} generated file(s) are out of date")]
    #[diagnostic(code(promo_infra::stale))]
    Stale {
        /// Number of stale files.
        count: usize,
        /// What fixes it (see [`Error::stale`]).
        #[help]
        help: String,
    },

    /// Generated files were edited by hand and were kept.
    #[error("hand-edited generated file(s) kept: {}", paths.join(", "))]
    #[diagnostic(
        code(promo_infra::hand_edited),
        help(
            "move the change into the manifest or a template in dashboards-src/, then run `promo-infra generate --force` to overwrite"
        )
    )]
    HandEdited {
        /// The files that were kept.
        paths: Vec<String>,
    },

    /// promo-infra's own bookkeeping under `generated/` (the hand-edit ledger, the write
    /// journal) is unreadable: the user must restore or remove it.
    #[error("{message}")]
    #[diagnostic(code(promo_infra::state))]
    State {
        /// Which file, and what is wrong with it.
        message: String,
        /// What to do.
        #[help]
        help: Option<String>,
    },

    /// The `.env` secrets file is unusable.
    #[error("secrets file `{}`: {message}", path.display())]
    #[diagnostic(code(promo_infra::secrets))]
    Secrets {
        /// The `.env` path.
        path: PathBuf,
        /// What is wrong (never a value).
        message: String,
        /// What to do.
        #[help]
        help: Option<String>,
    },

    /// A failure that may pass on retry (engine busy, connection reset, HTTP 429/5xx).
    #[error("{message}")]
    #[diagnostic(code(promo_infra::transient))]
    Transient {
        /// What failed, where.
        message: String,
        /// Whether the server answered, when a request to one failed ([`Error::outcome`]).
        outcome: Option<Outcome>,
    },

    /// The Docker engine refused or failed an operation (names the container, image or engine).
    #[error("{message}")]
    #[diagnostic(code(promo_infra::docker))]
    Docker {
        /// What failed, where.
        message: String,
        /// What to do.
        #[help]
        help: Option<String>,
    },

    /// A supervised native process (`influxd`, `grafana`) failed to start, stop or answer.
    #[error("{message}")]
    #[diagnostic(code(promo_infra::native))]
    Native {
        /// What failed, where (binary, PID, data dir).
        message: String,
        /// What to do.
        #[help]
        help: Option<String>,
    },

    /// An InfluxDB server (1.x or 2.x, local or cloud) refused or failed a request.
    #[error("{message}")]
    #[diagnostic(code(promo_infra::influx))]
    Influx {
        /// What failed, where (URL, database, query).
        message: String,
        /// What to do.
        #[help]
        help: Option<String>,
    },

    /// A Grafana server (local or cloud) refused or failed a request.
    #[error("{message}")]
    #[diagnostic(code(promo_infra::grafana))]
    Grafana {
        /// What failed, where (URL, dashboard uid).
        message: String,
        /// What to do.
        #[help]
        help: Option<String>,
        /// Whether Grafana answered, when a request failed ([`Error::outcome`]).
        outcome: Option<Outcome>,
    },

    /// A backup could not be taken, verified, rotated or restored.
    #[error("{message}")]
    #[diagnostic(code(promo_infra::backup))]
    Backup {
        /// What failed, where (backup id, directory).
        message: String,
        /// What to do.
        #[help]
        help: Option<String>,
    },

    /// Building or running k6 failed.
    #[error("{message}")]
    #[diagnostic(code(promo_infra::k6))]
    K6 {
        /// What failed, where (binary, script, test id).
        message: String,
        /// What to do.
        #[help]
        help: Option<String>,
    },

    /// The emergency-stop control API failed or refused a request.
    #[error("{message}")]
    #[diagnostic(code(promo_infra::control))]
    Control {
        /// What failed, where (URL, run).
        message: String,
        /// What to do.
        #[help]
        help: Option<String>,
    },

    /// The user asked for something that cannot be done as asked (flags, arguments, state).
    #[error("{message}")]
    #[diagnostic(code(promo_infra::usage))]
    Usage {
        /// What failed.
        message: String,
        /// What to do.
        #[help]
        help: Option<String>,
    },

    /// A command was interrupted (Ctrl-C, SIGTERM) and stopped between its steps: what it did
    /// and did not do.
    #[error("{message}")]
    #[diagnostic(code(promo_infra::interrupted))]
    Interrupted {
        /// What was stopped, what was done and what was not.
        message: String,
        /// What to do.
        #[help]
        help: Option<String>,
    },

    /// A bug in promo-infra: never the user's fault.
    #[error("internal error: {message}")]
    #[diagnostic(
        code(promo_infra::internal),
        help(
            "this is a bug in promo-infra, not in your manifest: please report it with the command you ran and this message"
        )
    )]
    Internal {
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// `generate --check` found `count` stale files, `hand_edited` of them edited by hand: the
    /// advice is a command that fixes them (`generate` keeps hand-edited files, so for those it
    /// is `generate --force`, after moving the edit where it survives).
    pub fn stale(count: usize, hand_edited: &[String]) -> Self {
        let help = if hand_edited.is_empty() {
            "run `promo-infra generate` and commit the result".to_string()
        } else {
            format!(
                "edited by hand: {}. `promo-infra generate` keeps such files; move the edit into the manifest or a template in dashboards-src/, then run `promo-infra generate --force` (it overwrites them) and commit the result",
                hand_edited.join(", ")
            )
        };
        Self::Stale { count, help }
    }

    /// An IO error that names its path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// A usage error with a hint.
    pub fn usage(message: impl Into<String>, help: impl Into<String>) -> Self {
        Self::Usage {
            message: message.into(),
            help: Some(help.into()),
        }
    }

    /// A Docker engine error (add advice with [`Error::with_help`]).
    pub fn docker(message: impl Into<String>) -> Self {
        Self::Docker {
            message: message.into(),
            help: None,
        }
    }

    /// A native-process error.
    pub fn native(message: impl Into<String>) -> Self {
        Self::Native {
            message: message.into(),
            help: None,
        }
    }

    /// An InfluxDB error.
    pub fn influx(message: impl Into<String>) -> Self {
        Self::Influx {
            message: message.into(),
            help: None,
        }
    }

    /// A Grafana error.
    pub fn grafana(message: impl Into<String>) -> Self {
        Self::Grafana {
            message: message.into(),
            help: None,
            outcome: None,
        }
    }

    /// A backup error.
    pub fn backup(message: impl Into<String>) -> Self {
        Self::Backup {
            message: message.into(),
            help: None,
        }
    }

    /// A k6 error.
    pub fn k6(message: impl Into<String>) -> Self {
        Self::K6 {
            message: message.into(),
            help: None,
        }
    }

    /// A control-API error.
    pub fn control(message: impl Into<String>) -> Self {
        Self::Control {
            message: message.into(),
            help: None,
        }
    }

    /// A transient error: the core retries it with backoff.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient {
            message: message.into(),
            outcome: None,
        }
    }

    /// A command stopped between its steps on an interrupt ([`Error::Interrupted`]).
    pub fn interrupted(message: impl Into<String>, help: impl Into<String>) -> Self {
        Self::Interrupted {
            message: message.into(),
            help: Some(help.into()),
        }
    }

    /// A bug in promo-infra (an invariant broke): reported as such, never as the user's fault.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal {
            message: message.into(),
        }
    }

    /// Set the advice of an error that carries one (`Docker`, `Influx`, `Usage`, ...); other
    /// errors are returned unchanged.
    pub fn with_help(mut self, advice: impl Into<String>) -> Self {
        match &mut self {
            Self::Docker { help, .. }
            | Self::Native { help, .. }
            | Self::Influx { help, .. }
            | Self::Grafana { help, .. }
            | Self::Backup { help, .. }
            | Self::K6 { help, .. }
            | Self::Control { help, .. }
            | Self::Usage { help, .. }
            | Self::Interrupted { help, .. }
            | Self::State { help, .. }
            | Self::Secrets { help, .. } => *help = Some(advice.into()),
            _ => {}
        }
        self
    }

    /// Record what the server did with the failed request, on the errors that carry it
    /// (`Transient`, `Grafana`); other errors are returned unchanged.
    #[must_use]
    pub fn with_outcome(mut self, said: Outcome) -> Self {
        if let Self::Transient { outcome, .. } | Self::Grafana { outcome, .. } = &mut self {
            *outcome = Some(said);
        }
        self
    }

    /// What the server did with the request that failed: no answer, or an answer with an error
    /// status; `None` when the error does not say (not a request's failure, or its client does
    /// not record it).
    pub fn outcome(&self) -> Option<Outcome> {
        match self {
            Self::Transient { outcome, .. } | Self::Grafana { outcome, .. } => *outcome,
            _ => None,
        }
    }
}

/// What a server did with a request that failed: a caller tells a server that does not answer
/// (`unreachable`) from one that answers with an error status (`failing`) or refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No answer: no connection, or none in time.
    NoAnswer,
    /// An answer with this HTTP status (429, 5xx; a refusal: 401, 403, ...).
    Status(u16),
}

impl Outcome {
    /// The server answered with a status that says it fails (429, 5xx), not that it refuses.
    pub fn is_failing(self) -> bool {
        matches!(self, Self::Status(s) if s == 429 || s >= 500)
    }
}

/// A dashboard template failed to render or did not produce valid JSON.
#[derive(Debug, Error, Diagnostic)]
#[error("dashboard template `{template}`: {message}")]
#[diagnostic(code(promo_infra::template))]
pub struct TemplateError {
    /// Template file.
    pub template: String,
    /// What went wrong.
    pub message: String,
    /// Where, in the template or in the rendered output.
    #[source_code]
    pub src: Option<NamedSource<Arc<str>>>,
    /// The offending span.
    #[label("here")]
    pub span: Option<SourceSpan>,
    /// What to do.
    #[help]
    pub help: Option<String>,
}

impl From<TemplateError> for Error {
    fn from(e: TemplateError) -> Self {
        Self::Template(Box::new(e))
    }
}

/// `value` as an error message quotes it: in backticks, control characters escaped (`\u{1b}`),
/// and when longer than 80 characters cut to its start and its length (a pasted blob is named,
/// not echoed).
pub fn quoted(value: &str) -> String {
    let chars = value.chars().count();
    if chars > 80 {
        format!("`{}…` ({chars} characters)", escaped(value, 40))
    } else {
        format!("`{}`", escaped(value, 80))
    }
}

/// `text` with its first letter upper-case (a sentence made of a lower-case phrase).
pub fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Text of a message that is not quoted but may hold user input (a value with a backtick of its
/// own ends its quotes early): control characters but the line break escaped, and past 240
/// characters cut to its start and its length.
pub fn unquoted(text: &str) -> String {
    let chars = text.chars().count();
    if chars > 240 {
        format!("{}… ({chars} characters)", escaped(text, 120))
    } else {
        escaped(text, 240)
    }
}

/// The first `at_most` characters of `text`, control and invisible formatting characters (but
/// the line break) escaped as `\u{…}`.
fn escaped(text: &str, at_most: usize) -> String {
    let mut out = String::new();
    for c in text.chars().take(at_most) {
        if c != '\n' && (c.is_control() || crate::compile::escape::is_invisible_format(c)) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
