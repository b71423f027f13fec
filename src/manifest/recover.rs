//! Every problem of a manifest at once: a structural problem (unknown key, wrong type,
//! unknown value) does not stop the parse. The entry at fault is blanked out of a copy of the
//! text (replaced by spaces of the same byte length, so every other position stays exact) and
//! the parse runs again; when it finally succeeds, the semantic checks run on the result.
//!
//! Owns: the loop from text to "every problem". May not: read files or the environment, print,
//! change the wording of a problem (that is `load` and `validate`).

use std::collections::BTreeSet;
use std::ops::Range;

use serde_saphyr::Spanned;

use super::node::{Node, extent, parse, with_closing_bracket};
use super::{Manifest, load, validate};
use crate::error::{ManifestErrors, Problems, Source};

/// At most this many structural problems are reported (and parses run) for one manifest.
const MAX_ROUNDS: usize = 64;

/// Parse and validate `source`, reporting every problem found, each at its line and column.
pub fn parse_all(
    source: &Source,
    templates: &BTreeSet<String>,
) -> Result<Manifest, ManifestErrors> {
    let mut text = source.text.to_string();
    let mut structural: Vec<ManifestErrors> = Vec::new();
    let mut blanked_keys: BTreeSet<String> = BTreeSet::new();
    let mut seen: BTreeSet<usize> = BTreeSet::new();
    let mut substituted: Vec<Range<usize>> = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let err = match load::deserialize(&text) {
            Ok(manifest) => {
                return finish(source, manifest, structural, &substituted, templates);
            }
            Err(err) => err,
        };
        if let serde_saphyr::Error::SerdeMissingField { field, .. } = err.without_snippet()
            && blanked_keys.contains(*field)
        {
            // Missing only because a wrong value was blanked: already reported.
            break;
        }
        let problem = load::problem(source, &err);
        let offset = problem.errors[0].span.map(|s| s.offset());
        structural.push(problem);
        if matches!(
            err.without_snippet(),
            serde_saphyr::Error::SerdeMissingField { .. }
        ) {
            // A missing required key cannot be parsed past (blanking a neighbour would only
            // report it again at the next key): the other problems found so far stand.
            break;
        }
        let Some(offset) = offset.filter(|o| seen.insert(*o)) else {
            break;
        };
        if let Some(value) = closest_variant(&text, offset, &err) {
            // An unknown value of a required choice: parse on with the closest allowed one
            // (what the "did you mean" proposes), so the semantic checks still run.
            text.replace_range(offset..offset + value.len(), &value);
            substituted.push(offset..offset + value.len());
            continue;
        }
        let Some((range, key)) = entry_at(&text, offset) else {
            break;
        };
        blank(&mut text, range);
        blanked_keys.extend(key);
    }
    Err(merge(structural, Vec::new()))
}

/// For an unknown value at `offset`: the closest allowed value, padded with spaces to the
/// unknown one's length (`None` when none fits, so nothing after it moves).
fn closest_variant(text: &str, offset: usize, err: &serde_saphyr::Error) -> Option<String> {
    let serde_saphyr::Error::SerdeUnknownVariant {
        variant, expected, ..
    } = err.without_snippet()
    else {
        return None;
    };
    if !text[offset..].starts_with(variant.as_str()) {
        return None;
    }
    let best = load::closest(variant, expected)
        .or_else(|| expected.first().map(|s| s.as_ref()))
        .filter(|b| b.len() <= variant.len())?;
    Some(format!("{best:<width$}", width = variant.len()))
}

/// The structural problems, then the semantic ones that are about what the user wrote: with
/// a position (a value left at its default because its entry was blanked has none), and not
/// at a value put in place of an unknown one.
fn finish(
    source: &Source,
    manifest: Manifest,
    structural: Vec<ManifestErrors>,
    substituted: &[Range<usize>],
    templates: &BTreeSet<String>,
) -> Result<Manifest, ManifestErrors> {
    let mut p = Problems::new(source);
    validate::check(&mut p, &manifest, templates);
    let mut result = p.finish();
    if let Err(found) = &mut result
        && manifest
            .environment
            .pos()
            .is_some_and(|at| substituted.iter().any(|r| r.contains(&at.offset)))
    {
        // The environment is a guess, and some checks depend on it (prod refuses default
        // credentials): keep only the problems every environment reproduces.
        for env in [super::Environment::Prod, super::Environment::Preprod] {
            let mut other = manifest.clone();
            other.environment = super::Sp::new(env);
            let mut q = Problems::new(source);
            validate::check(&mut q, &other, templates);
            let again: BTreeSet<(String, Option<(u64, u64)>)> = q
                .finish()
                .err()
                .map(|e| {
                    e.errors
                        .into_iter()
                        .map(|x| (x.message, x.line_col))
                        .collect()
                })
                .unwrap_or_default();
            found
                .errors
                .retain(|x| again.contains(&(x.message.clone(), x.line_col)));
        }
    }
    let semantic = match result {
        Err(e) if e.errors.is_empty() => Vec::new(),
        Ok(()) if structural.is_empty() => return Ok(manifest),
        Ok(()) => Vec::new(),
        Err(e) if structural.is_empty() => return Err(e),
        Err(e) => e
            .errors
            .into_iter()
            .filter(|e| {
                e.span
                    .is_some_and(|s| !substituted.iter().any(|r| r.contains(&s.offset())))
            })
            .collect(),
    };
    Err(merge(structural, semantic))
}

fn merge(
    structural: Vec<ManifestErrors>,
    semantic: Vec<crate::error::ManifestError>,
) -> ManifestErrors {
    let mut all: Vec<_> = structural.into_iter().flat_map(|e| e.errors).collect();
    let name = all
        .first()
        .map(|e| e.src.name().to_string())
        .unwrap_or_default();
    all.extend(semantic);
    all.sort_by_key(|e| e.line_col.unwrap_or((u64::MAX, u64::MAX)));
    ManifestErrors { name, errors: all }
}

/// Replace the bytes of `range` with spaces (line breaks kept), so positions do not move.
fn blank(text: &mut String, range: Range<usize>) {
    let spaces: String = text[range.clone()]
        .chars()
        .map(|c| {
            if c == '\n' {
                "\n".to_string()
            } else {
                " ".repeat(c.len_utf8())
            }
        })
        .collect();
    text.replace_range(range, &spaces);
}

/// The entry (`key: value` of a mapping, or item of a sequence) whose key or value starts at
/// `offset`: its byte range, with the `-` of a block item and the `,` after a flow entry, and
/// the key's text.
fn entry_at(text: &str, offset: usize) -> Option<(Range<usize>, Option<String>)> {
    let root = parse(text)?;
    let (range, key) = find(text, &root, offset)?;
    let mut end = with_closing_bracket(text, range.clone()).end;
    // A closing quote the scalar's span leaves out, then the `,` of a flow collection.
    if text[end..].starts_with(['"', '\'']) && text[range.clone()].starts_with(['"', '\'']) {
        end += 1;
    }
    let rest = &text[end..];
    let after_spaces = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    if rest[after_spaces..].starts_with(',') {
        end += after_spaces + 1;
    }
    // A block sequence item: its `- ` goes too.
    let before = text[..range.start].trim_end_matches([' ', '\t']);
    let start = if key.is_none() && before.ends_with('-') {
        before.len() - 1
    } else {
        range.start
    };
    Some((start..end, key))
}

fn find(text: &str, node: &Spanned<Node>, offset: usize) -> Option<(Range<usize>, Option<String>)> {
    match &node.value {
        Node::Scalar => None,
        Node::Seq(items) => items.iter().find_map(|item| {
            let r = with_closing_bracket(text, extent(item)?);
            if r.start == offset {
                Some((r, None))
            } else if r.contains(&offset) {
                find(text, item, offset)
            } else {
                None
            }
        }),
        Node::Map(entries) => entries.iter().find_map(|(k, v)| {
            let (kr, vr) = (extent(k)?, extent(v)?);
            let vr = with_closing_bracket(text, vr);
            if kr.start == offset || vr.start == offset {
                let key = text
                    .get(kr.clone())
                    .map(|s| s.trim_matches(['"', '\'']).to_string());
                Some((kr.start..vr.end.max(kr.end), key))
            } else if vr.contains(&offset) {
                find(text, v, offset)
            } else {
                None
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "stack: shop\nenvironment: preprod\ninfluxdb:\n  version: 2\n  image: influxdb:2.7\n  retention: 30d\ngrafana:\n  image: grafana/grafana:10.2.3\n  port: 3000\n  plugins: [a, b]\ndashboards:\n  - uid: shop-marketing\n    template: marketing\n    thresholds: { p95_ok_ms: 1000, p95_warn_ms: 2000 }\n";

    /// A problem's message and `(line, column)`.
    type Problem = (String, (u64, u64));

    fn problems(text: &str) -> Vec<Problem> {
        let templates: BTreeSet<String> = ["marketing".to_string()].into();
        let source = Source::new("m.yaml", text);
        match parse_all(&source, &templates) {
            Ok(_) => Vec::new(),
            Err(e) => e
                .errors
                .into_iter()
                .map(|e| (e.message, e.line_col.unwrap_or_default()))
                .collect(),
        }
    }

    /// The problems of [`BASE`] with each `(from, to)` replaced, and their positions alone.
    fn problems_after(edits: &[(&str, &str)]) -> (Vec<Problem>, Vec<(u64, u64)>) {
        let text = edits
            .iter()
            .fold(BASE.to_string(), |text, (from, to)| text.replace(from, to));
        let got = problems(&text);
        let at = got.iter().map(|(_, at)| *at).collect();
        (got, at)
    }

    #[test]
    fn the_base_is_valid() {
        assert_eq!(problems(BASE), Vec::new());
    }

    /// Each case: the `(from, to)` edits made to [`BASE`] together, and for each, the
    /// `(line, column)` and a part of the message of the problem it must cause.
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str, (u64, u64), &'static str)],
    );

    /// Several mistakes are several problems, each at its line and column: an unknown key, a
    /// wrong type, an unknown value and a semantic error (before, the unknown key alone was
    /// reported); and entries inside flow mappings and sequences are blanked with their commas,
    /// so the rest still parses and its problems are found too.
    #[test]
    fn every_mistake_is_a_problem_at_its_place() {
        const CASES: &[Case] = &[
            (
                "four mistakes are four problems",
                &[
                    (
                        "stack: shop",
                        "stack: Shop_1",
                        (1, 8),
                        "`Shop_1` is not a valid stack name",
                    ),
                    (
                        "environment: preprod",
                        "environment: production",
                        (2, 14),
                        "unknown value `production`",
                    ),
                    (
                        "  retention: 30d",
                        "  retension: 30d",
                        (6, 3),
                        "unknown key `retension`",
                    ),
                    ("  port: 3000", "  port: eighty", (9, 9), "wrong type"),
                ],
            ),
            (
                "flow collections keep parsing after a problem",
                &[
                    (
                        "plugins: [a, b]",
                        "plugins: [a, [b]]",
                        (10, 16),
                        "expected string scalar",
                    ),
                    (
                        "template: marketing",
                        "template: marketting",
                        (13, 15),
                        "no template named `marketting`",
                    ),
                    (
                        "{ p95_ok_ms: 1000,",
                        "{ p95_okms: 1000,",
                        (14, 19),
                        "unknown key `p95_okms`",
                    ),
                    (
                        "p95_warn_ms: 2000 }",
                        "p95_warn_ms: 2000, extra: 1 }",
                        (14, 54),
                        "unknown key `extra`",
                    ),
                ],
            ),
        ];
        for (case, mistakes) in CASES {
            let edits: Vec<_> = mistakes.iter().map(|(from, to, ..)| (*from, *to)).collect();
            let (got, at) = problems_after(&edits);
            let want: Vec<_> = mistakes.iter().map(|(_, _, at, _)| *at).collect();
            assert_eq!(at, want, "{case}: {got:#?}");
            for ((message, _), (.., part)) in got.iter().zip(*mistakes) {
                assert!(message.contains(part), "{case}: `{part}` not in {got:#?}");
            }
        }
    }

    #[test]
    fn a_required_key_with_a_wrong_value_is_reported_once() {
        let text = BASE.replace("  image: influxdb:2.7", "  image: [influxdb]");
        let got = problems(&text);
        assert_eq!(got.len(), 1, "{got:#?}");
        assert_eq!(got[0].1, (5, 10), "{got:#?}");
    }
}
