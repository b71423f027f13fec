//! A manifest's YAML as a tree of nodes with their byte ranges, whatever its shape: what
//! `recover` blanks a faulty entry with, and where `load` finds the key path of a faulty value.
//!
//! Owns: the walk from a byte offset to the entry or key path there. May not: read files or
//! the environment, print, word a problem.

use std::ops::Range;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// `text` as a tree of nodes (`None` when it is not YAML at all).
pub(super) fn parse(text: &str) -> Option<Spanned<Node>> {
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options(text, options).ok()
}

/// The key path (`backup.keep.daily`, `dashboards[1].template`) of the value that starts at
/// `offset` in `text`: the value of a mapping entry or an item of a sequence.
pub(super) fn value_path(text: &str, offset: usize) -> Option<String> {
    let root = parse(text)?;
    let mut path = String::new();
    walk(text, &root, offset, &mut path).then_some(path)
}

/// Whether the value at `offset` is inside `node`; `path` is then extended with its keys and
/// indices.
fn walk(text: &str, node: &Spanned<Node>, offset: usize, path: &mut String) -> bool {
    let children: Vec<(String, &Spanned<Node>)> = match &node.value {
        Node::Scalar => return false,
        Node::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (format!("[{i}]"), item))
            .collect(),
        Node::Map(entries) => entries
            .iter()
            .filter_map(|(k, v)| {
                let key = text.get(extent(k)?)?.trim_matches(['"', '\'']);
                let dot = if path.is_empty() { "" } else { "." };
                Some((format!("{dot}{key}"), v))
            })
            .collect(),
    };
    for (step, child) in children {
        let Some(range) = extent(child).map(|r| with_closing_bracket(text, r)) else {
            continue;
        };
        if range.start == offset || range.contains(&offset) {
            let len = path.len();
            path.push_str(&step);
            if range.start == offset || walk(text, child, offset, path) {
                return true;
            }
            path.truncate(len);
        }
    }
    false
}

/// A YAML node with the byte range it covers.
#[derive(Debug)]
pub(super) enum Node {
    Scalar,
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

macro_rules! scalar {
    ($($method:ident: $ty:ty),*) => {
        $(fn $method<E: de::Error>(self, _: $ty) -> Result<Node, E> {
            Ok(Node::Scalar)
        })*
    };
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    scalar!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128,
        visit_u128: u128, visit_f64: f64, visit_str: &str, visit_bytes: &[u8]);
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }
}

/// Byte range of a node and everything under it.
pub(super) fn extent(node: &Spanned<Node>) -> Option<Range<usize>> {
    let span = node.referenced.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let mut end = start + usize::try_from(span.byte_len().unwrap_or(0)).ok()?;
    let children: Vec<&Spanned<Node>> = match &node.value {
        Node::Scalar => Vec::new(),
        Node::Seq(items) => items.iter().collect(),
        Node::Map(entries) => entries.iter().flat_map(|(k, v)| [k, v]).collect(),
    };
    for child in children {
        if let Some(r) = extent(child) {
            end = end.max(r.end);
        }
    }
    Some(start..end)
}

/// A flow collection (`[...]`, `{...}`) starting at `range.start` ends after its closing
/// bracket, which the spans of its children leave out.
pub(super) fn with_closing_bracket(text: &str, range: Range<usize>) -> Range<usize> {
    let bytes = text.as_bytes();
    if !matches!(bytes.get(range.start), Some(b'[' | b'{')) {
        return range;
    }
    let (mut depth, mut quote) = (0usize, None);
    for (i, &b) in bytes.iter().enumerate().skip(range.start) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'[' | b'{') => depth += 1,
            (None, b']' | b'}') => {
                depth -= 1;
                if depth == 0 {
                    return range.start..(i + 1).max(range.end);
                }
            }
            _ => {}
        }
    }
    range
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path of the value at each marked offset: in block and flow mappings, in a sequence,
    /// under a quoted key; none at a key.
    #[test]
    fn the_path_of_a_value_names_its_keys_and_indices() {
        let text = "environment: production\nbackup:\n  keep: { last: 3, daily: -1 }\n\
                    dashboards:\n  - uid: a\n  - uid: b\n    \"thresholds\": { p95_ok_ms: x }\n";
        let at = |needle: &str| value_path(text, text.find(needle).expect(needle));
        assert_eq!(at("production").as_deref(), Some("environment"));
        assert_eq!(at("-1").as_deref(), Some("backup.keep.daily"));
        assert_eq!(at("b\n").as_deref(), Some("dashboards[1].uid"));
        assert_eq!(
            at("x }").as_deref(),
            Some("dashboards[1].thresholds.p95_ok_ms")
        );
        assert_eq!(at("environment"), None);
    }
}
