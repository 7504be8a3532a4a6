//! Sorting documents by a sort specification (`{a: 1, "b.c": -1}`), as find, `$sort`,
//! findAndModify and `$push`'s `$sort` do.
//!
//! Each key reduces a document to one value: missing fields sort as null; when the path reaches
//! arrays, ascending order uses the smallest value found and descending order the largest, and
//! an empty array sorts below null ("A comparison of an empty array … considers the empty array
//! as less than a null value or a missing field"). Ties keep the input order.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::compare::compare;
use super::error::QueryError;
use super::number::Number;

/// A parsed sort specification.
#[derive(Debug, Clone, PartialEq)]
pub struct SortSpec {
    keys: Vec<(Vec<String>, Direction)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ascending,
    Descending,
}

/// The value a document contributes for one key.
#[derive(Debug, Clone, Copy)]
enum Key<'a> {
    EmptyArray,
    Null,
    Value(&'a Bson),
}

// === impl SortSpec ===

impl SortSpec {
    /// Values must be 1 or -1 in any numeric type; `{$meta: …}` is not supported.
    pub fn parse(spec: &Document) -> Result<SortSpec, QueryError> {
        let mut keys = Vec::with_capacity(spec.len());
        for (path, value) in spec {
            if path.is_empty() || path.split('.').any(str::is_empty) {
                return Err(QueryError::location(
                    40352,
                    "Location40352",
                    format!(
                        "FieldPath cannot be constructed with empty string (sort key '{path}')"
                    ),
                ));
            }
            if path == "$natural" {
                return Err(QueryError::unsupported("sorting by $natural"));
            }
            if path.starts_with('$') {
                return Err(QueryError::location(
                    16410,
                    "Location16410",
                    format!(
                        "FieldPath field names may not start with '$'. Given FieldPath: {path}"
                    ),
                ));
            }
            let direction = match Number::of(value).and_then(|n| n.exact_i64()) {
                Some(1) => Direction::Ascending,
                Some(-1) => Direction::Descending,
                _ if matches!(value, Bson::Document(meta) if meta.contains_key("$meta")) => {
                    return Err(QueryError::unsupported("sorting by {$meta: …}"));
                }
                _ if Number::of(value).is_some() => {
                    return Err(QueryError::location(
                        15975,
                        "Location15975",
                        "$sort key ordering must be 1 (for ascending) or -1 (for descending)",
                    ));
                }
                _ => {
                    return Err(QueryError::location(
                        15974,
                        "Location15974",
                        format!("Illegal key in $sort specification: {path}: {value}"),
                    ));
                }
            };
            keys.push((path.split('.').map(str::to_owned).collect(), direction));
        }
        Ok(SortSpec { keys })
    }

    /// True for `{}`, which leaves the order unchanged.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn compare(&self, a: &Document, b: &Document) -> Ordering {
        for (path, direction) in &self.keys {
            let order = compare_keys(sort_key(a, path, *direction), sort_key(b, path, *direction));
            let order = match direction {
                Direction::Ascending => order,
                Direction::Descending => order.reverse(),
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    }

    /// Stable sort: documents with equal keys keep their relative order.
    pub fn sort(&self, docs: &mut [Document]) {
        if self.keys.is_empty() {
            return;
        }
        docs.sort_by(|a, b| self.compare(a, b));
    }
}

/// The one value `doc` is sorted by for `path`.
fn sort_key<'a>(doc: &'a Document, path: &[String], direction: Direction) -> Key<'a> {
    let mut candidates = Vec::new();
    match path.split_first() {
        Some((first, rest)) => collect(doc.get(first), rest, &mut candidates),
        None => candidates.push(Key::Null),
    }
    let pick = match direction {
        Direction::Ascending => Ordering::Less,
        Direction::Descending => Ordering::Greater,
    };
    candidates
        .into_iter()
        .reduce(|best, next| {
            if compare_keys(next, best) == pick {
                next
            } else {
                best
            }
        })
        .unwrap_or(Key::Null)
}

/// Every value the path reaches, expanding arrays along the way and one level at the end.
fn collect<'a>(value: Option<&'a Bson>, rest: &[String], out: &mut Vec<Key<'a>>) {
    let Some(value) = value else {
        out.push(Key::Null);
        return;
    };
    let Some((next, tail)) = rest.split_first() else {
        match value {
            Bson::Array(items) if items.is_empty() => out.push(Key::EmptyArray),
            Bson::Array(items) => out.extend(items.iter().map(key_of)),
            other => out.push(key_of(other)),
        }
        return;
    };
    match value {
        Bson::Document(doc) => collect(doc.get(next), tail, out),
        Bson::Array(items) => {
            // A numeric step selects that element, as in index key generation.
            let indexed = next
                .parse::<usize>()
                .ok()
                .and_then(|index| items.get(index));
            match indexed {
                Some(item) if next.bytes().all(|b| b.is_ascii_digit()) => {
                    collect(Some(item), tail, out);
                }
                _ if items.is_empty() => out.push(Key::Null),
                _ => {
                    for item in items {
                        match item {
                            Bson::Document(inner) => collect(inner.get(next), tail, out),
                            _ => out.push(Key::Null),
                        }
                    }
                }
            }
        }
        _ => out.push(Key::Null),
    }
}

fn key_of(value: &Bson) -> Key<'_> {
    match value {
        Bson::Null | Bson::Undefined => Key::Null,
        other => Key::Value(other),
    }
}

/// MinKey < empty array < null < everything else (in BSON order).
fn compare_keys(a: Key<'_>, b: Key<'_>) -> Ordering {
    fn rank(key: Key<'_>) -> u8 {
        match key {
            Key::Value(Bson::MinKey) => 0,
            Key::EmptyArray => 1,
            Key::Null => 2,
            Key::Value(_) => 3,
        }
    }
    rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
        (Key::Value(x), Key::Value(y)) => compare(x, y),
        _ => Ordering::Equal,
    })
}

#[cfg(test)]
mod tests;
