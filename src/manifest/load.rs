//! Manifest text → typed [`Manifest`], with every parse error placed at file:line:col.
//!
//! Owns: the YAML parse and the wording of parse errors (unknown key with "did you mean",
//! wrong type, missing key, malformed YAML). May not: read files or the environment, print.

use super::{Manifest, Pos};
use crate::error::{ManifestErrors, Problems, Source};

/// Parse manifest text. Errors carry the position the YAML parser reported; parsing stops at
/// the first (see `recover` for every problem at once).
pub fn parse(source: &Source) -> Result<Manifest, ManifestErrors> {
    deserialize(&source.text).map_err(|err| problem(source, &err))
}

/// The typed manifest of `text`, or the parser's first error.
pub(super) fn deserialize(text: &str) -> Result<Manifest, serde_saphyr::Error> {
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options::<Manifest>(text, options)
}

/// A parse error as a manifest problem, placed at file:line:col.
pub(super) fn problem(source: &Source, err: &serde_saphyr::Error) -> ManifestErrors {
    let mut problems = Problems::new(source);
    // The parser's scanner errors carry a line and column but no byte offset: place them from
    // the line and column. An error with no location at all (none is known to reach here) is
    // placed at the end of the text, where the parser stopped.
    let pos = err
        .location()
        .and_then(|loc| Pos::from_location(loc).or_else(|| Pos::from_line_col(&source.text, loc)))
        .map(|p| widen_to_token(&source.text, p))
        .unwrap_or_else(|| Pos::at_offset(&source.text, source.text.len()));
    let (message, label, help) = describe(err);
    // A wrong value names its key, as the semantic checks do (`backup.keep.daily: ...`).
    let path = at_value(err)
        .then(|| super::node::value_path(&source.text, pos.offset))
        .flatten();
    let message = match path {
        Some(path) => format!("{path}: {message}"),
        None => message,
    };
    problems.push(Some(pos), message, label, help);
    match problems.finish() {
        Err(e) => e,
        Ok(()) => unreachable!("a problem was pushed"),
    }
}

/// Whether the parser placed `err` at a value (a wrong type or an unknown value), not at a key.
fn at_value(err: &serde_saphyr::Error) -> bool {
    use serde_saphyr::Error as E;
    let raw = err.to_string();
    matches!(
        err.without_snippet(),
        E::SerdeUnknownVariant { .. } | E::SerdeInvalidType { .. } | E::SerdeInvalidValue { .. }
    ) || raw.starts_with("invalid ")
        || raw.starts_with("externally tagged enum expected")
}

/// Describe a parse error as (message, label, hint).
fn describe(err: &serde_saphyr::Error) -> (String, String, Option<String>) {
    let raw = strip_location(&err.to_string());
    match err.without_snippet() {
        serde_saphyr::Error::SerdeUnknownField {
            field, expected, ..
        } => {
            let suggestion = closest(field, expected);
            let help = match suggestion {
                Some(s) => format!(
                    "did you mean `{s}`? Known keys here: {}",
                    expected.join(", ")
                ),
                None => format!("known keys here: {}", expected.join(", ")),
            };
            (
                format!("unknown key `{field}`"),
                "unknown key".into(),
                Some(help),
            )
        }
        serde_saphyr::Error::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let suggestion = closest(variant, expected);
            let help = match suggestion {
                Some(s) => format!("did you mean `{s}`? Allowed: {}", expected.join(", ")),
                None => format!("allowed: {}", expected.join(", ")),
            };
            (
                format!("unknown value `{variant}`"),
                "not an allowed value".into(),
                Some(help),
            )
        }
        serde_saphyr::Error::SerdeMissingField { field, .. } => (
            format!("missing required key `{field}`"),
            format!("`{field}` is required in this section"),
            Some("see stacks/promo.yaml or `promo-infra schema` for the full shape".into()),
        ),
        serde_saphyr::Error::SerdeInvalidType { .. }
        | serde_saphyr::Error::SerdeInvalidValue { .. } => (
            format!("wrong type: expected {}", expected_type(&raw)),
            "wrong type".into(),
            Some("check the value against the manifest schema (`promo-infra schema`)".into()),
        ),
        _ if raw.starts_with("invalid ") => (
            format!("wrong type: expected {}", expected_type(&raw)),
            "wrong type".into(),
            Some("check the value against the manifest schema (`promo-infra schema`)".into()),
        ),
        // A list where a choice (`environment: prod`) is expected.
        _ if raw.starts_with("externally tagged enum expected") => (
            "wrong type: expected one word (one of the allowed values), not a list".into(),
            "wrong type".into(),
            Some("check the value against the manifest schema (`promo-infra schema`)".into()),
        ),
        _ if raw.starts_with("duplicate mapping key: ") => {
            let key = raw["duplicate mapping key: ".len()..]
                .split(", set DuplicateKeyPolicy")
                .next()
                .unwrap_or_default();
            (
                format!("key `{key}` appears twice in this section"),
                "second occurrence".into(),
                Some("keep one of them: which one should win would be a guess".into()),
            )
        }
        _ => (
            format!("malformed YAML: {raw}"),
            "here".into(),
            Some("check indentation, quoting and brackets around this position".into()),
        ),
    }
}

/// `invalid u32` → words a person reads; `invalid u32: detail` keeps the detail.
fn expected_type(raw: &str) -> String {
    let rest = raw.trim_start_matches("invalid ");
    // serde's own wording: `invalid type: floating point `1.5`, expected u32`, `invalid value:
    // integer `-1`, expected u32`.
    if let Some((got, want)) = rest
        .strip_prefix("type: ")
        .or_else(|| rest.strip_prefix("value: "))
        .and_then(|body| body.rsplit_once(", expected "))
    {
        return format!("{}, not {}", type_words(want), got.replace('`', ""));
    }
    let (ty, detail) = rest.split_once(": ").unwrap_or((rest, ""));
    if detail.is_empty() {
        type_words(ty).to_string()
    } else {
        format!("{}, {detail}", type_words(ty))
    }
}

/// A Rust type name as a person reads it.
fn type_words(ty: &str) -> &str {
    match ty {
        "u8" | "u16" | "u32" | "u64" => "a whole number (0 or more)",
        "i32" | "i64" => "a whole number",
        "f32" | "f64" => "a number",
        "bool" => "true or false",
        "a string" | "string" => "text",
        other => other,
    }
}

/// serde-saphyr appends ` at line N, column M`; the diagnostic shows the position itself.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// The closest known name, when one is close enough to be a typo.
pub(crate) fn closest<'a, S: AsRef<str>>(wanted: &str, known: &'a [S]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(wanted, k.as_ref()), k.as_ref()))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// Parser positions for keys have zero width; underline the whole token instead.
fn widen_to_token(text: &str, mut pos: Pos) -> Pos {
    if let Some(rest) = text.get(pos.offset..) {
        let len = rest.find([':', '\n', ',', '}', ']']).unwrap_or(rest.len());
        if len > 0 {
            pos.len = len.min(rest.trim_end().len()).max(1);
        }
    }
    pos
}
