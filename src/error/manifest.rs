//! Problems of a manifest: each at its file:line:col with the text under it, all of them
//! reported at once; a pasted blob is named by its length, never echoed whole.
//!
//! Owns: [`Source`], [`Problems`] and the diagnostics they make.
//! May not: print, read files.

use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};
use thiserror::Error;

/// The manifest text with its display name, shared by every diagnostic about it.
#[derive(Debug, Clone)]
pub struct Source {
    /// Name as the user typed it (`stacks/promo.yaml`).
    pub name: String,
    /// Full text.
    pub text: Arc<str>,
}

impl Source {
    /// A named source.
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }

    fn named(&self) -> NamedSource<Arc<str>> {
        NamedSource::new(self.name.clone(), Arc::clone(&self.text)).with_language("yaml")
    }
}

/// Longest manifest line shown under a problem; a longer one is named, not echoed.
const MAX_SHOWN_LINE: usize = 240;

/// `message` with every `` `quoted` `` value shown by [`super::quoted`]: over 80 characters
/// cut to its start and its length (`` `xxxx…` (200000 characters) ``), control characters
/// escaped: a pasted blob is named, not echoed, and a value cannot drive the terminal.
fn shorten_quoted(message: &str) -> String {
    let parts: Vec<&str> = message.split('`').collect();
    let mut out = String::with_capacity(message.len().min(1024));
    for (i, part) in parts.iter().enumerate() {
        // Odd parts are quoted when a closing backtick follows; an even part follows the
        // closing backtick `quoted` wrote.
        if i % 2 == 1 && i + 1 < parts.len() {
            out.push_str(&super::quoted(part));
        } else {
            if i % 2 == 1 {
                out.push('`');
            }
            out.push_str(&super::unquoted(part));
        }
    }
    out
}

/// One problem in the manifest, with its position.
#[derive(Debug, Error, Diagnostic)]
#[error("{message}")]
pub struct ManifestError {
    /// What is wrong, starting with the key path (`influxdb.port: ...`).
    pub message: String,
    /// The manifest.
    #[source_code]
    pub src: NamedSource<Arc<str>>,
    /// Where.
    #[label("{label}")]
    pub span: Option<SourceSpan>,
    /// Short label under the offending value.
    pub label: String,
    /// What to do.
    #[help]
    pub help: Option<String>,
    /// 1-based line and column, when known.
    pub line_col: Option<(u64, u64)>,
}

/// All problems found in one manifest.
#[derive(Debug, Error, Diagnostic)]
#[error("{} is invalid: {} problem(s)", name, errors.len())]
#[diagnostic(
    code(promo_infra::manifest),
    help("fix the manifest; nothing was written or changed")
)]
pub struct ManifestErrors {
    /// Manifest display name.
    pub name: String,
    /// The problems, in file order.
    #[related]
    pub errors: Vec<ManifestError>,
}

/// Collects manifest problems while validating.
#[derive(Debug)]
pub struct Problems<'a> {
    source: &'a Source,
    errors: Vec<ManifestError>,
}

impl<'a> Problems<'a> {
    /// Start collecting for this source.
    pub fn new(source: &'a Source) -> Self {
        Self {
            source,
            errors: Vec::new(),
        }
    }

    /// Record a problem at `pos` (or at no position for defaulted values).
    pub fn push(
        &mut self,
        pos: Option<crate::manifest::Pos>,
        message: impl Into<String>,
        label: impl Into<String>,
        help: impl Into<Option<String>>,
    ) {
        let text_len = self.source.text.len();
        let mut message = shorten_quoted(&message.into());
        let span = pos.map(|p| {
            let offset = p.offset.min(text_len);
            SourceSpan::new(offset.into(), p.len.min(text_len - offset))
        });
        // A line too long to show (a pasted blob) is not echoed under the message: its place is
        // named in the message instead.
        let span = match (span, pos) {
            (Some(span), Some(p)) if self.longest_line_around(span) > MAX_SHOWN_LINE => {
                message.push_str(&format!(
                    " (at {}:{}:{})",
                    self.source.name, p.line, p.column
                ));
                None
            }
            (span, _) => span,
        };
        self.errors.push(ManifestError {
            message,
            src: self.source.named(),
            span,
            label: label.into(),
            help: help.into(),
            line_col: pos.map(|p| (p.line, p.column)),
        });
    }

    /// The length of the longest line `span` touches (in bytes).
    fn longest_line_around(&self, span: SourceSpan) -> usize {
        let text = &self.source.text;
        let start = text[..span.offset()].rfind('\n').map_or(0, |i| i + 1);
        let end = span.offset() + span.len();
        let end = text[end..].find('\n').map_or(text.len(), |i| end + i);
        text[start..end]
            .split('\n')
            .map(str::len)
            .max()
            .unwrap_or(0)
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Finish: `Ok` when nothing was found.
    pub fn finish(mut self) -> Result<(), ManifestErrors> {
        if self.errors.is_empty() {
            return Ok(());
        }
        self.errors
            .sort_by_key(|e| e.line_col.unwrap_or((u64::MAX, u64::MAX)));
        Err(ManifestErrors {
            name: self.source.name.clone(),
            errors: self.errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_long_quoted_values_are_cut_to_their_start_and_length() {
        let long = "é".repeat(100);
        assert_eq!(
            shorten_quoted(&format!("k: `{long}` is bad, `short` too")),
            format!(
                "k: `{}…` (100 characters) is bad, `short` too",
                "é".repeat(40)
            )
        );
        // An unpaired backtick quotes nothing.
        let open = format!("k: `{long}");
        assert_eq!(shorten_quoted(&open), open);
        assert_eq!(shorten_quoted("no quotes"), "no quotes");
        assert_eq!(shorten_quoted("``"), "``");
        assert_eq!(
            shorten_quoted("k: `a\u{1b}[2J` bad"),
            "k: `a\\u{1b}[2J` bad"
        );
    }

    #[test]
    fn a_line_too_long_to_show_is_named_in_the_message_instead() {
        let text = format!("a: 1\nb: {}\nc: 2\n", "x".repeat(500));
        let source = Source::new("s.yaml", text);
        let mut problems = Problems::new(&source);
        let at = |offset, line, column| crate::manifest::Pos {
            offset,
            len: 1,
            line,
            column,
        };
        problems.push(Some(at(0, 1, 1)), "a: bad", "here", None);
        problems.push(Some(at(8, 2, 4)), "b: bad", "here", None);
        let errors = problems.finish().expect_err("two problems").errors;
        let shown: Vec<_> = errors
            .iter()
            .map(|e| (e.message.as_str(), e.span.is_some()))
            .collect();
        assert_eq!(shown, [("a: bad", true), ("b: bad (at s.yaml:2:4)", false)]);
    }
}
