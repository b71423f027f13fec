//! `Sp<T>`: a manifest value that remembers where it was written.
//!
//! Validation errors point at the exact line and column of the offending value. Values that were
//! not written in the file (serde defaults) carry no location; errors about them point at the
//! section that would hold them.
//!
//! May not: know the manifest's schema (it serves every field alike).

use std::fmt;
use std::ops::Deref;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A position in the manifest: 1-based line and column plus the byte span of the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
    /// Byte offset of the value in the source text.
    pub offset: usize,
    /// Length of the value in bytes (at least 1 so a label has something to underline).
    pub len: usize,
}

impl Pos {
    /// A parser location that has a line and column but no byte offset, placed in `text`.
    pub(crate) fn from_line_col(text: &str, loc: serde_saphyr::Location) -> Option<Self> {
        let (line, column) = (loc.line(), loc.column());
        if line == 0 {
            return None;
        }
        let line_start = if line == 1 {
            0
        } else {
            text.match_indices('\n')
                .nth(usize::try_from(line - 2).ok()?)
                .map(|(i, _)| i + 1)?
        };
        let line_text = &text[line_start..];
        let line_text = &line_text[..line_text.find('\n').unwrap_or(line_text.len())];
        let col_offset = line_text
            .char_indices()
            .nth(usize::try_from(column.saturating_sub(1)).ok()?)
            .map_or(line_text.len(), |(i, _)| i);
        Some(Self::at_offset(text, line_start + col_offset))
    }

    /// The position of byte `offset` of `text` (clamped to the text), one character wide.
    pub fn at_offset(text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() as u64 + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = text[line_start..offset].chars().count() as u64 + 1;
        let len = text[offset..].chars().next().map_or(1, char::len_utf8);
        Self {
            line,
            column,
            offset,
            len,
        }
    }

    pub(crate) fn from_location(loc: serde_saphyr::Location) -> Option<Self> {
        if loc.line() == 0 {
            return None;
        }
        let span = loc.span();
        Some(Self {
            line: loc.line(),
            column: loc.column(),
            offset: usize::try_from(span.byte_offset()?).ok()?,
            len: usize::try_from(span.byte_len().unwrap_or(1).max(1)).ok()?,
        })
    }
}

/// A deserialized value with the position it was read from (`None` for defaults).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Sp<T> {
    value: T,
    pos: Option<PosKey>,
}

/// `Pos` wrapper that never takes part in comparisons, so two equal values compare equal
/// wherever they were written.
#[derive(Clone, Copy, Debug)]
struct PosKey(Pos);
impl PartialEq for PosKey {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for PosKey {}
impl PartialOrd for PosKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PosKey {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}
impl std::hash::Hash for PosKey {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

impl<T> Sp<T> {
    /// A value with no source position (a default, or one built in code).
    pub fn new(value: T) -> Self {
        Self { value, pos: None }
    }
    /// Where the value was written, if it was.
    pub fn pos(&self) -> Option<Pos> {
        self.pos.map(|p| p.0)
    }
    /// The value itself.
    pub fn get(&self) -> &T {
        &self.value
    }
}

impl<T> Deref for Sp<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Sp<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T: fmt::Display> fmt::Display for Sp<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Sp<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        Ok(Self {
            value: spanned.value,
            pos: Pos::from_location(spanned.referenced).map(PosKey),
        })
    }
}

impl<T: Serialize> Serialize for Sp<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<T: JsonSchema> JsonSchema for Sp<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

/// A number or boolean written as one: a quoted `"3000"` is a string in YAML (and in the JSON
/// Schema editors check against), so it is refused with the fix, where the YAML parser alone
/// would read it as a number. Used with `#[serde(deserialize_with = "unquoted")]`.
pub(crate) fn unquoted<'de, D, T>(deserializer: D) -> Result<Sp<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let spanned = serde_saphyr::Spanned::<Unquoted<T>>::deserialize(deserializer)?;
    Ok(Sp {
        value: spanned.value.0,
        pos: Pos::from_location(spanned.referenced).map(PosKey),
    })
}

/// See [`unquoted`].
struct Unquoted<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Unquoted<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, IntoDeserializer, Visitor};
        struct V<T>(std::marker::PhantomData<T>);
        fn forward<'de, T: Deserialize<'de>, E: Error>(
            d: impl Deserializer<'de, Error = serde::de::value::Error>,
        ) -> Result<T, E> {
            T::deserialize(d).map_err(|e| E::custom(e.to_string()))
        }
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match std::any::type_name::<T>() {
                    "bool" => "true or false",
                    "f32" | "f64" => "a number",
                    _ => "a whole number",
                })
            }
            // A collection is read to its end first, so a syntax error in it is the one
            // reported (`port: [3000` is malformed YAML, not a wrong type).
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Err(A::Error::invalid_type(serde::de::Unexpected::Seq, &self))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Err(A::Error::invalid_type(serde::de::Unexpected::Map, &self))
            }
            fn visit_bool<E: Error>(self, v: bool) -> Result<T, E> {
                forward(v.into_deserializer())
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
                forward(v.into_deserializer())
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
                forward(v.into_deserializer())
            }
            fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
                forward(v.into_deserializer())
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<T, E> {
                // `invalid u32` is the parser's own wording for a word where a number goes.
                let ty = std::any::type_name::<T>();
                let t = v.trim();
                if t.parse::<f64>().is_ok() || ["true", "false"].contains(&t) {
                    Err(E::custom(format!(
                        "invalid {ty}: found the quoted string {v:?}; write it without quotes"
                    )))
                } else {
                    Err(E::custom(format!("invalid {ty}")))
                }
            }
        }
        deserializer
            .deserialize_any(V(std::marker::PhantomData))
            .map(Unquoted)
    }
}
